"""Which RFC 4791 5.3.2.1 precondition a refused calendar object fails. Pure.

RFC 4791 names two for a body the server does not take: ``CALDAV:valid-calendar-data``
(not valid iCalendar) and ``CALDAV:valid-calendar-object-resource`` (valid iCalendar,
but not one calendar object resource as 4.1 defines it: one UID, one type of
component besides VTIMEZONE). Radicale refuses both with the same
400; :func:`precondition` tells which it was from the text.
"""

from __future__ import annotations

from calserver.ical.icsfile import unfold

VALID_DATA = "C:valid-calendar-data"
VALID_OBJECT = "C:valid-calendar-object-resource"


def object_resource_problem(text: str) -> str | None:
    """Why ``text`` (an iCalendar object) is not one calendar object resource (RFC 4791
    4.1), or None: components of more than one UID or type."""
    uids: set[str] = set()
    kinds: set[str] = set()
    depth = 0
    kind = ""
    for line in unfold(text):
        upper = line.upper()
        if upper.startswith("BEGIN:"):
            depth += 1
            if depth == 2:
                kind = upper[6:].strip()
                if kind != "VTIMEZONE":
                    kinds.add(kind)
        elif upper.startswith("END:"):
            depth -= 1
        elif depth == 2 and kind != "VTIMEZONE" and upper.startswith("UID"):
            name, _, value = line.partition(":")
            if name.upper() == "UID" or name.upper().startswith("UID;"):
                uids.add(value.strip())
    if len(uids) > 1:
        return "components of more than one UID in one resource (RFC 4791 4.1)"
    if len(kinds) > 1:
        return "components of more than one type in one resource (RFC 4791 4.1)"
    return None


def precondition(text: str | None) -> str:
    """The precondition a refused body fails: valid-calendar-object-resource when it is
    iCalendar but not one calendar object resource, else valid-calendar-data."""
    if text is None or "BEGIN:VCALENDAR" not in text.upper():
        return VALID_DATA
    return VALID_OBJECT if object_resource_problem(text) is not None else VALID_DATA
