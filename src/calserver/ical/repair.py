"""What calserver repairs in a calendar object instead of refusing it. Pure.

- A UTF-8 byte order mark before ``BEGIN:VCALENDAR`` (Windows tools and some
  exporters write one; RFC 5545 3.1.4 says nothing of it, RFC 3629 6 lets a protocol
  drop it): stripped.
- A VEVENT whose DTEND is of another value type than its DTSTART (RFC 5545 3.8.2.2:
  DTEND "MUST be specified as a date with local time" / the same value type as
  DTSTART): a DATE start with a DATE-TIME end, a DATE-TIME start with a DATE end, or a
  floating start with a UTC or zoned end (and the other way round). Clients do send
  them (Thunderbird and Evolution when an event is switched to or from all-day, some
  converters), and the parser cannot compare such times. DTEND is rewritten in the
  type of DTSTART, keeping its date and wall-clock time:

  - DATE start: DTEND becomes the date of the end (the next day when the end is not
    at midnight), and at least the day after the start;
  - DATE-TIME start, DATE end: DTEND becomes midnight of that date in DTSTART's form
    (UTC, its TZID, or floating);
  - floating start, UTC or zoned end: DTEND loses its Z or TZID; UTC or zoned start,
    floating end: DTEND takes DTSTART's Z or TZID.

Each repair is described in words for the log.
"""

from __future__ import annotations

import re
from datetime import date, timedelta

BOM = b"\xef\xbb\xbf"

_DATE = re.compile(r"\A(\d{4})(\d{2})(\d{2})\Z")
_DATE_TIME = re.compile(r"\A(\d{8})T(\d{6})(Z?)\Z")
_HEAD = re.compile(r'[^":]*(?:"[^"]*"[^":]*)*')
_PARAM = re.compile(r';([A-Za-z0-9-]+)=("[^"]*"|[^";:]*)')


def strip_bom(body: bytes) -> tuple[bytes, list[str]]:
    """``body`` without a leading UTF-8 byte order mark."""
    if body.startswith(BOM):
        return body[len(BOM) :], ["removed a UTF-8 byte order mark"]
    return body, []


class _Time:
    """A DTSTART or DTEND content line, read."""

    def __init__(self, line: str) -> None:
        head = _HEAD.match(line)
        self.head = head.group() if head else line
        self.value = line[len(self.head) + 1 :].strip()
        self.name = re.split(r"[;:]", self.head, maxsplit=1)[0]
        self.params = [
            (key, raw) for key, raw in _PARAM.findall(self.head) if key.upper() != "VALUE"
        ]
        self.tzid = next((raw.strip('"') for key, raw in self.params if key.upper() == "TZID"), "")
        value_param = next(
            (raw for key, raw in _PARAM.findall(self.head) if key.upper() == "VALUE"), ""
        ).upper()
        self.is_date = value_param == "DATE" or bool(_DATE.match(self.value))
        self.utc = self.value.upper().endswith("Z")

    def form(self) -> str:
        """ "date", "utc", "zoned" or "floating"."""
        if self.is_date:
            return "date"
        if self.utc:
            return "utc"
        return "zoned" if self.tzid else "floating"

    def day(self) -> date | None:
        digits = self.value[:8]
        if not re.fullmatch(r"\d{8}", digits):
            return None
        try:
            return date(int(digits[:4]), int(digits[4:6]), int(digits[6:8]))
        except ValueError:
            return None


def _other_params(time: _Time) -> str:
    return "".join(f";{key}={raw}" for key, raw in time.params if key.upper() != "TZID")


def _repaired_end(start: _Time, end: _Time) -> str | None:
    """The DTEND line in ``start``'s type, or None when the types agree (or the values
    cannot be read: the parser judges them)."""
    start_form, end_form = start.form(), end.form()
    if start_form == end_form or {start_form, end_form} == {"utc", "zoned"}:
        return None
    start_day, end_day = start.day(), end.day()
    if start_day is None or end_day is None:
        return None
    if start_form == "date":
        midnight = end.value[9:15] in ("", "000000")
        day = end_day if midnight else end_day + timedelta(days=1)
        day = max(day, start_day + timedelta(days=1))
        return f"{end.name}{_other_params(end)};VALUE=DATE:{day:%Y%m%d}"
    if end_form == "date" and end_day <= start_day:
        end_day = start_day + timedelta(days=1)  # midnight after the start, not before
    clock = "000000" if end_form == "date" else end.value[9:15]
    if not re.fullmatch(r"\d{6}", clock):
        return None
    value = f"{end_day:%Y%m%d}T{clock}"
    if start_form == "utc":
        return f"{end.name}{_other_params(end)}:{value}Z"
    if start_form == "zoned":
        tzid = f'"{start.tzid}"' if re.search("[:;,]", start.tzid) else start.tzid
        return f"{end.name}{_other_params(end)};TZID={tzid}:{value}"
    return f"{end.name}{_other_params(end)}:{value}"


def repair_end_types(text: str) -> tuple[str, list[str]]:
    """``text`` with each VEVENT's DTEND in the value type of its DTSTART (see the
    module docstring), and what was repaired."""
    physical = re.split(r"(\r\n|\n|\r)", text)
    lines = physical[0::2]
    # logical lines: (first physical index, last physical index, text)
    logical: list[tuple[int, int, str]] = []
    for index, line in enumerate(lines):
        if line[:1] in (" ", "\t") and logical:
            first, _, joined = logical[-1]
            logical[-1] = (first, index, joined + line[1:])
        else:
            logical.append((index, index, line))
    replacements: dict[int, tuple[int, str]] = {}
    repairs: list[str] = []
    depth = 0
    in_event = False
    start: _Time | None = None
    end: tuple[int, int, _Time] | None = None
    for first, last, line in logical:
        upper = line.upper()
        if upper.startswith("BEGIN:"):
            depth += 1
            if depth == 2:
                in_event = upper[6:].strip() == "VEVENT"
                start, end = None, None
            continue
        if upper.startswith("END:"):
            if depth == 2 and in_event and start is not None and end is not None:
                end_first, end_last, end_time = end
                fixed = _repaired_end(start, end_time)
                if fixed is not None:
                    replacements[end_first] = (end_last, fixed)
                    repairs.append(
                        f"DTEND {end_time.value} ({end_time.form()}) rewritten as "
                        f"{fixed.partition(':')[2]} ({start.form()}, the type of DTSTART "
                        f"{start.value}), RFC 5545 3.8.2.2"
                    )
            depth -= 1
            continue
        if depth == 2 and in_event:
            name = re.split(r"[;:]", upper, maxsplit=1)[0]
            if name == "DTSTART":
                start = _Time(line)
            elif name == "DTEND":
                end = (first, last, _Time(line))
    if not replacements:
        return text, []
    out: list[str] = []
    index = 0
    separators = physical[1::2]
    while index < len(lines):
        if index in replacements:
            last, fixed = replacements[index]
            out.append(fixed + (separators[last] if last < len(separators) else ""))
            index = last + 1
            continue
        out.append(lines[index] + (separators[index] if index < len(separators) else ""))
        index += 1
    return "".join(out), repairs


def repair_body(body: bytes) -> tuple[bytes, list[str]]:
    """A PUT body with the repairs of this module made, and what they were. A body
    that is not UTF-8 is left as it is (after the byte order mark)."""
    body, repairs = strip_bom(body)
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return body, repairs
    repaired, more = repair_end_types(text)
    if not more:
        return body, repairs
    return repaired.encode("utf-8"), repairs + more
