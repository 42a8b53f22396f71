"""Counts in messages read as English: one item, two items."""

from eassync.wording import count


def test_one_is_singular_and_others_plural() -> None:
    assert count(1) == "1 item"
    assert count(0) == "0 items"
    assert count(2, "local item") == "2 local items"
    assert count(3, "entry", "entries") == "3 entries"
    assert count(1, "entry", "entries") == "1 entry"
