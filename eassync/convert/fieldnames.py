"""Readable names of EAS fields ("slots", e.g. ``Contacts:Business2PhoneNumber``), for
telling a user which fields a server does not keep (:mod:`eassync.sync.slots`).

Pure data and one function: no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

#: names a generic split would get wrong or make unclear
NAMES: dict[str, str] = {
    "Contacts:Anniversary": "anniversary",
    "Contacts:Spouse": "spouse",
    "Contacts:Children": "children",
    "Contacts:AssistantName": "assistant's name",
    "Contacts:AssistantPhoneNumber": "assistant's phone",
    "Contacts:Birthday": "birthday",
    "Contacts:Email1Address": "e-mail",
    "Contacts:Email2Address": "second e-mail",
    "Contacts:Email3Address": "third e-mail",
    "Contacts:HomePhoneNumber": "home phone",
    "Contacts:Home2PhoneNumber": "second home phone",
    "Contacts:BusinessPhoneNumber": "business phone",
    "Contacts:Business2PhoneNumber": "second business phone",
    "Contacts:MobilePhoneNumber": "mobile phone",
    "Contacts:CarPhoneNumber": "car phone",
    "Contacts:RadioPhoneNumber": "radio phone",
    "Contacts:PagerNumber": "pager",
    "Contacts:HomeFaxNumber": "home fax",
    "Contacts:BusinessFaxNumber": "business fax",
    "Contacts:WebPage": "web page",
    "Contacts:FileAs": "file-as name",
    "Contacts:Title": "name prefix",
    "Contacts:Suffix": "name suffix",
    "Contacts:JobTitle": "job title",
    "Contacts:OfficeLocation": "office",
    "Contacts:Picture": "photo",
    "Contacts:Categories": "categories",
    "Contacts2:IMAddress": "IM address",
    "Contacts2:IMAddress2": "second IM address",
    "Contacts2:IMAddress3": "third IM address",
    "Contacts2:NickName": "nickname",
    "Contacts2:MMS": "MMS number",
    "Contacts2:CompanyMainPhone": "company main phone",
    "Contacts2:ManagerName": "manager's name",
    "Contacts2:GovernmentId": "government id",
    "Contacts2:CustomerId": "customer id",
    "Contacts2:AccountName": "account name",
    "AirSyncBase:Body": "notes",
}

_WORDS = re.compile(r"(?<=[a-z])(?=[A-Z0-9])|(?<=[0-9])(?=[A-Z])")
_ORDINAL = {"2": "second", "3": "third"}


def readable(tag: str) -> str:
    """``Contacts:Business2PhoneNumber`` → "second business phone"; a tag not in
    :data:`NAMES` is split into lower-case words ("yomi first name")."""
    if tag in NAMES:
        return NAMES[tag]
    name = tag.rpartition(":")[2]
    if not name:
        return tag or "?"
    words = _WORDS.sub(" ", name).lower().split()
    for digit, ordinal in _ORDINAL.items():
        if digit in words:
            words.remove(digit)
            words.insert(0, ordinal)
    if words and words[-1] == "number" and "phone" in words:
        words.pop()
    return " ".join(words) or tag or "?"


def readable_list(tags: Iterable[str]) -> list[str]:
    """Readable names of ``tags``, each once, sorted."""
    return sorted({readable(t) for t in tags})
