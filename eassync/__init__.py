"""eassync: two-way sync of Exchange ActiveSync PIM folders with local collections."""

from __future__ import annotations

__version__ = "0.1.0"
