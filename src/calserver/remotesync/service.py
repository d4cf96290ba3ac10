"""What the surfaces (API, CLI, web app) do with pairs: add one to a calendar its
owner may change, list, change, remove, read the logs. A pair belongs to the owner of
its calendar; nobody else sees it (another person's pair is "not found", as if it did
not exist). Credentials go in sealed (:mod:`calserver.remotesync.credentials`) and
never come out."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from calserver import keys
from calserver.calendars import parse_path
from calserver.db import read_transaction
from calserver.db.models import collections
from calserver.errors import InvalidInput, NotFound
from calserver.remotesync import credentials, store

OAUTH_FIELDS = ("access_token", "refresh_token", "token_url", "client_id", "client_secret")


def _collection_id(engine: Any, calendar: str) -> int:
    owner, cal = parse_path(calendar)
    with read_transaction(engine) as conn:
        row = conn.execute(
            select(collections.c.id, collections.c.tag).where(
                collections.c.path == f"{owner}/{cal}"
            )
        ).first()
    if row is None or row.tag != "VCALENDAR":
        raise NotFound(f"no calendar {owner}/{cal}")
    return int(row.id)


def sealed_credentials(
    configuration: Any, owner: str, auth: dict[str, Any]
) -> tuple[str, str, str]:
    """(auth type, username, sealed secret) of ``auth``: ``{"type": "basic", "username",
    "password"}`` or ``{"type": "oauth2", "access_token"?, "refresh_token", "token_url",
    "client_id", "client_secret"?}``."""
    kind = auth.get("type", "basic")
    if kind == "basic":
        password = auth.get("password", "")
        if not isinstance(password, str):
            raise InvalidInput("auth.password: a string")
        values: dict[str, Any] = {"password": password}
    elif kind == "oauth2":
        values = {k: str(auth[k]) for k in OAUTH_FIELDS if auth.get(k)}
        if not values.get("access_token") and not (
            values.get("refresh_token") and values.get("token_url")
        ):
            raise InvalidInput(
                "auth: OAuth2 needs an access_token, or a refresh_token and token_url"
            )
    else:
        raise InvalidInput("auth.type: basic or oauth2")
    username = str(auth.get("username", ""))
    secret = credentials.seal(keys.server_key(configuration), owner, values)
    return kind, username, secret


def add(
    engine: Any,
    configuration: Any,
    calendar: str,
    settings: dict[str, Any],
    auth: dict[str, Any],
    *,
    user: str | None = None,
) -> store.Pair:
    """A new pair of ``calendar`` (``OWNER/CAL``); ``user``: who asks (None: the
    administrator)."""
    owner, _cal = parse_path(calendar)
    if user is not None and user != owner:
        raise NotFound(f"no calendar {calendar} of yours")
    if "url" not in settings:
        raise InvalidInput("url: the remote calendar's URL is needed")
    checked = store.check_settings(settings)
    collection_id = _collection_id(engine, calendar)
    kind, username, secret = sealed_credentials(configuration, owner, auth)
    pair_id = store.create(
        engine,
        owner,
        collection_id,
        checked,
        kind,
        username,
        secret,
        checked.pop("interval", None) or float(configuration.get("sync", "interval")),
    )
    return store.get(engine, pair_id)


def get(engine: Any, pair_id: int, user: str | None = None) -> store.Pair:
    pair = store.get(engine, pair_id)
    if user is not None and pair.owner != user:
        raise NotFound(f"no sync {pair_id}")
    return pair


def list_for(engine: Any, user: str | None) -> list[store.Pair]:
    return store.list_pairs(engine, user)


def change(
    engine: Any,
    configuration: Any,
    pair_id: int,
    settings: dict[str, Any],
    auth: dict[str, Any] | None = None,
    *,
    user: str | None = None,
) -> store.Pair:
    pair = get(engine, pair_id, user)
    checked = store.check_settings(settings)
    store.change(engine, pair.id, checked)
    if auth:
        kind, username, secret = sealed_credentials(configuration, pair.owner, auth)
        store.change(engine, pair.id, {"auth_type": kind, "username": username, "secret": secret})
    return store.get(engine, pair.id)


def remove(engine: Any, pair_id: int, user: str | None = None) -> None:
    store.remove(engine, get(engine, pair_id, user).id)


def log(
    engine: Any, pair_id: int, user: str | None = None, limit: int = 50
) -> list[dict[str, Any]]:
    return store.runs(engine, get(engine, pair_id, user).id, limit)


def conflicts(
    engine: Any, pair_id: int, user: str | None = None, limit: int = 100
) -> list[dict[str, Any]]:
    return store.conflicts(engine, get(engine, pair_id, user).id, limit)


def run_soon(engine: Any, pair_id: int, user: str | None = None) -> store.Pair:
    """Ask the worker to run the pair at its next look (whatever the interval)."""
    pair = get(engine, pair_id, user)
    store.due_now(engine, pair.id)
    return store.get(engine, pair.id)
