"""The time index of an item: the UTC spans of its instances (RFC 4791 section 9.9).

Pure functions over vobject components. The spans are produced by the very visitor
Radicale uses to evaluate CALDAV:time-range filters (``visit_time_ranges``), so an
index lookup and Radicale's own filter agree on which items a time-range matches.
A recurring series is indexed up to a horizon; the item records how far it is
indexed, and a query that reaches beyond that treats it as a candidate to be checked.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime

import vobject
from radicale.item import filter as radicale_filter

TIMESTAMP_MIN = radicale_filter.TIMESTAMP_MIN
TIMESTAMP_MAX = radicale_filter.TIMESTAMP_MAX

#: Instances up to this long are found by a range scan bounded below by
#: ``window_start - SHORT_SPAN``; longer ones are kept apart (they are few).
SHORT_SPAN = 8 * 24 * 3600


@dataclass(frozen=True)
class TimeIndex:
    """Instance spans ``(start, end)`` in UTC seconds, and ``indexed_until``: ``None``
    when every instance is listed, else the timestamp from which instances may be
    missing (a series beyond the horizon, too many instances, or unparsable data)."""

    spans: tuple[tuple[int, int], ...]
    indexed_until: int | None


def _ts_floor(value: datetime) -> int:
    return max(TIMESTAMP_MIN, min(TIMESTAMP_MAX, math.floor(value.timestamp())))


def _ts_ceil(value: datetime) -> int:
    return max(TIMESTAMP_MIN, min(TIMESTAMP_MAX, math.ceil(value.timestamp())))


class _Stop(Exception):
    pass


def index_item(
    vobject_item: vobject.base.Component, component_name: str, horizon: int, max_instances: int
) -> TimeIndex:
    """Enumerate the instances of ``component_name`` in ``vobject_item`` whose start lies
    before ``horizon`` (overridden instances are always listed), at most
    ``max_instances`` of them."""
    if not component_name:
        return TimeIndex((), None)
    spans: list[tuple[int, int]] = []
    indexed_until: int | None = None

    def range_fn(start: datetime, end: datetime, is_recurrence: bool) -> bool:
        nonlocal indexed_until
        start_ts = _ts_floor(start)
        if not is_recurrence and (start_ts >= horizon or len(spans) >= max_instances):
            # The main component's instances come in order and after the overrides.
            indexed_until = min(start_ts, horizon)
            return True
        spans.append((start_ts, _ts_ceil(end)))
        return False

    def infinity_fn(_start: datetime) -> bool:
        return False  # enumerate the endless series up to the horizon

    try:
        radicale_filter.visit_time_ranges(vobject_item, component_name, range_fn, infinity_fn)
    except (ValueError, AttributeError, TypeError, OverflowError):
        # Not indexable: the item stays a candidate of every time-range query and
        # Radicale's own filter decides, exactly as without an index.
        return TimeIndex((), TIMESTAMP_MIN)
    return TimeIndex(tuple(spans), indexed_until)
