"""WebDAV properties of a collection (displayname, calendar-color, ...), as JSON,
within the limits of ``[storage] max_properties...`` (``calserver.proppatch``)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from contextvars import ContextVar
from typing import overload

from sqlalchemy import Connection, insert, select, update

from calserver.dav.proppatch import PropertyLimits, over_limits
from calserver.db.models import calendar_views, collections, users
from calserver.storage.base import CollectionBase
from calserver.storage.context import write_scope
from calserver.storage.upload import bump_revision

#: The properties that did not fit in the last refused write of this request, and
#: why: ``calserver.app`` names them in its 207 answer (RFC 4918 9.2.1, 507).
refused_properties: ContextVar[tuple[list[str], str] | None] = ContextVar(
    "calserver_refused_properties", default=None
)


class PropertyLimitExceeded(ValueError):
    """More properties than the limits allow. Radicale answers a ValueError naming
    ENOSPC with 507 Insufficient Storage (app/proppatch.py, app/mkcalendar.py)."""

    def __init__(self, keys: list[str], reason: str) -> None:
        super().__init__(f"[Errno 28] {reason}")
        self.keys = keys
        self.reason = reason


def check_property_limits(
    limits: PropertyLimits, old: Mapping[str, str], new: Mapping[str, str]
) -> None:
    """Refuse, before anything is written, a property set beyond ``limits``."""
    keys, reason = over_limits(old, new, limits)
    if reason:
        refused_properties.set((keys, reason))
        raise PropertyLimitExceeded(keys, reason)


def save_calendar_view(
    conn: Connection, user_id: int, collection_id: int, **values: object
) -> None:
    """Set ``values`` on a viewer's row of a calendar they do not own (their own
    properties, whether they added it), creating the row where there is none."""
    mine = (calendar_views.c.user_id == user_id) & (calendar_views.c.collection_id == collection_id)
    if not conn.execute(update(calendar_views).where(mine).values(**values)).rowcount:
        row = {"props": "{}", "added": False, **values}
        conn.execute(
            insert(calendar_views).values(user_id=user_id, collection_id=collection_id, **row)
        )


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
        """Replace all properties (Radicale passes the complete new set). Through a
        view they are the viewer's own: laid over the owner's, changing nothing for
        the owner (colour, name, order)."""
        check_property_limits(self._storage.property_limits, self.get_meta(), props)
        cid = self.id
        if self._view is not None:
            self._set_own_meta(props)
            return
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

    def _set_own_meta(self, props: Mapping[str, str]) -> None:
        assert self._view is not None
        viewer, cid = self._view.viewer, self.id
        with write_scope(self._storage.engine) as conn:
            owner_props = json.loads(
                conn.execute(select(collections.c.props).where(collections.c.id == cid)).scalar()
                or "{}"
            )
            own = {
                key: value
                for key, value in props.items()
                if key != "tag" and owner_props.get(key) != value
            }
            # a property the viewer removed stays removed for them
            own.update({key: "" for key in owner_props if key not in props and key != "tag"})
            user_id = conn.execute(select(users.c.id).where(users.c.name == viewer)).scalar_one()
            save_calendar_view(conn, user_id, cid, props=self._props_json(own))
        self._state.props = {
            key: value for key, value in {**owner_props, **own}.items() if value != ""
        }
