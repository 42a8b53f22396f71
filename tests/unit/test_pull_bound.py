"""PullBound: a pull whose server keeps answering MoreAvailable ends, and an honest
100,000-item folder is never cut short."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from eassync.errors import ProtocolError
from eassync.storage.eas import MAX_IDLE_ROUNDS, MAX_ROUNDS_WITHOUT_ESTIMATE, PullBound


def run(bound: PullBound, rounds: int, per_round: int) -> int:
    """Drive ``rounds`` rounds of ``per_round`` items; the round it stopped at, or 0."""
    for n in range(1, rounds + 1):
        bound.next_round()
        bound.received(per_round, f"k{n - 1}", f"k{n}")
        try:
            bound.check()
        except ProtocolError:
            return n
    return 0


@given(items=st.integers(1, 100_000), window=st.sampled_from([25, 100, 512]))
def test_an_honest_folder_is_never_cut_short(items: int, window: int) -> None:
    rounds = math.ceil(items / window)
    # the server announces what is left when asked (after 8 rounds)
    left = [items]

    def estimate(state: str) -> int:
        return left[0]

    bound = PullBound("Contacts (7)", window, estimate)
    for n in range(1, rounds):  # every round but the last says MoreAvailable
        bound.next_round()
        left[0] -= window
        bound.received(window, f"k{n - 1}", f"k{n}")
        bound.check()


def test_without_an_estimate_the_cap_fits_100000_items_at_512() -> None:
    bound = PullBound("Contacts (7)", 512, lambda state: None)
    assert run(bound, 1000, 512) == MAX_ROUNDS_WITHOUT_ESTIMATE
    assert MAX_ROUNDS_WITHOUT_ESTIMATE * 512 >= 2 * 100_000


def test_rounds_beyond_the_estimate_stop_the_pull() -> None:
    bound = PullBound("Contacts (7)", 100, lambda state: 50)
    stopped = run(bound, 1000, 100)
    assert 8 < stopped <= 8 + 1 + 4


@pytest.mark.parametrize("same_key", [True, False])
def test_idle_rounds_stop_the_pull(same_key: bool) -> None:
    bound = PullBound("Contacts (7)", 100, lambda state: None)

    def idle_round(n: int) -> None:
        bound.next_round()
        if same_key:
            bound.received(5, "k1", "k1")
        else:
            bound.received(0, f"k{n - 1}", f"k{n}")
        bound.check()

    for n in range(1, MAX_IDLE_ROUNDS):
        idle_round(n)
    with pytest.raises(ProtocolError, match=r"Contacts \(7\).*MoreAvailable"):
        idle_round(MAX_IDLE_ROUNDS)
