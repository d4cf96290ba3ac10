"""The pure parts of subscriptions: the source's refresh hint, the subscriber's options,
the fingerprints that keep unchanged events stable (calserver.ical.subscription), and
the URL and address rules of the fetcher's guard (calserver.outbound)."""

from __future__ import annotations

import ipaddress

import pytest

from calserver import outbound
from calserver.ical.subscription import (
    fingerprint,
    looks_like_icalendar,
    refresh_hint,
    shaped,
    with_uids,
)

EVENT = (
    "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//a//EN\r\nBEGIN:VEVENT\r\nUID:u1\r\n"
    "DTSTAMP:20261201T000000Z\r\nDTSTART:20261224T100000Z\r\nSUMMARY:A very long summary "
    "that is folded over more than one line by the source's exporter at seventy-five\r\n"
    "ATTACH:https://example.org/a.pdf\r\nBEGIN:VALARM\r\nACTION:DISPLAY\r\nTRIGGER:-PT5M\r\n"
    "DESCRIPTION:x\r\nEND:VALARM\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
)


@pytest.mark.parametrize(
    ("head", "seconds"),
    [
        ("REFRESH-INTERVAL;VALUE=DURATION:PT4H\r\n", 4 * 3600),
        ("X-PUBLISHED-TTL:P1D\r\n", 86400),
        ("REFRESH-INTERVAL;VALUE=DURATION:P1W\r\nX-PUBLISHED-TTL:PT1H\r\n", 7 * 86400),
        ("REFRESH-INTERVAL;VALUE=DURATION:-PT1H\r\n", None),
        ("REFRESH-INTERVAL;VALUE=DURATION:soon\r\n", None),
        ("", None),
    ],
)
def test_refresh_hint_reads_rfc7986_refresh_interval_then_published_ttl(
    head: str, seconds: int | None
) -> None:
    text = EVENT.replace("PRODID:-//a//EN\r\n", "PRODID:-//a//EN\r\n" + head)
    assert refresh_hint(text) == seconds


def test_the_hint_of_an_event_is_not_the_calendars() -> None:
    text = EVENT.replace("UID:u1\r\n", "UID:u1\r\nREFRESH-INTERVAL;VALUE=DURATION:PT1H\r\n")
    assert refresh_hint(text) is None


def test_options_strip_alarms_and_attachments_only_when_asked() -> None:
    kept = shaped(EVENT, strip_alarms=False, strip_attachments=False)
    assert "BEGIN:VALARM" in kept and "ATTACH" in kept
    bare = shaped(EVENT, strip_alarms=True, strip_attachments=True)
    assert "VALARM" not in bare and "TRIGGER" not in bare and "ATTACH" not in bare
    assert "END:VEVENT\r\nEND:VCALENDAR\r\n" in bare
    assert all(len(line.encode()) <= 75 for line in bare.split("\r\n"))


def test_fingerprints_ignore_dtstamp_and_folding_not_content() -> None:
    later = EVENT.replace("DTSTAMP:20261201T000000Z", "DTSTAMP:20261207T120000Z")
    unfolded = EVENT.replace("\r\n ", "")
    assert (
        fingerprint(EVENT)
        == fingerprint(later)
        == fingerprint(shaped(EVENT, strip_alarms=False, strip_attachments=False))
    )
    assert fingerprint(EVENT) == fingerprint(unfolded)
    moved = EVENT.replace("DTSTART:20261224T100000Z", "DTSTART:20261225T100000Z")
    assert fingerprint(moved) != fingerprint(EVENT)
    renamed = EVENT.replace("UID:u1", "UID:u2")
    assert fingerprint(renamed) != fingerprint(EVENT)
    assert fingerprint(renamed, with_uid=False) == fingerprint(EVENT, with_uid=False)


def test_what_looks_like_icalendar() -> None:
    assert looks_like_icalendar(b"\xef\xbb\xbf\r\nBEGIN:VCALENDAR\r\n")
    assert looks_like_icalendar(b"begin:vcalendar\n")
    assert not looks_like_icalendar(b"<!DOCTYPE html><html>")
    assert not looks_like_icalendar(b"")


@pytest.mark.parametrize(
    ("url", "fetched"),
    [
        ("webcal://Example.org/cal.ics", "https://example.org/cal.ics"),
        ("webcals://example.org", "https://example.org/"),
        ("http://example.org:8080/a?b=c#frag", "http://example.org:8080/a?b=c"),
    ],
)
def test_urls_are_normalised(url: str, fetched: str) -> None:
    assert outbound.normalise_url(url) == fetched


@pytest.mark.parametrize(
    "url",
    ["ftp://example.org/a.ics", "file:///etc/passwd", "http:///x", "https://u:p@example.org/"],
)
def test_other_urls_are_refused(url: str) -> None:
    with pytest.raises(ValueError):
        outbound.normalise_url(url)


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "10.0.0.1",
        "172.16.5.4",
        "192.168.1.1",
        "169.254.169.254",
        "100.64.0.1",
        "0.0.0.0",
        "::1",
        "fe80::1",
        "fc00::1",
        "::ffff:10.0.0.1",
        "224.0.0.1",
        "fd00:ec2::254",
    ],
)
def test_non_public_addresses_are_refused_unless_allowed(address: str) -> None:
    assert not outbound.address_allowed(address, [])
    network = ipaddress.ip_network(address.replace("::ffff:", ""))
    assert outbound.address_allowed(address, [network])


def test_public_addresses_pass() -> None:
    assert outbound.address_allowed("93.184.216.34", [])
    assert outbound.address_allowed("2606:2800:220:1:248:1893:25c8:1946", [])


def test_a_name_with_one_forbidden_address_is_refused_before_any_connection() -> None:
    def resolve(host: str, port: int) -> list[str]:
        return ["93.184.216.34", "10.0.0.7"]

    with pytest.raises(outbound.Forbidden, match=r"10\.0\.0\.7"):
        outbound.fetch("https://mixed.example/cal.ics", resolve=resolve)


def test_events_without_uid_get_one_made_from_their_text() -> None:
    bare = EVENT.replace("UID:u1\r\n", "")
    filled = with_uids(bare)
    assert filled.count("UID:calserver-") == 1
    later = bare.replace("DTSTAMP:20261201T000000Z", "DTSTAMP:20261207T120000Z")
    assert with_uids(later) == filled.replace("20261201T000000Z", "20261207T120000Z")
    other = bare.replace("DTSTART:20261224", "DTSTART:20261225")
    assert with_uids(other).split("UID:")[1][:40] != filled.split("UID:")[1][:40]
    assert with_uids(EVENT) == EVENT  # nothing to do
