"""What every part of a Collection shares: its storage, its snapshot row, item rows."""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from email.utils import formatdate
from typing import TYPE_CHECKING, Any

from radicale import item as radicale_item
from radicale import storage as radicale_storage
from sqlalchemy import Row

if TYPE_CHECKING:
    from calserver.storage import Storage


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


def http_date(timestamp: float) -> str:
    return formatdate(timestamp, usegmt=True)


class CollectionBase(radicale_storage.BaseCollection):
    _storage: Storage
    _state: CollectionState

    def __init__(self, storage: Storage, state: CollectionState) -> None:
        self._storage = storage
        self._state = state

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
        return '"%s-%d"' % (self._state.sync_key, self._state.revision)

    @property
    def tag(self) -> str:
        return self._state.tag

    @property
    def last_modified(self) -> str:
        return http_date(self._state.modified)

    def _make_item(self, row: Row[Any] | Any) -> radicale_item.Item:
        return radicale_item.Item(
            collection_path=self._state.path,
            collection=self,
            href=row.href,
            last_modified=http_date(row.modified),
            text=row.text,
            etag=row.etag,
            uid=row.uid,
            name=row.name,
            component_name=row.component,
            time_range=(row.start_ts, row.end_ts),
        )

    def _props_json(self, props: Mapping[str, str]) -> str:
        return json.dumps(dict(props), sort_keys=True, ensure_ascii=False)
