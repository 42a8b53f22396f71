"""Request-line parsing and protocol constants shared by the devserver's command handlers.

The query string comes either plain (``Cmd=Sync&User=…&DeviceId=…&DeviceType=…``) or
as the base64 record of MS-ASHTTP 2.2.1.1.1.1 (eas-protocol.md §2.1), in which case the
protocol version and policy key travel in the record instead of headers.
"""

from __future__ import annotations

import base64
import binascii
import struct
from dataclasses import dataclass, field
from urllib.parse import parse_qs, unquote

from eassync.eas.element import E, Element

SERVER_VERSIONS = ("12.1", "14.0", "14.1", "16.0", "16.1")
COMMANDS = (
    "Sync",
    "FolderSync",
    "GetItemEstimate",
    "ItemOperations",
    "Ping",
    "Provision",
    "Settings",
)

#: The root element of each command's request and response, for top-level Status
#: answers (policy and fault statuses).
ROOTS: dict[str, str] = {
    "Sync": "AirSync:Sync",
    "FolderSync": "FolderHierarchy:FolderSync",
    "FolderCreate": "FolderHierarchy:FolderCreate",
    "FolderDelete": "FolderHierarchy:FolderDelete",
    "FolderUpdate": "FolderHierarchy:FolderUpdate",
    "GetItemEstimate": "GetItemEstimate:GetItemEstimate",
    "ItemOperations": "ItemOperations:ItemOperations",
    "Ping": "Ping:Ping",
    "Provision": "Provision:Provision",
    "Settings": "Settings:Settings",
    "MoveItems": "Move:MoveItems",
}

#: Command codes of the base64 query (MS-ASHTTP 2.2.1.1.1.1.2).
COMMAND_CODES: dict[int, str] = {
    0: "Sync",
    1: "SendMail",
    2: "SmartForward",
    3: "SmartReply",
    4: "GetAttachment",
    9: "FolderSync",
    10: "FolderCreate",
    11: "FolderDelete",
    12: "FolderUpdate",
    13: "MoveItems",
    14: "GetItemEstimate",
    15: "MeetingResponse",
    16: "Search",
    17: "Settings",
    18: "Ping",
    19: "ItemOperations",
    20: "Provision",
    21: "ResolveRecipients",
    22: "ValidateCert",
    23: "Find",
}
PARAMETER_TAGS: dict[int, str] = {
    0: "AttachmentName",
    1: "CollectionId",
    3: "ItemId",
    4: "LongId",
    6: "Occurrence",
    7: "Options",
    8: "User",
}


def version_tuple(version: str) -> tuple[int, int]:
    major, _, minor = version.partition(".")
    try:
        return int(major), int(minor or 0)
    except ValueError:
        return (0, 0)


@dataclass
class RequestLine:
    """What the URL (and for plain queries, the headers) say about a request."""

    command: str = ""
    user: str = ""
    device_id: str = ""
    device_type: str = ""
    version: str | None = None  # only from a base64 query
    policy_key: str | None = None  # only from a base64 query
    params: dict[str, str] = field(default_factory=dict)


class BadRequest(Exception):
    pass


def parse_query(query: str) -> RequestLine:
    if not query or "Cmd=" in query or "&" in query:
        return _parse_plain(query)
    return _parse_base64(unquote(query))


def _parse_plain(query: str) -> RequestLine:
    values = {k: v[0] for k, v in parse_qs(query, keep_blank_values=True).items()}
    line = RequestLine(
        command=values.pop("Cmd", ""),
        user=values.pop("User", ""),
        device_id=values.pop("DeviceId", ""),
        device_type=values.pop("DeviceType", ""),
    )
    line.params = values
    return line


def _parse_base64(query: str) -> RequestLine:
    try:
        raw = base64.b64decode(query + "=" * (-len(query) % 4), validate=False)
        pos = 0
        version_byte, command_code = raw[0], raw[1]
        pos = 4  # skip the locale
        id_len = raw[pos]
        device_id = raw[pos + 1 : pos + 1 + id_len].decode("ascii")
        pos += 1 + id_len
        key_len = raw[pos]
        policy_key = None
        if key_len == 4:
            (key,) = struct.unpack_from("<I", raw, pos + 1)
            policy_key = str(key)
        pos += 1 + key_len
        type_len = raw[pos]
        device_type = raw[pos + 1 : pos + 1 + type_len].decode("ascii")
        pos += 1 + type_len
        params: dict[str, str] = {}
        while pos < len(raw):
            tag, length = raw[pos], raw[pos + 1]
            params[PARAMETER_TAGS.get(tag, str(tag))] = raw[pos + 2 : pos + 2 + length].decode(
                "utf-8", "replace"
            )
            pos += 2 + length
    except (IndexError, binascii.Error, UnicodeDecodeError, struct.error) as exc:
        raise BadRequest(f"malformed base64 query: {exc}") from exc
    return RequestLine(
        command=COMMAND_CODES.get(command_code, f"#{command_code}"),
        user=params.pop("User", ""),
        device_id=device_id,
        device_type=device_type,
        version=f"{version_byte // 10}.{version_byte % 10}",
        policy_key=policy_key,
        params=params,
    )


def status_response(command: str, code: int) -> Element:
    """``<Root><Status>code</Status></Root>`` for a command (policy and fault answers)."""
    root = ROOTS.get(command, "AirSync:Sync")
    page = root.partition(":")[0]
    return E(root, E(f"{page}:Status", value=code))
