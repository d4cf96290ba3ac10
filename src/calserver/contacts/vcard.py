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

_FOLD = re.compile(r"\r?\n[ \t]")
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


def unfold(text: str) -> list[str]:
    """The logical content lines of ``text`` (RFC 6350 3.2)."""
    return [line for line in _LINE.split(_FOLD.sub("", text)) if line.strip()]


def _split_line(line: str) -> tuple[str, dict[str, str], str]:
    """(NAME in upper case without its group, parameters, value) of a content line
    (RFC 6350 3.3: ``[group.]name *(";" param) ":" value``), quotes respected."""
    quoted = False
    for index, char in enumerate(line):
        if char == '"':
            quoted = not quoted
        elif char == ":" and not quoted:
            head, value = line[:index], line[index + 1 :]
            break
    else:
        return "", {}, ""
    parts = head.split(";")
    name = parts[0].rpartition(".")[2].strip().upper()
    params: dict[str, str] = {}
    for part in parts[1:]:
        key, _, val = part.partition("=")
        params[key.strip().upper()] = val.strip().strip('"')
    return name, params, value


def unescape(value: str) -> str:
    """A text value without RFC 6350 3.4 escapes (``\\,`` ``\\;`` ``\\\\`` ``\\n``)."""
    out: list[str] = []
    chars = iter(value)
    for char in chars:
        if char == "\\":
            following = next(chars, "")
            out.append(" " if following in ("n", "N") else following)
        else:
            out.append(char)
    return "".join(out).strip()


def _components(value: str) -> list[str]:
    """The ``;``-separated components of a structured value (RFC 6350 3.3), unescaped."""
    parts: list[str] = []
    current: list[str] = []
    escaped = False
    for char in value:
        if escaped:
            current.append("\\" + char)
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == ";":
            parts.append(unescape("".join(current)))
            current = []
        else:
            current.append(char)
    parts.append(unescape("".join(current)))
    return parts


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
                for content in unfold(card):
                    name, _, value = _split_line(content)
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
    for line in unfold(text):
        name, _, value = _split_line(line)
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
