"""vCard as a format (RFC 6350 vCard 4.0, RFC 2426 vCard 3.0) for CardDAV (RFC 6352):
what an address object resource must be before it is stored. Pure: no I/O.

RFC 6352 5.1: an address object resource holds exactly one vCard, with a UID
(RFC 6352 6.3.2.1 CARDDAV:valid-address-data); RFC 6350 6.2.1 and RFC 2426 3.1.1
make FN mandatory; only the media types of CARDDAV:supported-address-data are taken
(:data:`SUPPORTED_VERSIONS`, RFC 6352 6.2.2).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from calserver.errors import CalserverError
from calserver.ical.icsfile import CONTROL_CHARACTERS

#: The vCard versions an address book takes (CARDDAV:supported-address-data, RFC 6352
#: 6.2.2): text/vcard 3.0 (RFC 2426, what iOS sends) and 4.0 (RFC 6350, DAVx5's choice).
SUPPORTED_VERSIONS = ("3.0", "4.0")

#: RFC 6352 6.3.2.1 preconditions (Radicale's "CR" prefix).
VALID_ADDRESS_DATA = "CR:valid-address-data"
SUPPORTED_ADDRESS_DATA = "CR:supported-address-data"
NO_UID_CONFLICT = "CR:no-uid-conflict"
MAX_RESOURCE_SIZE = "CR:max-resource-size"

_UNFOLD = re.compile(r"\r?\n[ \t]")
_LINE_END = re.compile(r"\r\n|\n|\r")
_CONTENT_LINE = re.compile(r"^(?P<name>[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)?)(?P<params>;[^:]*)?:")
#: RFC 6350 3.4 / RFC 2426 5: a backslash escapes only a backslash, a comma, a
#: semicolon, or stands for a newline (n or N); vCard 3.0 also allows ``\:``.
_BAD_ESCAPE = re.compile(r"\\(?![\\,;nN:]|$)")
#: Properties whose values are text (RFC 6350 6.x) and so follow the escaping rules.
_TEXT_PROPERTIES = frozenset(
    {"FN", "N", "NICKNAME", "ORG", "TITLE", "ROLE", "NOTE", "ADR", "CATEGORIES", "LABEL"}
)


class VCardError(CalserverError):
    """An address object resource refused (RFC 6352 6.3.2.1): its precondition, its
    status (400 for data that is not a valid vCard, 403 for a media type the address
    book does not support) and the reason in words."""

    status = 400
    precondition = VALID_ADDRESS_DATA


@dataclass(frozen=True)
class VCardInfo:
    """What the storage keeps of a vCard beside its text."""

    uid: str
    fn: str
    version: str


def begins_with(text: str) -> str:
    """The name of the first ``BEGIN:`` object of ``text`` (``VCARD``, ``VCALENDAR``),
    upper case; "" when it does not start with one."""
    for line in text.lstrip("\ufeff").splitlines():
        if not line.strip():
            continue
        name, _, value = line.partition(":")
        if name.strip().upper() == "BEGIN":
            return value.strip().upper()
        return ""
    return ""


def content_lines(text: str) -> list[str]:
    """The unfolded content lines of ``text`` (RFC 6350 3.2: a line starting with a
    space or a tab continues the one before it), blank lines dropped."""
    unfolded = _UNFOLD.sub("", text.lstrip("\ufeff"))
    return [line for line in _LINE_END.split(unfolded) if line.strip()]


def split_line(line: str) -> tuple[str, dict[str, str], str]:
    """(NAME in upper case without its group, parameters, value) of a content line
    (RFC 6350 3.3: ``[group.]name *(";" param) ":" value``), quotes respected;
    ("", {}, "") for a line without a value."""
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


def components(value: str) -> list[str]:
    """The ``;``-separated components of a structured value (RFC 6350 3.3: N, ADR,
    ORG), each unescaped."""
    parts: list[str] = []
    current: list[str] = []
    chars = iter(value)
    for char in chars:
        if char == "\\":
            current.append(char + next(chars, ""))
        elif char == ";":
            parts.append(unescape("".join(current)))
            current = []
        else:
            current.append(char)
    parts.append(unescape("".join(current)))
    return parts


def _value(line: str) -> tuple[str, str]:
    """(property name upper case without group, value) of a content line."""
    match = _CONTENT_LINE.match(line)
    if match is None:
        raise VCardError(f"not a vCard content line: {line[:60]!r}")
    name = match.group("name").rpartition(".")[2].upper()
    return name, line[match.end() :]


def check(text: str) -> VCardInfo:
    """``text`` as one address object resource (RFC 6352 5.1), or :class:`VCardError`:
    one vCard, version 3.0 or 4.0, a UID, an FN, no control character, escapes that
    RFC 6350 3.4 allows in its text properties."""
    kind = begins_with(text)
    if kind != "VCARD":
        what = f"a {kind} object" if kind else "data that is not a vCard"
        raise VCardError(
            f"an address book takes vCards (text/vcard), not {what}",
            status=403 if kind else 400,
            precondition=SUPPORTED_ADDRESS_DATA if kind else VALID_ADDRESS_DATA,
        )
    control = CONTROL_CHARACTERS.search(text)
    if control is not None:
        raise VCardError(f"the vCard contains the control character U+{ord(control.group()):04X}")
    lines = content_lines(text)
    depth = 0
    cards = 0
    props: dict[str, list[str]] = {}
    for line in lines:
        name, value = _value(line)
        if name == "BEGIN":
            if value.strip().upper() != "VCARD" or depth:
                raise VCardError(f"a vCard may not contain BEGIN:{value.strip()}")
            depth, cards = 1, cards + 1
            continue
        if name == "END":
            if value.strip().upper() != "VCARD" or not depth:
                raise VCardError(f"unexpected END:{value.strip()}")
            depth = 0
            continue
        if not depth:
            raise VCardError("content outside BEGIN:VCARD and END:VCARD")
        if name in _TEXT_PROPERTIES and _BAD_ESCAPE.search(value):
            raise VCardError(
                f"malformed escaping in {name}: a backslash may only precede"
                " \\, ',', ';' or n (RFC 6350 3.4)"
            )
        props.setdefault(name, []).append(value)
    if depth:
        raise VCardError("the vCard has no END:VCARD")
    if cards != 1:
        raise VCardError(f"an address object resource holds one vCard, not {cards} (RFC 6352 5.1)")
    versions = props.get("VERSION", [])
    if len(versions) != 1:
        raise VCardError("a vCard needs exactly one VERSION")
    version = versions[0].strip()
    if version not in SUPPORTED_VERSIONS:
        raise VCardError(
            f"vCard version {version!r} is not supported (3.0 and 4.0 are)",
            status=403,
            precondition=SUPPORTED_ADDRESS_DATA,
        )
    uids = [value.strip() for value in props.get("UID", []) if value.strip()]
    if len(uids) != 1:
        raise VCardError("a vCard in an address book needs exactly one UID (RFC 6352 5.1)")
    fns = [value.strip() for value in props.get("FN", []) if value.strip()]
    if not fns:
        raise VCardError("a vCard needs an FN (formatted name, RFC 6350 6.2.1)")
    return VCardInfo(uid=uids[0], fn=unescape(fns[0]), version=version)


def unescape(value: str) -> str:
    """A text value with its RFC 6350 3.4 escapes resolved."""
    return re.sub(r"\\(.)", lambda m: "\n" if m.group(1) in "nN" else m.group(1), value, flags=re.S)
