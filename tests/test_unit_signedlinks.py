"""The signed links the server mails (answer links of meetings, voter links of polls)
share one token shape (``calserver.signedlinks``): a link of one kind never passes for
the other, a token has one spelling, and only a signed JSON list is read."""

from __future__ import annotations

import time

import pytest

from calserver import signedlinks
from calserver.polls import links as poll_links
from calserver.scheduling import links as answer_links

KEY = b"k" * 32


def _answer_link() -> str:
    return answer_links.make(
        KEY,
        organizer="alice",
        uid="u1",
        attendee="mailto:b@example.org",
        sequence=0,
        expires=2_000_000_000,
    )


def test_a_link_of_one_kind_never_passes_for_the_other() -> None:
    with pytest.raises(answer_links.Invalid):
        answer_links.read(KEY, poll_links.make(KEY, "p" * 16, "v" * 16), now=time.time())
    with pytest.raises(poll_links.Invalid):
        poll_links.read(KEY, _answer_link())


def test_a_token_has_one_spelling() -> None:
    made = poll_links.make(KEY, "pollkey", "voterkey")
    payload, _, mac = made.partition(".")
    assert poll_links.read(KEY, made) == poll_links.Claim("pollkey", "voterkey")
    # the last base64 character carries unused bits: another character may decode alike
    for spelling in {payload[:-1] + c for c in "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdef"} - {payload}:
        with pytest.raises(poll_links.Invalid):
            poll_links.read(KEY, spelling + "." + mac)
    answer = _answer_link()
    payload, _, mac = answer.partition(".")
    for spelling in {payload[:-1] + c for c in "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdef"} - {payload}:
        with pytest.raises(answer_links.Invalid):
            answer_links.read(KEY, spelling + "." + mac, now=time.time())


def test_only_a_signed_list_of_the_right_shape_is_read() -> None:
    for values in ({"a": 1}, "text", 7):  # signed, but not a list
        with pytest.raises(poll_links.Invalid):
            poll_links.read(KEY, _signed(values))
    for values in (["only-one"], ["a", "b", "c"], ["a", 2]):
        with pytest.raises(poll_links.Invalid):
            poll_links.read(KEY, signedlinks.sign(KEY, poll_links.DOMAIN, values))
    with pytest.raises(answer_links.Invalid):
        answer_links.read(KEY, signedlinks.sign(KEY, answer_links.DOMAIN, ["a", "b"]), now=0)


def _signed(value: object) -> str:
    """A token whose signed payload is ``value`` itself, not a list."""
    import base64
    import hashlib
    import hmac
    import json

    payload = json.dumps(value).encode()
    mac = hmac.new(KEY, poll_links.DOMAIN + payload, hashlib.sha256).digest()

    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    return b64(payload) + "." + b64(mac)
