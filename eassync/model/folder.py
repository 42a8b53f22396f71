"""A server folder as plain data (MS-ASCMD 2.2.1.5 FolderSync): what the config
level selects, the runner opens and the EAS client reports, without their knowing the
protocol client."""

from __future__ import annotations

from dataclasses import dataclass

#: Folder Type → Sync class (eas-protocol.md §4). 19 (Recipient Information Cache) is
#: Contacts-class but must not be mirrored, so it maps to None like Journal and generic
#: folders.
_CLASS_BY_TYPE: dict[int, str] = {
    **dict.fromkeys((2, 3, 4, 5, 6, 12), "Email"),
    7: "Tasks",
    15: "Tasks",
    8: "Calendar",
    13: "Calendar",
    9: "Contacts",
    14: "Contacts",
    10: "Notes",
    17: "Notes",
}


def folder_class(folder_type: int) -> str | None:
    return _CLASS_BY_TYPE.get(folder_type)


@dataclass(frozen=True)
class Folder:
    server_id: str
    parent_id: str
    display_name: str
    type: int
    eas_class: str | None

    @classmethod
    def of(cls, server_id: str, parent_id: str, display_name: str, type: int) -> Folder:
        return cls(server_id, parent_id, display_name, type, folder_class(type))
