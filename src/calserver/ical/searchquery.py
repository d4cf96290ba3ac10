"""The search query syntax (issue 17) and the searchable words of an event: pure
functions, no database.

Syntax, from the left:

- words are ANDed: ``holiday Hawaii``;
- ``OR`` (upper case) between two terms: ``Maui OR Hawaii`` (binds tighter than the
  AND of the words around it);
- ``"great holiday"`` is a phrase (the words next to each other, in this order);
- ``info*`` matches the words starting with ``info`` (at least :data:`MIN_PREFIX`
  characters before the star);
- ``-computer`` (or ``-"a phrase"``) excludes what matches it.

Matching ignores case and accents: text and query alike are cut into words of letters
and digits, folded (Unicode case folding) and stripped of their accents (NFKD, the
combining marks dropped), so ``Café`` finds ``cafe`` and ``CAFÉ``. Both index engines
(SQLite FTS5, PostgreSQL ``tsvector``) are given these folded words, never the raw text,
so they agree; :func:`matches` is the same rule in Python (the reference the tests and
the per-person tags use).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

#: Longest query accepted.
MAX_QUERY = 500
#: Shortest prefix before a ``*``.
MIN_PREFIX = 4
#: Longest word kept (PostgreSQL lexemes stop at 2 KiB; no real word is this long).
MAX_WORD = 100
#: Most words of one event kept in the index (positions beyond are not searchable).
MAX_WORDS = 16000

_WORD = re.compile(r"[^\W_]+")


class QueryError(ValueError):
    """A query that breaks the syntax: the message says what is wrong."""


def fold(text: str) -> str:
    """Case- and accent-folded ``text``."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    if decomposed.isascii():  # most text: nothing to drop
        return decomposed
    # every combining mark is at U+0300 or above: one comparison spares most lookups
    return "".join(c for c in decomposed if c < "\u0300" or not unicodedata.combining(c))


def words(text: str) -> list[str]:
    """The folded words of ``text``."""
    return [w[:MAX_WORD] for w in _WORD.findall(fold(text))]


@dataclass(frozen=True)
class Term:
    """One word, a prefix (``info*``) or a phrase (several words in order)."""

    words: tuple[str, ...]
    prefix: bool = False


@dataclass(frozen=True)
class Query:
    """``all(any(group) for group in required) and not any(excluded)``."""

    required: tuple[tuple[Term, ...], ...]
    excluded: tuple[Term, ...]

    def terms(self) -> Iterable[Term]:
        for group in self.required:
            yield from group
        yield from self.excluded


_TOKEN = re.compile(r'\s*(?:(-?)"([^"]*)"|(-?)([^\s"]+))')


def parse(text: str) -> Query:
    """The query ``text`` means; :class:`QueryError` saying what is wrong."""
    if len(text) > MAX_QUERY:
        raise QueryError(f"the query is longer than {MAX_QUERY} characters")
    if text.count('"') % 2:
        raise QueryError('unbalanced quote: a phrase needs a closing "')
    if not text.strip():
        raise QueryError("the query is empty")
    required: list[list[Term]] = []
    excluded: list[Term] = []
    pending_or = False
    position = 0
    stripped = text.rstrip()
    while position < len(stripped):
        match = _TOKEN.match(stripped, position)
        if match is None:  # pragma: no cover - the pattern matches any non-space run
            raise QueryError("cannot read the query")
        position = match.end()
        if match.group(2) is not None:
            negative, raw, phrase = match.group(1) == "-", match.group(2), True
        else:
            negative, raw, phrase = match.group(3) == "-", match.group(4), False
            if raw == "-":
                raise QueryError("a lone '-': put the word to exclude right after it (-word)")
        if not phrase and raw == "OR":
            if not required or pending_or:
                raise QueryError("OR needs a word on each side")
            pending_or = True
            continue
        term = _term(raw, phrase, negative)
        if negative:
            if pending_or:
                raise QueryError("an excluded word (-word) cannot be part of an OR")
            excluded.append(term)
        elif pending_or:
            required[-1].append(term)
            pending_or = False
        else:
            required.append([term])
    if pending_or:
        raise QueryError("OR needs a word on each side")
    if not required:
        raise QueryError("the query needs at least one word to look for (not only -words)")
    return Query(tuple(tuple(group) for group in required), tuple(excluded))


def _term(raw: str, phrase: bool, negative: bool) -> Term:
    if phrase:
        found = tuple(words(raw))
        if not found:
            raise QueryError(f'the phrase "{raw}" has no word in it')
        return Term(found)
    if raw.endswith("*"):
        stem = raw[:-1]
        if "*" in stem:
            raise QueryError(f"{raw!r}: a star may only end a word")
        found = tuple(words(stem))
        if len(found) != 1 or len(found[0]) < MIN_PREFIX:
            raise QueryError(
                f"{raw!r}: a prefix search needs at least {MIN_PREFIX} letters before the *"
            )
        return Term(found, prefix=True)
    if "*" in raw:
        raise QueryError(f"{raw!r}: a star may only end a word")
    found = tuple(words(raw))
    if not found:
        raise QueryError(f"{raw!r} has no letter or digit to look for")
    # "e-mail" or "o'clock": the words of it next to each other, as in the text
    return Term(found)


def _term_matches(term: Term, doc: Sequence[str]) -> bool:
    n = len(term.words)
    for i in range(len(doc) - n + 1):
        if all(doc[i + k] == term.words[k] for k in range(n - 1)):
            last = doc[i + n - 1]
            if last == term.words[-1] or (term.prefix and last.startswith(term.words[-1])):
                return True
    return False


def matches(query: Query, doc: Sequence[str]) -> bool:
    """Whether the words ``doc`` match ``query`` (the reference of both engines)."""
    return all(any(_term_matches(t, doc) for t in group) for group in query.required) and not any(
        _term_matches(t, doc) for t in query.excluded
    )


def to_fts5(query: Query) -> str:
    """The query in SQLite FTS5's syntax (over the folded words)."""

    def term(t: Term) -> str:
        quoted = '"' + " ".join(t.words) + '"'
        return quoted + "*" if t.prefix else quoted

    positive = " AND ".join(
        "(" + " OR ".join(term(t) for t in group) + ")" for group in query.required
    )
    if not query.excluded:
        return positive
    return f"({positive}) NOT ({' OR '.join(term(t) for t in query.excluded)})"


def to_tsquery(query: Query) -> str:
    """The query as a PostgreSQL ``tsquery`` literal (over the folded words; cast with
    ``CAST(... AS tsquery)``, which parses no text: the words are already folded)."""

    def lexeme(word: str, prefix: bool) -> str:
        return "'" + word + "'" + (":*" if prefix else "")

    def term(t: Term) -> str:
        last = len(t.words) - 1
        return (
            "("
            + " <-> ".join(lexeme(w, t.prefix and i == last) for i, w in enumerate(t.words))
            + ")"
        )

    parts = ["(" + " | ".join(term(t) for t in group) + ")" for group in query.required]
    parts += ["!" + term(t) for t in query.excluded]
    return " & ".join(parts)


# -- the searchable text of an event ---------------------------------------------------

#: The properties whose text is searched (issue 17): summary, location, description,
#: categories, and the names (CN) of the attendees and the organizer.
TEXT_PROPERTIES = ("SUMMARY", "LOCATION", "DESCRIPTION", "CATEGORIES", "COMMENT")
NAMED_PROPERTIES = ("ATTENDEE", "ORGANIZER")
_FOLD_LINE = re.compile(r"\r?\n[ \t]")
_CN = re.compile(r';CN=(?:"([^"]*)"|([^;:]*))', re.IGNORECASE)


def _unescape(value: str) -> str:
    return (
        value.replace("\\n", " ").replace("\\N", " ").replace("\\,", ",").replace("\\;", ";")
    ).replace("\\\\", "\\")


def event_words(ics: str) -> list[str]:
    """The searchable words of an iCalendar object: the text properties of every
    component except alarms, in order (RFC 5545 3.1 unfolded, 3.3.11 unescaped)."""
    found: list[str] = []
    in_alarm = 0
    for line in _FOLD_LINE.sub("", ics).splitlines():
        upper = line[:16].upper()
        if upper.startswith("BEGIN:VALARM"):
            in_alarm += 1
            continue
        if upper.startswith("END:VALARM"):
            in_alarm = max(0, in_alarm - 1)
            continue
        if in_alarm:
            continue
        name_end = min((i for i in (line.find(":"), line.find(";")) if i >= 0), default=-1)
        if name_end <= 0:
            continue
        name = line[:name_end].upper()
        if name in TEXT_PROPERTIES:
            _, _, value = _split_value(line, name_end)
            found.extend(words(_unescape(value)))
        elif name in NAMED_PROPERTIES:
            params, _, _ = _split_value(line, name_end)
            cn = _CN.search(params)
            if cn is not None:
                found.extend(words(cn.group(1) if cn.group(1) is not None else cn.group(2)))
        if len(found) >= MAX_WORDS:
            return found[:MAX_WORDS]
    return found


def _split_value(line: str, name_end: int) -> tuple[str, str, str]:
    """(parameters, ':', value) of a content line, quotes in parameters respected."""
    colon = line.find(":", name_end)
    quote = line.find('"', name_end)
    if colon >= 0 and (quote < 0 or quote > colon):  # no quoted parameter before it
        return line[name_end:colon], ":", line[colon + 1 :]
    quoted = False
    for i in range(name_end, len(line)):
        char = line[i]
        if char == '"':
            quoted = not quoted
        elif char == ":" and not quoted:
            return line[name_end:i], ":", line[i + 1 :]
    return line[name_end:], "", ""


#: What a busy view shows of an event (calserver.sharing.redact.busy_view): its words.
BUSY_WORDS = ("busy",)
