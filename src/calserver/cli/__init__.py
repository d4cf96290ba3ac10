"""The ``calserver`` command line. Exit codes: 0 done, 1 runtime error, 2 usage or
configuration error.

The parser and :func:`main` (the console entry point ``calserver.cli:main``) are here;
each command group is a module of this package: ``serve`` (serve, worker, mail-queue),
``users``, ``calendars``, ``groups``, ``shares``, ``feeds`` (publish, unpublish,
reset-feeds, urls), ``transfer`` (import, export, migrate-from-radicale), ``database``
(db upgrade, check), ``scheduling`` (imip-receive, invitations), ``reminders`` (reminders,
sms-queue); ``common`` holds what
they share.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from typing import Any

from radicale import config as radicale_config

from calserver import __version__, db
from calserver import config as calserver_config
from calserver.cli import addressbooks as cli_addressbooks
from calserver.cli import polls as cli_polls
from calserver.cli import reminders as cli_reminders
from calserver.cli import remotesync as cli_remotesync
from calserver.cli import search as cli_search
from calserver.cli import subscriptions as cli_subscriptions
from calserver.cli.calendars import cmd_calendar_create, cmd_calendar_delete, cmd_calendar_list
from calserver.cli.common import EXIT_ERROR, EXIT_OK, EXIT_USAGE, Interrupted, UsageError
from calserver.cli.database import cmd_check, cmd_db_upgrade
from calserver.cli.feeds import cmd_publish, cmd_reset_feeds, cmd_unpublish, cmd_urls
from calserver.cli.groups import (
    cmd_group_accept,
    cmd_group_add_member,
    cmd_group_create,
    cmd_group_decline,
    cmd_group_delete,
    cmd_group_list,
    cmd_group_remove_member,
)
from calserver.cli.scheduling import cmd_imip_receive, cmd_invitations
from calserver.cli.serve import cmd_mail_queue, cmd_serve, cmd_worker
from calserver.cli.shares import cmd_share, cmd_shares, cmd_unshare
from calserver.cli.transfer import cmd_export, cmd_import, cmd_migrate
from calserver.cli.users import (
    cmd_user_add,
    cmd_user_admin,
    cmd_user_delete,
    cmd_user_disable,
    cmd_user_enable,
    cmd_user_list,
    cmd_user_passwd,
    cmd_user_set,
    cmd_user_show,
)
from calserver.errors import CalserverError
from calserver.feeds import access

__all__ = ["EXIT_ERROR", "EXIT_OK", "EXIT_USAGE", "UsageError", "build_parser", "main"]


def _add_config_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config",
        "-C",
        default=argparse.SUPPRESS,
        help="configuration file (default: $CALSERVER_CONFIG, else /etc/calserver/config)",
    )
    group = parser.add_argument_group("configuration options (override the file)")
    for section, option, spec in calserver_config.public_options():
        group.add_argument(
            calserver_config.flag_name(section, option),
            dest=f"cfg:{section}:{option}",
            metavar="VALUE",
            default=argparse.SUPPRESS,
            help=f"[{section}] {option}: {spec.get('help', '')} (default: {spec['value']!r})",
        )


def build_parser() -> argparse.ArgumentParser:
    parent = argparse.ArgumentParser(add_help=False)
    _add_config_flags(parent)
    parser = argparse.ArgumentParser(
        prog="calserver",
        usage="calserver [--config FILE] [--SECTION-OPTION VALUE ...] COMMAND ...",
        description="CalDAV / iCalendar calendar server on Radicale with SQL storage",
        parents=[parent],
    )
    parser.add_argument("--version", action="version", version=f"calserver {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, func: Callable[..., int], help_: str, **kw: Any) -> Any:
        p = sub.add_parser(name, help=help_, parents=[parent], **kw)
        p.set_defaults(func=func)
        return p

    p = command("serve", cmd_serve, "run the server")
    p.add_argument(
        "--workers",
        dest="cfg:server:workers",  # the same as --server-workers
        metavar="N",
        default=argparse.SUPPRESS,
        help="server processes: 1 (default) runs one process, N > 1 runs N gunicorn workers",
    )
    p = command(
        "worker",
        cmd_worker,
        "send queued email through [smtp] and WebDAV-Push messages (runs until stopped)",
    )
    p.add_argument("--once", action="store_true", help="send what is due now, then exit")
    command("mail-queue", cmd_mail_queue, "list email not sent yet (waiting or given up)")
    cli_reminders.add_parsers(sub, parent)  # reminders USER, sms-queue
    p = command(
        "imip-receive",
        cmd_imip_receive,
        "apply a meeting answer (iMIP REPLY) e-mailed back; for an MTA pipe",
    )
    p.add_argument(
        "file", metavar="FILE", nargs="?", default="-", help="the message (default: stdin)"
    )

    user = sub.add_parser("user", help="manage user accounts")
    user_sub = user.add_subparsers(dest="action", required=True, metavar="ACTION")

    def user_cmd(name: str, func: Callable[..., int], help_: str) -> Any:
        p = user_sub.add_parser(name, help=help_, parents=[parent])
        p.set_defaults(func=func)
        return p

    p = user_cmd("add", cmd_user_add, "create a user")
    p.add_argument("name")
    p.add_argument("--email", default="")
    p.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    p = user_cmd("passwd", cmd_user_passwd, "change a password")
    p.add_argument("name")
    p.add_argument("--password-stdin", action="store_true")
    for name, func, help_ in (
        ("disable", cmd_user_disable, "refuse a user's logins"),
        ("enable", cmd_user_enable, "allow a disabled user again"),
        ("delete", cmd_user_delete, "delete a user and their calendars"),
    ):
        user_cmd(name, func, help_).add_argument("name")
    p = user_cmd("admin", cmd_user_admin, "make a user a server administrator (web app)")
    p.add_argument("name")
    p.add_argument("--off", action="store_true", help="no longer a server administrator")
    user_cmd("list", cmd_user_list, "list users")
    p = user_cmd("set", cmd_user_set, "change a user's settings (time zone, default duration)")
    p.add_argument("name")
    p.add_argument("--timezone", help="IANA time zone, e.g. Europe/Brussels ('' = server's)")
    p.add_argument("--default-duration", help="of events without an end, e.g. 45m, 1h30m")
    p.add_argument("--week-start", help="first day of the week: monday ... sunday")
    p.add_argument("--email", help="e-mail address, one account per address ('' = none)")
    user_cmd("show", cmd_user_show, "show a user's settings").add_argument("name")

    cli_addressbooks.add_parser(sub, parent)
    cli_polls.add_parser(sub, parent)  # poll create|show|export, polls
    cli_subscriptions.add_parser(sub, parent)  # subscribe, subscriptions, unsubscribe
    cli_remotesync.add_parser(sub, parent)  # calserver sync ...
    cli_search.add_parser(sub, parent)  # search, tags (issue 17)
    cal = sub.add_parser("calendar", help="manage calendars")
    cal_sub = cal.add_subparsers(dest="action", required=True, metavar="ACTION")
    p = cal_sub.add_parser("create", help="create USER/CAL", parents=[parent])
    p.set_defaults(func=cmd_calendar_create)
    p.add_argument("path", metavar="USER/CAL")
    p.add_argument("--name", help="display name")
    p.add_argument("--color", help="#RRGGBB")
    p = cal_sub.add_parser("list", help="list a user's calendars", parents=[parent])
    p.set_defaults(func=cmd_calendar_list)
    p.add_argument("user", metavar="USER")
    p = cal_sub.add_parser("delete", help="delete USER/CAL", parents=[parent])
    p.set_defaults(func=cmd_calendar_delete)
    p.add_argument("path", metavar="USER/CAL")

    p = command("import", cmd_import, "import an .ics file into USER/CAL (a .vcf into USER/BOOK)")
    p.add_argument("file", metavar="FILE.ics|FILE.vcf")
    p.add_argument("path", metavar="USER/CAL|USER/BOOK")
    p.add_argument(
        "--skip-invalid",
        action="store_true",
        help="import the valid events and list the others (default: refuse the whole file)",
    )
    p = command("export", cmd_export, "write USER/CAL as one .ics (USER/BOOK as one .vcf)")
    p.add_argument("path", metavar="USER/CAL|USER/BOOK")
    p.add_argument("-o", "--output", help="file (default: standard output)")

    p = command(
        "migrate-from-radicale", cmd_migrate, "bring in a stock Radicale storage and its users"
    )
    p.add_argument("source", metavar="PATH_OR_CONFIG")
    p.add_argument("--dry-run", action="store_true", help="show what would be done")

    dbp = sub.add_parser("db", help="database maintenance")
    db_sub = dbp.add_subparsers(dest="action", required=True, metavar="ACTION")
    p = db_sub.add_parser("upgrade", help="apply schema migrations", parents=[parent])
    p.set_defaults(func=cmd_db_upgrade)

    grp = sub.add_parser("group", help="manage groups")
    grp_sub = grp.add_subparsers(dest="action", required=True, metavar="ACTION")

    def group_cmd(name: str, func: Callable[..., int], help_: str) -> Any:
        p = grp_sub.add_parser(name, help=help_, parents=[parent])
        p.set_defaults(func=func)
        p.add_argument("group", metavar="GROUP")
        return p

    p = group_cmd("create", cmd_group_create, "create a group")
    p.add_argument("--admin", metavar="USER", help="its administrator")
    group_cmd("delete", cmd_group_delete, "delete a group and its calendars")
    p = group_cmd(
        "add-member",
        cmd_group_add_member,
        "add a member directly, no consent asked (again: change the role)",
    )
    p.add_argument("user", metavar="USER")
    p.add_argument("--admin", action="store_true", help="as an (co-)administrator")
    p = group_cmd("remove-member", cmd_group_remove_member, "remove a member (or an invitation)")
    p.add_argument("user", metavar="USER")
    p = group_cmd("accept", cmd_group_accept, "accept USER's invitation to the group for them")
    p.add_argument("user", metavar="USER")
    p = group_cmd("decline", cmd_group_decline, "decline USER's invitation to the group")
    p.add_argument("user", metavar="USER")
    p = grp_sub.add_parser("list", help="list groups and their members", parents=[parent])
    p.set_defaults(func=cmd_group_list)
    p.add_argument("user", metavar="USER", nargs="?", help="only the groups of USER")

    p = command("share", cmd_share, "grant a calendar to a user or a group")
    p.add_argument("path", metavar="USER/CAL")
    p.add_argument("--with", dest="grantee", required=True, metavar="USER|@GROUP")
    p.add_argument("--level", required=True, help="busy, read or write")
    p = command("unshare", cmd_unshare, "take a grant back")
    p.add_argument("path", metavar="USER/CAL")
    p.add_argument("--with", dest="grantee", required=True, metavar="USER|@GROUP")
    p = command("shares", cmd_shares, "what a user shares, and what others share with them")
    p.add_argument("user", metavar="USER")
    p.add_argument("--json", action="store_true", help="print a JSON object")

    p = command("check", cmd_check, "check the database's integrity")
    p.add_argument(
        "--repair",
        action="store_true",
        help="remove what interrupted imports and migrations left behind",
    )
    p = command("publish", cmd_publish, "publish a calendar: anonymous HTML, embed and .ics")
    p.add_argument("path", metavar="USER/CAL")
    p.add_argument("--level", required=True, choices=sorted(access.PUBLIC_LEVELS))
    p.add_argument("--reset", action="store_true", help="new public URLs (the old ones end)")
    p = command("unpublish", cmd_unpublish, "end a calendar's public URLs")
    p.add_argument("path", metavar="USER/CAL")
    p = command("reset-feeds", cmd_reset_feeds, "replace all of a user's secret feed URLs")
    p.add_argument("user", metavar="USER")
    p = command("urls", cmd_urls, "print every URL of a calendar")
    p.add_argument("path", metavar="USER/CAL")
    p.add_argument("--json", action="store_true", help="print a JSON object")
    p = command("invitations", cmd_invitations, "meeting invitations waiting for USER's answer")
    p.add_argument("user", metavar="USER")
    p.add_argument("--json", action="store_true", help="print a JSON object")
    return parser


def load_configuration(args: argparse.Namespace) -> radicale_config.Configuration:
    overrides: dict[str, dict[str, str]] = {}
    for key, value in vars(args).items():
        if key.startswith("cfg:"):
            _, section, option = key.split(":")
            overrides.setdefault(section, {})[option] = value
    paths = calserver_config.config_paths(getattr(args, "config", None))
    return calserver_config.load(paths, overrides)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        cfg = load_configuration(args)
    except calserver_config.ConfigError as exc:
        print(f"calserver: configuration error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    try:
        return int(args.func(cfg, args))
    except UsageError as exc:
        print(f"calserver: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except Interrupted as exc:
        print(f"calserver: {exc}", file=sys.stderr)
        return 128 + exc.signum  # as a shell reports a process a signal ended
    except db.SchemaError as exc:
        print(f"calserver: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except CalserverError as exc:
        print(f"calserver: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        return EXIT_ERROR


if __name__ == "__main__":
    sys.exit(main())
