"""A new user's first requests, many at once, on PostgreSQL behind two server processes
(``calserver serve --workers 2``): what a client does when an account is set up
(Thunderbird and DAVx5 open several connections and ask for the principal, the home and
the calendars together).

Every one of those requests is the first: each verifies the password and stores it in
the shared login cache (``calserver.auth``), finds no principal collection and creates
it (Radicale's principal auto-creation, ``radicale/app/__init__.py``), and a PROPFIND
of the home creates the schedule inbox (``calserver.dav.scheduling.ensure_inbox``).
None of them may collide with another into a 500 (a unique violation, a deadlock):
each answers as if it had been alone, and the user ends up with one home and one inbox.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
import requests
from sqlalchemy import func, select

from calserver import db
from calserver.accounts import users
from calserver.db.models import collections, login_cache
from tests.conftest import PASSWORD, LiveServer, _reset_pg, start_server

pytestmark = [pytest.mark.live, pytest.mark.postgresql]

PARALLEL = 16
FRESH_USERS = 5

PROPFIND_BODY = (
    '<?xml version="1.0" encoding="utf-8"?>'
    '<propfind xmlns="DAV:"><prop><resourcetype/><current-user-principal/></prop></propfind>'
)
EVENT = (
    "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\nBEGIN:VEVENT\r\n"
    "UID:{uid}\r\nDTSTAMP:20260101T000000Z\r\nDTSTART:20261123T100000Z\r\n"
    "DTEND:20261123T110000Z\r\nSUMMARY:first\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
)


@pytest.fixture(scope="module")
def server(pg_database: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    _reset_pg(pg_database)
    db.dispose_engines()
    live = start_server(
        pg_database,
        tmp_path_factory.mktemp("first-contact") / "data",
        serve_args=("--workers", "2"),
    )
    try:
        yield live
    finally:
        live.stop()


def first_request(url: str, user: str, number: int) -> tuple[str, int]:
    """One of the requests a client sends when it first meets the server (each on a
    connection of its own, so that both workers take their share)."""
    auth = (user, PASSWORD)
    kind = number % 4
    if kind == 0:
        response = requests.request(
            "PROPFIND",
            f"{url}/{user}/",
            data=PROPFIND_BODY,
            headers={"Depth": "1", "Content-Type": "application/xml"},
            auth=auth,
            timeout=120,
        )
    elif kind == 1:
        response = requests.request(
            "PROPFIND",
            f"{url}/",
            data=PROPFIND_BODY,
            headers={"Depth": "0", "Content-Type": "application/xml"},
            auth=auth,
            timeout=120,
        )
    elif kind == 2:
        response = requests.get(f"{url}/{user}/", auth=auth, timeout=120)
    else:
        # a calendar of its own, then an event in it: MKCALENDAR races the others
        requests.request("MKCALENDAR", f"{url}/{user}/cal{number % 2}/", auth=auth, timeout=120)
        response = requests.put(
            f"{url}/{user}/cal{number % 2}/e{number}.ics",
            data=EVENT.format(uid=f"{user}-{number}"),
            headers={"Content-Type": "text/calendar"},
            auth=auth,
            timeout=120,
        )
    return response.request.method or "?", response.status_code


def burst(url: str, user: str) -> list[tuple[str, int]]:
    """PARALLEL first requests of ``user``, released together; (method, status) each."""
    start = threading.Barrier(PARALLEL)
    answers: list[tuple[str, int]] = []
    lock = threading.Lock()

    def client(number: int) -> None:
        start.wait()
        try:
            answer = first_request(url, user, number)
        except requests.RequestException as exc:
            answer = (type(exc).__name__, 599)
        with lock:
            answers.append(answer)

    threads = [threading.Thread(target=client, args=(n,)) for n in range(PARALLEL)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(300)
    return answers


def test_parallel_first_requests_of_new_users_never_answer_5xx(server: LiveServer) -> None:
    engine = db.get_engine(server.database_url)
    failures: list[str] = []
    for round_number in range(FRESH_USERS):
        user = f"newcomer{round_number}"
        users.add(engine, user, PASSWORD, f"{user}@example.org")
        answers = burst(server.url, user)
        assert len(answers) == PARALLEL
        failures += [f"{user}: {method} {status}" for method, status in answers if status >= 500]
        with engine.connect() as conn:
            homes = conn.execute(
                select(func.count()).select_from(collections).where(collections.c.path == user)
            ).scalar()
            cached = conn.execute(select(func.count()).select_from(login_cache)).scalar()
        assert homes == 1
        assert cached == round_number + 1
    log = server.log_path.read_text(errors="replace")
    assert failures == [], "\n".join(failures) + "\n" + log[-6000:]
