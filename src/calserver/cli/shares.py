"""``calserver share``, ``unshare`` and ``shares``: grants of calendars."""

from __future__ import annotations

import argparse
import dataclasses
import json

from radicale import config as radicale_config

from calserver.cli.common import EXIT_OK, engine_of
from calserver.sharing import manage


def cmd_share(cfg: radicale_config.Configuration, args: argparse.Namespace) -> int:
    grant = manage.share(engine_of(cfg), args.path, args.grantee, args.level)
    print(f"{grant.calendar} shared with {grant.grantee} at level {grant.level}")
    return EXIT_OK


def cmd_unshare(cfg: radicale_config.Configuration, args: argparse.Namespace) -> int:
    manage.unshare(engine_of(cfg), args.path, args.grantee)
    print(f"{args.path} no longer shared with {args.grantee}")
    return EXIT_OK


def cmd_shares(cfg: radicale_config.Configuration, args: argparse.Namespace) -> int:
    given, received = manage.shares(engine_of(cfg), args.user)
    if args.json:
        print(
            json.dumps(
                {
                    "shared": [dataclasses.asdict(grant) for grant in given],
                    "shared_with_me": [dataclasses.asdict(entry) for entry in received],
                },
                indent=2,
            )
        )
        return EXIT_OK
    for grant in given:
        print(f"shares {grant.calendar} with {grant.grantee}: {grant.level}")
    for entry in received:
        how = " (added)" if entry.added else ""
        print(f"sees {entry.calendar} as {args.user}/{entry.alias}/: {entry.level}{how}")
    return EXIT_OK
