"""The PROPFIND Depth 1 fast path answers exactly what Radicale's handler answers."""

import xml.etree.ElementTree as ET

import pytest

from calserver.dav import propfind

EVENT = (
    "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//t//EN\r\nBEGIN:{comp}\r\nUID:{uid}\r\n"
    "DTSTAMP:20260101T000000Z\r\nDTSTART:20260105T100000Z\r\n{end}"
    "SUMMARY:x\r\nEND:{comp}\r\nEND:VCALENDAR\r\n"
)


def _responses(body: bytes) -> dict[str, str]:
    root = ET.fromstring(body)
    out = {}
    for response in root.findall("{DAV:}response"):
        href = response.findtext("{DAV:}href")
        out[href] = ET.tostring(response.find("{DAV:}propstat"), encoding="unicode")
    return out


@pytest.mark.parametrize(
    "props",
    [
        "<getetag/>",
        "<getetag/><getcontenttype/><resourcetype/>",
    ],
)
def test_fast_propfind_equals_radicale_answer(client, monkeypatch, props):
    assert client.request("MKCALENDAR", "/alice/cal/").status == 201
    for n, comp in enumerate(["VEVENT", "VEVENT", "VTODO"]):
        end = "DTEND:20260105T110000Z\r\n" if comp == "VEVENT" else ""
        body = EVENT.format(comp=comp, uid=f"u{n}", end=end)
        assert client.request("PUT", f"/alice/cal/e {n}é.ics", body).status == 201
    request = f'<propfind xmlns="DAV:"><prop>{props}</prop></propfind>'
    fast = client.request("PROPFIND", "/alice/cal/", request, {"Depth": "1"})
    monkeypatch.setattr(propfind, "requested_props", lambda body: None)
    slow = client.request("PROPFIND", "/alice/cal/", request, {"Depth": "1"})
    assert fast.status == slow.status == 207
    assert _responses(fast.body) == _responses(slow.body)
    assert len(_responses(fast.body)) == 4  # the calendar and its three items


def test_fast_propfind_refuses_other_users_calendar(client):
    assert client.request("MKCALENDAR", "/alice/cal/").status == 201
    request = '<propfind xmlns="DAV:"><prop><getetag/></prop></propfind>'
    answer = client.request("PROPFIND", "/alice/cal/", request, {"Depth": "1"}, user="bob")
    assert answer.status in (403, 404)
    assert b"getetag" not in answer.body
