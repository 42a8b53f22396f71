"""The control endpoint ``/_devserver/…``: drive a devserver running in another process.

Only answered for loopback clients and when the server runs with control enabled
(``--control``, the default for loopback binds). JSON in, JSON out:

- ``POST /_devserver/faults`` ``{"fault": "throttle", "times": 1, "retry_after": 1}``
  — any method of ``DevServer.faults`` by name with its keyword arguments.
- ``POST /_devserver/items`` ``{"op": "add"|"change"|"delete", "user": "alice",
  "folder": "<ServerId>" | "folder_type": 9, "server_id": "…",
  "fields": {"FirstName": "Ada", "Body": "text", "Categories": ["a", "b"]}
  | "xml": "<ApplicationData xmlns=\\"AirSync:\\">…</ApplicationData>"}`` → ``{"server_id"}``.
  Bare field names take the folder's class page (Contacts/Calendar/Tasks); ``Body``
  becomes an ``AirSyncBase:Body`` of type 1; a list becomes a container of singular
  children (``Categories`` → ``Category``); a dict a nested container.
- ``GET /_devserver/items?user=alice&folder=<id>`` → ``{server_id: fields}`` (full tags).
- ``POST /_devserver/folders`` ``{"op": "add"|"delete"|"rename", "user", "name", "type",
  "folder"}`` → ``{"server_id"}``.
- ``POST /_devserver/seed`` ``{"user": "alice", "contacts": 1000}`` → ``{"count"}``.
- ``POST /_devserver/settings`` ``{"drop_fields": ["Contacts:Anniversary"]}`` — fields
  the server stops keeping (as SOGo lacks some), ``[]`` to keep all again;
  ``{"assign_uids": true}`` — calendar UIDs become the server's own (as Horde);
  ``{"split_exceptions": true}`` — the moved occurrences of an added series are stored
  as events of their own, their dates deleted from the series (as Horde);
  ``{"instance_change_moves_series": true}`` — a Change with InstanceId changes the
  whole series, a series Change with Recurrence drops its exceptions (as Horde 5.2
  at 16.0); ``{"add_exceptions_crash": true}`` — a 16.x Sync carrying a calendar Add
  whose Exceptions carry InstanceId fails whole with an HTML "Fatal Error" page (as
  Horde 5.2 stock); ``{"add_exceptions_refusal": 6}`` — such an Add is refused alone
  with that item Status, the rest of the Sync applied (``null``: accepted again).
- ``POST /_devserver/settings`` ``{"quarantine": 129}`` — answer every command with that
  status (HTTP 403 for 403) until ``{"quarantine": null}``;
  ``{"forget_device_info": "alice"}`` — lose the DeviceInformation of alice's devices.
- ``GET /_devserver/stats`` → ``{"requests": {command: n}, "folders": {user: [...]}}``.
"""

from __future__ import annotations

import threading
from collections import Counter
from typing import Any, Protocol
from urllib.parse import parse_qs

from eassync.devserver.commands import ServerSettings
from eassync.devserver.faults import Faults
from eassync.devserver.store import Store
from eassync.eas.element import E, Element


class EasHTTPServer(Protocol):
    """What the control endpoint reaches of the server (``http.EasHTTPServer``, which
    imports this module to answer ``/_devserver``)."""

    store: Store
    users: dict[str, str]
    settings: ServerSettings
    faults: Faults
    requests: Counter[str]
    requests_lock: threading.Lock


CLASS_PAGE = {"Contacts": "Contacts", "Calendar": "Calendar", "Tasks": "Tasks", "Notes": "Notes"}
SINGULAR = {
    "Categories": "Category",
    "Children": "Child",
    "Attendees": "Attendee",
    "Exceptions": "Exception",
}


class NotFound(Exception):
    pass


def dispatch(
    server: EasHTTPServer, verb: str, path: str, query: str, payload: dict[str, Any]
) -> Any:
    name = path.removeprefix("/_devserver/").strip("/")
    if (verb, name) == ("POST", "faults"):
        server.faults.apply_json(payload)
        return {"ok": True}
    if (verb, name) == ("POST", "items"):
        return _items(server, payload)
    if (verb, name) == ("GET", "items"):
        args = {k: v[0] for k, v in parse_qs(query).items()}
        items = server.store.items(args["user"], _folder_id(server, args))
        return {sid: to_fields(data) for sid, data in items.items()}
    if (verb, name) == ("POST", "folders"):
        return _folders(server, payload)
    if (verb, name) == ("POST", "seed"):
        ids = server.store.seed_contacts(payload["user"], int(payload.get("contacts", 0)))
        return {"count": len(ids)}
    if (verb, name) == ("POST", "settings"):
        if "drop_fields" in payload:
            server.store.drop_fields = frozenset(str(t) for t in payload["drop_fields"])
        if "assign_uids" in payload:
            server.store.assign_uids = bool(payload["assign_uids"])
        if "split_exceptions" in payload:
            server.store.split_exceptions = bool(payload["split_exceptions"])
        if "instance_change_moves_series" in payload:
            server.store.instance_change_moves_series = bool(
                payload["instance_change_moves_series"]
            )
        if "add_exceptions_crash" in payload:
            server.store.add_exceptions_crash = bool(payload["add_exceptions_crash"])
        if "add_exceptions_refusal" in payload:
            refusal = payload["add_exceptions_refusal"]
            server.store.add_exceptions_refusal = None if refusal is None else int(refusal)
        if "quarantine" in payload:
            code = payload["quarantine"]
            server.settings.quarantine = None if code is None else int(code)
        if "forget_device_info" in payload:
            server.store.forget_device_information(str(payload["forget_device_info"]))
        return {
            "drop_fields": sorted(server.store.drop_fields),
            "quarantine": server.settings.quarantine,
            "assign_uids": server.store.assign_uids,
            "split_exceptions": server.store.split_exceptions,
            "instance_change_moves_series": server.store.instance_change_moves_series,
            "add_exceptions_crash": server.store.add_exceptions_crash,
            "add_exceptions_refusal": server.store.add_exceptions_refusal,
        }
    if (verb, name) == ("GET", "stats"):
        with server.requests_lock:
            requests = dict(server.requests)
        folders = {user: [f.__dict__ for f in server.store.folders(user)] for user in server.users}
        return {"requests": requests, "folders": folders}
    raise NotFound(f"no control resource {verb} {path}")


def _folder_id(server: EasHTTPServer, payload: dict[str, Any]) -> str:
    if payload.get("folder"):
        return str(payload["folder"])
    return server.store.default_folder(payload["user"], int(payload.get("folder_type", 9)))


def _items(server: EasHTTPServer, payload: dict[str, Any]) -> dict[str, Any]:
    store = server.store
    user = payload["user"]
    folder_id = _folder_id(server, payload)
    op = payload.get("op", "add")
    if op == "delete":
        store.delete_item(user, folder_id, payload["server_id"])
        return {"server_id": payload["server_id"]}
    folder = store.folder(user, folder_id)
    if folder is None:
        raise KeyError(f"no folder {folder_id}")
    data = _application_data(payload, CLASS_PAGE.get(folder.item_class or "", "Contacts"))
    if op == "add":
        return {"server_id": store.add_item(user, folder_id, data)}
    if op == "change":
        store.change_item(user, folder_id, payload["server_id"], data)
        return {"server_id": payload["server_id"]}
    raise ValueError(f"unknown op {op!r} (add, change, delete)")


def _folders(server: EasHTTPServer, payload: dict[str, Any]) -> dict[str, Any]:
    store = server.store
    user = payload["user"]
    op = payload.get("op", "add")
    if op == "add":
        server_id = store.add_folder(
            user, payload["name"], int(payload["type"]), str(payload.get("parent", "0"))
        )
        return {"server_id": server_id}
    if op == "delete":
        store.delete_folder(user, str(payload["folder"]))
        return {"server_id": str(payload["folder"])}
    if op == "rename":
        store.update_folder(user, str(payload["folder"]), payload["name"])
        return {"server_id": str(payload["folder"])}
    raise ValueError(f"unknown op {op!r} (add, delete, rename)")


def _application_data(payload: dict[str, Any], page: str) -> Element:
    if "xml" in payload:
        from eassync.eas.xmlform import from_xml

        data = from_xml(payload["xml"])
        if data.tag != "AirSync:ApplicationData":
            raise ValueError("the xml must be an <ApplicationData> element")
        return data
    return from_fields(payload.get("fields") or {}, page)


def from_fields(fields: dict[str, Any], page: str) -> Element:
    """Build ApplicationData from a simple field dict (see module docstring)."""
    return E("AirSync:ApplicationData", *_field_elements(fields, page))


def _field_elements(fields: dict[str, Any], page: str) -> list[Element]:
    out = []
    for name, value in fields.items():
        if name == "Body":
            out.append(
                E(
                    "AirSyncBase:Body",
                    E("AirSyncBase:Type", value=1),
                    E("AirSyncBase:Data", value=str(value)),
                )
            )
            continue
        tag = name if ":" in name else f"{page}:{name}"
        if isinstance(value, list):
            child_page, _, child_name = tag.partition(":")
            singular = f"{child_page}:{SINGULAR.get(child_name, child_name.rstrip('s'))}"
            out.append(
                E(
                    tag,
                    *[
                        E(singular, *_field_elements(v, child_page))
                        if isinstance(v, dict)
                        else E(singular, value=str(v))
                        for v in value
                    ],
                )
            )
        elif isinstance(value, dict):
            out.append(E(tag, *_field_elements(value, tag.partition(":")[0])))
        else:
            out.append(E(tag, value=None if value is None else str(value)))
    return out


def to_fields(data: Element) -> dict[str, Any]:
    """An item as JSON: leaves by full tag; lists for repeated children (Categories)."""
    return {child.tag: _field_value(child) for child in data.children}


def _field_value(element: Element) -> Any:
    if not element.children:
        return element.text()
    tags = {c.tag for c in element.children}
    if element.name in SINGULAR or (len(element.children) > 1 and len(tags) == 1):
        return [_field_value(c) for c in element.children]
    return to_fields(element)
