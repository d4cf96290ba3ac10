"""The python `caldav` library (a real client) against a live server.

Usage: caldav_check.py --url URL --user U --password P

Discovery, MKCALENDAR, PUT of events, time-range search (client- and
server-side expansion of a recurring series), lookup by UID, update,
RFC 6578 sync-collection (changes and deletions), DELETE of an event and of
the calendar. Prints ok/not ok lines (see davclient.Report).
"""

from __future__ import annotations

import argparse
import datetime as dt
import functools
import traceback
from collections.abc import Callable
from typing import Any

from davclient import Report

R = Report("caldav")

SERIES = """BEGIN:VCALENDAR
VERSION:2.0
PRODID:-//calserver//compat caldav//EN
BEGIN:VEVENT
UID:pycaldav-series@compat.calserver.test
DTSTAMP:20260101T000000Z
DTSTART:20260302T100000Z
DTEND:20260302T110000Z
RRULE:FREQ=WEEKLY;COUNT=10
SUMMARY:Wöchentlich 📅
END:VEVENT
END:VCALENDAR
"""

SINGLE = """BEGIN:VCALENDAR
VERSION:2.0
PRODID:-//calserver//compat caldav//EN
BEGIN:VEVENT
UID:pycaldav-single@compat.calserver.test
DTSTAMP:20260101T000000Z
DTSTART:20260310T150000Z
DTEND:20260310T160000Z
SUMMARY:Einzeltermin
END:VEVENT
END:VCALENDAR
"""

ALLDAY = """BEGIN:VCALENDAR
VERSION:2.0
PRODID:-//calserver//compat caldav//EN
BEGIN:VEVENT
UID:pycaldav-allday@compat.calserver.test
DTSTAMP:20260101T000000Z
DTSTART;VALUE=DATE:20260501
DTEND;VALUE=DATE:20260502
SUMMARY:Feiertag
END:VEVENT
END:VCALENDAR
"""


def step(name: str, fn: Callable[[], Any]) -> Any:
    try:
        result = fn()
    except Exception as exc:  # report any client/server failure, keep going
        R.fail(
            name,
            f"{type(exc).__name__}: {exc}\n"
            + "".join(traceback.format_exc().splitlines(True)[-6:]),
        )
        return None
    R.ok(name)
    return result


def summaries(objs: list[Any]) -> list[str]:
    return sorted(str(o.icalendar_component.get("summary")) for o in objs)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", required=True)
    ap.add_argument("--user", required=True)
    ap.add_argument("--password", required=True)
    args = ap.parse_args()

    # the client under test; imported late so --help works without it
    from caldav.davclient import DAVClient

    client = DAVClient(
        url=args.url.rstrip("/") + "/", username=args.user, password=args.password, timeout=30
    )
    principal = step(
        "discover the principal (current-user-principal)",
        lambda: client.principal(),
    )
    if principal is None:
        R.exit()
    R.check(
        "principal URL is /USER/",
        str(principal.url).rstrip("/").endswith("/" + args.user),
        f"principal URL {principal.url}",
    )

    cal = step(
        "MKCALENDAR through the library",
        lambda: principal.make_calendar(name="PyCalDAV ✓", cal_id="pycaldav"),
    )
    if cal is None:
        R.exit()
    listed = step(
        "calendar-home-set lists the new calendar",
        lambda: [str(c.url) for c in principal.calendars()],
    )
    if listed is not None:
        R.check(
            "new calendar is among principal.calendars()",
            any(u.rstrip("/").endswith("/pycaldav") for u in listed),
            f"got {listed}",
        )
    name = step("read displayname", lambda: cal.get_display_name())
    R.check("displayname round-trips (unicode)", name == "PyCalDAV ✓", f"got {name!r}")

    sync0 = step("initial sync-collection (RFC 6578)", lambda: cal.objects_by_sync_token())
    for ics in (SERIES, SINGLE, ALLDAY):
        uid = ics.split("UID:")[1].split("@")[0]
        step(f"add event {uid}", functools.partial(cal.add_event, ics))

    start = dt.datetime(2026, 3, 8, tzinfo=dt.UTC)
    end = dt.datetime(2026, 3, 24, tzinfo=dt.UTC)
    found = step(
        "time-range search (calendar-query)", lambda: cal.search(start=start, end=end, event=True)
    )
    if found is not None:
        R.check(
            "time-range search finds the series and the single event",
            summaries(found) == ["Einzeltermin", "Wöchentlich 📅"],
            f"got {summaries(found)}",
        )
    found = step(
        "time-range search with server-side expand",
        lambda: cal.search(start=start, end=end, event=True, expand=True, server_expand=True),
    )
    if found is not None:
        starts = sorted(str(o.icalendar_component.get("dtstart").dt) for o in found)
        # weekly from Monday 2 March: 9, 16 and 23 March fall in [8 March, 24 March)
        R.check(
            "server expand gives 3 occurrences + the single event",
            len(found) == 4 and sum("Wöchentlich" in s for s in summaries(found)) == 3,
            f"got {len(found)}: {summaries(found)} {starts}",
        )
    found = step(
        "all-day event found by a range touching only its date",
        lambda: cal.search(
            start=dt.datetime(2026, 5, 1, 12, tzinfo=dt.UTC),
            end=dt.datetime(2026, 5, 1, 13, tzinfo=dt.UTC),
            event=True,
        ),
    )
    if found is not None:
        R.check("all-day range search", summaries(found) == ["Feiertag"], f"got {summaries(found)}")

    ev = step(
        "get event by UID", lambda: cal.get_event_by_uid("pycaldav-single@compat.calserver.test")
    )
    if ev is not None:

        def update() -> str:
            ev.icalendar_component["summary"] = "Einzeltermin (geändert)"
            ev.save()
            again = cal.get_event_by_uid("pycaldav-single@compat.calserver.test")
            return str(again.icalendar_component.get("summary"))

        got = step("update an event (PUT with If-Match) and read it back", update)
        R.check("update is visible", got == "Einzeltermin (geändert)", f"got {got!r}")

    if sync0 is not None:

        def sync_changes() -> tuple[int, int]:
            changed = sync0.sync()  # (updated objects, deleted objects)
            return len(changed[0]), len(changed[1])

        counts = step("incremental sync-collection after 3 adds and 1 update", sync_changes)
        R.check("sync reports 3 changed, 0 deleted", counts == (3, 0), f"got {counts}")
        allday = step(
            "delete an event",
            lambda: cal.get_event_by_uid("pycaldav-allday@compat.calserver.test").delete(),
        )
        del allday
        counts = step("incremental sync-collection after a delete", sync_changes)
        R.check("sync reports 0 changed, 1 deleted", counts == (0, 1), f"got {counts}")
        R.check(
            "sync token state holds the 2 remaining objects",
            len(list(sync0)) == 2,
            f"got {len(list(sync0))}",
        )

    step("delete the calendar", cal.delete)
    left = step("calendars after delete", lambda: [str(c.url) for c in principal.calendars()])
    if left is not None:
        R.check(
            "deleted calendar is gone",
            not any(u.rstrip("/").endswith("/pycaldav") for u in left),
            f"got {left}",
        )
    R.exit()


if __name__ == "__main__":
    main()
