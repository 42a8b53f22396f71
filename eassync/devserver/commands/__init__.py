"""The devserver's EAS command handlers: one module per command.

Each handler is ``handle(ctx, body) -> Element | None``: ``body`` is the decoded
request (None for an empty body) and the result the response document (None = an
empty HTTP 200, which the spec allows for Sync and Ping).
"""

from __future__ import annotations

from eassync.devserver.commands.context import Caches as Caches
from eassync.devserver.commands.context import Context as Context
from eassync.devserver.commands.context import Handler as Handler
from eassync.devserver.commands.context import ServerSettings as ServerSettings
from eassync.devserver.commands.context import changed_since as changed_since


def handlers() -> dict[str, Handler]:
    from eassync.devserver.commands import (
        estimate,
        foldersync,
        itemops,
        meetingresponse,
        ping,
        provision,
        resolverecipients,
        search,
        settings,
        sync,
    )

    return {
        "Provision": provision.handle,
        "FolderSync": foldersync.handle,
        "Sync": sync.handle,
        "GetItemEstimate": estimate.handle,
        "ItemOperations": itemops.handle,
        "Ping": ping.handle,
        "Settings": settings.handle,
        "MeetingResponse": meetingresponse.handle,
        "Search": search.handle,
        "ResolveRecipients": resolverecipients.handle,
    }
