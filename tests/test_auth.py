"""The auth plugin: password hashes, the login cache, throttling, the fail2ban line.

``calserver.auth.Auth`` is driven through Radicale's own ``login()`` wrapper, as the
application does; the throttle's clock is a fake one, so no test sleeps.
"""

from __future__ import annotations

import logging
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import requests
from passlib.hash import apr_md5_crypt, bcrypt, sha512_crypt
from radicale import auth as radicale_auth
from sqlalchemy import select, update

from calserver import db
from calserver.accounts import passwords, throttle, users
from calserver.accounts.throttle import Throttle, ThrottlePolicy, fit_key, required_wait
from calserver.auth import Auth, client_address
from calserver.db.models import login_failures
from calserver.db.models import users as users_table
from tests.conftest import PASSWORD, LiveServer, make_configuration


def context(remote: str = "192.0.2.10", forwarded: str | None = None) -> Any:
    ctx = radicale_auth.AuthContext()
    ctx.remote_addr = remote
    ctx.x_remote_addr = forwarded
    return ctx


def make_auth(database_url: str, tmp_path: Path, **auth_options: str) -> Auth:
    configuration = make_configuration(database_url, tmp_path, auth=auth_options)
    db.ensure_schema(db.engine_for(configuration))
    return Auth(configuration)


def login(auth: Auth, name: str, password: str, remote: str = "192.0.2.10") -> str:
    user, _, _ = auth.login(name, password, context(remote))
    return user


def stored_hash(engine: Any, name: str) -> str:
    with engine.connect() as conn:
        return str(
            conn.execute(
                select(users_table.c.password_hash).where(users_table.c.name == name)
            ).scalar_one()
        )


class Clock:
    """The throttle's clock, moved by hand."""

    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def time(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    fake = Clock()
    monkeypatch.setattr(throttle, "time", SimpleNamespace(time=fake.time))
    return fake


@pytest.fixture
def verify_calls(monkeypatch: pytest.MonkeyPatch) -> list[str | None]:
    """The stored hashes passwords.verify was asked to check (None: no account)."""
    calls: list[str | None] = []
    original = passwords.verify

    def spy(password: str, stored: str | None) -> tuple[bool, str | None]:
        calls.append(stored)
        return original(password, stored)

    monkeypatch.setattr(passwords, "verify", spy)
    return calls


@pytest.fixture
def auth(database_url: str, tmp_path: Path, engine: Any) -> Auth:
    users.add(engine, "alice", PASSWORD, "alice@example.org")
    return make_auth(database_url, tmp_path)


# --- hashes ------------------------------------------------------------------------------


def test_new_passwords_are_stored_as_argon2(engine: Any) -> None:
    users.add(engine, "alice", PASSWORD)
    stored = stored_hash(engine, "alice")
    assert stored.startswith("$argon2id$")
    assert PASSWORD not in stored
    users.set_password(engine, "alice", "another secret")
    assert stored_hash(engine, "alice").startswith("$argon2id$")
    assert stored_hash(engine, "alice") != stored


@pytest.mark.parametrize(
    "scheme", [bcrypt, sha512_crypt, apr_md5_crypt], ids=["bcrypt", "sha512-crypt", "apr1"]
)
def test_htpasswd_hashes_verify_and_are_upgraded_to_argon2_at_login(
    database_url: str, tmp_path: Path, engine: Any, scheme: Any
) -> None:
    users.add(engine, "alice", "placeholder")
    legacy = scheme.hash(PASSWORD)
    users.set_hash(engine, "alice", legacy)
    auth = make_auth(database_url, tmp_path)
    assert login(auth, "alice", "wrong") == ""
    assert stored_hash(engine, "alice") == legacy  # a failed login upgrades nothing
    assert login(auth, "alice", PASSWORD) == "alice"
    upgraded = stored_hash(engine, "alice")
    assert upgraded.startswith("$argon2id$")
    assert passwords.verify(PASSWORD, upgraded) == (True, None)
    # a fresh process (no cache) logs in with the upgraded hash
    assert login(make_auth(database_url, tmp_path), "alice", PASSWORD) == "alice"


def test_unsupported_hash_is_refused_on_import(engine: Any) -> None:
    users.add(engine, "alice", PASSWORD)
    with pytest.raises(users.InvalidInput):
        users.set_hash(engine, "alice", "{SHA}plain-old-sha1")
    assert stored_hash(engine, "alice").startswith("$argon2id$")


# --- the login cache ---------------------------------------------------------------------


def test_login_cache_spares_the_hash_on_repeated_logins(
    auth: Auth, verify_calls: list[str | None]
) -> None:
    assert login(auth, "alice", PASSWORD) == "alice"
    assert login(auth, "alice", PASSWORD) == "alice"
    assert len(verify_calls) == 1
    assert login(auth, "alice", "wrong") == ""  # a cached login never admits another password
    assert len(verify_calls) == 2


def test_password_change_invalidates_the_login_cache_at_once(
    auth: Auth, engine: Any, verify_calls: list[str | None]
) -> None:
    assert login(auth, "alice", PASSWORD) == "alice"
    assert login(auth, "alice", PASSWORD) == "alice"
    assert len(verify_calls) == 1  # cached
    users.set_password(engine, "alice", "new secret")
    assert login(auth, "alice", PASSWORD) == ""
    assert login(auth, "alice", "new secret") == "alice"


def test_disabling_invalidates_the_login_cache_and_refuses_the_user(
    auth: Auth, engine: Any, database_url: str, tmp_path: Path
) -> None:
    assert login(auth, "alice", PASSWORD) == "alice"
    users.set_disabled(engine, "alice", True)
    assert login(auth, "alice", PASSWORD) == ""
    assert login(make_auth(database_url, tmp_path), "alice", PASSWORD) == ""
    users.set_disabled(engine, "alice", False)
    assert login(auth, "alice", PASSWORD) == "alice"


def test_cache_of_one_process_follows_a_change_made_by_another(
    database_url: str, tmp_path: Path, engine: Any
) -> None:
    """Two Auth instances stand for two server processes: each caches on its own, the
    database carries the change."""
    users.add(engine, "alice", PASSWORD)
    first, second = make_auth(database_url, tmp_path), make_auth(database_url, tmp_path)
    assert login(first, "alice", PASSWORD) == login(second, "alice", PASSWORD) == "alice"
    users.set_password(engine, "alice", "changed by an admin")
    assert login(first, "alice", PASSWORD) == ""
    assert login(second, "alice", PASSWORD) == ""
    assert login(second, "alice", "changed by an admin") == "alice"
    users.set_disabled(engine, "alice", True)
    assert login(first, "alice", "changed by an admin") == ""
    assert login(second, "alice", "changed by an admin") == ""


def _propfind(server: LiveServer, password: str) -> int:
    response = requests.request(
        "PROPFIND",
        server.url + "/alice/",
        auth=("alice", password),
        headers={"Depth": "0"},
        timeout=30,
    )
    return response.status_code


@pytest.mark.live
def test_cli_password_change_and_disable_reach_a_running_server_at_once(
    live_server: LiveServer,
) -> None:
    assert _propfind(live_server, PASSWORD) == 207
    assert _propfind(live_server, PASSWORD) == 207  # now from the server's cache
    result = live_server.cli(
        "user", "passwd", "alice", "--password-stdin", stdin="brand new secret\n"
    )
    assert result.returncode == 0, result.stderr
    assert _propfind(live_server, PASSWORD) == 401
    assert _propfind(live_server, "brand new secret") == 207
    assert live_server.cli("user", "disable", "alice").returncode == 0
    assert _propfind(live_server, "brand new secret") == 401
    assert live_server.cli("user", "enable", "alice").returncode == 0
    assert _propfind(live_server, "brand new secret") == 207


# --- unknown user and wrong password look the same ---------------------------------------


def test_unknown_user_and_wrong_password_are_indistinguishable(
    auth: Auth, verify_calls: list[str | None], caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="calserver.security"):
        wrong = auth.login("alice", "wrong", context())
        unknown = auth.login("mallory", "wrong", context())
    assert wrong == ("", wrong[1], set()) and unknown == ("", wrong[1], set())
    # both checked a hash (a dummy one for the unknown user): the same work
    assert len(verify_calls) == 2
    assert verify_calls[0] is not None and verify_calls[1] is None
    lines = [r.getMessage() for r in caplog.records if r.name == "calserver.security"]
    assert lines == [
        "calserver: authentication failure for user=alice from=192.0.2.10",
        "calserver: authentication failure for user=mallory from=192.0.2.10",
    ]


def test_disabled_user_cannot_log_in(auth: Auth, engine: Any) -> None:
    users.set_disabled(engine, "alice", True)
    assert login(auth, "alice", PASSWORD) == ""
    assert users.get(engine, "alice") == users.User("alice", "alice@example.org", True)


# --- the fail2ban line -------------------------------------------------------------------


def test_failure_log_line_for_fail2ban_never_contains_the_password(
    auth: Auth, caplog: pytest.LogCaptureFixture
) -> None:
    secret = "s3cr3t-guess-Ω"
    with caplog.at_level(logging.DEBUG):
        login(auth, "alice", secret, remote="203.0.113.7")
        login(auth, "al ice\nforged line", secret, remote="203.0.113.7")
        login(auth, "alice", PASSWORD, remote="203.0.113.7")
    security = [r.getMessage() for r in caplog.records if r.name == "calserver.security"]
    assert security[0] == "calserver: authentication failure for user=alice from=203.0.113.7"
    # a login name cannot forge a second line or shift the fields fail2ban reads
    assert "\n" not in security[1] and " " not in security[1].split("user=")[1].split(" ")[0]
    assert security[1].endswith(" from=203.0.113.7")
    assert len(security) == 2  # the successful login is not a failure
    assert secret not in caplog.text and PASSWORD not in caplog.text


def test_forwarded_address_is_trusted_only_from_a_proxy_on_loopback() -> None:
    assert client_address(context("127.0.0.1", "198.51.100.4")) == "198.51.100.4"
    assert client_address(context("::1", "198.51.100.4")) == "198.51.100.4"
    assert client_address(context("192.0.2.10", "198.51.100.4")) == "192.0.2.10"
    assert client_address(context("192.0.2.10")) == "192.0.2.10"
    assert client_address(context("", None)) == "unknown"


# --- throttling --------------------------------------------------------------------------


def test_required_wait_grows_exponentially_and_is_capped() -> None:
    assert [required_wait(n, 3, 60) for n in range(0, 3)] == [0.0, 0.0, 0.0]
    assert [required_wait(n, 3, 60) for n in range(3, 9)] == [1.0, 2.0, 4.0, 8.0, 16.0, 32.0]
    assert required_wait(9, 3, 60) == 60.0
    assert required_wait(10**6, 3, 60) == 60.0  # no overflow
    assert required_wait(0, 0, 60) == 1.0


def _throttle(engine: Any, **overrides: int) -> Throttle:
    policy = {"free_attempts": 3, "address_free_attempts": 5, "max_delay": 60, "window": 900}
    policy.update(overrides)
    return Throttle(engine, ThrottlePolicy(**policy))


def test_throttle_blocks_after_free_attempts_until_the_wait_has_passed(engine: Any) -> None:
    t = _throttle(engine)
    now = 1_800_000_000.0
    for n in range(3):
        assert not t.blocked(["user:alice"], now=now + n)
        t.record_failure(["user:alice"], now=now + n)
    last = now + 2
    assert t.blocked(["user:alice"], now=last + 0.5)  # wait 1 s after the third failure
    assert not t.blocked(["user:alice"], now=last + 1.0)
    t.record_failure(["user:alice"], now=last + 1.0)
    assert t.blocked(["user:alice"], now=last + 2.5)  # now 2 s
    assert not t.blocked(["user:alice"], now=last + 3.0)
    assert not t.blocked(["user:bob"], now=last + 1.5)  # per key


def test_throttle_forgets_failures_after_the_window(engine: Any) -> None:
    t = _throttle(engine, window=100)
    now = 1_800_000_000.0
    for _ in range(10):
        t.record_failure(["user:alice"], now=now)
    assert t.blocked(["user:alice"], now=now + 50)
    assert not t.blocked(["user:alice"], now=now + 101)
    t.record_failure(["user:alice"], now=now + 101)  # counting starts again
    with engine.connect() as conn:
        failures = conn.execute(
            select(login_failures.c.failures).where(login_failures.c.key == "user:alice")
        ).scalar_one()
    assert failures == 1


def test_overlong_throttle_keys_fit_the_column_and_stay_distinct(engine: Any) -> None:
    t = _throttle(engine, free_attempts=1)
    now = 1_800_000_000.0
    one, two = "user:" + "a" * 1000, "user:" + "a" * 999 + "b"
    assert len(fit_key(one)) <= 400 and fit_key(one) != fit_key(two)
    assert fit_key("user:alice") == "user:alice"
    t.record_failure([one], now=now)
    assert t.blocked([one], now=now + 0.5)
    assert not t.blocked([two], now=now + 0.5)


def test_after_n_failures_even_the_right_password_waits(
    database_url: str,
    tmp_path: Path,
    engine: Any,
    clock: Clock,
    verify_calls: list[str | None],
) -> None:
    users.add(engine, "alice", PASSWORD)
    auth = make_auth(
        database_url,
        tmp_path,
        throttle_free_attempts="3",
        throttle_address_free_attempts="100",
        throttle_max_delay="60",
    )
    for n in range(3):
        clock.now += 1
        assert login(auth, "alice", f"guess {n}", remote=f"192.0.2.{n}") == ""
    checked = len(verify_calls)
    clock.now += 0.5
    assert login(auth, "alice", PASSWORD, remote="192.0.2.99") == ""  # from anywhere
    assert len(verify_calls) == checked  # refused without looking at the password
    clock.now += 0.6  # 1.1 s after the last failure: the 1 s wait has passed
    assert login(auth, "alice", PASSWORD, remote="192.0.2.99") == "alice"
    with engine.connect() as conn:  # success forgets the account's failures
        assert (
            conn.execute(
                select(login_failures.c.key).where(login_failures.c.key == "user:alice")
            ).first()
            is None
        )


def test_throttled_attempts_are_not_counted(
    database_url: str, tmp_path: Path, engine: Any, clock: Clock
) -> None:
    users.add(engine, "alice", PASSWORD)
    auth = make_auth(
        database_url,
        tmp_path,
        throttle_free_attempts="2",
        throttle_address_free_attempts="100",
        throttle_max_delay="60",
    )
    for _ in range(2):
        clock.now += 1
        login(auth, "alice", "guess")
    for _ in range(20):  # hammering during the wait
        clock.now += 0.01
        assert login(auth, "alice", "guess") == ""
    with engine.connect() as conn:
        failures = conn.execute(
            select(login_failures.c.failures).where(login_failures.c.key == "user:alice")
        ).scalar_one()
    assert failures == 2


def test_per_address_throttle_covers_every_account_from_that_address(
    database_url: str, tmp_path: Path, engine: Any, clock: Clock
) -> None:
    users.add(engine, "alice", PASSWORD)
    users.add(engine, "bob", PASSWORD)
    auth = make_auth(
        database_url,
        tmp_path,
        throttle_free_attempts="100",
        throttle_address_free_attempts="3",
        throttle_max_delay="60",
    )
    for name in ("carol", "dave", "erin"):  # spraying over accounts
        clock.now += 1
        assert login(auth, name, "guess", remote="198.51.100.9") == ""
    clock.now += 0.5
    assert login(auth, "bob", PASSWORD, remote="198.51.100.9") == ""
    assert login(auth, "bob", PASSWORD, remote="192.0.2.10") == "bob"  # elsewhere: fine
    clock.now += 1
    assert login(auth, "alice", PASSWORD, remote="198.51.100.9") == "alice"


def test_throttle_counters_are_shared_by_processes(
    database_url: str, tmp_path: Path, engine: Any, clock: Clock
) -> None:
    users.add(engine, "alice", PASSWORD)
    options = {"throttle_free_attempts": "2", "throttle_address_free_attempts": "100"}
    first, second = (
        make_auth(database_url, tmp_path, **options),
        make_auth(database_url, tmp_path, **options),
    )
    clock.now += 1
    login(first, "alice", "guess")
    clock.now += 1
    login(second, "alice", "guess")
    clock.now += 0.5
    assert login(first, "alice", PASSWORD) == ""
    assert login(second, "alice", PASSWORD) == ""


def test_throttle_log_line_marks_throttled_attempts(
    database_url: str,
    tmp_path: Path,
    engine: Any,
    clock: Clock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    users.add(engine, "alice", PASSWORD)
    auth = make_auth(database_url, tmp_path, throttle_free_attempts="1")
    with caplog.at_level(logging.WARNING, logger="calserver.security"):
        clock.now += 1
        login(auth, "alice", "guess", remote="192.0.2.5")
        login(auth, "alice", PASSWORD, remote="192.0.2.5")
    lines = [r.getMessage() for r in caplog.records if r.name == "calserver.security"]
    assert lines == [
        "calserver: authentication failure for user=alice from=192.0.2.5",
        "calserver: authentication failure for user=alice from=192.0.2.5 (throttled)",
    ]
    assert PASSWORD not in caplog.text


def test_disabled_flag_written_directly_is_honoured(auth: Auth, engine: Any) -> None:
    """An admin tool that flips the column (and bumps the epoch) is obeyed at once."""
    assert login(auth, "alice", PASSWORD) == "alice"
    with db.write_connection(engine) as conn, conn.begin():
        conn.execute(
            update(users_table)
            .where(users_table.c.name == "alice")
            .values(disabled=True, auth_epoch=users_table.c.auth_epoch + 1)
        )
    assert login(auth, "alice", PASSWORD) == ""
