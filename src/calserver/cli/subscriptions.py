"""``calserver subscribe``, ``calserver subscriptions``, ``calserver unsubscribe``:
calendar subscriptions (issue 18, ``calserver.subscriptions``)."""

from __future__ import annotations

import argparse
import json
from typing import Any

from radicale import config as radicale_config

from calserver.accounts import users
from calserver.cli.common import EXIT_ERROR, EXIT_OK, UsageError, storage_of
from calserver.errors import CalserverError, NotFound
from calserver.subscriptions import manage, refresh


def _user(storage: Any, name: str) -> str:
    if users.get(storage.engine, name) is None:
        raise CalserverError(f"no user {name!r}")
    return name


def cmd_subscribe(cfg: radicale_config.Configuration, args: argparse.Namespace) -> int:
    storage = storage_of(cfg)
    user = _user(storage, args.user)
    sub = manage.subscribe(
        storage,
        cfg,
        user,
        args.url,
        name=args.name,
        calendar=args.calendar,
        color=args.color,
        interval=args.interval,
        strip_alarms=not args.keep_alarms,
        strip_attachments=args.strip_attachments,
    )
    print(f"subscription {sub.id}: {sub.calendar} shows {sub.url}")
    if args.no_fetch:
        return EXIT_OK
    failed = False
    for outcome in refresh.refresh_now(storage, cfg, user, subscription_id=sub.id):
        print(outcome.line())
        failed = failed or outcome.status == "failed"
    return EXIT_ERROR if failed else EXIT_OK


def cmd_subscriptions(cfg: radicale_config.Configuration, args: argparse.Namespace) -> int:
    words: list[str] = args.words
    storage = storage_of(cfg)
    if words and words[0] == "refresh":
        if args.all == (len(words) == 2):
            raise UsageError("usage: calserver subscriptions refresh USER|--all")
        user = None if args.all else _user(storage, words[1])
        outcomes = refresh.refresh_now(storage, cfg, user)
        if not outcomes:
            print("no subscription to refresh")
        for outcome in outcomes:
            print(outcome.line())
        return EXIT_ERROR if any(o.status == "failed" for o in outcomes) else EXIT_OK
    if len(words) != 1 or args.all:
        raise UsageError("usage: calserver subscriptions USER | subscriptions refresh USER|--all")
    user = _user(storage, words[0])
    found = manage.list_for(storage.engine, user)
    if args.json:
        print(json.dumps({"subscriptions": [s.as_json() for s in found]}, indent=2))
        return EXIT_OK
    if not found:
        print(f"{user} has no subscription")
    for sub in found:
        state = (
            f"error: {sub.last_error}"
            if sub.failures
            else (sub.last_error or ("ok" if sub.last_success else "not fetched yet"))
        )
        print(f"{sub.id}\t{sub.calendar}\t{sub.url}\t{sub.events} events\t{state}")
    return EXIT_OK


def cmd_unsubscribe(cfg: radicale_config.Configuration, args: argparse.Namespace) -> int:
    storage = storage_of(cfg)
    user = _user(storage, args.user)
    target = args.subscription
    for sub in manage.list_for(storage.engine, user):
        if target in (str(sub.id), sub.calendar, sub.calendar.split("/", 1)[1]):
            manage.unsubscribe(storage, user, sub.id)
            print(f"subscription {sub.id} ended; calendar {sub.calendar} deleted")
            return EXIT_OK
    raise NotFound(f"{user} has no subscription {target!r}")


def add_parser(sub: Any, parent: argparse.ArgumentParser) -> None:
    """``calserver subscribe``, ``subscriptions``, ``unsubscribe``."""
    p = sub.add_parser(
        "subscribe",
        help="subscribe USER to an http(s)/webcal calendar (a read-only calendar the server "
        "keeps up to date)",
        parents=[parent],
    )
    p.set_defaults(func=cmd_subscribe)
    p.add_argument("user", metavar="USER")
    p.add_argument("url", metavar="URL")
    p.add_argument("--name", metavar="TEXT", help="the calendar's display name")
    p.add_argument(
        "--calendar", metavar="CAL", help="the calendar's path name (default: from --name)"
    )
    p.add_argument("--color", metavar="#RRGGBB", help="the calendar's colour")
    p.add_argument(
        "--interval",
        type=int,
        metavar="SECONDS",
        help="seconds between refreshes (default: the source's REFRESH-INTERVAL, else "
        "[subscriptions] default_interval)",
    )
    p.add_argument("--keep-alarms", action="store_true", help="keep the source's alarms")
    p.add_argument("--strip-attachments", action="store_true", help="leave attachments out")
    p.add_argument("--no-fetch", action="store_true", help="let the worker fetch it first")
    p = sub.add_parser(
        "subscriptions",
        help="list USER's subscriptions; 'subscriptions refresh USER|--all' fetches now",
        usage="calserver subscriptions USER [--json] | subscriptions refresh USER|--all",
        parents=[parent],
    )
    p.set_defaults(func=cmd_subscriptions)
    p.add_argument("words", nargs="+", metavar="USER | refresh USER")
    p.add_argument("--all", action="store_true", help="with refresh: every subscription")
    p.add_argument("--json", action="store_true", help="print a JSON object")
    p = sub.add_parser(
        "unsubscribe", help="end a subscription and delete its calendar", parents=[parent]
    )
    p.set_defaults(func=cmd_unsubscribe)
    p.add_argument("user", metavar="USER")
    p.add_argument("subscription", metavar="ID|CAL")
