"""HTTP basics a client relies on before it syncs anything.

Usage: smoke_check.py --url URL --user U --password P --calendar CAL

/.well-known/caldav redirects (RFC 6764 §5), anonymous and wrong-password
requests get 401 with a Basic challenge, OPTIONS advertises calendar-access,
the principal reports current-user-principal and calendar-home-set, the
calendar is a calendar, and a malformed PROPFIND body is a 400 (never 500).
"""

from __future__ import annotations

import argparse
import urllib.parse

from davclient import Client, DavError, Report

R = Report("http")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", required=True)
    ap.add_argument("--user", required=True)
    ap.add_argument("--password", required=True)
    ap.add_argument("--calendar", required=True)
    args = ap.parse_args()
    base = args.url.rstrip("/")
    dav = Client(base, args.user, args.password)
    anon = Client(base, None, None)
    wrong = Client(base, args.user, args.password + "-wrong")
    home = f"/{args.user}/"
    cal = f"/{args.user}/{args.calendar}/"

    r = anon.request("GET", "/.well-known/caldav")
    loc = r.header("location") or ""
    R.check(
        "/.well-known/caldav redirects (301/302/303/307/308 with Location)",
        r.status in (301, 302, 303, 307, 308) and bool(loc),
        r.describe(),
    )
    r = dav.request("PROPFIND", "/.well-known/caldav", None, {"Depth": "0"})
    R.check(
        "PROPFIND on /.well-known/caldav is redirected too",
        r.status in (301, 302, 303, 307, 308),
        r.describe(),
    )

    r = anon.request("PROPFIND", home, None, {"Depth": "0"})
    R.check(
        "anonymous PROPFIND on the home gets 401 with a Basic challenge",
        r.status == 401 and "basic" in (r.header("www-authenticate") or "").lower(),
        r.describe() + f" WWW-Authenticate={r.header('www-authenticate')!r}",
    )
    r = wrong.request("PROPFIND", home, None, {"Depth": "0"})
    R.check("wrong password gets 401", r.status == 401, r.describe())

    r = dav.request("OPTIONS", cal)
    R.check(
        "OPTIONS advertises calendar-access",
        r.status in (200, 204) and "calendar-access" in (r.header("dav") or ""),
        r.describe() + f" DAV={r.header('dav')!r}",
    )

    try:
        root = dav.propfind_props("/", "<D:current-user-principal/>")
        cup = root.findtext(".//{DAV:}current-user-principal/{DAV:}href")
        R.check("current-user-principal on / is /USER/", cup == home, f"got {cup!r}")
        root = dav.propfind_props(home, "<C:calendar-home-set/><D:resourcetype/>")
        chs = root.findtext(".//{urn:ietf:params:xml:ns:caldav}calendar-home-set/{DAV:}href")
        R.check("calendar-home-set of the principal is /USER/", chs == home, f"got {chs!r}")
        root = dav.propfind_props(
            cal,
            "<D:resourcetype/><C:supported-calendar-component-set/><CS:getctag/><D:sync-token/>",
        )
        is_cal = root.find(".//{DAV:}resourcetype/{urn:ietf:params:xml:ns:caldav}calendar")
        R.check(
            "the calendar's resourcetype is calendar",
            is_cal is not None,
            "resourcetype lacks C:calendar",
        )
        tok = root.findtext(".//{DAV:}sync-token")
        ctag = root.findtext(".//{http://calendarserver.org/ns/}getctag")
        R.check(
            "the calendar has a sync-token and a getctag",
            bool(tok) and bool(ctag),
            f"sync-token={tok!r} getctag={ctag!r}",
        )
    except DavError as exc:
        R.fail("discovery properties", str(exc))

    r = dav.request(
        "PROPFIND",
        cal,
        "<propfind xmlns='DAV:'><prop><getetag/></prop>",
        {"Depth": "0", "Content-Type": "application/xml"},
    )
    R.check("malformed PROPFIND body gets 400", r.status == 400, r.describe())
    r = dav.request("GET", cal + "does-not-exist.ics")
    R.check("GET of a missing item gets 404", r.status == 404, r.describe())
    unicode_href(dav, cal)
    R.exit()


EVENT = (
    "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//calserver//compat smoke//EN\r\n"
    "BEGIN:VEVENT\r\nUID:smoke-unicode-href@compat.calserver.test\r\n"
    "DTSTAMP:20260101T000000Z\r\nDTSTART:20260301T100000Z\r\n"
    "DTEND:20260301T110000Z\r\nSUMMARY:Küche\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
)


def unicode_href(dav: Client, cal: str) -> None:
    """A non-ASCII href (RFC 3986 percent-encoded UTF-8) must round-trip:
    the href PROPFIND lists is the one the client PUT, and GET of it works.
    Two names: Latin-1 letters, and a character whose UTF-8 bytes read as
    Latin-1 give C1 control characters (a server that decodes the path as
    Latin-1, as PEP 3333 servers hand it over, then mangles each differently).
    """
    for i, name in enumerate(["Küche.ics", "Preis-€.ics"]):
        quoted = cal + urllib.parse.quote(name)
        uid = f"smoke-unicode-href-{i}"
        r = dav.put(quoted, EVENT.replace("smoke-unicode-href", uid))
        if not R.check(
            f"PUT to a non-ASCII href ({name})", r.status in (200, 201, 204), r.describe()
        ):
            continue
        try:
            listed = dav.list_etags(cal)  # hrefs come back unquoted
            mine = [h for h in listed if h.endswith(".ics") and ("che" in h or "Preis" in h)]
            R.check(
                f"PROPFIND lists the href as it was PUT ({name})",
                cal + name in listed,
                f"PUT {quoted}; listed: {[urllib.parse.quote(h) for h in mine]}",
            )
            for href in mine:
                q = urllib.parse.quote(href)
                g = dav.request("GET", q)
                R.check(f"GET of the listed href {q}", g.status == 200, g.describe())
        except DavError as exc:
            R.fail("PROPFIND after a non-ASCII PUT", str(exc))
        finally:
            dav.delete(quoted)


if __name__ == "__main__":
    main()
