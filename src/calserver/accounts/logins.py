"""The rows of a sign-in: the account with its cached login (``users`` and
``login_cache``), and what a verified password leaves behind (a re-hashed password, the
login cached across processes). The auth plugin (``calserver.auth``) decides; this
module reads and writes."""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    Boolean,
    Engine,
    Float,
    Integer,
    bindparam,
    cast,
    literal,
    null,
    select,
    union_all,
    update,
)

from calserver import db
from calserver.db.models import login_cache, login_failures, users


def account(engine: Engine, login: str) -> Any | None:
    """The row of the user ``login`` (``id``, ``name``, ``password_hash``,
    ``disabled``, ``auth_epoch``) with their cached login (``digest``, ``epoch``,
    ``expires``: None when none), or None when there is no such user."""
    with engine.connect() as conn:
        return conn.execute(
            select(
                users.c.id,
                users.c.name,
                users.c.password_hash,
                users.c.disabled,
                users.c.auth_epoch,
                login_cache.c.digest,
                login_cache.c.epoch,
                login_cache.c.expires,
            )
            .outerjoin(login_cache, login_cache.c.user_id == users.c.id)
            .where(users.c.name == login)
        ).first()


def account_and_failures(
    engine: Engine, login: str, failure_keys: list[str]
) -> tuple[Any | None, list[Any]]:
    """:func:`account` and the ``login_failures`` rows (``key``, ``failures``,
    ``last_failure``) of ``failure_keys`` (as the column holds them), in one statement:
    one read per sign-in (issue 15)."""
    with engine.connect() as conn:
        rows = conn.execute(_SIGN_IN, {"login": login, "keys": failure_keys}).all()
    found = [row for row in rows if row.part == 1]
    return (found[0] if found else None), [row for row in rows if row.part == 2]


def _sign_in_statement() -> Any:
    """The statement of :func:`account_and_failures`, built once (building it is most
    of what it costs)."""
    absent: dict[str, Any] = {
        "id": Integer,
        "name": users.c.name.type,
        "password_hash": users.c.password_hash.type,
        "disabled": Boolean,
        "auth_epoch": Integer,
        "digest": login_cache.c.digest.type,
        "epoch": Integer,
        "expires": Float,
        "key": login_failures.c.key.type,
        "failures": Integer,
        "last_failure": Float,
    }

    def nothing(name: str) -> Any:
        return cast(null(), absent[name]).label(name)

    account_part = (
        select(
            literal(1).label("part"),
            users.c.id,
            users.c.name,
            users.c.password_hash,
            users.c.disabled,
            users.c.auth_epoch,
            login_cache.c.digest,
            login_cache.c.epoch,
            login_cache.c.expires,
            nothing("key"),
            nothing("failures"),
            nothing("last_failure"),
        )
        .outerjoin(login_cache, login_cache.c.user_id == users.c.id)
        .where(users.c.name == bindparam("login"))
    )
    failures_part = select(
        literal(2).label("part"),
        *(nothing(name) for name in list(absent)[:8]),
        login_failures.c.key,
        login_failures.c.failures,
        login_failures.c.last_failure,
    ).where(login_failures.c.key.in_(bindparam("keys", expanding=True)))
    return union_all(account_part, failures_part)


_SIGN_IN = _sign_in_statement()


def record_verified(
    engine: Engine,
    user_id: Any,
    new_hash: str | None,
    cached: tuple[str, int, float] | None,
) -> None:
    """After a verified password, in one transaction: store ``new_hash`` (an imported
    bcrypt/crypt hash turned into argon2) and cache the login (``cached``: digest in
    hex, the account's auth epoch, expiry time)."""
    with db.write_connection(engine) as conn, conn.begin():
        if new_hash:
            conn.execute(update(users).where(users.c.id == user_id).values(password_hash=new_hash))
        if cached is not None:
            # an upsert: a user's first requests, in parallel, all verify and store
            # the same login (a delete and an insert would collide on the key)
            digest, epoch, expires = cached
            db.upsert(
                conn,
                login_cache,
                {"user_id": user_id, "digest": digest, "epoch": epoch, "expires": expires},
                ["user_id"],
            )
