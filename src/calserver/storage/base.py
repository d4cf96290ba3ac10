"""What every part of a Collection shares: its storage, its snapshot row, item rows."""

from __future__ import annotations

import functools
import json
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from email.utils import formatdate
from typing import Any, Protocol

from radicale import item as radicale_item
from radicale import storage as radicale_storage
from sqlalchemy import ColumnElement, Engine, Row, Select, and_, false, or_

from calserver.db.models import items
from calserver.errors import CalserverError
from calserver.ical import icsfile
from calserver.ical.timeindex import cap_recurrences
from calserver.sharing import redact
from calserver.sharing.levels import Level
from calserver.storage.hooks import WriteHooks


class Storage(Protocol):
    """What a collection uses of its storage (``calserver.storage.Storage``, which
    imports the collection's modules: they do not import it back)."""

    engine: Engine
    configuration: Any
    hooks: WriteHooks
    #: ``storage.meta.PropertyLimits``
    property_limits: Any
    scan_limit: int
    index_max_instances: int

    def index_horizon(self) -> int: ...

    def delete_collection(self, path: str) -> None: ...


@dataclass
class CollectionState:
    """The collection's row as read when it was discovered (one snapshot per request)."""

    id: int | None
    path: str
    tag: str
    props: dict[str, str]
    revision: int
    min_revision: int
    sync_key: str
    modified: float
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_row(cls, row: Row[Any]) -> CollectionState:
        return cls(
            id=row.id,
            path=row.path,
            tag=row.tag,
            props=json.loads(row.props),
            revision=row.revision,
            min_revision=row.min_revision,
            sync_key=row.sync_key,
            modified=row.modified,
        )

    @classmethod
    def root(cls) -> CollectionState:
        return cls(None, "", "", {}, 0, 0, "root", time.time())


@dataclass(frozen=True)
class View:
    """A calendar as someone who does not own it sees it (bound at discovery, since
    parts of PROPFIND run after Radicale released the request's lock)."""

    viewer: str
    level: Level
    #: The calendar's own path (the collection's path may be the viewer's alias).
    target: str
    alias: bool
    collection_id: int


class ViewForbidden(CalserverError):
    """A write the viewer's level does not allow (403). Not a ValueError, so that
    Radicale's handlers let it through (they answer a ValueError with 400): the
    application's PUT, DELETE and MOVE answer it with 403."""

    status = 403


class HiddenConflict(CalserverError):
    """A write onto the href of an item the writer's view does not contain (a private
    event in a calendar they may write). Not a ValueError, so that Radicale's handler
    lets it through: the application answers it exactly as a UID conflict (409
    CALDAV:no-uid-conflict, RFC 4791 5.3.2.1), the one existence answer the RFC
    requires anyway, so that neither its CLASS nor anything else about it shows (a
    DELETE answers 404: for the writer there is nothing there)."""

    status = 409
    precondition = "C:no-uid-conflict"


@functools.lru_cache(maxsize=4096)
def _http_date(seconds: int) -> str:
    return formatdate(seconds, usegmt=True)


def http_date(timestamp: float) -> str:
    """RFC 9110 HTTP-date (items written together share it: memoised)."""
    return _http_date(int(timestamp))


class StoredItem(radicale_item.Item):
    """An item read from the database. Every field Radicale would derive by parsing the
    text (ETag, UID, component, time range) is a column, so nothing parses the text
    until a handler needs the component itself.

    Sets the same attributes as ``radicale.item.Item.__init__`` (Radicale is pinned to
    3.9.0; ``tests/test_contract.py`` guards this) without re-sanitising the collection
    path for each of thousands of items.
    """

    def __init__(self, collection: CollectionBase, row: Any) -> None:
        self._collection_path = collection.path
        self.collection = collection
        self.href = row.href
        self.last_modified = http_date(row.modified)
        self._text = row.text
        self._vobject_item = None
        self._etag = row.etag
        self._uid = row.uid
        self._name = row.name
        self._component_name = row.component
        self._time_range = (row.start_ts, row.end_ts)
        self.klass = row.klass

    @property
    def vobject_item(self) -> Any:
        """The parsed item, its series capped at the storage's ``scan_limit`` instances
        (``timeindex.cap_recurrences``): whatever Radicale evaluates on it (filters,
        expand, free-busy) stays bounded."""
        if self._vobject_item is None:
            parsed = super().vobject_item
            cap_recurrences(parsed, self.collection._storage.scan_limit)  # type: ignore[union-attr]
        return super().vobject_item

    def __copy__(self) -> StoredItem:
        # Radicale's expand (app/report.py, _expand) mutates copy.copy(item).vobject_item
        # once per requested property; a copy must parse a component of its own, or the
        # second expansion sees the first one's RECURRENCE-IDs.
        clone = object.__new__(type(self))
        clone.__dict__.update(self.__dict__)
        clone._vobject_item = None
        return clone


class CollectionBase(radicale_storage.BaseCollection):
    _storage: Storage
    _state: CollectionState

    def __init__(self, storage: Storage, state: CollectionState, view: View | None = None) -> None:
        self._storage = storage
        self._state = state
        self._view = view

    @property
    def view(self) -> View | None:
        return self._view

    @property
    def level(self) -> Level:
        return self._view.level if self._view is not None else Level.OWNER

    @property
    def owner(self) -> str:
        if self._view is not None:
            return self._view.target.partition("/")[0]
        return super().owner

    def _view_key(self) -> str:
        """Key of this view's ctag: it differs between the busy view, the readers'
        view and the owner's (sync tokens: calserver.storage.sync)."""
        return self._state.sync_key + self.level.view_key

    def _visible(self) -> ColumnElement[bool] | None:
        """The items this view contains (DESIGN.md's table), as a SQL condition; None
        for the owner. Events only in busy blocks: a busy task means nothing."""
        level = self.level
        if level >= Level.OWNER:
            return None
        if level >= Level.READ:
            return and_(
                items.c.klass != "PRIVATE",
                or_(items.c.klass == "PUBLIC", items.c.component == "VEVENT"),
            )
        if level >= Level.FREEBUSY:
            return and_(items.c.klass == "PUBLIC", items.c.component == "VEVENT")
        return false()

    def _only_visible(self, query: Select[Any]) -> Select[Any]:
        """``query`` over items, narrowed to the items of this view."""
        visible = self._visible()
        return query if visible is None else query.where(visible)

    @property
    def path(self) -> str:
        return self._state.path

    @property
    def id(self) -> int:
        if self._state.id is None:
            raise ValueError("the root collection holds no items")
        return self._state.id

    @property
    def etag(self) -> str:
        """CS:getctag and the collection's ETag: a counter, not a hash over all items."""
        return '"%s-%d"' % (self._view_key(), self._state.revision)

    @property
    def tag(self) -> str:
        return self._state.tag

    def serialize(self, vcf_to_ics: bool = False, ShareActions: dict = {}) -> str:  # noqa: B006
        """The whole calendar as one iCalendar object (GET of the collection)."""
        if self.tag != "VCALENDAR":
            return super().serialize(vcf_to_ics, ShareActions)
        return "".join(
            icsfile.join_calendar(
                (item.serialize() for item in self.get_all()),  # type: ignore[attr-defined]
                self._state.props.get("D:displayname", ""),
                self._state.props.get("C:calendar-description", ""),
            )
        )

    @property
    def last_modified(self) -> str:
        return http_date(self._state.modified)

    def _make_item(self, row: Row[Any] | Any) -> radicale_item.Item:
        item = StoredItem(self, row)
        if redact.shows_busy(self.level, row.klass):
            item._text = redact.busy_view(row.text)
            item._etag = redact.view_etag(row.etag)
        return item

    def _props_json(self, props: Mapping[str, str]) -> str:
        return json.dumps(dict(props), sort_keys=True, ensure_ascii=False)
