"""Writing iCalendar content lines (RFC 5545 §3.1 folding, §3.3 value formats).

Pure functions, no I/O: the data generator builds its events with them.
"""

from __future__ import annotations

from datetime import date, datetime

CRLF = "\r\n"
_FOLD_OCTETS = 75


def escape_text(value: str) -> str:
    """Escape a TEXT value (RFC 5545 §3.3.11)."""
    return value.replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,").replace("\n", "\\n")


def fold(line: str) -> str:
    """Fold one content line at 75 octets without splitting a UTF-8 sequence (§3.1)."""
    if len(line.encode("utf-8")) <= _FOLD_OCTETS:
        return line
    parts: list[str] = []
    current: list[str] = []
    size = 0
    limit = _FOLD_OCTETS
    for char in line:
        width = len(char.encode("utf-8"))
        if size + width > limit:
            parts.append("".join(current))
            current, size, limit = [], 0, _FOLD_OCTETS - 1  # continuation starts with a space
        current.append(char)
        size += width
    parts.append("".join(current))
    return (CRLF + " ").join(parts)


def content_line(name: str, value: str, params: str = "") -> str:
    """One folded content line ``NAME;PARAMS:VALUE`` followed by CRLF."""
    head = f"{name};{params}" if params else name
    return fold(f"{head}:{value}") + CRLF


def format_date(value: date) -> str:
    """A DATE value (§3.3.4)."""
    return value.strftime("%Y%m%d")


def format_local(value: datetime) -> str:
    """A local (TZID-qualified or floating) DATE-TIME value (§3.3.5, forms 2 and 3)."""
    return value.strftime("%Y%m%dT%H%M%S")


def format_utc(value: datetime) -> str:
    """A UTC DATE-TIME value with the ``Z`` suffix (§3.3.5, form 2); ``value`` is UTC."""
    return value.strftime("%Y%m%dT%H%M%SZ")
