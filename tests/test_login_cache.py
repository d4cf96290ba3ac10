"""The shared cache of verified logins: a new process (or a restart) skips argon2 for a
login another process verified, and a password change ends it everywhere at once."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from sqlalchemy import select

from calserver import db
from calserver.accounts import passwords, users
from calserver.auth import Auth
from calserver.db.models import login_cache
from tests.conftest import make_configuration
from tests.test_auth import context


def _auth(database_url: str, tmp_path: Path) -> Auth:
    configuration = make_configuration(database_url, tmp_path)
    db.ensure_schema(db.engine_for(configuration))
    return Auth(configuration)


def _count_verifications(monkeypatch: Any) -> list[str]:
    calls: list[str] = []
    real = passwords.verify

    def counting(password: str, stored: str | None) -> Any:
        calls.append(password)
        return real(password, stored)

    monkeypatch.setattr(passwords, "verify", counting)
    return calls


def test_second_process_skips_argon2_for_a_login_verified_elsewhere(
    database_url: str, tmp_path: Path, monkeypatch: Any
) -> None:
    first = _auth(database_url, tmp_path)
    users.add(first._engine, "alice", "s3cret")
    calls = _count_verifications(monkeypatch)
    assert first.login("alice", "s3cret", context())[0] == "alice"
    assert calls == ["s3cret"]
    second = _auth(database_url, tmp_path)  # another process: an empty in-process cache
    assert second.login("alice", "s3cret", context())[0] == "alice"
    assert calls == ["s3cret"]  # no second argon2 verification
    assert second.login("alice", "wrong", context())[0] == ""


def test_password_change_ends_the_shared_entry(database_url: str, tmp_path: Path) -> None:
    first = _auth(database_url, tmp_path)
    users.add(first._engine, "alice", "old-password")
    assert first.login("alice", "old-password", context())[0] == "alice"
    users.set_password(first._engine, "alice", "new-password")
    second = _auth(database_url, tmp_path)
    assert second.login("alice", "old-password", context())[0] == ""
    assert first.login("alice", "old-password", context())[0] == ""
    assert second.login("alice", "new-password", context())[0] == "alice"


def test_stored_digest_is_keyed_not_a_plain_hash(database_url: str, tmp_path: Path) -> None:
    auth = _auth(database_url, tmp_path)
    users.add(auth._engine, "alice", "s3cret")
    assert auth.login("alice", "s3cret", context())[0] == "alice"
    with auth._engine.connect() as conn:
        digest = conn.execute(select(login_cache.c.digest)).scalar_one()
    assert digest != hashlib.sha256(b"alice\0s3cret").hexdigest()
    assert (tmp_path / "server.key").stat().st_mode & 0o777 == 0o600
