"""``calserver calendar ...``: create, list and delete calendars."""

from __future__ import annotations

import argparse

from radicale import config as radicale_config

from calserver import calendars
from calserver.accounts import users
from calserver.cli.common import EXIT_OK, storage_of
from calserver.errors import CalserverError


def cmd_calendar_create(cfg: radicale_config.Configuration, args: argparse.Namespace) -> int:
    storage = storage_of(cfg)
    user, _ = calendars.parse_path(args.path)
    if not user.startswith("@") and users.get(storage.engine, user) is None:
        raise CalserverError(f"no user {user!r}")
    info = calendars.create(storage, args.path, args.name, args.color)
    print(f"calendar {info.path} created")
    return EXIT_OK


def cmd_calendar_list(cfg: radicale_config.Configuration, args: argparse.Namespace) -> int:
    for info in calendars.list_calendars(storage_of(cfg), args.user):
        print(f"{info.path}\t{info.name}\t{info.color}\t{info.events} items")
    return EXIT_OK


def cmd_calendar_delete(cfg: radicale_config.Configuration, args: argparse.Namespace) -> int:
    calendars.delete_calendar(storage_of(cfg), args.path)
    print(f"calendar {args.path} deleted")
    return EXIT_OK
