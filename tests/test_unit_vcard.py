"""The pure vCard checks (``calserver.ical.vcard``): what an address object resource
must be (RFC 6352 5.1, RFC 6350, RFC 2426), with the precondition each refusal names."""

from __future__ import annotations

import pytest

from calserver.ical import vcard
from calserver.ical.vcard import VCardError

pytestmark = pytest.mark.unit

IOS = (
    "BEGIN:VCARD\r\nVERSION:3.0\r\nPRODID:-//Apple Inc.//iPhone OS 17.1//EN\r\n"
    "N:Appleseed;John;;;\r\nFN:John Appleseed\r\n"
    "item1.EMAIL;type=INTERNET;type=pref:john@example.org\r\n"
    "item1.X-ABLabel:_$!<Other>!$_\r\n"
    "NOTE:Line one\\nline two\\, with a comma\\; and a semicolon\r\n"
    "PHOTO;ENCODING=b;TYPE=JPEG:/9j/4AAQSkZJRgABAQAAAQABAAD/2wBDAAgGBgcGBQgHBwcJ\r\n"
    " CQgKDBQNDAsLDBkSEw8UHRofHh0aHBwgJC4nICIsIxwcKDcpLDAxNDQ0Hyc5PTgyPC4zNDL/\r\n"
    "UID:ios-1\r\nEND:VCARD\r\n"
)


def test_an_ios_vcard_3_with_groups_folding_and_escapes_is_valid() -> None:
    info = vcard.check(IOS)
    assert (info.uid, info.fn, info.version) == ("ios-1", "John Appleseed", "3.0")


def test_a_davx5_vcard_4_is_valid_and_lf_line_ends_are_taken() -> None:
    text = "BEGIN:VCARD\nVERSION:4.0\nUID:urn:uuid:1\nFN:Erika\nEND:VCARD\n"
    assert vcard.check(text).uid == "urn:uuid:1"


@pytest.mark.parametrize(
    ("text", "precondition", "status", "words"),
    [
        (IOS.replace("UID:ios-1\r\n", ""), vcard.VALID_ADDRESS_DATA, 400, "UID"),
        (IOS.replace("FN:John Appleseed\r\n", ""), vcard.VALID_ADDRESS_DATA, 400, "FN"),
        (IOS.replace("Line one\\n", "Line one\\x"), vcard.VALID_ADDRESS_DATA, 400, "escaping"),
        (IOS.replace("VERSION:3.0", "VERSION:2.1"), vcard.SUPPORTED_ADDRESS_DATA, 403, "2.1"),
        (IOS + IOS, vcard.VALID_ADDRESS_DATA, 400, "one vCard"),
        (IOS.replace("END:VCARD\r\n", ""), vcard.VALID_ADDRESS_DATA, 400, "END"),
        (IOS.replace("FN:", "FN:\x01"), vcard.VALID_ADDRESS_DATA, 400, "control"),
        ("BEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n", vcard.SUPPORTED_ADDRESS_DATA, 403, "VCALENDAR"),
        ("just text", vcard.VALID_ADDRESS_DATA, 400, "not a vCard"),
        (IOS.replace("UID:ios-1", "UID:a\r\nUID:b"), vcard.VALID_ADDRESS_DATA, 400, "UID"),
    ],
)
def test_a_refused_vcard_names_its_precondition_and_says_why(
    text: str, precondition: str, status: int, words: str
) -> None:
    with pytest.raises(VCardError) as refused:
        vcard.check(text)
    assert refused.value.precondition == precondition
    assert refused.value.status == status
    assert words in refused.value.reason


def test_begins_with_names_the_object_a_body_holds() -> None:
    assert vcard.begins_with("\ufeff\r\nBEGIN:VCARD\r\n") == "VCARD"
    assert vcard.begins_with("begin:vcalendar\r\n") == "VCALENDAR"
    assert vcard.begins_with("FN:x") == ""


def test_content_lines_unfold_and_split_at_any_line_end() -> None:
    text = "\ufeffBEGIN:VCARD\r\nNOTE:one\r\n  two\nFN:A\rEND:VCARD\r\n\r\n"
    assert vcard.content_lines(text) == ["BEGIN:VCARD", "NOTE:one two", "FN:A", "END:VCARD"]


def test_split_line_drops_the_group_and_respects_quotes() -> None:
    line = 'item1.email;TYPE=work;LABEL="a:b":x@example.org'
    assert vcard.split_line(line) == ("EMAIL", {"TYPE": "work", "LABEL": "a:b"}, "x@example.org")
    assert vcard.split_line("no value here") == ("", {}, "")


def test_components_split_at_unescaped_semicolons_and_unescape_each() -> None:
    assert vcard.components(r"Doe\;Smith;Jane;;Dr.\, PhD;") == [
        "Doe;Smith",
        "Jane",
        "",
        "Dr., PhD",
        "",
    ]
    assert vcard.components(r"Line\none") == ["Line\none"]
