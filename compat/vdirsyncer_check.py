"""Two-way vdirsyncer sync against a live server.

Usage: vdirsyncer_check.py --url URL --user U --password P --calendar CAL
                           --workdir DIR --log FILE [--count N]

Scenario (each step prints ok/not ok lines, see davclient.Report):
 1. generate N events into a local `filesystem` storage, `vdirsyncer
    discover` (collections from both sides) and `sync`: upload local -> server;
 2. the server holds exactly those N objects (PROPFIND Depth 1 and a
    calendar-query REPORT agree) with the same content;
 3. an immediate second sync changes nothing (stable ETags);
 4. metasync: colour local -> server (PROPPATCH), display name server -> local;
 5. changes on the server over plain HTTP (PUT If-Match, DELETE If-Match,
    PUT If-None-Match: *) and changes in the local folder, plus one event
    changed on both sides (conflict, resolved "b wins" = server wins);
 6. sync; both sides hold exactly the expected UIDs and summaries;
 7. a last sync is again a no-op.
"""

from __future__ import annotations

import argparse
import pathlib
import subprocess
import time

import gen_events
import ical
from davclient import Client, DavError, Report

R = Report("vdirsyncer")

CONFIG = """\
[general]
status_path = "{status}"

[pair compat]
a = "compat_local"
b = "compat_remote"
collections = ["from a", "from b"]
conflict_resolution = "b wins"
metadata = ["color", "displayname"]

[storage compat_local]
type = "filesystem"
path = "{local}"
fileext = ".ics"

[storage compat_remote]
type = "caldav"
url = "{url}"
username = "{user}"
password = "{password}"
"""


class Vdir:
    def __init__(self, config: pathlib.Path, log: pathlib.Path, exe: str) -> None:
        self.config = config
        self.log = log
        self.exe = exe

    def run(self, *args: str, stdin: str = "", timeout: float = 120) -> tuple[int, str]:
        cmd = [self.exe, "-c", str(self.config), *args]
        t0 = time.monotonic()
        try:
            p = subprocess.run(cmd, input=stdin, capture_output=True, text=True, timeout=timeout)
            rc, out = p.returncode, p.stdout + p.stderr
        except subprocess.TimeoutExpired as exc:
            rc = 124
            out = _text(exc.stdout) + _text(exc.stderr) + f"\n[timed out after {timeout}s]"
        with self.log.open("a", encoding="utf-8") as f:
            f.write(f"\n===== $ {' '.join(cmd)}  (rc={rc}, {time.monotonic() - t0:.1f}s)\n{out}")
        return rc, out


def _text(b: bytes | str | None) -> str:
    if b is None:
        return ""
    return b if isinstance(b, str) else b.decode("utf-8", "replace")


def tail(text: str, n: int = 25) -> str:
    return "\n".join(text.rstrip().splitlines()[-n:])


def changes_in(output: str) -> list[str]:
    words = ("Copying", "Updating", "Deleting", "Conflict")
    return [ln for ln in output.splitlines() if any(w in ln for w in words)]


def local_state(folder: pathlib.Path) -> tuple[dict[str, str], list[str]]:
    """{UID: summary} of the local folder, plus a list of problems."""
    out: dict[str, str] = {}
    problems: list[str] = []
    for p in sorted(folder.glob("*.ics")):
        text = p.read_text("utf-8")
        ms = ical.masters(text)
        if len(ms) != 1:
            problems.append(f"{p.name}: {len(ms)} master VEVENTs")
            continue
        uid = next(iter(ms))
        if uid in out:
            problems.append(f"duplicate UID {uid} in local folder ({p.name})")
        out[uid] = ical.summary_of(text, uid) or ""
    return out, problems


def shape(text: str) -> tuple:
    """What must survive a round trip: per master and overrides."""
    lines = ical.unfold(text)
    vevents = sum(1 for ln in lines if ln.upper() == "BEGIN:VEVENT")
    m = next(iter(ical.masters(text).values()))
    dtstart = m.get("_LINE_DTSTART", "")
    params = sorted(dtstart.split(":", 1)[0].upper().split(";")[1:])
    return (
        vevents,
        ical.unescape_text(m.get("SUMMARY", "")),
        m.get("RRULE"),
        m.get("EXDATE"),
        params,
        m.get("DTSTART"),
        ical.unescape_text(m.get("DESCRIPTION", "")),
        ical.unescape_text(m.get("LOCATION", "")),
    )


def server_state(dav: Client, coll: str) -> tuple[dict[str, tuple[str, str, str]], list[str]]:
    """{UID: (href, etag, data)} via REPORT, cross-checked with PROPFIND."""
    problems: list[str] = []
    events = dav.all_events(coll)
    etags = dav.list_etags(coll)
    if set(etags) != set(events):
        only_p = sorted(set(etags) - set(events))[:5]
        only_r = sorted(set(events) - set(etags))[:5]
        problems.append(
            f"PROPFIND lists {len(etags)} members, REPORT {len(events)}; "
            f"only in PROPFIND {only_p}, only in REPORT {only_r}"
        )
    for href, (etag, _) in events.items():
        if href in etags and etags[href] != etag:
            problems.append(f"{href}: ETag {etag} in REPORT, {etags[href]} in PROPFIND")
    out: dict[str, tuple[str, str, str]] = {}
    for href, (etag, data) in events.items():
        ms = ical.masters(data)
        if len(ms) != 1:
            problems.append(f"{href}: {len(ms)} master VEVENTs")
            continue
        uid = next(iter(ms))
        if uid in out:
            problems.append(f"duplicate UID {uid} at {href} and {out[uid][0]}")
        out[uid] = (href, etag, data)
    return out, problems


def diff_maps(want: dict[str, str], got: dict[str, str], limit: int = 8) -> str:
    lines = []
    missing = sorted(set(want) - set(got))
    extra = sorted(set(got) - set(want))
    wrong = sorted(u for u in set(want) & set(got) if want[u] != got[u])
    if missing:
        lines.append(f"{len(missing)} missing, e.g. {missing[:limit]}")
    if extra:
        lines.append(f"{len(extra)} unexpected, e.g. {extra[:limit]}")
    for u in wrong[:limit]:
        lines.append(f"{u}: expected summary {want[u]!r}, got {got[u]!r}")
    if len(wrong) > limit:
        lines.append(f"... {len(wrong)} wrong summaries in all")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", required=True)
    ap.add_argument("--user", required=True)
    ap.add_argument("--password", required=True)
    ap.add_argument("--calendar", required=True)
    ap.add_argument("--workdir", required=True, type=pathlib.Path)
    ap.add_argument("--log", required=True, type=pathlib.Path)
    ap.add_argument("--count", type=int, default=300)
    ap.add_argument("--vdirsyncer", default="vdirsyncer")
    args = ap.parse_args()
    if args.count < 210:
        ap.error("--count must be at least 210 (the change sets use indexes up to 200)")

    try:
        run(args)
    except DavError as exc:
        R.fail("unexpected HTTP response", str(exc))
    R.exit()


def run(args: argparse.Namespace) -> None:
    base = args.url.rstrip("/")
    coll = f"/{args.user}/{args.calendar}/"
    dav = Client(base, args.user, args.password)
    work: pathlib.Path = args.workdir
    local_root = work / "local"
    local = local_root / args.calendar
    status = work / "status"
    cfg = work / "config"
    for d in (local, status):
        d.mkdir(parents=True, exist_ok=True)
    cfg.write_text(
        CONFIG.format(
            status=f"{status}/",
            local=f"{local_root}/",
            url=f"{base}/",
            user=args.user,
            password=args.password,
        ),
        "utf-8",
    )
    vd = Vdir(cfg, args.log, args.vdirsyncer)
    n = args.count
    _generate(local, n, 0, "compat")
    original = {gen_events.uid_for("compat", i): gen_events.summary_for(i) for i in range(n)}
    local_shapes = {u: shape((local / f"{u}.ics").read_text("utf-8")) for u in original}

    # 1. discover + initial upload ------------------------------------------
    rc, out = vd.run("discover", stdin="y\n" * 20)
    if not R.check(
        "discover finds the server calendar (principal, home-set)",
        rc == 0 and args.calendar in out,
        f"rc={rc}\n{tail(out)}",
    ):
        return
    t0 = time.monotonic()
    rc, out = vd.run("sync")
    took = time.monotonic() - t0
    R.check(f"initial sync uploads {n} events (took {took:.1f}s)", rc == 0, f"rc={rc}\n{tail(out)}")

    # 2. server holds exactly what was uploaded ------------------------------
    srv, problems = server_state(dav, coll)
    R.check(
        "PROPFIND Depth 1 and calendar-query REPORT agree (hrefs, ETags)",
        not problems,
        "\n".join(problems[:10]),
    )
    got = {u: ical.summary_of(v[2], u) or "" for u, v in srv.items()}
    R.check(
        f"server holds exactly the {n} uploaded UIDs and summaries",
        got == original,
        diff_maps(original, got),
    )
    bad = [u for u in original if u in srv and shape(srv[u][2]) != local_shapes[u]]
    R.check(
        "server keeps content: overrides, RRULE, all-day/TZID DTSTART, "
        "escaped DESCRIPTION/LOCATION",
        not bad,
        "\n".join(
            f"{u}:\n  local  {local_shapes[u]}\n  server {shape(srv[u][2])}" for u in bad[:3]
        ),
    )

    # 3. idempotence -----------------------------------------------------------
    rc, out = vd.run("sync")
    ch = changes_in(out)
    R.check(
        "second sync is a no-op (ETags stable)",
        rc == 0 and not ch,
        f"rc={rc}; {len(ch)} actions, e.g.\n" + "\n".join(ch[:10]) + "\n" + tail(out, 5),
    )

    # 4. metadata ------------------------------------------------------------
    (local / "color").write_text("#ff8800", "utf-8")
    rc, out = vd.run("metasync")
    if R.check("metasync runs", rc == 0, f"rc={rc}\n{tail(out)}"):
        root = dav.propfind_props(coll, "<A:calendar-color/><D:displayname/>")
        color = root.findtext(".//{http://apple.com/ns/ical/}calendar-color")
        R.check(
            "metasync: local color reaches the server (PROPPATCH calendar-color)",
            (color or "").lower().startswith("#ff8800"),
            f"server calendar-color={color!r}",
        )
        name = root.findtext(".//{DAV:}displayname")
        lname = (
            (local / "displayname").read_text("utf-8") if (local / "displayname").exists() else None
        )
        R.check(
            "metasync: server displayname reaches the local folder",
            name is not None and lname == name,
            f"server displayname={name!r}, local displayname file={lname!r}",
        )

    # 5. changes on both sides --------------------------------------------------
    expected = dict(original)
    srv_mod = [gen_events.uid_for("compat", i) for i in range(0, 40, 2)]
    srv_del = [gen_events.uid_for("compat", i) for i in range(1, 31, 2)]
    loc_mod = [gen_events.uid_for("compat", i) for i in range(100, 140, 2)]
    loc_del = [gen_events.uid_for("compat", i) for i in range(101, 131, 2)]
    conflict = gen_events.uid_for("compat", 200 % n)
    srv_new = [gen_events.uid_for("srv", i) for i in range(10)]
    loc_new = [gen_events.uid_for("loc", i) for i in range(10)]

    srv, _ = server_state(dav, coll)
    problems = []
    stale_checked = False
    for u in [*srv_mod, conflict]:
        href, etag, _ = srv[u]
        etag_get, data = dav.get(href)
        if etag_get != etag:
            problems.append(f"GET {href}: ETag {etag_get} but REPORT said {etag}")
        new = f"Server geändert ✓ {u.split('@')[0]}"
        resp = dav.put(href, ical.replace_summary(data, new), if_match=etag_get)
        if resp.status not in (200, 201, 204):
            problems.append(resp.describe())
            continue
        expected[u] = new
        if not stale_checked:
            stale_checked = True
            again = dav.put(href, ical.replace_summary(data, "stale"), if_match=etag_get)
            R.check(
                "PUT with a stale If-Match is refused with 412",
                again.status == 412,
                again.describe(),
            )
            if again.status in (200, 201, 204):  # keep the expected state honest
                dav.put(href, ical.replace_summary(data, new))
    for u in srv_del:
        href, etag, _ = srv[u]
        resp = dav.delete(href, if_match=etag)
        if resp.status not in (200, 204):
            problems.append(resp.describe())
            continue
        del expected[u]
    tmp = work / "srvnew"
    _generate(tmp, 10, 0, "srv")
    for i, u in enumerate(srv_new):
        data = (tmp / f"{u}.ics").read_text("utf-8")
        resp = dav.put(f"{coll}srv-new-{i}.ics", data, if_none_match=True)
        if resp.status not in (200, 201, 204):
            problems.append(resp.describe())
            continue
        expected[u] = gen_events.summary_for(i)
    R.check(
        "server-side changes over HTTP (PUT If-Match, DELETE If-Match, PUT If-None-Match) succeed",
        not problems,
        "\n".join(problems[:5]),
    )
    resp = dav.put(
        f"{coll}srv-new-0-again.ics",
        (tmp / f"{srv_new[0]}.ics").read_text("utf-8"),
        if_none_match=True,
    )
    R.check(
        "PUT of an existing UID under a new href is refused (no-uid-conflict)",
        resp.status in (403, 409) and b"no-uid-conflict" in resp.body,
        resp.describe(),
    )

    for u in [*loc_mod, conflict]:
        p = local / f"{u}.ics"
        new = f"Lokal geändert ✎ {u.split('@')[0]}"
        p.write_text(ical.replace_summary(p.read_text("utf-8"), new), "utf-8")
        if u != conflict:
            expected[u] = new
    for u in loc_del:
        (local / f"{u}.ics").unlink()
        del expected[u]
    _generate(local, 10, 0, "loc")
    for i, u in enumerate(loc_new):
        expected[u] = gen_events.summary_for(i)

    # 6. converge ------------------------------------------------------------
    rc, out = vd.run("sync")
    R.check("sync after changes on both sides", rc == 0, f"rc={rc}\n{tail(out)}")
    got_local, lp = local_state(local)
    R.check(
        f"local folder converged ({len(expected)} UIDs, summaries)",
        got_local == expected and not lp,
        "\n".join([*lp[:5], diff_maps(expected, got_local)]),
    )
    srv, sp = server_state(dav, coll)
    got_srv = {u: ical.summary_of(v[2], u) or "" for u, v in srv.items()}
    R.check(
        f"server converged ({len(expected)} UIDs, summaries)",
        got_srv == expected and not sp,
        "\n".join([*sp[:5], diff_maps(expected, got_srv)]),
    )
    R.check(
        "conflict (changed on both sides) resolved as configured: server wins",
        got_local.get(conflict) == expected.get(conflict) == got_srv.get(conflict),
        f"expected {expected.get(conflict)!r}; local {got_local.get(conflict)!r}, "
        f"server {got_srv.get(conflict)!r}",
    )

    # 7. stable again ----------------------------------------------------------
    rc, out = vd.run("sync")
    ch = changes_in(out)
    R.check(
        "final sync is a no-op",
        rc == 0 and not ch,
        f"rc={rc}; {len(ch)} actions, e.g.\n" + "\n".join(ch[:10]),
    )


def _generate(folder: pathlib.Path, count: int, start: int, prefix: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(start, start + count):
        uid = gen_events.uid_for(prefix, i)
        (folder / f"{uid}.ics").write_bytes(gen_events.event(prefix, i).encode("utf-8"))


if __name__ == "__main__":
    main()
