"""vCards as text (RFC 6350), without I/O: a ``.vcf`` file split into its cards, and the
fields a people picker shows (names and e-mail addresses).

The splitter reads the content lines of RFC 6350 3.2 (unfolded, 3.2: a line starting
with a space or a tab continues the one before it) and cuts at ``BEGIN:VCARD`` /
``END:VCARD`` (RFC 6350 6.1.1); a card nested in another (vCard 2.1 ``AGENT``) stays
inside its card. Each card keeps its own text, line for line, so that what is stored is
what the file held (the import validates each card with Radicale's checks).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

from calserver.ical import vcard as vcard_format

_LINE = re.compile(r"\r\n|\n|\r")


class VcfError(ValueError):
    """The text is not a sequence of vCards at all."""


@dataclass(frozen=True)
class Card:
    """One vCard of a file: its text (CRLF line ends), its position and its UID (``""``
    without one)."""

    number: int
    text: str
    uid: str


@dataclass(frozen=True)
class Person:
    """What a picker shows of a vCard (RFC 6350 6.2.1 FN, 6.2.2 N, 6.2.3 NICKNAME,
    6.4.2 EMAIL)."""

    name: str
    emails: tuple[str, ...]
    #: Further text a search matches: N's parts, nicknames, ORG.
    other_names: tuple[str, ...] = ()


def unescape(value: str) -> str:
    """A text value without RFC 6350 3.4 escapes, on one line (a picker shows one)."""
    return vcard_format.unescape(value).replace("\n", " ").strip()


def _components(value: str) -> list[str]:
    """The components of a structured value (RFC 6350 3.3), each on one line."""
    return [part.replace("\n", " ").strip() for part in vcard_format.components(value)]


def split(text: str) -> Iterator[Card]:
    """The vCards of a ``.vcf`` file, in order. Raises :class:`VcfError` for text outside
    a card or a card that does not end."""
    raw_lines = _LINE.split(text)
    depth = 0
    current: list[str] = []
    number = 0
    uid = ""
    for index, line in enumerate(raw_lines, 1):
        logical = line.strip().upper()
        if depth == 0:
            if not line.strip():
                continue
            if logical != "BEGIN:VCARD":
                raise VcfError(f"line {index}: expected BEGIN:VCARD, got {line[:60]!r}")
            depth, current, uid = 1, [line], ""
            number += 1
            continue
        current.append(line)
        if logical == "BEGIN:VCARD":
            depth += 1
        elif logical == "END:VCARD":
            depth -= 1
            if depth == 0:
                card = "\r\n".join(current) + "\r\n"
                for content in vcard_format.content_lines(card):
                    name, _, value = vcard_format.split_line(content)
                    if name == "UID" and not uid:
                        uid = value.strip()
                yield Card(number, card, uid)
    if depth:
        raise VcfError(f"vCard {number} has no END:VCARD")


def person(text: str) -> Person:
    """The names and e-mail addresses of one vCard (its first level: a nested card's
    lines are not its own)."""
    formatted = ""
    structured: list[str] = []
    emails: list[str] = []
    others: list[str] = []
    depth = 0
    for line in vcard_format.content_lines(text):
        name, _, value = vcard_format.split_line(line)
        upper = line.strip().upper()
        if upper == "BEGIN:VCARD":
            depth += 1
            continue
        if upper == "END:VCARD":
            depth -= 1
            continue
        if depth != 1:
            continue
        if name == "FN" and not formatted:
            formatted = unescape(value)
        elif name == "N":
            structured = _components(value)
        elif name == "EMAIL":
            address = unescape(value)
            if address.lower().startswith("mailto:"):
                address = address[7:]
            if address and address.lower() not in (e.lower() for e in emails):
                emails.append(address)
        elif name in ("NICKNAME", "ORG"):
            others.extend(part for part in _components(value.replace(",", ";")) if part)
    from_n = ""
    if structured:
        # N is family;given;additional;prefixes;suffixes: shown as "given family"
        given = structured[1] if len(structured) > 1 else ""
        from_n = " ".join(part for part in (given, structured[0]) if part)
        if from_n:
            others.append(from_n)
    display = formatted or from_n or (emails[0] if emails else "")
    return Person(display, tuple(emails), tuple(others))
