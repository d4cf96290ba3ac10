"""Benchmark: what a search costs (issue 17), at a growing number of events.

Builds an SQLite (or PostgreSQL: ``--database-url``) database of ``--users`` users, each
with one calendar, ``SIZE`` events in all (plausible text from ``benchmarks.textgen``,
one event in 5,000 with the rare word "plumber"), written through
``calserver.storage.rows.insert_items`` like an import (so the search index is built
the way the server builds it), then times ``calserver.search.search`` as one user over
their own calendars and over everything they see (``--share``: every other calendar is
shared with them at the read level).

    python benchmarks/search.py --sizes 10000,100000,1000000

Prints one Markdown table per size: query, results, median and best milliseconds.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

from radicale import item as radicale_item
from sqlalchemy import text

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks import textgen
from calserver import calendars, db, search
from calserver.accounts import users
from calserver.config import load
from calserver.db.models import collections
from calserver.sharing import manage
from calserver.storage import Storage
from calserver.storage.rows import insert_items

QUERIES = (
    "plumber",  # rare: ~1 event in 5,000
    "meeting",  # common
    "review OR workshop",
    '"project review"',
    "plan*",
    "meeting -review",
    "busy",
)
BASE = 1_577_836_800  # 2020-01-01


def event_text(rng: random.Random, uid: str, start: int) -> str:
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(start))
    end = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(start + 3600))
    words = textgen.summary(rng, False)
    if rng.random() < 0.0002:
        words += " with the plumber"
    return (
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//bench//EN\r\nBEGIN:VEVENT\r\n"
        f"UID:{uid}\r\nDTSTAMP:20200101T000000Z\r\nDTSTART:{stamp}\r\nDTEND:{end}\r\n"
        f"SUMMARY:{words}\r\nLOCATION:{textgen.location(rng)}\r\n"
        f"DESCRIPTION:{textgen.description(rng, rng.randint(5, 40))}\r\n"
        "END:VEVENT\r\nEND:VCALENDAR\r\n"
    )


def build(url: str, folder: Path, size: int, user_count: int, share: bool) -> Storage:
    configuration = load([], {"storage": {"database_url": url, "data_folder": str(folder)}})
    engine = db.engine_for(configuration)
    db.ensure_schema(engine)
    storage = Storage(configuration)
    rng = random.Random(17)
    names = [f"user{n}" for n in range(user_count)]
    for name in names:
        users.add(engine, name, "secret password", f"{name}@example.org")
        calendars.create(storage, f"{name}/cal")
    with engine.connect() as conn:
        ids = {
            row.path: row.id
            for row in conn.execute(collections.select().where(collections.c.tag == "VCALENDAR"))
        }
    per_user = size // user_count
    began = time.perf_counter()
    for name in names:
        collection_id = ids[f"{name}/cal"]
        for first in range(0, per_user, 5000):
            batch = []
            for n in range(first, min(per_user, first + 5000)):
                uid = f"{name}-{n}"
                start = BASE + rng.randrange(10 * 365 * 86400) // 900 * 900
                text = event_text(rng, uid, start)
                row = {
                    "collection_id": collection_id,
                    "href": uid + ".ics",
                    "uid": uid,
                    "etag": radicale_item.get_etag(text),
                    "name": "VEVENT",
                    "component": "VEVENT",
                    "start_ts": start,
                    "end_ts": start + 3600,
                    "indexed_until": None,
                    "text": text,
                    "modified": time.time(),
                    "klass": "PUBLIC",
                }
                batch.append((row, [(start, start + 3600)]))
            with db.write_transaction(engine) as conn:
                insert_items(conn, collection_id, batch)
        print(
            f"  {name}: {per_user} events ({time.perf_counter() - began:.0f} s so far)",
            file=sys.stderr,
        )
    if share:
        for name in names[1:]:
            manage.share(engine, f"{name}/cal", names[0], "read")
    return storage


def measure(
    storage: Storage, user: str, scope: str, reps: int
) -> list[tuple[str, int, float, float]]:
    rows = []
    now = BASE + 5 * 365 * 86400
    for query in QUERIES:
        timings = []
        count = 0
        for _ in range(reps):
            began = time.perf_counter()
            count = len(search.search(storage.engine, user, query, scope=scope, now=now))
            timings.append((time.perf_counter() - began) * 1000)
        rows.append((query, count, statistics.median(timings), min(timings)))
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="10000,100000")
    parser.add_argument("--users", type=int, default=10)
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--database-url", default="", help="default: a new SQLite file")
    parser.add_argument("--share", action="store_true", help="share every calendar with user0")
    parser.add_argument(
        "--existing", default="", help="measure a database this script built before (its URL)"
    )
    args = parser.parse_args()
    if args.existing:
        configuration = load([], {"storage": {"database_url": args.existing}})
        storage = Storage(configuration)
        with storage.engine.connect() as conn:
            count = conn.execute(text("SELECT count(*) FROM items")).scalar_one()
        print(f"\n### {count:,} events (an existing database)\n")
        for scope in ("private", "all"):
            print(f"scope `{scope}` as user0:\n")
            print("| query | results | median ms | best ms |")
            print("|---|---:|---:|---:|")
            for query, found, median, best in measure(storage, "user0", scope, args.reps):
                print(f"| `{query}` | {found} | {median:.1f} | {best:.1f} |")
            print()
        return 0
    for size in (int(s) for s in args.sizes.split(",")):
        with tempfile.TemporaryDirectory(prefix="calserver-search-bench-") as folder:
            url = args.database_url or f"sqlite:///{folder}/bench.sqlite"
            print(f"building {size} events ...", file=sys.stderr)
            began = time.perf_counter()
            storage = build(url, Path(folder), size, args.users, args.share)
            built = time.perf_counter() - began
            print(
                f"\n### {size:,} events ({args.users} users; built and indexed in {built:.0f} s, "
                f"{size / built:,.0f} events/s)\n"
            )
            for scope in ("private", "all") if args.share else ("private",):
                print(f"scope `{scope}` as user0:\n")
                print("| query | results | median ms | best ms |")
                print("|---|---:|---:|---:|")
                for query, count, median, best in measure(storage, "user0", scope, args.reps):
                    print(f"| `{query}` | {count} | {median:.1f} | {best:.1f} |")
                print()
            db.dispose_engines()
    return 0


if __name__ == "__main__":
    sys.exit(main())
