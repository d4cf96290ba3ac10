"""One vCard as a form sees it (RFC 6350): its full name, given and family name,
e-mail addresses, phones, organisation and note read from the text, and the text made
anew or changed with only those properties touched.

A change keeps every other line as it was (photos, ``X-`` properties, grouped
properties such as Apple's ``item1.EMAIL`` / ``item1.X-ABLabel``, the version); an
e-mail address or phone the form still lists keeps its own line with its parameters
(``TYPE=work``). Values are escaped per RFC 6350 3.4 (``\\\\``, ``\\,``, ``\\;``,
``\\n``) and lines folded at 75 octets (3.2). New cards are vCard 3.0 (RFC 2426), the
version iOS and DAVx5 both read without conversion.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

from calserver.ical.vcard import components as _components
from calserver.ical.vcard import content_lines as unfold
from calserver.ical.vcard import split_line, unescape

#: The properties the form owns; every other property stays untouched.
OWNED = ("FN", "N", "EMAIL", "TEL", "ORG", "NOTE")


@dataclass
class ContactFields:
    """What the contact form shows and edits."""

    name: str = ""
    given: str = ""
    family: str = ""
    emails: list[str] = field(default_factory=list)
    phones: list[str] = field(default_factory=list)
    org: str = ""
    note: str = ""
    uid: str = ""


def escape(value: str) -> str:
    """A text value escaped per RFC 6350 3.4."""
    return (
        value.replace("\\", "\\\\")
        .replace(",", "\\,")
        .replace(";", "\\;")
        .replace("\r\n", "\n")
        .replace("\r", "\n")
        .replace("\n", "\\n")
    )


def _split(line: str) -> tuple[str, str]:
    """(property name in upper case without its group, value) of a content line."""
    name, _, value = split_line(line)
    return name, value


def fold(line: str) -> str:
    """``line`` folded at 75 octets (RFC 6350 3.2), never inside a UTF-8 character."""
    out: list[str] = []
    current = ""
    size = 0
    for char in line:
        width = len(char.encode("utf-8"))
        if size + width > 75:
            out.append(current)
            current, size = " ", 1
        current += char
        size += width
    out.append(current)
    return "\r\n".join(out)


def _body(text: str) -> tuple[list[str], list[str], list[str]]:
    """(lines before the card's own properties, its top-level lines, the rest) of the
    first card in ``text``; a nested card stays one block of the top level."""
    lines = unfold(text)
    head: list[str] = []
    body: list[str] = []
    depth = 0
    for index, line in enumerate(lines):
        upper = line.strip().upper()
        if upper == "BEGIN:VCARD":
            depth += 1
            if depth == 1:
                head.append(line)
                continue
        elif upper == "END:VCARD":
            depth -= 1
            if depth == 0:
                return head, body, lines[index:]
        body.append(line)
    return head, body, ["END:VCARD"]


def _email(value: str) -> str:
    address = unescape(value).strip()
    return address[7:] if address.lower().startswith("mailto:") else address


def read(text: str) -> ContactFields:
    """The form's fields of the vCard ``text``."""
    found = ContactFields()
    _, body, _ = _body(text)
    depth = 0
    for line in body:
        upper = line.strip().upper()
        if upper == "BEGIN:VCARD":
            depth += 1
        elif upper == "END:VCARD":
            depth -= 1
        if depth:
            continue
        name, value = _split(line)
        if name == "FN" and not found.name:
            found.name = unescape(value).strip()
        elif name == "N":
            parts = _components(value)
            found.family = parts[0].strip()
            found.given = parts[1].strip() if len(parts) > 1 else ""
        elif name == "EMAIL":
            address = _email(value)
            if address:
                found.emails.append(address)
        elif name == "TEL":
            phone = unescape(value).strip()
            if phone.lower().startswith("tel:"):
                phone = phone[4:]
            if phone:
                found.phones.append(phone)
        elif name == "ORG" and not found.org:
            found.org = " ".join(part for part in _components(value) if part).strip()
        elif name == "NOTE" and not found.note:
            found.note = unescape(value).strip()
        elif name == "UID" and not found.uid:
            found.uid = unescape(value).strip()
    return found


def _n_value(fields: ContactFields, old: str = "") -> str:
    """N with the form's family and given name, the other parts as they were."""
    parts = _components(old) if old else []
    parts += [""] * (5 - len(parts))
    parts[0], parts[1] = fields.family, fields.given
    return ";".join(escape(part) for part in parts)


def new(fields: ContactFields) -> str:
    """A new vCard 3.0 of ``fields`` with a fresh UID (kept when ``fields`` has one)."""
    uid = fields.uid or str(uuid.uuid4())
    lines = ["BEGIN:VCARD", "VERSION:3.0", "PRODID:-//calserver//web//EN", f"UID:{escape(uid)}"]
    lines += _owned_lines(fields, {}, [])
    lines.append("END:VCARD")
    return "".join(fold(line) + "\r\n" for line in lines)


def _owned_lines(fields: ContactFields, kept: dict[str, str], old: list[str]) -> list[str]:
    lines = [f"FN:{escape(fields.name)}", f"N:{_n_value(fields, kept.get('N', ''))}"]
    old_by_value: dict[tuple[str, str], str] = {}
    for line in old:
        name, value = _split(line)
        if name == "EMAIL":
            old_by_value.setdefault(("EMAIL", _email(value).lower()), line)
        elif name == "TEL":
            phone = unescape(value).strip()
            phone = phone[4:] if phone.lower().startswith("tel:") else phone
            old_by_value.setdefault(("TEL", phone), line)
    for email in fields.emails:
        fresh = f"EMAIL;TYPE=INTERNET:{escape(email)}"
        lines.append(old_by_value.get(("EMAIL", email.lower())) or fresh)
    for phone in fields.phones:
        lines.append(old_by_value.get(("TEL", phone)) or f"TEL:{escape(phone)}")
    if fields.org:
        same = kept.get("ORG_LINE", "")
        lines.append(same if same and read_org(same) == fields.org else f"ORG:{escape(fields.org)}")
    if fields.note:
        lines.append(f"NOTE:{escape(fields.note)}")
    return lines


def read_org(line: str) -> str:
    _, value = _split(line)
    return " ".join(part for part in _components(value) if part).strip()


def change(text: str, fields: ContactFields) -> str:
    """``text`` with the form's properties set to ``fields``; every other line kept."""
    head, body, tail = _body(text)
    kept: list[str] = []
    owned: list[str] = []
    remembered: dict[str, str] = {}
    depth = 0
    for line in body:
        upper = line.strip().upper()
        if upper == "BEGIN:VCARD":
            depth += 1
        elif upper == "END:VCARD":
            depth -= 1
        name, value = _split(line)
        if depth == 0 and upper != "END:VCARD" and name in OWNED:
            owned.append(line)
            if name == "N" and "N" not in remembered:
                remembered["N"] = value
            if name == "ORG" and "ORG_LINE" not in remembered:
                remembered["ORG_LINE"] = line
            continue
        kept.append(line)
    lines = head + kept + _owned_lines(fields, remembered, owned) + tail
    return "".join(fold(line) + "\r\n" for line in lines)
