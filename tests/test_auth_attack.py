"""Authentication under attack, against a live server (throttling: 5 free failures
per account as by default, 12 per address (20 by default), then waits doubling from
1 s up to 300 s).

- guessing one account's password from one address is slowed down (most guesses are
  refused without looking at them), even the right password from there waits, while
  the account's owner, from an address they signed in from before, goes on signing in;
- spraying many accounts from one address is slowed down per address, others are not;
- an unknown account answers exactly as a known one with a wrong password (status,
  headers, body, throttling), and costs the same: one argon2 verification with the
  same parameters (checked in-process: a structural check; the live timings are only
  printed, never asserted);
- no password and no Authorization token is ever written to the log, even at debug
  level.

Clients come from different addresses through ``X-Remote-Addr``, which calserver
trusts from a proxy on loopback (``calserver.auth.client_address``), as nginx sends it.
"""

from __future__ import annotations

import base64
import re
import statistics
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from radicale import auth as radicale_auth

from calserver import db
from calserver.accounts import passwords, users
from calserver.auth import Auth
from tests.conftest import PASSWORD, LiveServer, make_configuration
from tests.e2e_support import ENGINES, module_server_with

pytestmark = pytest.mark.live

HOME = "198.51.100.7"  # where alice always signs in from
ATTACKER = "203.0.113.66"
SPRAYER = "203.0.113.99"
PROPFIND = '<D:propfind xmlns:D="DAV:"><D:prop><D:resourcetype/></D:prop></D:propfind>'
#: Every password sent in this module, to look for in the log.
SENT_PASSWORDS: set[str] = {PASSWORD}


@pytest.fixture(scope="module", params=ENGINES)
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    """12 free failures per address, logging at debug level (the most a log holds)."""
    yield from module_server_with(
        request,
        tmp_path_factory,
        ["alice", "bob", "carol", "dave"],
        "--logging-level",
        "debug",
        "--auth-throttle-address-free-attempts",
        "12",
    )


def sign_in(server: LiveServer, user: str, password: str, address: str) -> requests.Response:
    SENT_PASSWORDS.add(password)
    return requests.request(
        "PROPFIND",
        f"{server.url}/{user}/",
        data=PROPFIND,
        headers={"Depth": "0", "Content-Type": "application/xml", "X-Remote-Addr": address},
        auth=(user, password),
        timeout=60,
    )


def failures(server: LiveServer, user: str, address: str) -> tuple[int, int]:
    """(failures checked, failures refused while throttled) logged for user and address."""
    log = server.log_path.read_text(errors="replace")
    line = re.escape(f"authentication failure for user={user} from={address}")
    checked = len(re.findall(line + r"\s*$", log, re.MULTILINE))
    throttled = len(re.findall(line + r" \(throttled\)", log))
    return checked, throttled


def test_guessing_one_password_is_throttled_while_its_owner_still_signs_in(
    server: LiveServer,
) -> None:
    assert sign_in(server, "alice", PASSWORD, HOME).status_code == 207  # her usual place

    guesses = [f"guess-alice-{n}" for n in range(30)]
    for guess in guesses:
        assert sign_in(server, "alice", guess, ATTACKER).status_code == 401
    checked, throttled = failures(server, "alice", ATTACKER)
    assert checked + throttled == 30
    # after 5 free failures each one waits 2^(n-5) s: a burst of 30 gets a few checked
    assert 5 <= checked <= 10 and throttled >= 20, (checked, throttled)

    # while the attack goes on, alice keeps signing in from home
    stop = threading.Event()

    def attack() -> None:
        n = 0
        while not stop.is_set():
            n += 1
            sign_in(server, "alice", f"guess-alice-more-{n}", ATTACKER)

    attacker = threading.Thread(target=attack)
    attacker.start()
    try:
        for _ in range(5):
            assert sign_in(server, "alice", PASSWORD, HOME).status_code == 207
            time.sleep(0.2)
    finally:
        stop.set()
        attacker.join(60)
    # bob, from the attacker's address, is not locked out by alice's account counter
    assert sign_in(server, "bob", PASSWORD, ATTACKER).status_code == 207


def test_spraying_many_accounts_from_one_address_is_throttled_per_address(
    server: LiveServer,
) -> None:
    for n in range(24):
        user = ("bob", "carol", f"nobody{n}")[n % 3]
        assert sign_in(server, user, f"spray-{n}", SPRAYER).status_code == 401
    log = server.log_path.read_text(errors="replace")
    sprayed = re.findall(
        rf"authentication failure for user=\S+ from={SPRAYER}( \(throttled\))?", log
    )
    assert len(sprayed) == 24
    checked = sprayed.count("")
    assert 12 <= checked <= 17, checked  # 12 free per address, then waits
    assert sign_in(server, "alice", PASSWORD, HOME).status_code == 207  # other addresses do not


def answer_of(response: requests.Response) -> tuple[int, str | None, bytes]:
    return response.status_code, response.headers.get("WWW-Authenticate"), response.content


def test_an_unknown_account_answers_like_a_known_one(
    server: LiveServer, record_property: Callable[[str, object], None]
) -> None:
    timings: dict[str, list[float]] = {}
    answers: dict[str, set[tuple[int, str | None, bytes]]] = {}
    for user, address in (("dave", "192.0.2.61"), ("nosuchuser", "192.0.2.62")):
        timings[user], answers[user] = [], set()
        for n in range(8):
            started = time.perf_counter()
            response = sign_in(server, user, f"wrong-{user}-{n}", address)
            if n < 5:  # not throttled yet: the password is checked
                timings[user].append(time.perf_counter() - started)
            answers[user].add(answer_of(response))
        checked, throttled = failures(server, user, address)
        assert checked >= 5 and throttled >= 1, (user, checked, throttled)
    assert answers["dave"] == answers["nosuchuser"]
    assert len(answers["dave"]) == 1  # and the throttled answers are the same too
    medians = {user: statistics.median(values) for user, values in timings.items()}
    record_property("login_failure_median_seconds", medians)
    print(
        f"\nauth: median time of a checked failure: known account "
        f"{medians['dave'] * 1000:.0f} ms, unknown account {medians['nosuchuser'] * 1000:.0f} ms"
    )


def test_no_password_or_token_ever_reaches_the_log(server: LiveServer) -> None:
    """Runs last in the module: every password sent above, at debug level."""
    log = server.log_path.read_text(errors="replace")
    assert "authentication failure" in log and "[DEBUG]" in log  # the log is the full one
    for password in SENT_PASSWORDS:
        assert password not in log, password
        for user in ("alice", "bob", "carol", "dave", "nosuchuser"):
            token = base64.b64encode(f"{user}:{password}".encode()).decode()
            assert token not in log


# --- in-process: the same work for an unknown account ------------------------------------


def hash_parameters(value: str) -> str:
    """Scheme and cost parameters of a passlib hash ("argon2:m=65536,t=3,p=4")."""
    scheme = passwords.context.identify(value)
    match = re.match(r"\$argon2\w*\$v=\d+\$([^$]+)\$", value)
    return f"{scheme}:{match.group(1) if match else ''}"


def test_an_unknown_account_costs_one_verification_with_the_same_parameters(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Structural: a wrong password for a known account and any password for an
    unknown one each run exactly one hash verification, of the same scheme and cost."""
    configuration = make_configuration("sqlite:///" + str(tmp_path / "auth.sqlite"), tmp_path)
    engine = db.engine_for(configuration)
    db.ensure_schema(engine)
    users.add(engine, "alice", PASSWORD)
    auth = Auth(configuration)
    verified: list[str] = []
    real = passwords.context

    class Spy:
        def verify(self, secret: str, stored: str) -> Any:
            verified.append(hash_parameters(stored))
            return real.verify(secret, stored)

        def verify_and_update(self, secret: str, stored: str) -> Any:
            verified.append(hash_parameters(stored))
            return real.verify_and_update(secret, stored)

        def __getattr__(self, name: str) -> Any:
            return getattr(real, name)

    monkeypatch.setattr(passwords, "context", Spy())

    def attempt(user: str, address: str) -> list[str]:
        verified.clear()
        context = radicale_auth.AuthContext()
        context.remote_addr = address
        assert auth.login(user, "wrong password", context)[0] == ""
        return list(verified)

    known = attempt("alice", "192.0.2.1")
    unknown = attempt("nobody", "192.0.2.2")
    assert len(known) == 1 and known == unknown
    assert known[0].startswith("argon2:m=")
    db.dispose_engines()
