"""End to end: ``calserver import`` / ``calserver export`` against the database of a live
server, and what CalDAV clients then see of the imported data.

A round trip keeps every component and every property with its parameters (RFC 5545
3.1, 3.2, 3.8): escaped text, X- properties with commas, quoted parameters, unicode,
VTIMEZONEs, overridden instances, alarms and to-dos.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import icalendar
import pytest

from tests.conftest import LiveServer
from tests.e2e_support import (
    ENGINES,
    NS,
    calendar_data,
    fixture_path,
    module_server,
    new_calendar,
    path_of,
    prop_text,
    propfind,
    report,
    responses,
    send,
)

pytestmark = pytest.mark.live

ROUNDTRIP = "thunderbird-export-roundtrip.ics"
COMMAS = "generated-x-property-commas.ics"

Key = tuple[str, str, str]
Prop = tuple[str, tuple[tuple[str, str], ...], bytes]


@pytest.fixture(scope="module", params=ENGINES)
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    yield from module_server(request, tmp_path_factory)


#: RFC 5545 3.2.20: ``VALUE`` may be left out for a property's default value type, so
#: ``TRIGGER;VALUE=DURATION:-PT10M`` and ``TRIGGER:-PT10M`` are the same property.
DEFAULT_VALUE_TYPES = {
    "TRIGGER": "DURATION",
    "DTSTART": "DATE-TIME",
    "DTEND": "DATE-TIME",
    "DUE": "DATE-TIME",
    "RECURRENCE-ID": "DATE-TIME",
    "EXDATE": "DATE-TIME",
    "URL": "URI",
    "ATTACH": "URI",
}


def properties(component: icalendar.cal.Component) -> list[Prop]:
    """Every property of ``component`` with its parameters and its value as iCalendar
    text (so escaping is compared, not just what a parser makes of it)."""
    result = []
    for name, value in component.property_items(recursive=False, sorted=False):
        if name in ("BEGIN", "END"):
            continue
        params = {k.upper(): str(v) for k, v in getattr(value, "params", {}).items()}
        if params.get("VALUE", "").upper() == DEFAULT_VALUE_TYPES.get(name.upper()):
            del params["VALUE"]
        result.append(
            (
                name.upper(),
                tuple(sorted(params.items())),
                value.to_ical() if hasattr(value, "to_ical") else str(value).encode(),
            )
        )
    return sorted(result)


def tree(component: icalendar.cal.Component) -> tuple[list[Prop], list[object]]:
    return properties(component), sorted(
        (str(tree(sub)) for sub in component.subcomponents), key=str
    )


def by_key(calendar: icalendar.Calendar) -> dict[Key, icalendar.cal.Component]:
    """Components by (name, UID or TZID, RECURRENCE-ID)."""
    found: dict[Key, icalendar.cal.Component] = {}
    for component in calendar.subcomponents:
        if component.name == "VTIMEZONE":
            key = ("VTIMEZONE", str(component["TZID"]), "")
        else:
            recurrence = component.get("RECURRENCE-ID")
            key = (
                component.name,
                str(component["UID"]),
                recurrence.to_ical().decode() if recurrence is not None else "",
            )
        assert key not in found, key
        found[key] = component
    return found


def assert_same_components(original: str, exported: str) -> None:
    before = by_key(icalendar.Calendar.from_ical(original))
    after = by_key(icalendar.Calendar.from_ical(exported))
    assert sorted(after) == sorted(before)
    for key, component in before.items():
        assert tree(after[key]) == tree(component), key


def import_into(server: LiveServer, calendar_path: str, file: Path) -> None:
    result = server.cli("import", str(file), calendar_path.strip("/"))
    assert result.returncode == 0, result.stderr


def export(server: LiveServer, calendar_path: str, out: Path) -> str:
    result = server.cli("export", calendar_path.strip("/"), "-o", str(out))
    assert result.returncode == 0, result.stderr
    return out.read_text(encoding="utf-8")


def test_import_export_round_trip_keeps_every_property(server: LiveServer, tmp_path: Path) -> None:
    path = path_of(new_calendar(server).url)
    import_into(server, path, fixture_path(ROUNDTRIP))
    exported = export(server, path, tmp_path / "out.ics")
    assert_same_components(fixture_path(ROUNDTRIP).read_text(encoding="utf-8"), exported)
    # Exported again after a second import into another calendar: the same again.
    other = path_of(new_calendar(server).url)
    import_into(server, other, tmp_path / "out.ics")
    assert_same_components(exported, export(server, other, tmp_path / "again.ics"))


def test_escaped_text_and_x_properties_with_escaped_commas_survive_the_round_trip(
    server: LiveServer, tmp_path: Path
) -> None:
    path = path_of(new_calendar(server).url)
    import_into(server, path, fixture_path(ROUNDTRIP))
    exported = icalendar.Calendar.from_ical(export(server, path, tmp_path / "out.ics"))
    master = next(
        e
        for e in exported.walk("VEVENT")
        if str(e["UID"]) == "1d2c3b4a-5e6f-4a7b-8c9d-0e1f2a3b4c5d" and "RECURRENCE-ID" not in e
    )
    assert master["X-CALSERVER-TEST-ESCAPED"].to_ical() == (
        b"comma\\, semicolon\\; backslash\\\\ newline\\n end"
    )
    assert str(master["SUMMARY"]) == "Planning, budget; and review \\ Q1"
    assert str(master["DESCRIPTION"]).startswith(
        "Line one\nLine two with a comma, a semicolon; and a backslash \\ in it.\n"
    )
    assert master["ORGANIZER"].params["CN"] == "Müller, Hans"
    assert [a.params["CN"] for a in master["ATTENDEE"]] == ["Müller, Hans", "Zoë Ädams"]
    assert master["X-ALT-DESC"].params["FMTTYPE"] == "text/html"
    assert master["X-ALT-DESC"].to_ical() == (
        b"<p>Line one</p><p>Hello\\, world\\; <b>bold</b></p>"
    )
    flight = next(
        e
        for e in exported.walk("VEVENT")
        if str(e["UID"]) == "9f8e7d6c-5b4a-4392-8170-6f5e4d3c2b1a"
    )
    assert flight["X-APPLE-STRUCTURED-LOCATION"].params["X-ADDRESS"] == (
        "Flughafen BER, 12529 Schönefeld"
    )


def test_imported_events_are_seen_by_caldav_clients(server: LiveServer) -> None:
    path = path_of(new_calendar(server).url)
    before = prop_text(propfind(server, path, ["D:sync-token"]), path, "D:sync-token")
    import_into(server, path, fixture_path(ROUNDTRIP))
    after = prop_text(propfind(server, path, ["D:sync-token"]), path, "D:sync-token")
    assert after != before
    # Tuesday 2026-02-24 09:00 Berlin was moved to Wednesday 13:00; the query finds the
    # override, and expand gives it with its RECURRENCE-ID (RFC 4791 9.6.5).
    body = (
        '<?xml version="1.0" encoding="utf-8"?>'
        '<C:calendar-query xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav">'
        '<D:prop><C:calendar-data><C:expand start="20260225T000000Z" end="20260226T000000Z"/>'
        '</C:calendar-data></D:prop><C:filter><C:comp-filter name="VCALENDAR">'
        '<C:comp-filter name="VEVENT"><C:time-range start="20260225T000000Z" '
        'end="20260226T000000Z"/></C:comp-filter></C:comp-filter></C:filter>'
        "</C:calendar-query>"
    )
    reply = report(server, path, body)
    assert reply.status == 207
    found = list(responses(reply.xml()).values())
    assert len(found) == 1
    (event,) = icalendar.Calendar.from_ical(calendar_data(found[0])).walk("VEVENT")
    assert str(event["SUMMARY"]) == "Planning, budget; and review \\ Q1 (moved)"
    assert event.decoded("RECURRENCE-ID").astimezone(dt.UTC) == dt.datetime(
        2026, 2, 24, 8, 0, tzinfo=dt.UTC
    )
    # Every imported resource is listed with its ETag, as a syncing client sees it.
    listing = propfind(server, path, ["D:getetag"], depth="1")
    hrefs = [h for h in responses(listing) if h != path]
    assert len(hrefs) == 4
    for href in hrefs:
        etag = responses(listing)[href].findtext(".//D:getetag", namespaces=NS)
        assert etag == send(server, "GET", href).headers["etag"]


def test_import_replaces_events_by_uid_and_keeps_their_href(
    server: LiveServer, tmp_path: Path
) -> None:
    path = path_of(new_calendar(server).url)
    import_into(server, path, fixture_path(ROUNDTRIP))
    listing = propfind(server, path, ["D:getetag"], depth="1")
    hrefs = sorted(h for h in responses(listing) if h != path)
    changed = (
        fixture_path(ROUNDTRIP)
        .read_text(encoding="utf-8")
        .replace("SUMMARY:Ostermontag", "SUMMARY:Ostermontag (Feiertag)")
    )
    (tmp_path / "changed.ics").write_text(changed, encoding="utf-8", newline="")
    import_into(server, path, tmp_path / "changed.ics")
    listing = propfind(server, path, ["D:getetag"], depth="1")
    assert sorted(h for h in responses(listing) if h != path) == hrefs
    whole = send(server, "GET", path).text
    assert whole.count("SUMMARY:Ostermontag") == 1 and "Ostermontag (Feiertag)" in whole


def test_import_of_a_file_with_one_broken_event_imports_nothing(
    server: LiveServer, tmp_path: Path
) -> None:
    path = path_of(new_calendar(server).url)
    broken = (
        fixture_path(ROUNDTRIP)
        .read_text(encoding="utf-8")
        .replace("DTSTART;VALUE=DATE:20260406", "DTSTART;VALUE=DATE:2026-04-06-nonsense")
    )
    (tmp_path / "broken.ics").write_text(broken, encoding="utf-8", newline="")
    result = server.cli("import", str(tmp_path / "broken.ics"), path.strip("/"))
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    listing = propfind(server, path, ["D:getetag"], depth="1")
    assert list(responses(listing)) == [path]


def test_x_properties_with_unescaped_commas_survive_the_round_trip(
    server: LiveServer, tmp_path: Path
) -> None:
    path = path_of(new_calendar(server).url)
    import_into(server, path, fixture_path(COMMAS))
    exported = export(server, path, tmp_path / "out.ics")
    (event,) = icalendar.Calendar.from_ical(exported).walk("VEVENT")
    assert event["X-BOOKING-ATTENDEES"].to_ical() == b"alpha,beta,gamma"
    assert event["X-BOOKING-EQUIPMENT"].to_ical() == b"projector,whiteboard,video conference"
