"""What a subscribed calendar's events become in a subscriber's calendar: pure
functions over iCalendar text, no I/O (``calserver.subscriptions`` fetches and stores).

- The source's refresh hint: ``REFRESH-INTERVAL`` (RFC 7986 5.7), or the older
  ``X-PUBLISHED-TTL`` that Outlook and Google publish.
- The subscriber's options: alarms (``VALARM``, RFC 5545 3.6.6) left out unless they
  want them, attachments (``ATTACH``, 3.8.1.1) left out when they ask.
- A UID for an event that came without one (RFC 5545 3.8.4.7 requires it; some
  exporters forget it), made from its text, so that it is the same at every fetch.
- Fingerprints that tell whether an event changed between two fetches: the text
  without ``DTSTAMP`` (3.8.7.2), which generators set to "now" at every export, so
  that an unchanged event keeps its stored text, its ETag and its href; and, without
  the ``UID`` as well, one that recognises an unchanged event that a careless source
  gave a new UID.
"""

from __future__ import annotations

import hashlib
import re
from datetime import timedelta

from calserver.ical.icsfile import fold, unfold

_DURATION = re.compile(
    r"^(?P<sign>[+-])?P(?:(?P<weeks>\d+)W)?(?:(?P<days>\d+)D)?"
    r"(?:T(?:(?P<hours>\d+)H)?(?:(?P<minutes>\d+)M)?(?:(?P<seconds>\d+)S)?)?$"
)

#: Properties that say nothing about the event itself (the moment of the export).
_VOLATILE = frozenset({"DTSTAMP"})


def _name(line: str) -> str:
    return re.split(r"[;:]", line, maxsplit=1)[0].upper()


def parse_duration(value: str) -> timedelta | None:
    """An RFC 5545 3.3.6 duration, None if it is not one (or negative)."""
    match = _DURATION.match(value.strip().upper())
    if match is None or match.group("sign") == "-" or value.strip().upper() in ("P", "PT"):
        return None
    parts = {k: int(v) for k, v in match.groupdict().items() if k != "sign" and v}
    return timedelta(**parts)


def refresh_hint(text: str) -> int | None:
    """Seconds between refreshes the source asks for (REFRESH-INTERVAL, else
    X-PUBLISHED-TTL, at the VCALENDAR level), None when it says nothing usable."""
    depth = 0
    found: dict[str, str] = {}
    for line in unfold(text):
        upper = line.upper()
        if upper.startswith("BEGIN:"):
            depth += 1
        elif upper.startswith("END:"):
            depth -= 1
        elif depth == 1:
            name = _name(line)
            if name in ("REFRESH-INTERVAL", "X-PUBLISHED-TTL") and ":" in line:
                found.setdefault(name, line.split(":", 1)[1])
    for name in ("REFRESH-INTERVAL", "X-PUBLISHED-TTL"):
        if name in found:
            duration = parse_duration(found[name])
            if duration is not None and duration.total_seconds() > 0:
                return int(duration.total_seconds())
    return None


def shaped(text: str, *, strip_alarms: bool, strip_attachments: bool) -> str:
    """The resource ``text`` with the subscriber's options applied (folded, CRLF)."""
    out: list[str] = []
    skipping = 0
    for line in unfold(text):
        upper = line.upper()
        if strip_alarms and upper == "BEGIN:VALARM":
            skipping += 1
            continue
        if skipping:
            if upper == "END:VALARM":
                skipping -= 1
            elif upper == "BEGIN:VALARM":
                skipping += 1
            continue
        if strip_attachments and _name(line) == "ATTACH":
            continue
        out.append(line)
    return "".join(fold(line) + "\r\n" for line in out)


def fingerprint(text: str, *, with_uid: bool = True) -> str:
    """A digest of ``text`` that ignores folding, DTSTAMP and (``with_uid`` False) the
    UID: equal for two exports of the same event."""
    digest = hashlib.sha256()
    for line in unfold(text):
        name = _name(line)
        if name in _VOLATILE or (not with_uid and name == "UID"):
            continue
        if name == "PRODID":
            continue  # the wrapper's, not the event's
        digest.update(line.encode("utf-8"))
        digest.update(b"\n")
    return digest.hexdigest()


def looks_like_icalendar(body: bytes) -> bool:
    """Whether ``body`` starts as an iCalendar object does (after a BOM or blank lines)."""
    head = body[:512].lstrip(b"\xef\xbb\xbf").lstrip()
    return head[:15].upper() == b"BEGIN:VCALENDAR"


_ITEMS = frozenset({"VEVENT", "VTODO", "VJOURNAL"})


def with_uids(text: str) -> str:
    """``text`` with a UID in every event, to-do and journal entry that has none: one
    made from the component's own lines (DTSTAMP aside), stable across fetches."""
    lines = unfold(text)
    depth = 0
    start = -1
    has_uid = False
    missing: list[tuple[int, int]] = []
    for number, line in enumerate(lines):
        upper = line.upper()
        if upper.startswith("BEGIN:"):
            depth += 1
            if depth == 2 and upper[6:] in _ITEMS:
                start, has_uid = number, False
        elif upper.startswith("END:"):
            if depth == 2 and start >= 0:
                if not has_uid:
                    missing.append((start, number))
                start = -1
            depth -= 1
        elif depth == 2 and start >= 0 and _name(line) == "UID":
            has_uid = True
    if not missing:
        return text
    for first, last in reversed(missing):
        block = [ln for ln in lines[first : last + 1] if _name(ln) not in _VOLATILE]
        digest = hashlib.sha256("\n".join(block).encode("utf-8")).hexdigest()[:32]
        lines.insert(first + 1, f"UID:calserver-{digest}")
    return "".join(fold(line) + "\r\n" for line in lines)
