"""Tiny iCalendar (RFC 5545) helpers for the compat scripts.

Deliberately stdlib-only and independent of the server's own code and of the
clients under test, so a bug in one of those cannot hide itself here.
"""

from __future__ import annotations

import datetime as dt

CRLF = "\r\n"

BERLIN_VTIMEZONE = CRLF.join(
    [
        "BEGIN:VTIMEZONE",
        "TZID:Europe/Berlin",
        "BEGIN:DAYLIGHT",
        "TZOFFSETFROM:+0100",
        "TZOFFSETTO:+0200",
        "TZNAME:CEST",
        "DTSTART:19700329T020000",
        "RRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU",
        "END:DAYLIGHT",
        "BEGIN:STANDARD",
        "TZOFFSETFROM:+0200",
        "TZOFFSETTO:+0100",
        "TZNAME:CET",
        "DTSTART:19701025T030000",
        "RRULE:FREQ=YEARLY;BYMONTH=10;BYDAY=-1SU",
        "END:STANDARD",
        "END:VTIMEZONE",
    ]
)

# Unicode on purpose: accents, CJK, Cyrillic, RTL, emoji outside the BMP.
SUMMARIES = [
    "Café-Besprechung ☕ Nr. {i}",
    "Réunion d'équipe — point {i}",
    "会议 第{i}号",
    "Встреча номер {i}",
    "🎉 Geburtstag 🎂 {i}",
    "Ölförderung Übergabe ß {i}",
    "اجتماع {i}",
    "Sprint review; scope, risks {i}",
]


def escape_text(value: str) -> str:
    """RFC 5545 §3.3.11 TEXT escaping."""
    return value.replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,").replace("\n", "\\n")


def unescape_text(value: str) -> str:
    out = []
    i = 0
    while i < len(value):
        c = value[i]
        if c == "\\" and i + 1 < len(value):
            n = value[i + 1]
            out.append("\n" if n in "nN" else n)
            i += 2
            continue
        out.append(c)
        i += 1
    return "".join(out)


def fold(line: str) -> str:
    """Fold a content line at 75 octets without splitting UTF-8 sequences."""
    out: list[str] = []
    cur = ""
    cur_len = 0
    for ch in line:
        n = len(ch.encode("utf-8"))
        if cur_len + n > 75:  # a continuation line's leading space counts
            out.append(cur)
            cur = " "
            cur_len = 1
        cur += ch
        cur_len += n
    out.append(cur)
    return CRLF.join(out)


def unfold(text: str) -> list[str]:
    lines: list[str] = []
    for raw in text.replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        if raw.startswith((" ", "\t")) and lines:
            lines[-1] += raw[1:]
        elif raw:
            lines.append(raw)
    return lines


def prop_name(line: str) -> str:
    head = line.split(":", 1)[0]
    return head.split(";", 1)[0].upper()


def prop_value(line: str) -> str:
    # Parameter values may be quoted and contain ':'; good enough for our data.
    head, _, value = line.partition(":")
    if '"' in head:
        # the first ':' outside a quoted parameter value ends the name part
        quoted = False
        for idx, ch in enumerate(line):
            if ch == '"':
                quoted = not quoted
            elif ch == ":" and not quoted:
                return line[idx + 1 :]
    return value


def masters(text: str) -> dict[str, dict[str, str]]:
    """Return {UID: {PROP: value}} for each master VEVENT (no RECURRENCE-ID).

    The whole content line of each property is kept under "_LINE_" + PROP.
    """
    result: dict[str, dict[str, str]] = {}
    depth_event = False
    props: dict[str, str] = {}
    nested = 0
    for line in unfold(text):
        name = prop_name(line)
        if name == "BEGIN" and prop_value(line).upper() == "VEVENT":
            depth_event = True
            props = {}
            nested = 0
            continue
        if not depth_event:
            continue
        if name == "BEGIN":
            nested += 1
            continue
        if name == "END" and nested:
            nested -= 1
            continue
        if name == "END" and prop_value(line).upper() == "VEVENT":
            depth_event = False
            if "RECURRENCE-ID" not in props and "UID" in props:
                result[props["UID"]] = props
            continue
        if nested == 0 and name not in props:
            props[name] = prop_value(line)
            props["_LINE_" + name] = line
    return result


def summary_of(text: str, uid: str) -> str | None:
    m = masters(text).get(uid)
    if m is None or "SUMMARY" not in m:
        return None
    return unescape_text(m["SUMMARY"])


def replace_summary(text: str, new_summary: str) -> str:
    """Replace the SUMMARY of the master VEVENT and bump its SEQUENCE."""
    lines = unfold(text)
    out: list[str] = []
    in_event = False
    is_override = False
    buf: list[str] = []
    for line in lines:
        name = prop_name(line)
        if name == "BEGIN" and prop_value(line).upper() == "VEVENT":
            in_event = True
            is_override = False
            buf = [line]
            continue
        if in_event:
            buf.append(line)
            if name == "RECURRENCE-ID":
                is_override = True
            if name == "END" and prop_value(line).upper() == "VEVENT":
                in_event = False
                if not is_override:
                    buf = _rewrite_master(buf, new_summary)
                out.extend(buf)
            continue
        out.append(line)
    return CRLF.join(fold(x) for x in out) + CRLF


def _rewrite_master(buf: list[str], new_summary: str) -> list[str]:
    res: list[str] = []
    seen_seq = False
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    for line in buf:
        name = prop_name(line)
        if name == "SUMMARY":
            res.append("SUMMARY:" + escape_text(new_summary))
        elif name == "SEQUENCE":
            seen_seq = True
            res.append("SEQUENCE:%d" % (int(prop_value(line) or 0) + 1))
        elif name in ("DTSTAMP", "LAST-MODIFIED"):
            res.append("%s:%s" % (name, stamp))
        else:
            res.append(line)
    if not seen_seq:
        res.insert(-1, "SEQUENCE:1")
    return res
