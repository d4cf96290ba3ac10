"""SMS texts that fit: GSM 03.38 (3GPP TS 23.038 6.2.1) 7-bit characters, at most three
concatenated parts of 153 characters each (TS 23.040 9.2.3.24.1: the user data header
of a concatenated message takes 7 of the 160 septets).

Pure functions. A character outside the GSM 7-bit alphabet is replaced by its
unaccented form when it has one, else by ``?`` (one such character would make the
whole message UCS-2, 67 characters a part); the extension table's characters
(``{}[]~\\|^€``) count twice. A list of lines that does not fit ends with
"+N more" instead of the lines that did not fit.
"""

from __future__ import annotations

import unicodedata

#: Most septets of one message: three concatenated parts.
LIMIT = 3 * 153

_BASIC = (
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
_EXTENDED = "^{}\\[~]|€\f"
_SUBSTITUTES = {
    "\u2013": "-",
    "\u2014": "-",
    "\u2018": "'",
    "\u2019": "'",
    "\u201c": '"',
    "\u201d": '"',
    "\u2026": "...",
    "\t": " ",
}


def to_gsm(text: str) -> str:
    """``text`` in GSM 7-bit characters (substitutes for the others)."""
    out = []
    for char in text:
        if char in _BASIC or char in _EXTENDED:
            out.append(char)
            continue
        if char in _SUBSTITUTES:
            out.append(_SUBSTITUTES[char])
            continue
        plain = "".join(
            c for c in unicodedata.normalize("NFKD", char) if not unicodedata.combining(c)
        )
        out.append(plain if plain and all(c in _BASIC for c in plain) else "?")
    return "".join(out)


def septets(text: str) -> int:
    """How many septets ``text`` (GSM characters) takes."""
    return sum(2 if char in _EXTENDED else 1 for char in text)


def fit(lines: list[str], limit: int = LIMIT) -> str:
    """The lines joined by newlines, in GSM characters, within ``limit`` septets: as many
    whole lines as fit, then "+N more" for the rest (a first line too long alone is cut
    with "...")."""
    gsm = [to_gsm(line) for line in lines]
    whole = "\n".join(gsm)
    if septets(whole) <= limit:
        return whole
    kept: list[str] = []
    for index, line in enumerate(gsm):
        rest = len(gsm) - index - 1
        tail = f"\n+{rest} more" if rest else ""
        candidate = "\n".join([*kept, line])
        if septets(candidate + tail) > limit:
            break
        kept.append(line)
    else:  # pragma: no cover - the whole text fitted
        return whole
    if not kept:
        first = gsm[0]
        tail = f"\n+{len(gsm) - 1} more" if len(gsm) > 1 else ""
        room = limit - septets(tail) - 3
        while septets(first) > room:
            first = first[:-1]
        return first + "..." + tail
    return "\n".join(kept) + f"\n+{len(gsm) - len(kept)} more"
