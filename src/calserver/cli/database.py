"""``calserver db upgrade`` and ``calserver check``: the database itself."""

from __future__ import annotations

import argparse

from radicale import config as radicale_config

from calserver import db
from calserver.check import check_storage, repair_storage
from calserver.cli.common import EXIT_ERROR, EXIT_OK, engine_of


def cmd_db_upgrade(cfg: radicale_config.Configuration, args: argparse.Namespace) -> int:
    before, after = db.upgrade(db.engine_for(cfg))
    if before == after:
        print(f"database schema is up to date (version {after})")
    else:
        print(f"database schema upgraded from version {before} to {after}")
    return EXIT_OK


def cmd_check(cfg: radicale_config.Configuration, args: argparse.Namespace) -> int:
    if args.repair:
        for line in repair_storage(engine_of(cfg)):
            print(line)
    problems = check_storage(engine_of(cfg))
    for problem in problems:
        print(problem)
    if problems:
        print(f"{len(problems)} problem(s) found")
        return EXIT_ERROR
    print("no problems found")
    return EXIT_OK
