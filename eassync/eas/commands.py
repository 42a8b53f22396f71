"""EAS commands as pure functions: request builders (values → Element) and response
parsers (Element → values). No sockets, no files, no item-format knowledge: item
contents travel as ``AirSync:ApplicationData`` Element trees.

Sections refer to /work/shared/eas-protocol.md (MS-ASCMD, MS-ASPROV in brief).
"""

from __future__ import annotations

import base64
import binascii
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Literal

from eassync.eas.element import E, Element
from eassync.eas.versions import at_least
from eassync.errors import ProtocolError
from eassync.model.folder import Folder as Folder
from eassync.model.folder import folder_class as folder_class

log = logging.getLogger(__name__)

POLICY_TYPE = "MS-EAS-Provisioning-WBXML"  # 12.0+ (MS-WAP-Provisioning-XML was 2.5)
MAX_WINDOW_SIZE = 512  # §5.1: 0 or > 512 means 512

# --- folders (§4) -----------------------------------------------------------------------


@dataclass(frozen=True)
class FolderSyncResult:
    status: int
    sync_key: str | None
    added: list[Folder] = field(default_factory=list)
    updated: list[Folder] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)


def build_folder_sync(sync_key: str) -> Element:
    return E("FolderHierarchy:FolderSync", E("FolderHierarchy:SyncKey", value=sync_key))


def _folder_from(node: Element) -> Folder:
    server_id = node.text("FolderHierarchy:ServerId")
    if server_id is None:
        raise ProtocolError("FolderSync change without a ServerId")
    return Folder.of(
        server_id,
        node.text("FolderHierarchy:ParentId", "0") or "0",
        node.text("FolderHierarchy:DisplayName", "") or "",
        node.int("FolderHierarchy:Type", 18) or 18,  # 18 = unknown folder type
    )


def parse_folder_sync(root: Element) -> FolderSyncResult:
    _expect(root, "FolderHierarchy:FolderSync")
    changes = root.find("FolderHierarchy:Changes")
    added: list[Folder] = []
    updated: list[Folder] = []
    deleted: list[str] = []
    if changes is not None:
        for node in changes:
            if node.tag == "FolderHierarchy:Add":
                added.append(_folder_from(node))
            elif node.tag == "FolderHierarchy:Update":
                updated.append(_folder_from(node))
            elif node.tag == "FolderHierarchy:Delete":
                sid = node.text("FolderHierarchy:ServerId")
                if sid is not None:
                    deleted.append(sid)
    return FolderSyncResult(
        status=root.int("FolderHierarchy:Status", 1) or 1,
        sync_key=root.text("FolderHierarchy:SyncKey"),
        added=added,
        updated=updated,
        deleted=deleted,
    )


# --- provisioning (§3) ------------------------------------------------------------------


@dataclass(frozen=True)
class DeviceInfo:
    """What ``Settings:DeviceInformation`` says about us (§6.4)."""

    model: str = "eassync"
    friendly_name: str = "eassync"
    os: str = "Linux"
    os_language: str | None = None
    user_agent: str = "eassync"


def build_device_information(info: DeviceInfo) -> Element:
    # Child order of Set per MS-ASCMD 2.2.3.159: Model, IMEI, FriendlyName, OS,
    # OSLanguage, PhoneNumber, UserAgent, EnableOutboundSMS, MobileOperator.
    return E(
        "Settings:DeviceInformation",
        E(
            "Settings:Set",
            E("Settings:Model", value=info.model),
            E("Settings:FriendlyName", value=info.friendly_name),
            E("Settings:OS", value=info.os),
            E("Settings:OSLanguage", value=info.os_language) if info.os_language else None,
            E("Settings:UserAgent", value=info.user_agent),
        ),
    )


def build_provision_request(version: str, device: DeviceInfo | None) -> Element:
    """Phase 1. ≥14.1 MUST carry DeviceInformation, ≤14.0 MUST NOT (MS-ASPROV 3.1.5.1;
    Office 365 answers 165 without it)."""
    return E(
        "Provision:Provision",
        build_device_information(device) if device and at_least(version, "14.1") else None,
        E(
            "Provision:Policies",
            E("Provision:Policy", E("Provision:PolicyType", value=POLICY_TYPE)),
        ),
    )


def build_provision_ack(policy_key: str, status: int = 1) -> Element:
    """Phase 2: acknowledge the temporary key (PolicyKey must precede Status)."""
    return E(
        "Provision:Provision",
        E(
            "Provision:Policies",
            E(
                "Provision:Policy",
                E("Provision:PolicyType", value=POLICY_TYPE),
                E("Provision:PolicyKey", value=policy_key),
                E("Provision:Status", value=status),
            ),
        ),
    )


def build_wipe_ack(status: int = 1, *, account_only: bool = False) -> Element:
    tag = "Provision:AccountOnlyRemoteWipe" if account_only else "Provision:RemoteWipe"
    return E("Provision:Provision", E(tag, E("Provision:Status", value=status)))


@dataclass(frozen=True)
class ProvisionResult:
    status: int | None  # top-level; None when absent (Tencent Exmail, EAS-4-TbSync #337)
    policy_status: int | None
    policy_key: str | None
    remote_wipe: bool = False
    account_only_wipe: bool = False

    @property
    def ok(self) -> bool:
        if self.status is None:
            return self.policy_status == 1
        return self.status == 1


def parse_provision(root: Element) -> ProvisionResult:
    _expect(root, "Provision:Provision")
    policy = root.find("Provision:Policies/Provision:Policy")
    return ProvisionResult(
        status=root.int("Provision:Status"),
        policy_status=policy.int("Provision:Status") if policy is not None else None,
        policy_key=policy.text("Provision:PolicyKey") if policy is not None else None,
        remote_wipe=root.find("Provision:RemoteWipe") is not None,
        account_only_wipe=root.find("Provision:AccountOnlyRemoteWipe") is not None,
    )


# --- Sync (§5) --------------------------------------------------------------------------

ClientKind = Literal["add", "change", "delete", "fetch"]
ServerKind = Literal["add", "change", "delete", "softdelete"]


@dataclass
class SyncOptions:
    filter_type: int = 0
    body_type: int = 1
    truncation_size: int | None = None
    conflict: int | None = None
    mime_support: int | None = None


@dataclass
class ClientCommand:
    kind: ClientKind
    client_id: str | None = None
    server_id: str | None = None
    data: Element | None = None
    instance_id: str | None = None

    @classmethod
    def add(cls, client_id: str, data: Element) -> ClientCommand:
        return cls("add", client_id=client_id, data=data)

    @classmethod
    def change(cls, server_id: str, data: Element, instance_id: str | None = None) -> ClientCommand:
        return cls("change", server_id=server_id, data=data, instance_id=instance_id)

    @classmethod
    def delete(cls, server_id: str, instance_id: str | None = None) -> ClientCommand:
        return cls("delete", server_id=server_id, instance_id=instance_id)

    @classmethod
    def fetch(cls, server_id: str) -> ClientCommand:
        return cls("fetch", server_id=server_id)


@dataclass
class CollectionRequest:
    collection_id: str
    sync_key: str
    get_changes: bool | None = None
    window_size: int = MAX_WINDOW_SIZE
    options: SyncOptions | None = None
    #: tags ("Contacts:FirstName" …) the client manages; sent only with SyncKey 0 (§5.1)
    supported: list[str] | None = None
    commands: list[ClientCommand] = field(default_factory=list)
    deletes_as_moves: bool = False


@dataclass
class ServerCommand:
    kind: ServerKind
    server_id: str
    data: Element | None = None
    instance_id: str | None = None


@dataclass
class CommandResponse:
    kind: ClientKind
    client_id: str | None
    server_id: str | None
    status: int
    data: Element | None = None
    #: ≥16.0: the occurrence a Change/Delete addressed (MS-ASCMD 2.2.3.24)
    instance_id: str | None = None


@dataclass
class CollectionResponse:
    collection_id: str
    sync_key: str
    status: int
    more_available: bool = False
    commands: list[ServerCommand] = field(default_factory=list)
    responses: list[CommandResponse] = field(default_factory=list)


@dataclass
class SyncResponse:
    status: int | None  # Sync/Status: present only when the whole request failed
    limit: int | None  # Sync/Limit with Status 14/15
    collections: list[CollectionResponse]


def build_application_data(data: Element | None) -> Element:
    """Item contents are passed either as the ApplicationData element or as its children."""
    if data is None:
        return E("AirSync:ApplicationData")
    if data.tag == "AirSync:ApplicationData":
        return data
    raise ValueError(f"item data must be an AirSync:ApplicationData element, not {data.tag}")


def _build_client_command(cmd: ClientCommand, version: str) -> Element:
    # ≥16.0 addresses one occurrence of a series with AirSyncBase:InstanceId (§5.4)
    instance = (
        E("AirSyncBase:InstanceId", value=cmd.instance_id)
        if cmd.instance_id is not None and at_least(version, "16.0")
        else None
    )
    if cmd.kind == "add":
        if cmd.client_id is None:
            raise ValueError("an Add needs a client_id")
        return E(
            "AirSync:Add",
            E("AirSync:ClientId", value=cmd.client_id),
            build_application_data(cmd.data),
        )
    if cmd.server_id is None:
        raise ValueError(f"a {cmd.kind} needs a server_id")
    server_id = E("AirSync:ServerId", value=cmd.server_id)
    if cmd.kind == "change":
        return E("AirSync:Change", server_id, instance, build_application_data(cmd.data))
    if cmd.kind == "delete":
        return E("AirSync:Delete", server_id, instance)
    if cmd.kind == "fetch":
        return E("AirSync:Fetch", server_id)
    raise ValueError(f"unknown client command kind {cmd.kind!r}")


def build_sync_options(options: SyncOptions) -> Element:
    body = E(
        "AirSyncBase:BodyPreference",
        E("AirSyncBase:Type", value=options.body_type),
        E("AirSyncBase:TruncationSize", value=options.truncation_size)
        if options.truncation_size is not None
        else None,
    )
    return E(
        "AirSync:Options",
        E("AirSync:FilterType", value=options.filter_type),
        E("AirSync:Conflict", value=options.conflict) if options.conflict is not None else None,
        E("AirSync:MIMESupport", value=options.mime_support)
        if options.mime_support is not None
        else None,
        body,
    )


def build_collection(req: CollectionRequest, version: str) -> Element:
    """One ``Collection`` in the strict child order of §5.1 (Exchange answers Status 4
    to any other order): SyncKey, CollectionId, Supported, DeletesAsMoves, GetChanges,
    WindowSize, ConversationMode, Options, Commands."""
    priming = req.sync_key == "0"
    supported = None
    # Never an empty Supported: it names the elements the client manages (MS-ASCMD
    # 2.2.3.179), and Horde 5.2's parser swallows the element after an empty one
    # (Status 4, or HTTP 500 as the Collection's last child).
    if priming and req.supported:
        supported = E("AirSync:Supported", *(E(tag) for tag in req.supported))
    deletes_as_moves = None
    if any(c.kind == "delete" for c in req.commands):
        deletes_as_moves = E("AirSync:DeletesAsMoves", value=1 if req.deletes_as_moves else 0)
    get_changes = None
    # GetChanges with SyncKey 0 is a protocol error (Status 4); absent means the default.
    if req.get_changes is not None and not priming:
        get_changes = (
            E("AirSync:GetChanges") if req.get_changes else E("AirSync:GetChanges", value="0")
        )
    window = min(max(req.window_size, 1), MAX_WINDOW_SIZE)
    commands = None
    if req.commands:
        commands = E("AirSync:Commands", *(_build_client_command(c, version) for c in req.commands))
    return E(
        "AirSync:Collection",
        E("AirSync:SyncKey", value=req.sync_key),
        E("AirSync:CollectionId", value=req.collection_id),
        supported,
        deletes_as_moves,
        get_changes,
        E("AirSync:WindowSize", value=window),
        build_sync_options(req.options) if req.options is not None else None,
        commands,
    )


def build_sync(
    collections: Sequence[CollectionRequest],
    version: str,
    *,
    wait: int | None = None,
    heartbeat: int | None = None,
) -> Element:
    """A Sync request. ``wait`` is in minutes (≥12.1), ``heartbeat`` in seconds (≥14.0);
    never both (Status 4, §5.6)."""
    if wait is not None and heartbeat is not None:
        raise ValueError("Sync takes either wait or heartbeat, not both")
    if heartbeat is not None and not at_least(version, "14.0"):
        raise ValueError("HeartbeatInterval needs protocol 14.0 or later; use wait")
    return E(
        "AirSync:Sync",
        E("AirSync:Collections", *(build_collection(c, version) for c in collections)),
        E("AirSync:Wait", value=wait) if wait is not None else None,
        E("AirSync:HeartbeatInterval", value=heartbeat) if heartbeat is not None else None,
    )


def _server_command(node: Element) -> ServerCommand | None:
    kinds: dict[str, ServerKind] = {
        "AirSync:Add": "add",
        "AirSync:Change": "change",
        "AirSync:Delete": "delete",
        "AirSync:SoftDelete": "softdelete",
    }
    kind = kinds.get(node.tag)
    if kind is None:
        log.debug("ignoring unexpected %s in Sync Commands", node.tag)
        return None
    server_id = node.text("AirSync:ServerId")
    if server_id is None:
        raise ProtocolError(f"Sync {node.name} without a ServerId")
    return ServerCommand(
        kind=kind,
        server_id=server_id,
        data=node.find("AirSync:ApplicationData"),
        instance_id=node.text("AirSyncBase:InstanceId"),
    )


def _command_response(node: Element) -> CommandResponse | None:
    kinds: dict[str, ClientKind] = {
        "AirSync:Add": "add",
        "AirSync:Change": "change",
        "AirSync:Delete": "delete",
        "AirSync:Fetch": "fetch",
    }
    kind = kinds.get(node.tag)
    if kind is None:
        log.debug("ignoring unexpected %s in Sync Responses", node.tag)
        return None
    return CommandResponse(
        kind=kind,
        client_id=node.text("AirSync:ClientId"),
        server_id=node.text("AirSync:ServerId"),
        # Status is required; a server that leaves it out reported nothing wrong.
        # One that is not a number fails this item only (INVALID_STATUS).
        status=_item_status(node),
        data=node.find("AirSync:ApplicationData"),
        instance_id=node.text("AirSyncBase:InstanceId"),
    )


#: CommandResponse.status of a Status that is not a number
INVALID_STATUS = -1


def sync_status(node: Element, where: str) -> int:
    """The Status child of a Sync or Collection element: 1 when absent (SOGo leaves it
    out on success); a number as given, 0 included: only 1 is success (MS-ASCMD
    2.2.3.177.16), and reading 0 as 1 would commit a SyncKey for changes that never
    happened. Raises ProtocolError when it is not a number (issue 14 item 10)."""
    text = (node.text("AirSync:Status") or "").strip()
    if not text:
        return 1
    if not _is_number(text):
        raise ProtocolError(
            f"the server sent a {where} Status that is not a status number: {text[:20]!r}",
            hint="the server answered outside the protocol; nothing was stored",
        )
    return int(text)


def _item_status(node: Element) -> int:
    text = (node.text("AirSync:Status") or "").strip()
    if not text:
        return 1
    return int(text) if _is_number(text) else INVALID_STATUS


def _is_number(text: str) -> bool:
    return text.isascii() and text.isdigit()  # not "²" or "١": isdigit, yet no int


def parse_sync(root: Element) -> SyncResponse:
    _expect(root, "AirSync:Sync")
    collections: list[CollectionResponse] = []
    for node in root.findall("AirSync:Collections/AirSync:Collection"):
        commands: list[ServerCommand] = []
        responses: list[CommandResponse] = []
        cmds = node.find("AirSync:Commands")
        if cmds is not None:
            commands = [c for c in map(_server_command, cmds) if c is not None]
        resps = node.find("AirSync:Responses")
        if resps is not None:
            responses = [r for r in map(_command_response, resps) if r is not None]
        collections.append(
            CollectionResponse(
                collection_id=node.text("AirSync:CollectionId", "") or "",
                sync_key=node.text("AirSync:SyncKey", "") or "",
                status=sync_status(node, "collection"),
                # present (even empty, SOGo Q16) means true
                more_available=node.find("AirSync:MoreAvailable") is not None,
                commands=commands,
                responses=responses,
            )
        )
    return SyncResponse(
        status=sync_status(root, "Sync") if (root.text("AirSync:Status") or "").strip() else None,
        limit=root.int("AirSync:Limit"),
        collections=collections,
    )


# --- GetItemEstimate (§6.1) -------------------------------------------------------------


@dataclass(frozen=True)
class EstimateRequest:
    collection_id: str
    sync_key: str
    filter_type: int = 0
    eas_class: str | None = None  # needed only ≤12.1


def build_get_item_estimate(entries: Iterable[EstimateRequest], version: str) -> Element:
    nodes: list[Element] = []
    for entry in entries:
        if at_least(version, "14.0"):
            nodes.append(
                E(
                    "GetItemEstimate:Collection",
                    E("AirSync:SyncKey", value=entry.sync_key),
                    E("GetItemEstimate:CollectionId", value=entry.collection_id),
                    E("AirSync:Options", E("AirSync:FilterType", value=entry.filter_type)),
                )
            )
        else:
            # ≤12.1 order: Class, CollectionId, FilterType, SyncKey (MS-ASCMD 2.2.3.27.3)
            nodes.append(
                E(
                    "GetItemEstimate:Collection",
                    E("GetItemEstimate:Class", value=entry.eas_class) if entry.eas_class else None,
                    E("GetItemEstimate:CollectionId", value=entry.collection_id),
                    E("AirSync:FilterType", value=entry.filter_type),
                    E("AirSync:SyncKey", value=entry.sync_key),
                )
            )
    return E("GetItemEstimate:GetItemEstimate", E("GetItemEstimate:Collections", *nodes))


@dataclass(frozen=True)
class Estimate:
    collection_id: str
    status: int
    estimate: int | None


def parse_get_item_estimate(root: Element) -> list[Estimate]:
    _expect(root, "GetItemEstimate:GetItemEstimate")
    out: list[Estimate] = []
    for resp in root.findall("GetItemEstimate:Response"):
        status = resp.int("GetItemEstimate:Status", 1) or 1
        coll = resp.find("GetItemEstimate:Collection")
        if coll is None:
            continue
        out.append(
            Estimate(
                collection_id=coll.text("GetItemEstimate:CollectionId", "") or "",
                status=status,
                estimate=coll.int("GetItemEstimate:Estimate") if status == 1 else None,
            )
        )
    return out


# --- ItemOperations (§6.2) --------------------------------------------------------------


def build_fetch_item(collection_id: str, server_id: str, body_type: int = 1) -> Element:
    return E(
        "ItemOperations:ItemOperations",
        E(
            "ItemOperations:Fetch",
            E("ItemOperations:Store", value="Mailbox"),
            E("AirSync:CollectionId", value=collection_id),
            E("AirSync:ServerId", value=server_id),
            E(
                "ItemOperations:Options",
                E("AirSyncBase:BodyPreference", E("AirSyncBase:Type", value=body_type)),
            ),
        ),
    )


def build_fetch_attachment(file_reference: str) -> Element:
    return E(
        "ItemOperations:ItemOperations",
        E(
            "ItemOperations:Fetch",
            E("ItemOperations:Store", value="Mailbox"),
            E("AirSyncBase:FileReference", value=file_reference),
        ),
    )


@dataclass(frozen=True)
class FetchResult:
    status: int
    server_id: str | None
    file_reference: str | None
    properties: Element | None


@dataclass(frozen=True)
class ItemOperationsResult:
    status: int
    fetches: list[FetchResult]


def parse_item_operations(root: Element) -> ItemOperationsResult:
    _expect(root, "ItemOperations:ItemOperations")
    fetches = [
        FetchResult(
            status=node.int("ItemOperations:Status", 1) or 1,
            server_id=node.text("AirSync:ServerId"),
            file_reference=node.text("AirSyncBase:FileReference"),
            properties=node.find("ItemOperations:Properties"),
        )
        for node in root.findall("ItemOperations:Response/ItemOperations:Fetch")
    ]
    return ItemOperationsResult(root.int("ItemOperations:Status", 1) or 1, fetches)


def attachment_bytes(properties: Element) -> tuple[bytes, str | None]:
    """(data, content type) of an attachment Fetch. ``Data`` is base64 text; OPAQUE
    bytes are taken as they are."""
    content_type = properties.text("AirSyncBase:ContentType")
    node = properties.find("ItemOperations:Data")
    if node is None or node.value is None:
        return b"", content_type
    if isinstance(node.value, bytes):
        return node.value, content_type
    try:
        return base64.b64decode(node.value, validate=False), content_type
    except (binascii.Error, ValueError) as exc:
        raise ProtocolError(f"attachment data is not base64: {exc}") from exc


# --- Ping (§6.3) ------------------------------------------------------------------------


@dataclass(frozen=True)
class PingResult:
    status: int
    folders: list[str] = field(default_factory=list)
    heartbeat: int | None = None
    max_folders: int | None = None


def build_ping(heartbeat: int | None, folders: Sequence[tuple[str, str]] | None) -> Element | None:
    """A Ping; None (an empty body: the server reuses its cached Ping) when neither
    a heartbeat nor folders are given."""
    if heartbeat is None and not folders:
        return None
    return E(
        "Ping:Ping",
        E("Ping:HeartbeatInterval", value=heartbeat) if heartbeat is not None else None,
        E(
            "Ping:Folders",
            *(
                E("Ping:Folder", E("Ping:Id", value=cid), E("Ping:Class", value=cls))
                for cid, cls in folders
            ),
        )
        if folders
        else None,
    )


def parse_ping(root: Element) -> PingResult:
    _expect(root, "Ping:Ping")
    return PingResult(
        status=root.int("Ping:Status", 1) or 1,
        folders=[f.text() or "" for f in root.findall("Ping:Folders/Ping:Folder")],
        heartbeat=root.int("Ping:HeartbeatInterval"),
        max_folders=root.int("Ping:MaxFolders"),
    )


# --- Settings (§6.4) --------------------------------------------------------------------


def build_settings_device_information(info: DeviceInfo) -> Element:
    return E("Settings:Settings", build_device_information(info))


def build_user_information() -> Element:
    return E("Settings:Settings", E("Settings:UserInformation", E("Settings:Get")))


@dataclass(frozen=True)
class UserInformation:
    display_name: str | None
    primary_smtp_address: str | None
    addresses: list[str]


def parse_settings_status(root: Element, section: str) -> tuple[int, int | None]:
    """(top-level Status, Status of the ``section`` child, e.g. ``DeviceInformation``)."""
    _expect(root, "Settings:Settings")
    return (
        root.int("Settings:Status", 1) or 1,
        root.int(f"Settings:{section}/Settings:Status"),
    )


def parse_user_information(root: Element) -> UserInformation:
    _expect(root, "Settings:Settings")
    get = root.find("Settings:UserInformation/Settings:Get")
    if get is None:
        return UserInformation(None, None, [])
    addresses: list[str] = []
    primary: str | None = None
    display: str | None = None

    def collect(emails: Element | None) -> None:
        nonlocal primary
        if emails is None:
            return
        for node in emails:
            value = node.text()
            if value is None:
                continue
            if node.tag == "Settings:PrimarySmtpAddress" and primary is None:
                primary = value
            if value not in addresses:
                addresses.append(value)

    # ≥14.1: Accounts/Account{UserDisplayName, EmailAddresses}; ≤14.0: Get/EmailAddresses
    for account in get.findall("Settings:Accounts/Settings:Account"):
        display = display or account.text("Settings:UserDisplayName")
        collect(account.find("Settings:EmailAddresses"))
    collect(get.find("Settings:EmailAddresses"))
    if primary is None and addresses:
        primary = addresses[0]
    return UserInformation(display, primary, addresses)


# --- helpers ----------------------------------------------------------------------------


def top_level_status(root: Element) -> int | None:
    """The Status child of a response's root element, whatever the command."""
    for child in root.children:
        if child.name == "Status":
            return child.int()
    return None


def _expect(root: Element, tag: str) -> None:
    if root.tag != tag:
        raise ProtocolError(f"expected a {tag} response, got {root.tag}")
