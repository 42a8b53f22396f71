"""How counts read in messages: "1 item", "2 items", never "1 items" or "item(s)"."""

from __future__ import annotations


def count(n: int, noun: str = "item", plural: str | None = None) -> str:
    """``n`` and the noun in the number it takes (``plural`` when adding "s" is wrong)."""
    return f"{n} {noun}" if n == 1 else f"{n} {plural or noun + 's'}"
