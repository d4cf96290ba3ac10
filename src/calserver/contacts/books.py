"""Address books in and out as ``.vcf`` files (``calserver import`` / ``export``).

An import writes each vCard as a CardDAV PUT of it would (RFC 6352 5.1, 6.3.2), its
text as the file holds it: validated by Radicale's checks for an address book and
``calserver.ical.vcard.check`` (one vCard 3.0 or 4.0 with a UID and an FN), then
``Collection.upload`` inside
one write lock of the book (``Storage.acquire_lock``: one transaction, the write hooks
hear each card). The rules for UIDs are those of a PUT of a whole address book to
Radicale (``check_and_sanitize_items`` with ``is_collection``):

- a card without a UID is given a new one (and the summary says so);
- a UID twice in the file: the second card is refused (RFC 6352 6.3.2.1,
  ``CARDDAV:no-uid-conflict`` within the book);
- a UID the book holds already replaces that card, at the href clients know.

All or nothing: a refused card refuses the whole import, every refused card named,
unless ``skip_invalid`` leaves those out (and lists them in the result). The export is
every card of the book, one after the other (RFC 6350 3.1: a ``.vcf`` may hold many).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from radicale import item as radicale_item
from radicale import pathutils

from calserver.accounts.users import validate_name
from calserver.contacts import vcard
from calserver.errors import InvalidInput, NotFound
from calserver.ical import vcard as vcard_format
from calserver.storage import Storage

#: Most refused cards an import names before it counts the rest.
REPORTED_PROBLEMS = 50
TAG = "VADDRESSBOOK"


@dataclass
class VcfImportResult:
    created: int = 0
    replaced: int = 0
    #: One line per card given a UID: its position, name and new UID.
    uids_given: list[str] = field(default_factory=list)
    #: One line per card left out (``skip_invalid``): its position and why.
    skipped: list[str] = field(default_factory=list)

    def summary(self, path: str) -> str:
        return (
            f"imported {self.created + self.replaced} vCards into {path} "
            f"({self.created} new, {self.replaced} replaced"
            + (f", {len(self.uids_given)} given a UID" if self.uids_given else "")
            + (f", {len(self.skipped)} refused and skipped)" if self.skipped else ")")
        )


def parse_path(path: str) -> tuple[str, str]:
    """``USER/BOOK`` or ``@GROUP/BOOK`` -> (owner, book)."""
    parts = path.strip("/").split("/")
    if len(parts) != 2:
        raise InvalidInput(f"expected USER/BOOK or @GROUP/BOOK, got {path!r}")
    owner = parts[0][1:] if parts[0].startswith("@") else parts[0]
    validate_name(owner, "group name" if parts[0].startswith("@") else "user name")
    validate_name(parts[1], "address book name")
    return parts[0], parts[1]


def is_address_book(storage: Storage, path: str) -> bool:
    """Whether ``path`` names an existing address book (the CLI picks .vcf for it)."""
    try:
        owner, name = parse_path(path)
    except InvalidInput:
        return False
    collection = storage.load_collection(f"{owner}/{name}")
    return collection is not None and collection.tag == TAG


def address_book(storage: Storage, path: str) -> Any:
    owner, name = parse_path(path)
    collection = storage.load_collection(f"{owner}/{name}")
    if collection is None or collection.tag != TAG:
        raise NotFound(f"no address book {owner}/{name}")
    return collection


def export(storage: Storage, path: str) -> str:
    """Every vCard of the book, in one ``.vcf`` text."""
    book = address_book(storage, path)
    texts = []
    for item in book.get_all():
        text = item.serialize()
        texts.append(text if text.endswith("\n") else text + "\r\n")
    return "".join(texts)


def _label(card: vcard.Card) -> str:
    shown = vcard.person(card.text).name
    return f"vCard {card.number}" + (f" ({shown})" if shown else "")


def _item(card: vcard.Card, collection_path: str, max_bytes: int) -> radicale_item.Item:
    """The Radicale item of one card, checked as Radicale checks a PUT of it."""
    if max_bytes and len(card.text.encode("utf-8")) > max_bytes:
        raise ValueError(f"larger than {max_bytes} bytes (the limit of a PUT)")
    components = radicale_item.read_components(card.text)
    if len(components) != 1 or components[0].name != "VCARD":
        raise ValueError("not one vCard")
    # is_collection: a card without a UID gets one, as in a PUT of a whole book
    radicale_item.check_and_sanitize_items(
        components, max_vevent_rrule_occurrence=0, is_collection=not card.uid, tag=TAG
    )
    # the file's own text, as a PUT of it is stored; Radicale's where it added the UID
    text = card.text if card.uid else components[0].serialize()
    try:
        vcard_format.check(text)  # what the storage takes (RFC 6352 5.1, 6.3.2.1)
    except vcard_format.VCardError as exc:
        raise ValueError(exc.reason) from exc
    item = radicale_item.Item(
        collection_path=collection_path, text=text, vobject_item=components[0]
    )
    item.prepare()
    return item


def _refused(problems: list[str], total: int) -> str:
    named = problems[:REPORTED_PROBLEMS]
    more = len(problems) - len(named)
    return "\n".join(
        [
            f"{len(problems)} of {total} vCards refused, nothing imported "
            "(--skip-invalid imports the others):",
            *("  " + problem for problem in named),
            *([f"  ... and {more} more"] if more else []),
        ]
    )


def _href(uid: str, taken: set[str]) -> str:
    """The name Radicale gives a card of a whole-book upload (UID + .vcf)."""
    for href in (uid + ".vcf", radicale_item.get_etag(uid).strip('"') + ".vcf"):
        if len(href) <= 255 and pathutils.is_safe_path_component(href) and href not in taken:
            return href
    return radicale_item.find_available_uid(lambda h: h in taken, ".vcf")


def import_vcf(
    storage: Storage,
    path: str,
    text: str,
    user: str = "",
    max_bytes: int = 0,
    skip_invalid: bool = False,
) -> VcfImportResult:
    """Add the vCards of ``text`` to the address book at ``path`` (see the module)."""
    book = address_book(storage, path)
    try:
        cards = list(vcard.split(text))
    except vcard.VcfError as exc:
        raise InvalidInput(f"not a vCard file: {exc}") from exc
    if not cards:
        raise InvalidInput("the file holds no vCard")
    result = VcfImportResult()
    problems: list[str] = []
    ready: list[tuple[vcard.Card, radicale_item.Item]] = []
    seen: dict[str, int] = {}
    for card in cards:
        try:
            item = _item(card, book.path, max_bytes)
        except Exception as exc:  # vobject raises many kinds on bad data
            problems.append(f"{_label(card)}: {' '.join(str(exc).split())[:200]}")
            continue
        uid = item.uid
        if uid in seen:
            problems.append(f"{_label(card)}: its UID {uid!r} is used by vCard {seen[uid]} already")
            continue
        seen[uid] = card.number
        if not card.uid:
            result.uids_given.append(f"{_label(card)}: given the UID {uid}")
        ready.append((card, item))
    if problems and not skip_invalid:
        raise InvalidInput(_refused(problems, len(cards)))
    with storage.acquire_lock("w", user, path=f"/{book.path}/"):
        target = address_book(storage, path)
        existing = {item.uid: item.href for item in target.get_all() if item.href}
        taken = set(existing.values())
        for card, item in ready:
            href = existing.get(item.uid) or _href(item.uid, taken)
            try:
                target.upload(href, item)
            except ValueError as exc:  # the storage's own refusal, undone by its savepoint
                problem = f"{_label(card)}: {' '.join(str(exc).split())[:200]}"
                if not skip_invalid:  # leaving the lock by an exception takes it all back
                    raise InvalidInput(_refused([*problems, problem], len(cards))) from exc
                problems.append(problem)
                continue
            taken.add(href)
            if item.uid in existing:
                result.replaced += 1
            else:
                result.created += 1
    result.skipped = problems
    return result
