"""``calserver user ...``: accounts and their settings."""

from __future__ import annotations

import argparse
import getpass
import sys

from radicale import config as radicale_config

from calserver.accounts import sessions, settings, users
from calserver.cli.common import EXIT_OK, UsageError, engine_of
from calserver.errors import CalserverError


def _read_password(args: argparse.Namespace) -> str:
    if args.password_stdin:
        line = sys.stdin.readline()
        return line.rstrip("\r\n")
    if not sys.stdin.isatty():
        raise UsageError("no terminal to ask for the password: use --password-stdin")
    first = getpass.getpass("Password: ")
    if first != getpass.getpass("Repeat password: "):
        raise CalserverError("the passwords differ")
    return first


def cmd_user_add(cfg: radicale_config.Configuration, args: argparse.Namespace) -> int:
    engine = engine_of(cfg)
    users.validate_name(args.name)
    users.add(engine, args.name, _read_password(args), args.email)
    print(f"user {args.name} created")
    return EXIT_OK


def cmd_user_passwd(cfg: radicale_config.Configuration, args: argparse.Namespace) -> int:
    engine = engine_of(cfg)
    if users.get(engine, args.name) is None:
        raise CalserverError(f"no user {args.name!r}")
    users.set_password(engine, args.name, _read_password(args))
    print(f"password of {args.name} changed")
    return EXIT_OK


def cmd_user_disable(cfg: radicale_config.Configuration, args: argparse.Namespace) -> int:
    users.set_disabled(engine_of(cfg), args.name, True)
    print(f"user {args.name} disabled")
    return EXIT_OK


def cmd_user_enable(cfg: radicale_config.Configuration, args: argparse.Namespace) -> int:
    users.set_disabled(engine_of(cfg), args.name, False)
    print(f"user {args.name} enabled")
    return EXIT_OK


def cmd_user_delete(cfg: radicale_config.Configuration, args: argparse.Namespace) -> int:
    users.remove(engine_of(cfg), args.name)
    print(f"user {args.name} and their calendars deleted")
    return EXIT_OK


def cmd_user_admin(cfg: radicale_config.Configuration, args: argparse.Namespace) -> int:
    """Make a user a server administrator of the web app (its Administration pages),
    or, with ``--off``, no longer one."""
    sessions.set_admin(engine_of(cfg), args.name, not args.off)
    if args.off:
        print(f"{args.name} is no longer a server administrator")
    else:
        print(f"{args.name} is a server administrator")
    return EXIT_OK


def cmd_user_list(cfg: radicale_config.Configuration, args: argparse.Namespace) -> int:
    for user in users.all_users(engine_of(cfg)):
        flags = " (disabled)" if user.disabled else ""
        print(f"{user.name}\t{user.email}{flags}")
    return EXIT_OK


def cmd_user_set(cfg: radicale_config.Configuration, args: argparse.Namespace) -> int:
    if args.email is not None:
        users.set_email(engine_of(cfg), args.name, args.email)
        print(f"email address of {args.name}: {args.email or '(none)'}")
        if args.timezone is None and args.default_duration is None and args.week_start is None:
            return EXIT_OK
    chosen = settings.update_settings(
        engine_of(cfg),
        cfg,
        args.name,
        timezone=args.timezone,
        default_duration=args.default_duration,
        week_start=args.week_start,
    )
    print(_settings_text(args.name, chosen))
    return EXIT_OK


def cmd_user_show(cfg: radicale_config.Configuration, args: argparse.Namespace) -> int:
    print(_settings_text(args.name, settings.get(engine_of(cfg), cfg, args.name)))
    return EXIT_OK


def _settings_text(name: str, chosen: settings.Settings) -> str:
    values = chosen.as_json()
    return f"{name}: " + ", ".join(f"{key} {value}" for key, value in values.items())
