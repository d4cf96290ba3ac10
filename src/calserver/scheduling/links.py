"""Answer links: the signed URLs in an invitation e-mail to someone without an account
(``{origin}{prefix}/.invite/TOKEN?answer=accepted``), with which they answer the
meeting from a browser instead of an iMIP REPLY (RFC 6047) from a calendar client.

A token carries what it may do: the organizer (a user name), the meeting's UID, the
attendee's calendar user address, the SEQUENCE of the invitation it came with (RFC 5546
2.1.4-2.1.5: an answer to an older revision is refused) and when it expires. It is
``base64url(payload) "." base64url(HMAC-SHA256(key, DOMAIN || payload))`` without
padding: the server's key (:func:`calserver.keys.server_key`) signs it, under a domain
of its own so that no other token the server signs (feed URLs) can pass for one.
Nothing is stored: a link is valid until it expires or the meeting changes. The payload
is signed, not encrypted: whoever holds the link (the attendee) can read the organizer's
user name, the UID and the attendee's own address in it.
Pure functions: no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass

from calserver import signedlinks
from calserver.urls import invite_path

#: Domain separation: what this key signs here means an answer link, version 1.
DOMAIN = b"calserver/scheduling/answer-link/v1\x00"
#: Longer tokens are refused unread (a UID and two addresses fit easily).
MAX_TOKEN_LENGTH = 2048
#: A link lives until the meeting's last instance ended plus this ...
GRACE_SECONDS = 7 * 86400
#: ... and never longer than this from when it was sent (endless series: this).
MAX_LIFETIME_SECONDS = 400 * 86400
#: The answers a link may give (RFC 5545 3.2.12 PARTSTAT for VEVENT), as in the URL.
ANSWERS = ("accepted", "tentative", "declined")


class LinkError(ValueError):
    """A token that does not allow anything."""


class Invalid(LinkError):
    """A token that is malformed or was not signed by this server with this key."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Expired(LinkError):
    """A genuine token whose time is over."""

    def __init__(self, reason: str = "the link has expired") -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Claim:
    """What a valid token allows: ``attendee`` answers ``organizer``'s meeting ``uid``
    as sent with ``sequence``, until ``expires`` (Unix time)."""

    organizer: str
    uid: str
    attendee: str
    sequence: int
    expires: int


def make(
    key: bytes, *, organizer: str, uid: str, attendee: str, sequence: int, expires: int
) -> str:
    """A token for ``attendee``'s answer to ``organizer``'s meeting ``uid``."""
    return signedlinks.sign(key, DOMAIN, [organizer, uid, attendee, int(sequence), int(expires)])


def read(key: bytes, token: str, now: float) -> Claim:
    """What ``token`` allows at ``now``; raises :class:`Invalid` for anything this
    server did not sign, :class:`Expired` for a genuine token past its time."""
    try:  # the signature first: nothing an attacker wrote is parsed
        values = signedlinks.verify(key, DOMAIN, token, MAX_TOKEN_LENGTH)
    except ValueError as exc:  # Malformed, Forged
        raise Invalid(str(exc)) from exc
    if len(values) != 5:
        raise Invalid("malformed link")
    organizer, uid, attendee, sequence, expires = values
    if not (
        isinstance(organizer, str)
        and isinstance(uid, str)
        and isinstance(attendee, str)
        and type(sequence) is int
        and type(expires) is int
    ):
        raise Invalid("malformed link")
    if now >= expires:
        raise Expired()
    return Claim(organizer, uid, attendee, sequence, expires)


def expiry(last_end: float | None, sent: float) -> int:
    """When a link sent at ``sent`` expires: ``GRACE_SECONDS`` after the end of the
    meeting's last instance (``last_end``; None for an endless series), at most
    ``MAX_LIFETIME_SECONDS`` after sending."""
    latest = sent + MAX_LIFETIME_SECONDS
    if last_end is None:
        return int(latest)
    return int(min(last_end + GRACE_SECONDS, latest))


def path(token: str) -> str:
    """The link's path below the deployment prefix."""
    return invite_path(token)


def answer_urls(base: str, token: str) -> dict[str, str]:
    """The three links of an invitation (``imip.Notice.links``), keyed by PARTSTAT;
    ``base`` is origin and prefix without a final slash."""
    return {answer.upper(): f"{base}{path(token)}?answer={answer}" for answer in ANSWERS}
