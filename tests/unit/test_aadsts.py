"""AADSTS sign-in error codes explained (eassync/eas/aadsts.py)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from eassync.eas import aadsts


def test_known_codes_are_explained_in_a_sentence():
    text = "invalid_grant: AADSTS65001: The user or administrator has not consented."
    explained = aadsts.explain(text)
    assert explained is not None
    assert explained.code == "65001"
    assert "consent" in explained.sentence()
    for code in ("7000112", "700016", "53003", "70011"):
        found = aadsts.explain(f"AADSTS{code}: x")
        assert found is not None
        assert found.code == code
        assert found.name != "sign-in refused"


def test_a_shorter_code_never_matches_inside_a_longer_one():
    # 7000112 (app disabled) must not be read as 700011 or 70001
    assert aadsts.codes("AADSTS7000112: Application is disabled.") == ["7000112"]


def test_unknown_codes_get_the_lookup_link():
    explained = aadsts.explain("AADSTS99999: something new")
    assert explained is not None
    assert "login.microsoftonline.com/error?code=99999" in explained.todo


@given(st.text(max_size=200))
def test_any_text_is_explained_or_not_but_never_fails(text):
    explained = aadsts.explain(text)
    assert explained is None or f"AADSTS{explained.code}" in text
