"""The interface of a content handler: one per item kind (contacts, calendar, tasks).

Handlers are pure: they take values and return values, never touch files or sockets.
The EAS storage uses ``to_eas``/``from_eas``; the sync engine uses ``fingerprint``,
``project``, ``merge`` and ``with_uid``.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Any, Protocol, TypeVar

from eassync.eas.element import Element
from eassync.errors import ConversionError, EassyncError
from eassync.model.handler import ItemHandler
from eassync.model.items import Item

log = logging.getLogger(__name__)


class ContentHandler(ItemHandler, Protocol):
    """An item handler that also maps items to and from EAS (the EAS storage's view)."""

    #: "contacts", "calendar" or "tasks"
    kind: str
    #: the EAS class name ("Contacts", "Calendar", "Tasks")
    eas_class: str
    #: file extension for vdir items (".vcf", ".ics")
    fileext: str

    def to_eas(self, item: Item, version: str) -> Element:
        """Local item → ``AirSync:ApplicationData`` for protocol ``version`` ("14.1" …).
        Raises ConversionError for an item that cannot be expressed at all."""
        ...

    def from_eas(self, data: Element, version: str) -> Item:
        """``AirSync:ApplicationData`` → a local item (vCard 3.0 / VCALENDAR bytes).
        EAS fields without a standard property travel as ``X-EAS-*`` properties.
        Raises ConversionError on data that makes no sense."""
        ...

    def supported(self, version: str) -> list[str]:
        """Tags to declare in ``AirSync:Supported`` on the first Sync (no ghosting); an
        empty list sends no Supported element."""
        ...


#: the handler methods that turn one item into another form: whatever goes wrong in
#: them is that item's failure (see :func:`item_failures`)
ITEM_METHODS = (
    "to_eas",
    "from_eas",
    "project",
    "merge",
    "fingerprint",
    "fingerprint_with_uid",
    "with_uid",
    "instance_plan",
    "instance_ops",
    "slots_of_item",
    "slots_of_data",
    "same_held_content",
    "match_anchor",
)

_H = TypeVar("_H")


class UnforeseenInput(ConversionError):
    """A converter failed in a way it does not declare (a ValueError, OverflowError …
    from below): still that item's failure, but a converter bug to fix."""


def item_failures(cls: type[_H]) -> type[_H]:
    """Class decorator: any exception raised while a handler converts one item becomes
    a :class:`ConversionError` of that item.

    Converters meet input no test foresaw (a Reminder of 2^32 minutes overflows
    ``timedelta``; a 2^31 Interval fails icalendar's RFC 5545 range check). Callers
    report and skip an item on ``EassyncError``; a ValueError or OverflowError would
    instead end the whole run, every run (issue 14 item 8). The traceback is kept at
    debug level: such an error is also a bug worth reporting."""
    for name in ITEM_METHODS:
        method = cls.__dict__.get(name)
        if method is not None:
            setattr(cls, name, _guarded(method))
    return cls


def _guarded(method: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(method)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return method(*args, **kwargs)
        except EassyncError:
            raise
        except Exception as exc:  # one item's failure, reported as such
            log.debug("%s failed", method.__qualname__, exc_info=True)
            raise UnforeseenInput(
                f"cannot convert this item ({type(exc).__name__}: {exc})",
                hint="the item is skipped; rerun with -vv and report the log",
            ) from exc

    return wrapper
