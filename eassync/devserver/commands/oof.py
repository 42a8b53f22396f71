"""Settings Oof (MS-ASCMD 2.2.3.119): the out-of-office reply, kept per user.

Messages are stored with the BodyType they were set with; a Get asking for the other
type is answered converted (HTML → text without tags, text → escaped HTML), the way
Exchange serves the one stored form in both types.
"""

from __future__ import annotations

import html
import json
import re
from typing import Any

from eassync.devserver.commands.context import Context
from eassync.eas.element import E, Element

SUCCESS = 1
PROTOCOL_ERROR = 2
INVALID_ARGUMENTS = 5
S = "Settings:"
AUDIENCES = ("AppliesToInternal", "AppliesToExternalKnown", "AppliesToExternalUnknown")
SCHEMA = "CREATE TABLE IF NOT EXISTS oof (user TEXT PRIMARY KEY, doc TEXT NOT NULL)"


def handle(ctx: Context, request: Element) -> Element:
    get, put = request.find(S + "Get"), request.find(S + "Set")
    if put is not None:
        parsed = _parse_set(put)
        if parsed is None:
            return E(S + "Oof", E(S + "Status", value=INVALID_ARGUMENTS))
        with ctx.store.transaction() as db:
            db.execute(SCHEMA)
            db.execute("INSERT OR REPLACE INTO oof VALUES (?, ?)", (ctx.user, json.dumps(parsed)))
        return E(S + "Oof", E(S + "Status", value=SUCCESS))
    if get is None:
        return E(S + "Oof", E(S + "Status", value=PROTOCOL_ERROR))
    wanted = (get.text(S + "BodyType") or "Text").upper()
    with ctx.store.transaction() as db:
        db.execute(SCHEMA)
        row = db.execute("SELECT doc FROM oof WHERE user = ?", (ctx.user,)).fetchone()
    doc: dict[str, Any] = json.loads(row[0]) if row else {"state": 0, "messages": {}}
    out = E(S + "Get", E(S + "OofState", value=doc["state"]))
    if doc.get("start") and doc.get("end"):
        out.add(S + "StartTime", doc["start"])
        out.add(S + "EndTime", doc["end"])
    for audience in AUDIENCES:
        msg = doc["messages"].get(audience)
        if msg is None:
            continue
        text, body_type = _as(msg["text"], msg["type"], wanted)
        out.append(
            E(
                S + "OofMessage",
                E(S + audience),
                E(S + "Enabled", value=1 if msg["enabled"] else 0),
                E(S + "ReplyMessage", value=text),
                E(S + "BodyType", value=body_type),
            )
        )
    return E(S + "Oof", E(S + "Status", value=SUCCESS), out)


def _parse_set(put: Element) -> dict[str, Any] | None:
    state = put.int(S + "OofState")
    if state not in (0, 1, 2):
        return None
    start, end = put.text(S + "StartTime"), put.text(S + "EndTime")
    if state == 2 and (not start or not end or end <= start):
        return None
    messages: dict[str, dict[str, object]] = {}
    for node in put.findall(S + "OofMessage"):
        audience = next((a for a in AUDIENCES if node.find(S + a) is not None), None)
        if audience is None:
            return None
        body_type = (node.text(S + "BodyType") or "Text").upper()
        if body_type not in ("TEXT", "HTML"):
            return None
        messages[audience] = {
            "enabled": node.int(S + "Enabled", 0) == 1,
            "text": node.text(S + "ReplyMessage", "") or "",
            "type": body_type,
        }
    return {"state": state, "start": start, "end": end, "messages": messages}


def _as(text: str, stored: str, wanted: str) -> tuple[str, str]:
    if wanted == "HTML" and stored == "TEXT":
        return "<html><body>" + html.escape(text).replace("\n", "<br>") + "</body></html>", "HTML"
    if wanted != "HTML" and stored == "HTML":
        return html.unescape(re.sub(r"<[^>]*>", "", text)), "Text"
    return text, "HTML" if stored == "HTML" else "Text"
