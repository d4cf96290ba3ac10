"""Hot paths timed in-process: the WSGI application called directly (no HTTP, no
network noise), on a 2,000-event calendar in a fresh SQLite file.

Used to compare two commits where the HTTP benchmark's noise is larger than the
difference: run it for each tree, alternating, several times::

    PYTHONPATH=OLD/src python benchmarks/inprocess.py OLD
    PYTHONPATH=NEW/src python benchmarks/inprocess.py NEW

``--calls`` prints the number of Python function calls of 100 PUTs and 100 DELETEs
instead (cProfile: deterministic, whatever the machine's load).
"""

from __future__ import annotations

import cProfile
import importlib
import pstats
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

EVENTS = 2000


def _client(tree: str) -> Any:
    sys.path.insert(0, tree)  # the tree's tests.conftest: its client and fixtures
    conftest = importlib.import_module("tests.conftest")
    app_module = importlib.import_module("calserver.app")
    db = importlib.import_module("calserver.db")
    try:
        users = importlib.import_module("calserver.accounts.users")
    except ImportError:  # before the accounts package (issue 13)
        users = importlib.import_module("calserver.users")
    folder = Path(tempfile.mkdtemp())
    configuration = conftest.make_configuration(f"sqlite:///{folder}/db.sqlite", folder)
    application = app_module.make_app(configuration)
    users.add(db.engine_for(configuration), "alice", conftest.PASSWORD, "alice@example.org")
    client = conftest.WSGIClient(application, configuration, default_user="alice")
    assert client.request("MKCALENDAR", "/alice/cal/").status == 201
    return client, conftest.event_ics


def _median_ms(operation: Callable[[int], Any], runs: int) -> float:
    times = []
    for run in range(runs):
        start = time.perf_counter()
        operation(run)
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def main() -> None:
    tree = sys.argv[1]
    client, event_ics = _client(tree)
    for i in range(EVENTS):
        day = f"2026{i % 12 + 1:02d}{i % 28 + 1:02d}"
        body = event_ics(f"e{i}", start=f"{day}T100000Z", end=f"{day}T110000Z")
        assert client.request("PUT", f"/alice/cal/e{i}.ics", body).status == 201
    if "--calls" in sys.argv:
        profile = cProfile.Profile()
        profile.enable()
        for i in range(100):
            client.request("PUT", f"/alice/cal/n{i}.ics", event_ics(f"n{i}"))
        for i in range(100):
            client.request("DELETE", f"/alice/cal/n{i}.ics")
        profile.disable()
        print("calls", pstats.Stats(profile).total_calls)  # type: ignore[attr-defined]
        return
    propfind = '<?xml version="1.0"?><propfind xmlns="DAV:"><prop><getetag/></prop></propfind>'
    hrefs = "".join(f"<D:href>/alice/cal/e{i}.ics</D:href>" for i in range(50))
    multiget = (
        '<?xml version="1.0"?><C:calendar-multiget xmlns:D="DAV:" '
        'xmlns:C="urn:ietf:params:xml:ns:caldav"><D:prop><D:getetag/><C:calendar-data/>'
        f"</D:prop>{hrefs}</C:calendar-multiget>"
    )
    figures = {
        "PUT": _median_ms(
            lambda k: client.request("PUT", f"/alice/cal/n{k}.ics", event_ics(f"n{k}")), 200
        ),
        "DELETE": _median_ms(lambda k: client.request("DELETE", f"/alice/cal/n{k}.ics"), 200),
        "GET whole": _median_ms(lambda k: client.request("GET", "/alice/cal/"), 15),
        "PROPFIND Depth 1": _median_ms(
            lambda k: client.request("PROPFIND", "/alice/cal/", propfind, {"Depth": "1"}), 15
        ),
        "multiget 50": _median_ms(
            lambda k: client.request("REPORT", "/alice/cal/", multiget, {"Depth": "1"}), 50
        ),
    }
    print("  ".join(f"{name}: {ms:.2f} ms" for name, ms in figures.items()))


if __name__ == "__main__":
    main()
