"""A raw EAS client for the devserver tests: ``requests`` + our WBXML codec only.

Deliberately not ``eassync.eas.client``: the devserver is tested against the wire
format, so that server and client bugs cannot cancel each other out.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import requests

from eassync.devserver import DevServer
from eassync.eas.element import E, Element
from eassync.eas.wbxml import decode, encode


@dataclass
class Answer:
    http: requests.Response
    doc: Element | None

    @property
    def status(self) -> str | None:
        assert self.doc is not None
        return self.doc.text(f"{self.doc.page}:Status")


@dataclass
class RawClient:
    server: DevServer
    user: str = "alice"
    password: str = "secret"
    device: str = "dev1"
    version: str = "14.1"
    policy_key: str | None = None
    verify: Any = True
    session: requests.Session = field(default_factory=requests.Session)

    def post(self, command: str, body: Element | None, **headers: str) -> Answer:
        sent = {"MS-ASProtocolVersion": self.version, "User-Agent": "eassync-tests/1"}
        if body is not None:
            sent["Content-Type"] = "application/vnd.ms-sync.wbxml"
        if self.policy_key is not None:
            sent["X-MS-PolicyKey"] = self.policy_key
        sent.update(headers)
        response = self.session.post(
            self.server.url,
            params={"Cmd": command, "User": self.user, "DeviceId": self.device, "DeviceType": "t"},
            data=encode(body) if body is not None else b"",
            headers=sent,
            auth=(self.user, self.password),
            timeout=30,
            verify=self.verify,
        )
        doc = decode(response.content) if response.status_code == 200 and response.content else None
        return Answer(response, doc)

    # --- commands ----------------------------------------------------------------------

    def provision(self) -> str:
        """Both phases; returns (and keeps) the permanent policy key."""
        self.policy_key = None
        info = None
        if self.version >= "14.1":
            info = E(
                "Settings:DeviceInformation",
                E(
                    "Settings:Set",
                    E("Settings:Model", value="tests"),
                    E("Settings:OS", value="Linux"),
                ),
            )
        first = self.post("Provision", provision_request(info=info))
        temp = first.doc.text("Provision:Policies/Provision:Policy/Provision:PolicyKey")
        assert temp, first.doc
        self.policy_key = temp
        second = self.post("Provision", provision_request(key=temp))
        permanent = second.doc.text("Provision:Policies/Provision:Policy/Provision:PolicyKey")
        assert permanent
        assert permanent != temp
        self.policy_key = permanent
        return permanent

    def folder_sync(self, key: str = "0") -> Answer:
        return self.post(
            "FolderSync", E("FolderHierarchy:FolderSync", E("FolderHierarchy:SyncKey", value=key))
        )

    def sync(self, *collections: Element, **top: Any) -> Answer:
        extra = [E(f"AirSync:{name}", value=value) for name, value in top.items()]
        return self.post("Sync", E("AirSync:Sync", E("AirSync:Collections", *collections), *extra))

    def prime(self, collection_id: str, supported: list[str] | None = None, **options: Any) -> str:
        answer = self.sync(collection(collection_id, "0", supported=supported, **options))
        result = answer.doc.find("AirSync:Collections/AirSync:Collection")
        assert result.text("AirSync:Status") == "1", answer.doc
        return result.text("AirSync:SyncKey")

    def download(
        self, collection_id: str, key: str, window: int = 512
    ) -> tuple[str, list[Element]]:
        """Loop GetChanges until MoreAvailable is gone; returns the last key and all commands."""
        commands: list[Element] = []
        while True:
            answer = self.sync(collection(collection_id, key, window=window))
            result = answer.doc.find("AirSync:Collections/AirSync:Collection")
            assert result.text("AirSync:Status") == "1", answer.doc
            key = result.text("AirSync:SyncKey")
            found = result.find("AirSync:Commands")
            if found is not None:
                commands.extend(found.children)
            if result.find("AirSync:MoreAvailable") is None:
                return key, commands


def provision_request(info: Element | None = None, key: str | None = None) -> Element:
    policy = E(
        "Provision:Policy",
        E("Provision:PolicyType", value="MS-EAS-Provisioning-WBXML"),
        E("Provision:PolicyKey", value=key) if key else None,
        E("Provision:Status", value=1) if key else None,
    )
    return E("Provision:Provision", info, E("Provision:Policies", policy))


def collection(
    collection_id: str,
    key: str,
    *,
    window: int | None = None,
    commands: list[Element] | None = None,
    supported: list[str] | None = None,
    get_changes: bool | None = None,
    filter_type: int | None = None,
    conflict: int | None = None,
    truncation: int | None = None,
) -> Element:
    options = None
    if filter_type is not None or conflict is not None or truncation is not None:
        options = E(
            "AirSync:Options",
            E("AirSync:FilterType", value=filter_type) if filter_type is not None else None,
            E("AirSync:Conflict", value=conflict) if conflict is not None else None,
            E(
                "AirSyncBase:BodyPreference",
                E("AirSyncBase:Type", value=1),
                E("AirSyncBase:TruncationSize", value=truncation),
            )
            if truncation is not None
            else None,
        )
    return E(
        "AirSync:Collection",
        E("AirSync:SyncKey", value=key),
        E("AirSync:CollectionId", value=collection_id),
        E("AirSync:Supported", *[E(tag) for tag in supported]) if supported is not None else None,
        (
            E("AirSync:GetChanges", value="1" if get_changes else "0")
            if get_changes is not None
            else None
        ),
        E("AirSync:WindowSize", value=window) if window is not None else None,
        options,
        E("AirSync:Commands", *commands) if commands else None,
    )


def contact(**fields: str) -> Element:
    return E("AirSync:ApplicationData", *[E(f"Contacts:{k}", value=v) for k, v in fields.items()])


def add(client_id: str, data: Element) -> Element:
    return E("AirSync:Add", E("AirSync:ClientId", value=client_id), data)


def change(server_id: str, data: Element) -> Element:
    return E("AirSync:Change", E("AirSync:ServerId", value=server_id), data)


def delete(server_id: str) -> Element:
    return E("AirSync:Delete", E("AirSync:ServerId", value=server_id))


def only_collection(answer: Answer) -> Element:
    assert answer.doc is not None, answer.http.status_code
    result = answer.doc.find("AirSync:Collections/AirSync:Collection")
    assert result is not None, answer.doc.to_xml()
    return result


def commands_of(result: Element) -> list[tuple[str, str]]:
    """(command name, ServerId) pairs of a Sync response collection."""
    found = result.find("AirSync:Commands")
    if found is None:
        return []
    return [(c.name, c.text("AirSync:ServerId") or "") for c in found]


def folder_id(server: DevServer, folder_type: int, user: str = "alice") -> str:
    return server.store.default_folder(user, folder_type)
