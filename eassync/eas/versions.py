"""EAS protocol versions: which we speak, how to pick one, version-dependent rules.

Every version-dependent rule of the client is a function of the negotiated version
string (eas-protocol.md §0); compare with :func:`at_least`, never with ``>`` on strings.
"""

from __future__ import annotations

from collections.abc import Iterable

#: Versions eassync speaks, lowest first. 2.5 and 12.0 are skipped (no AirSyncBase
#: bodies, different attachment elements; eas-protocol.md §0).
SUPPORTED: tuple[str, ...] = ("12.1", "14.0", "14.1", "16.0", "16.1")

AUTO = "auto"


def as_tuple(version: str) -> tuple[int, ...]:
    """``"14.1"`` → ``(14, 1)``; raises ValueError for anything not dotted digits."""
    parts = version.strip().split(".")
    if not parts or not all(p.isdigit() for p in parts):
        raise ValueError(f"not an EAS protocol version: {version!r}")
    return tuple(int(p) for p in parts)


def at_least(version: str, minimum: str) -> bool:
    return as_tuple(version) >= as_tuple(minimum)


def parse_header(values: Iterable[str]) -> list[str]:
    """Versions from one or more ``MS-ASProtocolVersions`` header values.

    Split on commas, trim, de-duplicate: Office 365 repeats the header (TbSync
    ``network.mjs``); junk entries are ignored rather than fatal.
    """
    seen: list[str] = []
    for value in values:
        for part in value.split(","):
            token = part.strip()
            if not token or token in seen:
                continue
            try:
                as_tuple(token)
            except ValueError:
                continue
            seen.append(token)
    return seen


def choose(server_versions: Iterable[str], ours: Iterable[str] = SUPPORTED) -> str | None:
    """The highest version both sides speak, or None (eas-protocol.md §2.4)."""
    common = set(server_versions) & set(ours)
    if not common:
        return None
    return max(common, key=as_tuple)


def validate_pin(version: str) -> str:
    """A configured ``protocol_version``: ``auto`` or one of :data:`SUPPORTED`."""
    if version == AUTO or version in SUPPORTED:
        return version
    raise ValueError(
        f"unsupported protocol_version {version!r}; use auto or one of {', '.join(SUPPORTED)}"
    )
