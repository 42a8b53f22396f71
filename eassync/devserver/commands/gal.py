"""The devserver's global address list: its users (``<user>@devserver.test``), plus
what ``gal.json`` in the data directory adds.

``gal.json``: ``{"min_query": 3, "users": true, "entries": [{"display_name": …,
"email": …, "first_name": …, "last_name": …, "phone": …, "company": …,
"picture": base64}]}``. ``min_query``: a shorter query finds nothing, as SOGo
answers queries shorter than its SOGoSearchMinimumWordLength; ``users: false`` leaves
the users out.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from eassync.devserver.commands.context import Context
from eassync.devserver.commands.settings import MAIL_DOMAIN

#: Gal page tag → entry key
FIELDS = {
    "DisplayName": "display_name",
    "Phone": "phone",
    "Office": "office",
    "Title": "title",
    "Company": "company",
    "Alias": "alias",
    "FirstName": "first_name",
    "LastName": "last_name",
    "HomePhone": "home_phone",
    "MobilePhone": "mobile_phone",
    "EmailAddress": "email",
}


@dataclass
class Gal:
    min_query: int = 1
    entries: list[dict[str, Any]] = field(default_factory=list)
    #: user name of each entry that has a mailbox here (free/busy), by address
    mailboxes: dict[str, str] = field(default_factory=dict)

    def search(self, query: str) -> list[dict[str, Any]]:
        q = query.strip().lower()
        if len(q) < self.min_query:
            return []
        keys = ("display_name", "email", "first_name", "last_name", "alias")
        return [e for e in self.entries if any(q in str(e.get(k) or "").lower() for k in keys)]

    def resolve(self, to: str) -> list[dict[str, Any]]:
        """Entries an address or name resolves to (an exact address first)."""
        exact = [e for e in self.entries if str(e.get("email", "")).lower() == to.lower()]
        return exact or self.search(to)


def load(ctx: Context) -> Gal:
    doc: dict[str, Any] = {}
    path = ctx.store.path.parent / "gal.json"
    if path.exists():
        doc = json.loads(path.read_text("utf-8"))
    gal = Gal(min_query=int(doc.get("min_query", 1)))
    if doc.get("users", True):
        with ctx.store.lock:
            users = [u for (u,) in ctx.store.db.execute("SELECT DISTINCT user FROM folders")]
        for user in sorted(users):
            email = f"{user}@{MAIL_DOMAIN}"
            gal.entries.append({"display_name": user.capitalize(), "email": email, "alias": user})
            gal.mailboxes[email.lower()] = user
    gal.entries.extend(e for e in doc.get("entries", []) if isinstance(e, dict))
    return gal
