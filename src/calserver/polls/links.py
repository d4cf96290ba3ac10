"""Voter links of meeting polls: ``{origin}{prefix}/.poll/TOKEN``, signed like the
answer links of meetings (``calserver.scheduling.links``).

The token is ``base64url(payload) "." base64url(HMAC-SHA256(key, DOMAIN || payload))``
without padding, the payload ``[poll key, voter key]``: two random values of the poll's
rows, so a link names one voter of one poll and opens nothing once either is deleted
(a later poll that got the same row id has another key). The server's key
(:func:`calserver.keys.server_key`) signs it under a domain of its own, so that no other
token the server signs can pass for one. Pure functions: no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass

from calserver import signedlinks
from calserver.urls import POLL

#: Domain separation: what this key signs here means a poll voter's link, version 1.
DOMAIN = b"calserver/polls/voter-link/v1\x00"
MAX_TOKEN_LENGTH = 512
#: The path below the deployment prefix.
PREFIX = POLL


class Invalid(ValueError):
    """A token this server did not sign (altered, truncated, from another server)."""


@dataclass(frozen=True)
class Claim:
    poll_key: str
    voter_key: str


def make(key: bytes, poll_key: str, voter_key: str) -> str:
    return signedlinks.sign(key, DOMAIN, [poll_key, voter_key])


def read(key: bytes, token: str) -> Claim:
    """What ``token`` names; :class:`Invalid` unless this server signed it."""
    try:
        values = signedlinks.verify(key, DOMAIN, token, MAX_TOKEN_LENGTH)
    except ValueError as exc:  # Malformed, Forged
        raise Invalid(str(exc)) from exc
    if len(values) != 2 or not all(isinstance(value, str) for value in values):
        raise Invalid("malformed link")
    return Claim(values[0], values[1])


def path(token: str) -> str:
    return f"{PREFIX}/{token}"
