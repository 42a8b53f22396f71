"""Settings (MS-ASCMD 2.2.1.18; eas-protocol.md §6.4): DeviceInformation, UserInformation, Oof.

The user's address is ``<user>@devserver.test``.
"""

from __future__ import annotations

import json

from eassync.devserver.commands.context import Context
from eassync.eas.element import E, Element

OK = 1
PROTOCOL_ERROR = 2
MAIL_DOMAIN = "devserver.test"


def handle(ctx: Context, body: Element | None) -> Element | None:
    if body is None or body.tag != "Settings:Settings":
        return E("Settings:Settings", E("Settings:Status", value=PROTOCOL_ERROR))
    response = E("Settings:Settings", E("Settings:Status", value=OK))
    for request in body:
        if request.name == "DeviceInformation":
            fields = request.find("Settings:Set")
            info = {c.name: c.text() for c in (fields if fields is not None else request)}
            ctx.store.update_device(ctx.user, ctx.device, info=json.dumps(info))
            response.append(E("Settings:DeviceInformation", E("Settings:Status", value=OK)))
        elif request.name == "UserInformation":
            response.append(_user_information(ctx))
        elif request.name == "Oof":
            from eassync.devserver.commands import oof

            response.append(oof.handle(ctx, request))
        else:
            response.append(E(request.tag, E("Settings:Status", value=PROTOCOL_ERROR)))
    return response


def _user_information(ctx: Context) -> Element:
    address = f"{ctx.user}@{MAIL_DOMAIN}"
    if ctx.at_least("14.1"):
        get = E(
            "Settings:Get",
            E(
                "Settings:Accounts",
                E(
                    "Settings:Account",
                    E("Settings:UserDisplayName", value=ctx.user),
                    E(
                        "Settings:EmailAddresses",
                        E("Settings:SMTPAddress", value=address),
                        E("Settings:PrimarySmtpAddress", value=address),
                    ),
                ),
            ),
        )
    else:
        smtp = E("Settings:SMTPAddress", value=address)
        get = E("Settings:Get", E("Settings:EmailAddresses", smtp))
    return E("Settings:UserInformation", E("Settings:Status", value=OK), get)
