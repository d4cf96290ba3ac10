"""The storage plugin against Radicale's storage contract, on every engine.

``calserver.storage.Storage`` is driven directly, the way Radicale's handlers drive it:
inside ``acquire_lock("r"|"w", user, path=...)``, through ``discover`` and the
collection's methods. The time-range pre-filter is checked against Radicale's own
filter (``radicale.app.report.test_filter``) on a mixed set of real iCalendar data.
"""

from __future__ import annotations

import random
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import vobject
from radicale import item as radicale_item
from radicale import storage as radicale_storage
from radicale.app.report import test_filter as radicale_test_filter
from sqlalchemy import func, select, text

from calserver import db
from calserver.context import expand_window
from calserver.db import migrations
from calserver.db.models import changes, collections, instances, items
from calserver.ical import icsfile
from calserver.storage import Storage
from tests.conftest import FIXTURES, make_configuration
from tests.conftest import event_ics as ics

CAL = "/alice/cal/"
CALDAV_NS = "urn:ietf:params:xml:ns:caldav"
MIXED = (FIXTURES / "storage-mixed.ics").read_text(encoding="utf-8")


# --- helpers -----------------------------------------------------------------------


def prepare(text_: str, collection_path: str = "alice/cal") -> radicale_item.Item:
    """An item as Radicale's PUT hands it to ``upload`` (sanitised and prepared)."""
    vobject_item = vobject.readOne(text_)
    radicale_item.check_and_sanitize_items(
        [vobject_item],
        max_vevent_rrule_occurrence=100000,
        is_collection=False,
        tag="VCALENDAR",
    )
    item = radicale_item.Item(collection_path=collection_path, vobject_item=vobject_item)
    item.prepare()
    return item


def make_storage(database_url: str, tmp_path: Path, **storage_options: str) -> Storage:
    configuration = make_configuration(database_url, tmp_path, storage=storage_options)
    db.ensure_schema(db.engine_for(configuration))
    return Storage(configuration)


def discover_one(storage: Storage, path: str) -> Any:
    return next(iter(storage.discover(path)), None)


def make_calendar(storage: Storage, path: str = CAL, **props: str) -> None:
    owner = "/" + path.strip("/").split("/")[0] + "/"
    with storage.acquire_lock("w", "alice", path=path):
        storage.create_collection(owner)
        storage.create_collection(path, props={"tag": "VCALENDAR", **props})


def put(storage: Storage, path: str, href: str, text_: str) -> Any:
    """Upload like PUT: one write transaction; returns the stored item."""
    with storage.acquire_lock("w", "alice", path=path + href):
        collection = discover_one(storage, path)
        uploaded, _ = collection.upload(href, prepare(text_, path.strip("/")))
    return uploaded


def ctag(storage: Storage, path: str = CAL) -> str:
    with storage.acquire_lock("r", "alice", path=path):
        return str(discover_one(storage, path).etag)


def hrefs_in(storage: Storage, path: str = CAL) -> set[str]:
    with storage.acquire_lock("r", "alice", path=path):
        return {item.href for item in discover_one(storage, path).get_all()}


def sync(storage: Storage, token: str = "", path: str = CAL) -> tuple[str, set[str]]:
    with storage.acquire_lock("r", "alice", path=path):
        new_token, changed = discover_one(storage, path).sync(token)
        return new_token, set(changed)


def item_count(storage: Storage) -> int:
    with storage.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(items)).scalar_one())


def resources(text_: str) -> dict[str, str]:
    return {resource.uid: resource.text for resource in icsfile.split(text_)}


@pytest.fixture
def storage(database_url: str, tmp_path: Path, engine: Any) -> Storage:
    return make_storage(database_url, tmp_path)


@pytest.fixture
def calendar(storage: Storage) -> Storage:
    """``storage`` with alice's empty calendar /alice/cal/."""
    make_calendar(storage, **{"D:displayname": "Calendar"})
    return storage


# --- filters -------------------------------------------------------------------------


def parse_filter(inner: str) -> ET.Element:
    return ET.fromstring(f'<C:filter xmlns:C="{CALDAV_NS}">{inner}</C:filter>')


def time_range(start: str | None, end: str | None) -> str:
    attrs = "".join(
        f' {name}="{value}"' for name, value in (("start", start), ("end", end)) if value
    )
    return f"<C:time-range{attrs}/>"


def filter_shapes(start: str | None, end: str | None) -> dict[str, str]:
    """Every shape of calendar-query filter a client sends with one window."""
    tr = time_range(start, end)
    return {
        "event": f'<C:comp-filter name="VCALENDAR"><C:comp-filter name="VEVENT">{tr}'
        "</C:comp-filter></C:comp-filter>",
        "todo": f'<C:comp-filter name="VCALENDAR"><C:comp-filter name="VTODO">{tr}'
        "</C:comp-filter></C:comp-filter>",
        "journal": f'<C:comp-filter name="VCALENDAR"><C:comp-filter name="VJOURNAL">{tr}'
        "</C:comp-filter></C:comp-filter>",
        "calendar-level": f'<C:comp-filter name="VCALENDAR">{tr}</C:comp-filter>',
        "event-and-text": '<C:comp-filter name="VCALENDAR"><C:comp-filter name="VEVENT">'
        f'{tr}<C:prop-filter name="SUMMARY"><C:text-match>meeting</C:text-match>'
        "</C:prop-filter></C:comp-filter></C:comp-filter>",
    }


FILTERS_WITHOUT_WINDOW = {
    "empty": "",
    "calendar": '<C:comp-filter name="VCALENDAR"/>',
    "all-events": '<C:comp-filter name="VCALENDAR"><C:comp-filter name="VEVENT"/></C:comp-filter>',
    "all-todos": '<C:comp-filter name="VCALENDAR"><C:comp-filter name="VTODO"/></C:comp-filter>',
    "no-todos": '<C:comp-filter name="VCALENDAR"><C:comp-filter name="VTODO">'
    "<C:is-not-defined/></C:comp-filter></C:comp-filter>",
    "text-only": '<C:comp-filter name="VCALENDAR"><C:comp-filter name="VEVENT">'
    '<C:prop-filter name="SUMMARY"><C:text-match>birthday</C:text-match></C:prop-filter>'
    "</C:comp-filter></C:comp-filter>",
    # RFC 4791 9.9 wants start or end; Radicale's filter matches nothing without both.
    "time-range-without-bounds": '<C:comp-filter name="VCALENDAR">'
    '<C:comp-filter name="VEVENT"><C:time-range/></C:comp-filter></C:comp-filter>',
}


def ts(*args: int) -> int:
    return int(datetime(*args, tzinfo=UTC).timestamp())  # type: ignore[misc]


def stamp(value: datetime) -> str:
    return value.strftime("%Y%m%dT%H%M%SZ")


def windows() -> list[tuple[str | None, str | None]]:
    """Days and weeks around the data, far-future windows (beyond the index horizon of
    1100 days and beyond any small horizon), the past, open-ended and random ones."""
    result: list[tuple[str | None, str | None]] = []
    day0 = datetime(2026, 11, 18, tzinfo=UTC)
    for n in range(30):
        day = day0 + timedelta(days=n)
        result.append((stamp(day), stamp(day + timedelta(days=1))))
    for n in range(6):
        week = datetime(2026, 11, 16, tzinfo=UTC) + timedelta(weeks=n)
        result.append((stamp(week), stamp(week + timedelta(weeks=1))))
    result += [
        ("20261123T103000Z", "20261123T103001Z"),  # one second inside an event
        ("20261123T110000Z", "20261123T120000Z"),  # starts where an event ends
        ("20261123T090000Z", "20261123T100000Z"),  # ends where an event starts
        ("20261202T120000Z", "20261202T120001Z"),  # the instant
        ("20261020T000000Z", "20261021T000000Z"),  # override moved before its series
        ("20270301T000000Z", "20270302T000000Z"),  # override moved to March
        ("20270105T000000Z", "20270106T000000Z"),  # an RDATE
        ("20270314T000000Z", "20270315T000000Z"),  # New York changes to summer time
        ("20270315T040000Z", "20270315T140000Z"),
        ("20290601T000000Z", "20290608T000000Z"),
        ("20300603T000000Z", "20300610T000000Z"),  # beyond the default horizon
        ("20350315T000000Z", "20350316T000000Z"),  # a birthday years ahead
        ("20350314T120000Z", "20350315T000100Z"),
        ("20420101T000000Z", "20420108T000000Z"),
        ("20100610T000000Z", "20100611T000000Z"),  # the past
        ("19950315T000000Z", "19950316T000000Z"),
        ("20000101T000000Z", "20300101T000000Z"),  # thirty years at once
        ("20261125T000000Z", "20261124T000000Z"),  # end before start
        ("20261201T000000Z", None),  # open end
        (None, "20100101T000000Z"),  # open start
        (None, "20261124T000000Z"),
    ]
    rng = random.Random(20261121)
    base = datetime(2025, 6, 1, tzinfo=UTC)
    for _ in range(30):
        start = base + timedelta(minutes=rng.randrange(0, 6 * 365 * 24 * 60))
        length = timedelta(minutes=rng.choice([1, 30, 60, 600, 1440, 10080, 40000, 60000]))
        result.append((stamp(start), stamp(start + length)))
    return result


def all_filters() -> list[tuple[str, str]]:
    result = list(FILTERS_WITHOUT_WINDOW.items())
    for start, end in windows():
        for shape, xml in filter_shapes(start, end).items():
            result.append((f"{shape} {start}..{end}", xml))
    return result


#: Radicale's verdicts, by (item ETag, filter): the same on every engine and config.
_TRUTH: dict[tuple[str, str], bool] = {}


def radicale_matches(item: radicale_item.Item, filter_xml: str) -> bool:
    key = (item.etag, filter_xml)
    if key not in _TRUTH:
        _TRUTH[key] = all(
            radicale_test_filter("VCALENDAR", item, f) for f in [parse_filter(filter_xml)]
        )
    return _TRUTH[key]


def load_mixed(storage: Storage) -> None:
    make_calendar(storage)
    with storage.acquire_lock("w", "alice", path=CAL):
        collection = discover_one(storage, CAL)
        for uid, text_ in resources(MIXED).items():
            collection.upload(uid + ".ics", prepare(text_))


def check_filter_agreement(storage: Storage) -> int:
    """Compare ``get_filtered`` with Radicale's filter for every filter; returns how
    many (filter, item) pairs the storage claimed as exact."""
    with storage.acquire_lock("r", "alice", path=CAL):
        collection = discover_one(storage, CAL)
        everything = list(collection.get_all())
        assert len(everything) == len(resources(MIXED))
        claimed_exact = 0
        problems: list[str] = []
        for label, filter_xml in all_filters():
            returned = list(collection.get_filtered([parse_filter(filter_xml)]))
            hrefs = [item.href for item, _ in returned]
            if len(hrefs) != len(set(hrefs)):
                problems.append(f"{label}: duplicates {sorted(hrefs)}")
            true_matches = {i.href for i in everything if radicale_matches(i, filter_xml)}
            missing = true_matches - set(hrefs)
            if missing:
                problems.append(f"{label}: missing {sorted(missing)}")
            for item, exact in returned:
                if exact:
                    claimed_exact += 1
                    if item.href not in true_matches:
                        problems.append(f"{label}: {item.href} claimed but does not match")
        assert not problems, "\n".join(problems[:40])
    return claimed_exact


# --- time-range pre-filter ------------------------------------------------------------


@pytest.mark.parametrize(
    "options",
    [
        pytest.param({}, id="default-index"),
        pytest.param({"index_horizon_days": "1"}, id="one-day-horizon"),
        pytest.param({"index_max_instances": "3"}, id="three-instances"),
    ],
)
def test_get_filtered_agrees_with_radicale_filter(
    database_url: str, tmp_path: Path, engine: Any, options: dict[str, str]
) -> None:
    storage = make_storage(database_url, tmp_path, **options)
    load_mixed(storage)
    claimed = check_filter_agreement(storage)
    # The index must do real work: exact claims spare Radicale re-parsing items.
    assert claimed > 100


def test_index_horizon_limits_materialised_instances(
    database_url: str, tmp_path: Path, engine: Any
) -> None:
    wide = make_storage(database_url, tmp_path)
    narrow = make_storage(database_url, tmp_path, index_horizon_days="1")
    make_calendar(wide)
    # the horizon moves with the clock: a series that began ten days ago
    begin = datetime.now(UTC).replace(hour=9, minute=0, second=0, microsecond=0)
    begin -= timedelta(days=10)
    daily = ics(
        "daily",
        stamp(begin),
        stamp(begin + timedelta(minutes=30)),
        "Stand-up",
        "RRULE:FREQ=DAILY\r\n",
    )
    put(wide, CAL, "wide.ics", daily)
    put(narrow, CAL, "narrow.ics", daily.replace("UID:daily", "UID:daily-2"))
    with engine.connect() as conn:
        counts = dict(
            conn.execute(
                select(items.c.href, func.count(instances.c.item_id))
                .join(instances, instances.c.item_id == items.c.id)
                .group_by(items.c.href)
            ).all()
        )
        until = dict(conn.execute(select(items.c.href, items.c.indexed_until)).all())
    assert counts["narrow.ics"] < 40 < 1000 < counts["wide.ics"]
    assert until["narrow.ics"] is not None and until["wide.ics"] is not None
    # Beyond what either indexed, both are still found (a candidate to be checked).
    far = begin + timedelta(days=3650)
    f = parse_filter(filter_shapes(stamp(far), stamp(far + timedelta(days=1)))["event"])
    with wide.acquire_lock("r", "alice", path=CAL):
        found = {i.href for i, _ in discover_one(wide, CAL).get_filtered([f])}
    assert found == {"wide.ics", "narrow.ics"}


def test_get_filtered_with_expand_window_returns_candidates_of_the_window(
    storage: Storage,
) -> None:
    """A calendar-query with expand reaches the storage without its time-range; the
    front hands the window over in ``expand_window``."""
    load_mixed(storage)
    no_range = parse_filter(FILTERS_WITHOUT_WINDOW["all-events"])
    window = ("20261123T000000Z", "20261124T000000Z")
    with_range = filter_shapes(*window)["event"]
    token = expand_window.set((ts(2026, 11, 23), ts(2026, 11, 24)))  # the same window
    try:
        with storage.acquire_lock("r", "alice", path=CAL):
            collection = discover_one(storage, CAL)
            returned = list(collection.get_filtered([no_range]))
            everything = list(collection.get_all())
    finally:
        expand_window.reset(token)
    hrefs = {item.href for item, _ in returned}
    truth = {i.href for i in everything if radicale_matches(i, with_range)}
    assert truth <= hrefs
    assert "past-2010.ics" not in hrefs and "with-rdate.ics" not in hrefs
    assert {i.component_name for i, _ in returned} == {"VEVENT"}
    # What is claimed exact matches the filter handed over (Radicale then applies the
    # window to the expanded instances).
    no_range_xml = FILTERS_WITHOUT_WINDOW["all-events"]
    assert all(radicale_matches(i, no_range_xml) for i, exact in returned if exact)


# --- discovery and items --------------------------------------------------------------


def test_discover_root_principal_calendar_and_item(calendar: Storage) -> None:
    put(calendar, CAL, "a.ics", ics("a"))
    with calendar.acquire_lock("r", "alice", path="/"):
        root = discover_one(calendar, "/")
        assert root is not None and root.path == ""
        assert discover_one(calendar, "/nobody/") is None
        assert discover_one(calendar, "/alice/cal/missing.ics") is None
        home = list(calendar.discover("/alice/", depth="1"))
        assert [c.path for c in home] == ["alice", "alice/cal"]
        assert home[0].tag == "" and home[1].tag == "VCALENDAR"
        depth1 = list(calendar.discover(CAL, depth="1"))
        assert depth1[0].path == "alice/cal"
        assert [i.href for i in depth1[1:]] == ["a.ics"]
        item = discover_one(calendar, "/alice/cal/a.ics")
    assert isinstance(item, radicale_item.Item)
    assert item.href == "a.ics" and item.uid == "a" and item.component_name == "VEVENT"
    assert item.etag == radicale_item.get_etag(item.serialize())
    assert item.etag.startswith('"') and item.etag.endswith('"')
    assert item.time_range == (ts(2026, 11, 23, 10), ts(2026, 11, 23, 11))
    assert "SUMMARY:Event" in item.serialize()
    assert item.last_modified.endswith(" GMT")


def test_get_multi_returns_none_for_missing_and_ignores_duplicates(calendar: Storage) -> None:
    put(calendar, CAL, "a.ics", ics("a"))
    put(calendar, CAL, "b.ics", ics("b"))
    with calendar.acquire_lock("r", "alice", path=CAL):
        collection = discover_one(calendar, CAL)
        result = list(collection.get_multi(["b.ics", "nope.ics", "a.ics", "b.ics"]))
        assert list(collection.get_multi([])) == []
    by_href = dict(result)
    assert sorted(by_href) == ["a.ics", "b.ics", "nope.ics"]
    assert by_href["nope.ics"] is None
    assert by_href["a.ics"].uid == "a" and by_href["b.ics"].uid == "b"


def test_get_all_pages_through_large_collections(calendar: Storage) -> None:
    with calendar.acquire_lock("w", "alice", path=CAL):
        collection = discover_one(calendar, CAL)
        for n in range(2100):  # more than two pages
            collection.upload(f"e{n}.ics", prepare(ics(f"e{n}")))
    hrefs = [item.href for item in _all(calendar)]
    assert len(hrefs) == len(set(hrefs)) == 2100


def _all(storage: Storage) -> Iterator[radicale_item.Item]:
    with storage.acquire_lock("r", "alice", path=CAL):
        yield from discover_one(storage, CAL).get_all()


def test_has_uid_is_scoped_to_the_collection(calendar: Storage) -> None:
    make_calendar(calendar, "/alice/other/")
    put(calendar, CAL, "a.ics", ics("uid-a"))
    with calendar.acquire_lock("r", "alice", path=CAL):
        assert discover_one(calendar, CAL).has_uid("uid-a")
        assert not discover_one(calendar, CAL).has_uid("uid-b")
        assert not discover_one(calendar, "/alice/other/").has_uid("uid-a")
    with calendar.acquire_lock("w", "alice", path=CAL):
        discover_one(calendar, CAL).delete("a.ics")
    with calendar.acquire_lock("r", "alice", path=CAL):
        assert not discover_one(calendar, CAL).has_uid("uid-a")


# --- ctag and etag ------------------------------------------------------------------------


def test_ctag_changes_on_every_write_and_never_on_reads(calendar: Storage) -> None:
    make_calendar(calendar, "/alice/other/")
    seen = [ctag(calendar)]

    def after_write() -> None:
        new = ctag(calendar)
        assert new not in seen, "a write left the ctag unchanged"
        seen.append(new)

    first = put(calendar, CAL, "a.ics", ics("a"))
    after_write()
    second = put(calendar, CAL, "a.ics", ics("a", summary="Changed"))
    after_write()
    assert first.etag != second.etag
    same = put(calendar, CAL, "a.ics", ics("a", summary="Changed"))
    after_write()  # rewriting identical data is still a write
    assert same.etag == second.etag
    put(calendar, CAL, "b.ics", ics("b"))
    after_write()
    with calendar.acquire_lock("w", "alice", path=CAL):
        discover_one(calendar, CAL).delete("b.ics")
    after_write()
    with calendar.acquire_lock("w", "alice", path=CAL):
        collection = discover_one(calendar, CAL)
        collection.set_meta({**collection.get_meta(), "D:displayname": "Renamed"})
    after_write()
    put(calendar, "/alice/other/", "o.ics", ics("o"))
    with calendar.acquire_lock("w", "alice", path="/alice/other/o.ics", to_path=CAL + "o.ics"):
        ((_, moved),) = discover_one(calendar, "/alice/other/").get_multi(["o.ics"])
        calendar.move(moved, discover_one(calendar, CAL), "o.ics")
    after_write()
    with calendar.acquire_lock("w", "alice", path=CAL):
        calendar.create_collection(CAL, props={"tag": "VCALENDAR"}, items=[prepare(ics("n"))])
    after_write()

    current = ctag(calendar)
    last_modified = None
    for _ in range(2):
        with calendar.acquire_lock("r", "alice", path=CAL):
            collection = discover_one(calendar, CAL)
            list(collection.get_all())
            list(collection.get_multi(["n.ics", "x.ics"]))
            list(
                collection.get_filtered(
                    [parse_filter(filter_shapes("20261123T000000Z", "20261124T000000Z")["event"])]
                )
            )
            collection.has_uid("n")
            collection.sync("")
            collection.get_meta()
            list(calendar.discover(CAL, depth="1"))
            assert collection.etag == current
            if last_modified is not None:
                assert collection.last_modified == last_modified
            last_modified = collection.last_modified
    assert ctag(calendar) == current


def test_item_etag_is_the_hash_of_the_stored_text(calendar: Storage) -> None:
    stored = put(calendar, CAL, "a.ics", ics("a", summary="Ünïcödé ☃"))
    assert stored.etag == radicale_item.get_etag(stored.serialize())
    assert "Ünïcödé ☃" in stored.serialize()


# --- sync (RFC 6578) --------------------------------------------------------------------


def test_initial_sync_lists_every_href(calendar: Storage) -> None:
    for name in ("a", "b", "c"):
        put(calendar, CAL, f"{name}.ics", ics(name))
    token, changed = sync(calendar)
    assert changed == {"a.ics", "b.ics", "c.ics"}
    assert token.startswith("http")
    assert sync(calendar, token) == (token, set())


def test_incremental_sync_lists_exactly_created_modified_and_deleted(calendar: Storage) -> None:
    for name in ("keep", "change", "remove"):
        put(calendar, CAL, f"{name}.ics", ics(name))
    token, _ = sync(calendar)
    put(calendar, CAL, "change.ics", ics("change", summary="Changed"))
    put(calendar, CAL, "new.ics", ics("new"))
    with calendar.acquire_lock("w", "alice", path=CAL):
        discover_one(calendar, CAL).delete("remove.ics")
    new_token, changed = sync(calendar, token)
    assert changed == {"change.ics", "new.ics", "remove.ics"}
    assert new_token != token
    with calendar.acquire_lock("r", "alice", path=CAL):
        result = dict(discover_one(calendar, CAL).get_multi(sorted(changed)))
    assert result["remove.ics"] is None
    assert result["change.ics"] is not None and "Changed" in result["change.ics"].serialize()
    assert result["new.ics"] is not None
    # Nothing happened since: an empty change set and the same token.
    assert sync(calendar, new_token) == (new_token, set())
    # The older token still works and still sees the same changes.
    assert sync(calendar, token) == (new_token, changed)


def test_sync_reports_a_created_then_deleted_href(calendar: Storage) -> None:
    token, _ = sync(calendar)
    put(calendar, CAL, "brief.ics", ics("brief"))
    with calendar.acquire_lock("w", "alice", path=CAL):
        discover_one(calendar, CAL).delete("brief.ics")
    _, changed = sync(calendar, token)
    assert changed == {"brief.ics"}


def test_sync_reports_both_sides_of_a_move(calendar: Storage) -> None:
    make_calendar(calendar, "/alice/other/")
    put(calendar, CAL, "a.ics", ics("a"))
    source_token, _ = sync(calendar)
    target_token, _ = sync(calendar, path="/alice/other/")
    with calendar.acquire_lock("w", "alice", path=CAL + "a.ics", to_path="/alice/other/b.ics"):
        ((_, item),) = discover_one(calendar, CAL).get_multi(["a.ics"])
        calendar.move(item, discover_one(calendar, "/alice/other/"), "b.ics")
    assert sync(calendar, source_token)[1] == {"a.ics"}
    assert sync(calendar, target_token, path="/alice/other/")[1] == {"b.ics"}


@pytest.mark.parametrize(
    "bad_token",
    [
        "garbage",
        "http://calserver.org/ns/sync/",
        "http://calserver.org/ns/sync/ffff-1",
        "http://radicale.org/ns/sync/0123456789abcdef",
        "http://calserver.org/ns/sync/abc-99999999999999999999",
    ],
)
def test_unknown_sync_tokens_are_refused(calendar: Storage, bad_token: str) -> None:
    with pytest.raises(ValueError):
        sync(calendar, bad_token)


def test_sync_token_of_another_collection_is_refused(calendar: Storage) -> None:
    make_calendar(calendar, "/alice/other/")
    foreign, _ = sync(calendar, path="/alice/other/")
    with pytest.raises(ValueError):
        sync(calendar, foreign)


def test_sync_token_from_the_future_is_refused(calendar: Storage) -> None:
    token, _ = sync(calendar)
    prefix, _, revision = token.rpartition("-")
    with pytest.raises(ValueError):
        sync(calendar, f"{prefix}-{int(revision) + 5}")


def test_sync_token_of_a_replaced_or_recreated_collection_is_refused(calendar: Storage) -> None:
    put(calendar, CAL, "a.ics", ics("a"))
    token, _ = sync(calendar)
    calendar.create_collection(CAL, props={"tag": "VCALENDAR"}, items=[prepare(ics("a"))])
    with pytest.raises(ValueError):
        sync(calendar, token)
    token, _ = sync(calendar)
    with calendar.acquire_lock("w", "alice", path=CAL):
        discover_one(calendar, CAL).delete()
    make_calendar(calendar)
    with pytest.raises(ValueError):
        sync(calendar, token)


def test_sync_tokens_older_than_the_pruned_change_log_are_refused(
    database_url: str, tmp_path: Path, engine: Any
) -> None:
    storage = make_storage(database_url, tmp_path, max_sync_token_age="0")
    make_calendar(storage)
    put(storage, CAL, "a.ics", ics("a"))
    old_token, _ = sync(storage)
    put(storage, CAL, "b.ics", ics("b"))
    current_token, _ = sync(storage)
    assert sync(storage, old_token)[1] == {"b.ics"}
    assert storage.prune_changes() > 0
    with pytest.raises(ValueError):
        sync(storage, old_token)
    # The newest token is still good, and so are tokens issued after pruning.
    assert sync(storage, current_token) == (current_token, set())
    put(storage, CAL, "c.ics", ics("c"))
    assert sync(storage, current_token)[1] == {"c.ics"}


def test_prune_changes_keeps_recent_history(calendar: Storage) -> None:
    put(calendar, CAL, "a.ics", ics("a"))
    token, _ = sync(calendar)
    put(calendar, CAL, "b.ics", ics("b"))
    assert calendar.prune_changes() == 0  # default age: 30 days
    assert sync(calendar, token)[1] == {"b.ics"}


# --- atomicity ---------------------------------------------------------------------------


def _snapshot(storage: Storage, path: str = CAL) -> tuple[str, dict[str, str], dict[str, str]]:
    with storage.acquire_lock("r", "alice", path=path):
        collection = discover_one(storage, path)
        return (
            collection.etag,
            dict(collection.get_meta()),
            {i.href: i.etag for i in collection.get_all()},
        )


def _items_then_failure(exc: Exception) -> Iterator[radicale_item.Item]:
    yield prepare(ics("new-1"))
    yield prepare(ics("new-2"))
    raise exc


def test_whole_collection_replace_replaces_items_and_props(calendar: Storage) -> None:
    put(calendar, CAL, "old.ics", ics("old"))
    collection, _, new_hrefs = calendar.create_collection(
        CAL,
        props={"tag": "VCALENDAR", "D:displayname": "Imported"},
        items=[prepare(ics("new-1")), prepare(ics("new-2"))],
    )
    assert sorted(new_hrefs) == ["new-1.ics", "new-2.ics"]
    assert collection.path == "alice/cal" and collection.tag == "VCALENDAR"
    assert hrefs_in(calendar) == {"new-1.ics", "new-2.ics"}
    _, props, _ = _snapshot(calendar)
    assert props == {"tag": "VCALENDAR", "D:displayname": "Imported"}


def test_whole_collection_replace_failing_midway_keeps_the_old_collection(
    calendar: Storage,
) -> None:
    put(calendar, CAL, "old.ics", ics("old"))
    before = _snapshot(calendar)
    with pytest.raises(RuntimeError):
        calendar.create_collection(
            CAL,
            props={"tag": "VCALENDAR", "D:displayname": "Broken"},
            items=_items_then_failure(RuntimeError("client went away")),
        )
    assert _snapshot(calendar) == before


def test_whole_collection_replace_failing_inside_write_lock_is_undone_by_savepoint(
    calendar: Storage,
) -> None:
    """Radicale catches ValueError inside the lock and commits what else was done."""
    put(calendar, CAL, "old.ics", ics("old"))
    _, props_before, items_before = _snapshot(calendar)
    with calendar.acquire_lock("w", "alice", path=CAL):
        with pytest.raises(ValueError):
            calendar.create_collection(
                CAL,
                props={"tag": "VCALENDAR", "D:displayname": "Broken"},
                items=_items_then_failure(ValueError("bad item")),
            )
        discover_one(calendar, CAL).upload("later.ics", prepare(ics("later")))
    _, props_after, items_after = _snapshot(calendar)
    assert props_after == props_before
    assert set(items_after) == set(items_before) | {"later.ics"}


def test_whole_collection_replace_with_duplicate_uids_changes_nothing(calendar: Storage) -> None:
    put(calendar, CAL, "old.ics", ics("old"))
    before = _snapshot(calendar)
    duplicate = prepare(ics("dup"))
    duplicate.href = "other.ics"
    with pytest.raises(ValueError):
        calendar.create_collection(
            CAL, props={"tag": "VCALENDAR"}, items=[prepare(ics("dup")), duplicate]
        )
    assert _snapshot(calendar) == before


def test_upload_with_a_uid_used_by_another_href_is_refused_and_changes_nothing(
    calendar: Storage,
) -> None:
    put(calendar, CAL, "a.ics", ics("shared-uid"))
    before = _snapshot(calendar)
    token, _ = sync(calendar)
    with calendar.acquire_lock("w", "alice", path=CAL + "b.ics"), pytest.raises(ValueError):
        discover_one(calendar, CAL).upload("b.ics", prepare(ics("shared-uid")))
    assert _snapshot(calendar) == before
    assert sync(calendar, token) == (token, set())


def test_failed_write_inside_write_lock_leaves_nothing_but_keeps_other_writes(
    calendar: Storage,
) -> None:
    put(calendar, CAL, "a.ics", ics("a"))
    token, _ = sync(calendar)
    with calendar.acquire_lock("w", "alice", path=CAL):
        collection = discover_one(calendar, CAL)
        collection.upload("b.ics", prepare(ics("b")))
        with pytest.raises(ValueError):
            collection.upload("c.ics", prepare(ics("a")))  # UID of a.ics
        with pytest.raises(radicale_storage.ComponentNotFoundError):
            collection.delete("missing.ics")
        collection.upload("d.ics", prepare(ics("d")))
    assert hrefs_in(calendar) == {"a.ics", "b.ics", "d.ics"}
    assert sync(calendar, token)[1] == {"b.ics", "d.ics"}
    with calendar.engine.connect() as conn:
        logged = conn.execute(select(changes.c.href)).scalars().all()
    assert "c.ics" not in logged and "missing.ics" not in logged


def test_exception_inside_write_lock_rolls_back_the_whole_request(calendar: Storage) -> None:
    before = _snapshot(calendar)
    with pytest.raises(RuntimeError), calendar.acquire_lock("w", "alice", path=CAL):
        discover_one(calendar, CAL).upload("a.ics", prepare(ics("a")))
        raise RuntimeError("handler crashed")
    assert _snapshot(calendar) == before


def test_write_under_a_read_lock_is_refused(calendar: Storage) -> None:
    with calendar.acquire_lock("r", "alice", path=CAL), pytest.raises(RuntimeError):
        discover_one(calendar, CAL).upload("a.ics", prepare(ics("a")))
    assert hrefs_in(calendar) == set()


# --- collections, meta, move, delete ---------------------------------------------------


def test_meta_round_trips_and_survives_rediscovery(calendar: Storage) -> None:
    props = {
        "tag": "VCALENDAR",
        "D:displayname": "Wörk 日本",
        "ICAL:calendar-color": "#ff0000ff",
        "C:calendar-description": "line one\nline two",
    }
    with calendar.acquire_lock("w", "alice", path=CAL):
        discover_one(calendar, CAL).set_meta(props)
    with calendar.acquire_lock("r", "alice", path=CAL):
        collection = discover_one(calendar, CAL)
        assert collection.get_meta() == props
        assert collection.get_meta("D:displayname") == "Wörk 日本"
        assert collection.get_meta("D:nothing") is None
        assert collection.tag == "VCALENDAR"


def test_create_collection_without_props_keeps_an_existing_one(calendar: Storage) -> None:
    put(calendar, CAL, "a.ics", ics("a"))
    before = _snapshot(calendar)
    calendar.create_collection(CAL)
    assert _snapshot(calendar) == before


def test_create_collection_creates_missing_parents(storage: Storage) -> None:
    storage.create_collection("/carol/folder/cal/", props={"tag": "VCALENDAR"})
    with storage.acquire_lock("r", "carol", path="/carol/"):
        assert [c.path for c in storage.discover("/carol/", depth="1")] == ["carol", "carol/folder"]
        assert discover_one(storage, "/carol/folder/cal/").tag == "VCALENDAR"


def test_move_between_collections_keeps_item_and_frees_source(calendar: Storage) -> None:
    make_calendar(calendar, "/alice/other/")
    original = put(calendar, CAL, "a.ics", ics("a"))
    source_ctag, target_ctag = ctag(calendar), ctag(calendar, "/alice/other/")
    with calendar.acquire_lock("w", "alice", path=CAL + "a.ics", to_path="/alice/other/b.ics"):
        ((_, item),) = discover_one(calendar, CAL).get_multi(["a.ics"])
        calendar.move(item, discover_one(calendar, "/alice/other/"), "b.ics")
    assert hrefs_in(calendar) == set()
    assert hrefs_in(calendar, "/alice/other/") == {"b.ics"}
    assert ctag(calendar) != source_ctag and ctag(calendar, "/alice/other/") != target_ctag
    with calendar.acquire_lock("r", "alice", path="/alice/other/"):
        target = discover_one(calendar, "/alice/other/")
        ((_, moved),) = target.get_multi(["b.ics"])
        assert moved.etag == original.etag and moved.uid == "a"
        assert target.has_uid("a")
        assert not discover_one(calendar, CAL).has_uid("a")
        # the time index moved along
        found = {
            i.href
            for i, _ in target.get_filtered(
                [parse_filter(filter_shapes("20261123T000000Z", "20261124T000000Z")["event"])]
            )
        }
        assert found == {"b.ics"}
    with calendar.acquire_lock("r", "alice", path=CAL):
        assert (
            list(
                discover_one(calendar, CAL).get_filtered(
                    [parse_filter(filter_shapes("20261123T000000Z", "20261124T000000Z")["event"])]
                )
            )
            == []
        )


def test_move_within_a_collection_renames(calendar: Storage) -> None:
    put(calendar, CAL, "a.ics", ics("a"))
    token, _ = sync(calendar)
    with calendar.acquire_lock("w", "alice", path=CAL + "a.ics", to_path=CAL + "b.ics"):
        collection = discover_one(calendar, CAL)
        ((_, item),) = collection.get_multi(["a.ics"])
        calendar.move(item, collection, "b.ics")
    assert hrefs_in(calendar) == {"b.ics"}
    assert sync(calendar, token)[1] == {"a.ics", "b.ics"}


def test_move_onto_an_existing_href_overwrites_it(calendar: Storage) -> None:
    make_calendar(calendar, "/alice/other/")
    put(calendar, CAL, "a.ics", ics("a"))
    put(calendar, "/alice/other/", "t.ics", ics("t"))
    with calendar.acquire_lock("w", "alice", path=CAL + "a.ics", to_path="/alice/other/t.ics"):
        ((_, item),) = discover_one(calendar, CAL).get_multi(["a.ics"])
        calendar.move(item, discover_one(calendar, "/alice/other/"), "t.ics")
    with calendar.acquire_lock("r", "alice", path="/alice/other/"):
        target = discover_one(calendar, "/alice/other/")
        ((_, moved),) = target.get_multi(["t.ics"])
        assert moved.uid == "a"
        assert not target.has_uid("t")


def test_move_with_a_uid_conflict_in_the_target_changes_nothing(calendar: Storage) -> None:
    make_calendar(calendar, "/alice/other/")
    put(calendar, CAL, "a.ics", ics("same"))
    put(calendar, "/alice/other/", "x.ics", ics("same"))
    before = _snapshot(calendar), _snapshot(calendar, "/alice/other/")
    with calendar.acquire_lock("w", "alice", path=CAL + "a.ics", to_path="/alice/other/y.ics"):
        ((_, item),) = discover_one(calendar, CAL).get_multi(["a.ics"])
        with pytest.raises(ValueError):
            calendar.move(item, discover_one(calendar, "/alice/other/"), "y.ics")
    assert (_snapshot(calendar), _snapshot(calendar, "/alice/other/")) == before


def test_delete_of_a_collection_removes_children_and_items(storage: Storage) -> None:
    make_calendar(storage, "/alice/keep/")
    storage.create_collection("/alice/folder/cal/", props={"tag": "VCALENDAR"})
    put(storage, "/alice/folder/cal/", "a.ics", ics("a"))
    put(storage, "/alice/keep/", "k.ics", ics("k"))
    with storage.acquire_lock("w", "alice", path="/alice/folder/"):
        discover_one(storage, "/alice/folder/").delete()
    with storage.acquire_lock("r", "alice", path="/alice/"):
        assert discover_one(storage, "/alice/folder/") is None
        assert discover_one(storage, "/alice/folder/cal/") is None
        assert discover_one(storage, "/alice/folder/cal/a.ics") is None
        assert [c.path for c in storage.discover("/alice/", depth="1")] == ["alice", "alice/keep"]
    with storage.engine.connect() as conn:
        assert conn.execute(select(items.c.href)).scalars().all() == ["k.ics"]
        left = conn.execute(select(func.count()).select_from(instances)).scalar_one()
        assert left == 1
        assert (
            conn.execute(
                select(func.count())
                .select_from(collections)
                .where(collections.c.path.like("alice/folder%"))
            ).scalar_one()
            == 0
        )


def test_delete_of_a_missing_item_raises_component_not_found(calendar: Storage) -> None:
    with (
        calendar.acquire_lock("w", "alice", path=CAL),
        pytest.raises(radicale_storage.ComponentNotFoundError),
    ):
        discover_one(calendar, CAL).delete("missing.ics")


def test_unicode_paths_and_hrefs(storage: Storage) -> None:
    path = "/zoë/Kalender ü 日本/"
    storage.create_collection("/zoë/")
    storage.create_collection(path, props={"tag": "VCALENDAR", "D:displayname": "日本"})
    href = "événement ☃ 🎉.ics"
    with storage.acquire_lock("w", "zoë", path=path + href):
        discover_one(storage, path).upload(href, prepare(ics("ü-uid ☃"), path.strip("/")))
    with storage.acquire_lock("r", "zoë", path=path):
        collection = discover_one(storage, path)
        assert collection.path == "zoë/Kalender ü 日本"
        assert [c.path for c in storage.discover("/zoë/", depth="1")][1] == collection.path
        item = discover_one(storage, path + href)
        assert item is not None and item.href == href and item.uid == "ü-uid ☃"
        assert collection.has_uid("ü-uid ☃")
        assert dict(collection.get_multi([href]))[href] is not None
        assert collection.sync("")[1] and set(collection.sync("")[1]) == {href}
    # LIKE wildcards in a name do not reach other collections
    storage.create_collection("/zoë/a_b%/", props={"tag": "VCALENDAR"})
    storage.create_collection("/zoë/axb/", props={"tag": "VCALENDAR"})
    with storage.acquire_lock("w", "zoë", path="/zoë/a_b%/"):
        discover_one(storage, "/zoë/a_b%/").delete()
    with storage.acquire_lock("r", "zoë", path="/zoë/axb/"):
        assert discover_one(storage, "/zoë/axb/") is not None


# --- verify ------------------------------------------------------------------------------


def test_verify_passes_on_consistent_data_and_fails_on_tampered_rows(calendar: Storage) -> None:
    put(calendar, CAL, "a.ics", ics("a"))
    assert calendar.verify() is True
    with db.write_connection(calendar.engine) as conn, conn.begin():
        conn.execute(text("UPDATE items SET text = replace(text, 'Event', 'Tampered')"))
    assert calendar.verify() is False


def test_schema_upgrade_gives_the_change_log_who_saw_what_and_starts_history_afresh(
    database_url: str, tmp_path: Path
) -> None:
    """A database from before the change log recorded who saw each change (issue 12):
    its unlabelled rows cannot say it, so they go, and every older token is refused."""
    storage = make_storage(database_url, tmp_path)
    make_calendar(storage)
    put(storage, CAL, "a.ics", ics("a"))
    old_token, _ = sync(storage)
    put(storage, CAL, "b.ics", ics("b"))
    with storage.engine.begin() as conn:
        conn.execute(changes.update().values(before_level=None, after_level=None))
        version = migrations.MIGRATIONS.index(migrations._v9_sync_visibility)
        conn.execute(
            db.models.meta.update()
            .where(db.models.meta.c.key == "schema_version")
            .values(value=str(version))
        )
    assert db.upgrade(storage.engine) == (version, db.LATEST)
    with storage.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(changes)).scalar_one() == 0
    with pytest.raises(ValueError):
        sync(storage, old_token)
    token, everything = sync(storage)
    assert everything == {"a.ics", "b.ics"}
    put(storage, CAL, "c.ics", ics("c"))
    assert sync(storage, token)[1] == {"c.ics"}
