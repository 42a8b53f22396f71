"""Held-field knowledge: defined in :mod:`eassync.model.knowledge` (the engine, the
converters and the EAS storage all speak it), named here for the engine."""

from eassync.model.knowledge import HABITS, SlotKnowledge

__all__ = ["HABITS", "SlotKnowledge"]
