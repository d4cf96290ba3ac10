"""The text of a calendar user address (RFC 6638 2.4.1, RFC 5545 3.3.3): a ``mailto:``
URI or a principal URL. Pure functions; who an address names in the database is
:mod:`calserver.scheduling.addresses`.

Comparison is case-insensitive on the e-mail address (RFC 5321 2.4 allows case-sensitive
local parts, but every client and server in practice compares them without case).
"""

from __future__ import annotations

from urllib.parse import unquote, urlsplit


def email_of(address: str) -> str:
    """The e-mail address of a ``mailto:`` URI ("" for any other URI)."""
    text = str(address).strip()
    if text[:7].lower() != "mailto:":
        return ""
    return unquote(text[7:]).strip().lower()


def mailto(email: str) -> str:
    return "mailto:" + email.strip().lower()


def same(a: str, b: str) -> bool:
    """Whether two calendar user addresses name the same calendar user."""
    ea, eb = email_of(a), email_of(b)
    if ea or eb:
        return ea == eb
    return principal(a) is not None and principal(a) == principal(b)


def principal(address: str) -> str | None:
    """The principal name of a principal URL (``/bob/``, ``http://host/prefix/bob/``)."""
    text = str(address).strip()
    if not text or text.lower().startswith("mailto:"):
        return None
    path = unquote(urlsplit(text).path)
    segments = [segment for segment in path.split("/") if segment]
    return segments[-1] if segments else None
