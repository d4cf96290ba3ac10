"""The WSGI front and the Application extensions: preconditions and the expand window."""

import defusedxml.ElementTree as DefusedET
import pytest

from calserver.front import _expand_window

QUERY = """<C:calendar-query xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav">
<D:prop><C:calendar-data>{expand}</C:calendar-data></D:prop>
<C:filter><C:comp-filter name="VCALENDAR">{inner}</C:comp-filter></C:filter>
</C:calendar-query>"""
EXPAND = '<C:expand start="20260105T000000Z" end="20260112T000000Z"/>'
RANGE = '<C:time-range start="20260105T000000Z" end="20260112T000000Z"/>'


@pytest.mark.parametrize(
    ("expand", "inner", "window"),
    [
        (EXPAND, f'<C:comp-filter name="VEVENT">{RANGE}</C:comp-filter>', (1767571200, 1768176000)),
        ("", f'<C:comp-filter name="VEVENT">{RANGE}</C:comp-filter>', None),
        (EXPAND, '<C:comp-filter name="VEVENT"/>', None),
        # a time-range on an alarm is not the window of the expanded instances
        (
            EXPAND,
            f'<C:comp-filter name="VEVENT"><C:comp-filter name="VALARM">{RANGE}'
            "</C:comp-filter></C:comp-filter>",
            None,
        ),
        (
            EXPAND,
            f'<C:comp-filter name="VEVENT">{RANGE}<C:comp-filter name="VALARM">{RANGE}'
            "</C:comp-filter></C:comp-filter>",
            None,
        ),
    ],
)
def test_expand_window_only_for_a_single_component_time_range(expand, inner, window):
    root = DefusedET.fromstring(QUERY.format(expand=expand, inner=inner))
    assert _expand_window(root) == window


def test_malformed_calendar_data_names_the_valid_calendar_data_precondition(client):
    assert client.request("MKCALENDAR", "/alice/cal/").status == 201
    answer = client.request(
        "PUT",
        "/alice/cal/broken.ics",
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nBEGIN:VEVENT\r\nthis is no content line\r\n"
        "END:VEVENT\r\nEND:VCALENDAR\r\n",
        {"Content-Type": "text/calendar"},
    )
    assert answer.status == 400
    assert b"valid-calendar-data" in answer.body
    assert client.request("GET", "/alice/cal/broken.ics").status == 404
