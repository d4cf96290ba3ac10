"""The pure parts of sync with other servers (``calserver.remotesync``): the Busy block,
the content hash, the stamp "newest wins" compares, the category filter, the sealed
credentials; and the queue's claim, which lets one worker only run a pair at a time."""

from __future__ import annotations

from typing import Any

import pytest

from calserver import calendars
from calserver.errors import InvalidInput
from calserver.remotesync import content, credentials, service, store
from calserver.storage import Storage

EVENT = (
    "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//x//EN\r\nBEGIN:VEVENT\r\nUID:u-1\r\n"
    "DTSTAMP:20261101T000000Z\r\nLAST-MODIFIED:20261104T000000Z\r\n"
    "DTSTART:20261201T090000Z\r\nDTEND:20261201T100000Z\r\nRRULE:FREQ=DAILY;COUNT=3\r\n"
    "SUMMARY:Interview with\r\n  Mallory\r\nDESCRIPTION:salary talk\r\nLOCATION:HR\r\n"
    "ATTENDEE;CN=Mallory:mailto:m@example.org\r\nCATEGORIES:Work,Hiring\r\n"
    "X-SECRET:yes\r\nBEGIN:VALARM\r\nACTION:DISPLAY\r\nDESCRIPTION:go\r\nTRIGGER:-PT5M\r\n"
    "END:VALARM\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
)


def test_blocker_keeps_the_time_and_nothing_else() -> None:
    block = content.blocker(EVENT)
    for word in ("Mallory", "salary", "HR", "CATEGORIES", "X-SECRET", "VALARM", "u-1"):
        assert word not in block
    assert "SUMMARY:Busy" in block and "RRULE:FREQ=DAILY;COUNT=3" in block
    assert content.uid_of(block) == content.blocker_uid("u-1")
    assert content.blocker(EVENT) == block  # stable: the same block every time


def test_content_hash_ignores_line_order_folding_and_prodid() -> None:
    lines = EVENT.replace("\r\n  ", " ").split("\r\n")
    shuffled = "\r\n".join([lines[0], lines[2].replace("x", "y"), lines[1], *lines[3:]])
    assert content.content_hash(shuffled) == content.content_hash(EVENT)
    assert content.content_hash(EVENT.replace("salary", "pay")) != content.content_hash(EVENT)


def test_stamp_prefers_last_modified_and_categories_filter() -> None:
    assert content.stamp(EVENT) == "20261104T000000Z"
    assert content.stamp(EVENT.replace("LAST-MODIFIED:20261104T000000Z\r\n", "")) == (
        "20261101T000000Z"
    )
    assert content.wanted(EVENT, ["hiring"]) and content.wanted(EVENT, [])
    assert not content.wanted(EVENT, ["Home"])


def test_sealed_credentials_open_only_for_their_owner_and_key() -> None:
    key = b"k" * 32
    sealed = credentials.seal(key, "alice", {"password": "pw-123"})
    assert "pw-123" not in sealed
    assert credentials.open_sealed(key, "alice", sealed) == {"password": "pw-123"}
    for other_key, owner in ((key, "bob"), (b"x" * 32, "alice")):
        with pytest.raises(credentials.CredentialError):
            credentials.open_sealed(other_key, owner, sealed)


def test_bad_settings_are_refused_with_the_field_named() -> None:
    for settings, word in (
        ({"url": "file:///etc/passwd"}, "url"),
        ({"direction": "sideways"}, "direction"),
        ({"content": "everything"}, "content"),
        ({"policy": "coin"}, "policy"),
        ({"interval": 5}, "interval"),
    ):
        with pytest.raises(InvalidInput, match=word):
            store.check_settings(settings)


def test_a_claimed_pair_is_not_run_by_a_second_worker_until_its_lease_ends(
    configuration: Any, engine: Any
) -> None:
    calendars.create(Storage(configuration), "alice/work")
    pair = service.add(
        engine,
        configuration,
        "alice/work",
        {"url": "https://example.org/cal/"},
        {"type": "basic", "username": "a", "password": "b"},
    )
    now = 1_000_000.0
    first = store.claim(engine, 60, 10, now=now)
    assert first is not None and first.id == pair.id
    assert store.claim(engine, 60, 10, now=now + 1) is None
    assert store.claim(engine, 60, 10, pair_id=pair.id, now=now + 1) is None
    again = store.claim(engine, 60, 10, now=now + 61)  # the first worker died
    assert again is not None and again.id == pair.id
