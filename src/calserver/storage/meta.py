"""WebDAV properties of a collection (displayname, calendar-color, ...), as JSON."""

from __future__ import annotations

from collections.abc import Mapping
from typing import overload

from sqlalchemy import update

from calserver.db.models import collections
from calserver.storage.base import CollectionBase
from calserver.storage.context import write_scope
from calserver.storage.upload import bump_revision


class MetaMixin(CollectionBase):
    @overload
    def get_meta(self, key: None = None) -> Mapping[str, str]: ...

    @overload
    def get_meta(self, key: str) -> str | None: ...

    def get_meta(self, key: str | None = None) -> Mapping[str, str] | str | None:
        props = self._state.props  # type: ignore[attr-defined]
        if key is None:
            return dict(props)
        return props.get(key)

    def set_meta(self, props: Mapping[str, str]) -> None:
        """Replace all properties (Radicale passes the complete new set)."""
        cid = self.id
        with write_scope(self._storage.engine) as conn:
            conn.execute(
                update(collections)
                .where(collections.c.id == cid)
                .values(props=self._props_json(props), tag=props.get("tag", ""))
            )
            revision = bump_revision(conn, cid)
        self._state.props = dict(props)
        self._state.tag = props.get("tag", "")
        self._state.revision = revision
