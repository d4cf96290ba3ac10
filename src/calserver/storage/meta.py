"""WebDAV properties of a collection (displayname, calendar-color, ...), as JSON,
within the limits of ``[storage] max_properties...`` (:class:`PropertyLimits`; the
PROPPATCH rules around them are ``calserver.dav.proppatch``'s)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, overload

from sqlalchemy import Connection, insert, select, update

from calserver.context import refused_properties
from calserver.db.models import calendar_views, collections, users
from calserver.storage.base import CollectionBase
from calserver.storage.context import write_scope
from calserver.storage.rows import bump_revision


@dataclass(frozen=True)
class PropertyLimits:
    """``[storage] max_properties``, ``max_property_size``, ``max_properties_size`` and
    ``max_proppatch_size``: sizes in bytes of UTF-8."""

    count: int = 100
    value_size: int = 64 * 1024
    total_size: int = 256 * 1024
    request_size: int = 256 * 1024

    @classmethod
    def from_configuration(cls, configuration: Any) -> PropertyLimits:
        return cls(
            configuration.get("storage", "max_properties"),
            configuration.get("storage", "max_property_size"),
            configuration.get("storage", "max_properties_size"),
            configuration.get("storage", "max_proppatch_size"),
        )


def _size(key: str, value: str) -> int:
    return len(key.encode("utf-8")) + len(value.encode("utf-8"))


def over_limits(
    old: Mapping[str, str], new: Mapping[str, str], limits: PropertyLimits
) -> tuple[list[str], str]:
    """The keys of ``new`` (Radicale's human names, ``D:displayname``) that do not fit
    and why, or ``([], "")``. ``tag`` (the resource type) is not a property here."""
    changed = [key for key, value in new.items() if key != "tag" and old.get(key) != value]
    big = [key for key in changed if len(new[key].encode("utf-8")) > limits.value_size]
    if big:
        return big, f"a property value may have at most {limits.value_size} bytes"
    count_old = sum(1 for key in old if key != "tag")
    count_new = sum(1 for key in new if key != "tag")
    if count_new > limits.count and count_new > count_old:
        added = [key for key in changed if key not in old]
        return added, f"a collection may keep at most {limits.count} properties"
    total_old = sum(_size(key, value) for key, value in old.items() if key != "tag")
    total_new = sum(_size(key, value) for key, value in new.items() if key != "tag")
    if total_new > limits.total_size and total_new > total_old:
        grown = [key for key in changed if _size(key, new[key]) > _size(key, old.get(key, ""))]
        return grown, f"the properties of a collection may have at most {limits.total_size} bytes"
    return [], ""


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
        # calserver.dav.application names them in its 207 answer (RFC 4918 9.2.1, 507)
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
