"""The write hook that keeps subscribed calendars read-only for clients.

A subscribed calendar is written by the refresh only (``calserver.subscriptions.refresh``
writes its rows directly, announcing nothing). A client's PUT or DELETE of one of its
events, by its owner or by someone it is shared with, is refused with 403 and a reason
in words, through the same refusal path as scheduling's (``calserver.context.refusal``).
The writes that announce no hook, a MOVE into or out of it and a PUT of the whole
calendar, are refused before they start (:func:`refusal`, called by
``calserver.dav.application``). Deleting the whole calendar is allowed: it ends the
subscription.
"""

from __future__ import annotations

from typing import Any

from radicale import pathutils

from calserver import context, db
from calserver.scheduling.copies import Refused
from calserver.sharing.visibility import alias_target
from calserver.storage.hooks import WriteEvent
from calserver.subscriptions.manage import subscription_of


class ReadOnly(Refused):
    """A client's write into a subscribed calendar."""


def _read_only(calendar: str, url: str) -> ReadOnly:
    return ReadOnly(
        f"{calendar} is a subscription of {url} and is read-only: its events come "
        "from there (change them at the source, or unsubscribe)",
        status=403,
    )


def _refuse(event: WriteEvent) -> None:
    if event.tag != "VCALENDAR":
        return
    url = subscription_of(event.conn, event.target)
    if url is None:
        return
    refusal = _read_only(event.target, url)
    context.refusal.set(refusal)
    raise refusal


def _calendar_of(path: str) -> str | None:
    """``USER/CAL`` of a calendar or item path (an alias in a home: its calendar)."""
    parts = pathutils.strip_path(path).split("/")
    if len(parts) < 2:
        return None
    return alias_target(parts[1]) or f"{parts[0]}/{parts[1]}"


def refusal(storage: Any, *paths: str) -> ReadOnly | None:
    """Why a MOVE or a whole-calendar PUT touching ``paths`` may not go on: one of them
    is in a subscribed calendar (None: none is)."""
    calendars = {c for c in map(_calendar_of, paths) if c is not None}
    if not calendars:
        return None
    with db.read_transaction(storage.engine) as conn:
        for calendar in sorted(calendars):
            url = subscription_of(conn, calendar)
            if url is not None:
                return _read_only(calendar, url)
    return None


def register(storage: object) -> None:
    """Refuse clients' writes into subscribed calendars (the composition root calls it)."""
    storage.hooks.register(before_store=_refuse, before_delete=_refuse)  # type: ignore[attr-defined]
