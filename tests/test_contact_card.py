"""calserver.contacts.card: a vCard read into the contact form's fields and changed
with only those touched (RFC 6350 3.2 folding, 3.4 escaping)."""

from __future__ import annotations

import pytest

from calserver.contacts import card
from calserver.contacts.card import ContactFields

pytestmark = pytest.mark.unit

OLD = (
    "BEGIN:VCARD\r\nVERSION:4.0\r\nUID:u1\r\nFN:Old\\, Name\r\nN:Name;Old;;;\r\n"
    "EMAIL;TYPE=work:old@example.org\r\nX-FOO;X-BAR=1:keep me\r\n"
    "NOTE:a very long note that goes on and on and on and on and on and on and o\r\n n\r\n"
    "END:VCARD\r\n"
)


def test_escaping_and_folding_follow_rfc_6350() -> None:
    assert card.escape("a,b;c\\d\ne") == "a\\,b\\;c\\\\d\\ne"
    text = card.new(ContactFields(name="Å" * 60, uid="x"))
    assert all(len(line.encode()) <= 75 for line in text.split("\r\n"))
    assert card.read(text).name == "Å" * 60


def test_read_and_change_keep_what_the_form_does_not_know() -> None:
    fields = card.read(OLD)
    assert fields.name == "Old, Name" and fields.emails == ["old@example.org"]
    assert fields.note.endswith("and on and on")
    fields.emails.append("new@example.org")
    fields.name = "New; Name"
    changed = card.change(OLD, fields)
    assert "VERSION:4.0" in changed and "X-FOO;X-BAR=1:keep me" in changed
    assert "EMAIL;TYPE=work:old@example.org" in changed and "FN:New\\; Name" in changed
    assert changed.count("EMAIL") == 2 and changed.count("FN") == 1
    assert card.read(changed).emails == ["old@example.org", "new@example.org"]
