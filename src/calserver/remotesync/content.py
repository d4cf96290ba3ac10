"""What a pair copies of one calendar object resource (RFC 5545), pure functions on
its text: the full details, or a blocker -- the busy view of
:func:`calserver.sharing.redact.busy_view` (times, recurrence and its exceptions,
TRANSP, STATUS; "Busy" as the summary; no description, location, attendee, alarm,
category or X- property) under a UID of its own, so not even the UID tells the other
side anything. Also: the category filter, a content hash that ignores folding and the
order of lines (to recognise what a run wrote), and the stamp that "newest wins"
compares (LAST-MODIFIED, else DTSTAMP; RFC 5545 3.8.7.3, 3.8.7.2)."""

from __future__ import annotations

import hashlib
import re

from calserver.sharing.redact import busy_view

DETAILS, BLOCKER = "details", "blocker"
CONTENTS = (DETAILS, BLOCKER)

_FOLD = re.compile(r"\r?\n[ \t]")


def lines(text: str) -> list[str]:
    """The unfolded content lines (RFC 5545 3.1), without empty ones."""
    return [line.strip("\r") for line in _FOLD.sub("", text).split("\n") if line.strip()]


def content_hash(text: str) -> str:
    """Equal for two texts that hold the same lines (in any order, folded anyhow); the
    PRODID, which a server may rewrite, does not count."""
    kept = sorted(line for line in lines(text) if not line.upper().startswith("PRODID"))
    return hashlib.sha256("\n".join(kept).encode()).hexdigest()


def _value(line: str) -> str:
    # the value after the first colon outside a quoted parameter value
    quoted = False
    for index, char in enumerate(line):
        if char == '"':
            quoted = not quoted
        elif char == ":" and not quoted:
            return line[index + 1 :]
    return ""


def _name(line: str) -> str:
    return re.split(r"[;:]", line, maxsplit=1)[0].upper()


def uid_of(text: str) -> str:
    for line in lines(text):
        if _name(line) == "UID":
            return _value(line).strip()
    return ""


def blocker_uid(uid: str) -> str:
    return "busy-" + hashlib.sha256(uid.encode()).hexdigest()[:40]


def blocker(text: str) -> str:
    """The "Busy" block of an event: only its time (and recurrence), a UID derived from
    its own."""
    view = busy_view(text)
    uid = uid_of(text)
    out = []
    for line in lines(view):
        if _name(line) == "UID":
            line = "UID:" + blocker_uid(uid)
        out.append(line)
    return "\r\n".join(out) + "\r\n"


def shaped(text: str, content: str) -> str:
    return blocker(text) if content == BLOCKER else text


def categories(text: str) -> set[str]:
    found: set[str] = set()
    for line in lines(text):
        if _name(line) == "CATEGORIES":
            found.update(
                part.strip().lower() for part in re.split(r"(?<!\\),", _value(line)) if part.strip()
            )
    return found


def wanted(text: str, only: list[str]) -> bool:
    """Whether the category filter lets the event through (no filter: every event)."""
    if not only:
        return True
    return bool(categories(text) & {c.strip().lower() for c in only})


def stamp(text: str) -> str:
    """The newest LAST-MODIFIED (else DTSTAMP) of the resource's events, as
    ``YYYYMMDDTHHMMSSZ`` (sortable); "" when it has neither."""
    best = ""
    modified: list[str] = []
    stamps: list[str] = []
    for line in lines(text):
        name = _name(line)
        if name == "LAST-MODIFIED":
            modified.append(_value(line).strip().upper())
        elif name == "DTSTAMP":
            stamps.append(_value(line).strip().upper())
    for value in modified or stamps:
        if value > best:
            best = value
    return best
