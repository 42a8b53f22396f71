"""Readable names of EAS fields for telling a user what a server does not keep."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from eassync.convert.fieldnames import readable, readable_list
from eassync.convert.tables import CONTACTS


def test_fields_sogo_drops_read_as_a_person_would_say_them() -> None:
    assert readable_list(
        ["Contacts:Anniversary", "Contacts:Business2PhoneNumber", "Contacts:Spouse"]
    ) == ["anniversary", "second business phone", "spouse"]
    assert readable("Contacts:Email2Address") == "second e-mail"
    assert readable("Contacts2:IMAddress3") == "third IM address"


def test_a_field_without_a_name_is_split_into_words() -> None:
    assert readable("Contacts:YomiFirstName") == "yomi first name"
    assert readable("Calendar:Home3PhoneNumber") == "third home phone"


def test_every_contact_field_of_the_support_table_has_a_readable_name() -> None:
    for row in CONTACTS:
        for tag in row.eas:
            name = readable(tag)
            assert name, tag
            assert ":" not in name, tag
            assert name == name.strip(), tag


@given(st.text(max_size=40))
def test_any_tag_gives_a_non_empty_name(tag: str) -> None:
    assert readable(tag)
