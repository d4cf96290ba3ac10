"""The ``calserver`` command line. Exit codes: 0 done, 1 runtime error, 2 usage or
configuration error."""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import getpass
import json
import signal
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from radicale import config as radicale_config

from calserver import __version__, calendars, db, icsfile
from calserver import config as calserver_config
from calserver.accounts import settings, users
from calserver.errors import CalserverError
from calserver.feeds import access
from calserver.sharing import manage

EXIT_OK, EXIT_ERROR, EXIT_USAGE = 0, 1, 2


class UsageError(Exception):
    pass


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
    p = command("worker", cmd_worker, "send queued email through [smtp] (runs until stopped)")
    p.add_argument("--once", action="store_true", help="send what is due now, then exit")
    command("mail-queue", cmd_mail_queue, "list email not sent yet (waiting or given up)")
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
    user_cmd("list", cmd_user_list, "list users")
    p = user_cmd("set", cmd_user_set, "change a user's settings (time zone, default duration)")
    p.add_argument("name")
    p.add_argument("--timezone", help="IANA time zone, e.g. Europe/Brussels ('' = server's)")
    p.add_argument("--default-duration", help="of events without an end, e.g. 45m, 1h30m")
    p.add_argument("--week-start", help="first day of the week: monday ... sunday")
    p.add_argument("--email", help="e-mail address, one account per address ('' = none)")
    user_cmd("show", cmd_user_show, "show a user's settings").add_argument("name")

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

    p = command("import", cmd_import, "import an .ics file into USER/CAL")
    p.add_argument("file", metavar="FILE.ics")
    p.add_argument("path", metavar="USER/CAL")
    p.add_argument(
        "--skip-invalid",
        action="store_true",
        help="import the valid events and list the others (default: refuse the whole file)",
    )
    p = command("export", cmd_export, "write USER/CAL as one .ics")
    p.add_argument("path", metavar="USER/CAL")
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


def _engine(cfg: radicale_config.Configuration) -> Any:
    engine = db.engine_for(cfg)
    db.ensure_schema(engine)
    return engine


def _storage(cfg: radicale_config.Configuration) -> Any:
    from calserver.storage import Storage

    _engine(cfg)
    return Storage(cfg)


def cmd_serve(cfg: radicale_config.Configuration, args: argparse.Namespace) -> int:
    from calserver.server import serve, setup_logging

    setup_logging(cfg)
    serve(cfg)
    return EXIT_OK


def cmd_worker(cfg: radicale_config.Configuration, args: argparse.Namespace) -> int:
    from calserver.mail import worker
    from calserver.server import setup_logging

    setup_logging(cfg)  # sets Radicale's logger only: the worker's follows [logging] level
    worker.logger.setLevel(cfg.get("logging", "level").upper())
    engine = _engine(cfg)
    if args.once or not worker.SmtpSettings.from_configuration(cfg).enabled:
        counts = worker.run_once(engine, cfg)
        if counts.disabled:
            print("calserver: " + counts.summary(), file=sys.stderr)
        else:
            print(counts.summary())
        return EXIT_OK
    worker.run_forever(engine, cfg)
    return EXIT_OK


def cmd_mail_queue(cfg: radicale_config.Configuration, args: argparse.Namespace) -> int:
    from calserver.mail import outbox

    def when(timestamp: float) -> str:
        return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(timestamp))

    queued = outbox.unsent(_engine(cfg))
    print("ID\tRECIPIENTS\tATTEMPTS\tNEXT ATTEMPT\tLAST ERROR" if queued else "no email waiting")
    now = time.time()
    for message in queued:
        if message.failed:
            state = f"never (gave up {when(message.failed)})"
        else:
            state = when(message.not_before) if message.not_before > now else "due now"
        print(
            f"{message.id}\t{', '.join(message.recipients)}\t{message.attempts} attempt(s)"
            f"\t{state}\t{message.last_error or '-'}"
        )
    return EXIT_OK


#: sysexits.h codes an MTA understands (Postfix pipe(8), procmail): bad message (bounce),
#: no such meeting (bounce), try again later (the message stays queued).
EX_DATAERR, EX_NOUSER, EX_TEMPFAIL = 65, 67, 75
#: Larger messages are not meeting answers.
MAX_IMIP_BYTES = 25 * 1024 * 1024


def cmd_imip_receive(cfg: radicale_config.Configuration, args: argparse.Namespace) -> int:
    """One e-mailed iTIP REPLY (RFC 6047) applied to the organizer's copy; its From must
    be the answering attendee. Exit 0 applied, 65 refused, 67 unknown meeting, 75 the
    database was unreachable (the MTA retries): never a traceback to the MTA."""
    import email
    import email.policy

    from sqlalchemy.exc import OperationalError

    from calserver.scheduling import engine, imip

    def refuse(code: int, reason: str) -> int:
        print(f"calserver imip-receive: {reason}", file=sys.stderr)
        return code

    try:
        if args.file == "-":
            stream = getattr(sys.stdin, "buffer", None)
            data = (
                stream.read(MAX_IMIP_BYTES + 1)
                if stream is not None
                else sys.stdin.read(MAX_IMIP_BYTES + 1).encode("utf-8", "surrogateescape")
            )
        else:
            with open(args.file, "rb") as f:
                data = f.read(MAX_IMIP_BYTES + 1)
    except OSError as exc:
        return refuse(EX_DATAERR, f"cannot read {args.file}: {exc}")
    if len(data) > MAX_IMIP_BYTES:
        return refuse(EX_DATAERR, "the message is too large to be a meeting answer")
    message = email.message_from_bytes(data, policy=email.policy.default)
    try:
        from_address = imip.sender(message)
        reply = imip.find_itip(message)
        imip.check_reply(reply, from_address)
    except imip.Unusable as exc:
        return refuse(EX_DATAERR, str(exc))
    try:
        outcome = engine.apply_reply(_storage(cfg), reply, sender=from_address)
    except engine.Refused as exc:
        return refuse(EX_NOUSER if exc.status == 404 else EX_DATAERR, exc.reason)
    except OperationalError as exc:
        return refuse(EX_TEMPFAIL, f"the database is unreachable: {exc.orig}")
    except Exception as exc:  # the MTA boundary: keep the message queued, say why
        return refuse(EX_TEMPFAIL, f"internal error: {type(exc).__name__}: {exc}")
    print(
        f"{outcome.attendee} answered {outcome.partstat} to {outcome.summary!r} "
        f"({outcome.uid}) of {outcome.organizer}"
    )
    return EXIT_OK


def cmd_user_add(cfg: radicale_config.Configuration, args: argparse.Namespace) -> int:
    engine = _engine(cfg)
    users.validate_name(args.name)
    users.add(engine, args.name, _read_password(args), args.email)
    print(f"user {args.name} created")
    return EXIT_OK


def cmd_user_passwd(cfg: radicale_config.Configuration, args: argparse.Namespace) -> int:
    engine = _engine(cfg)
    if users.get(engine, args.name) is None:
        raise CalserverError(f"no user {args.name!r}")
    users.set_password(engine, args.name, _read_password(args))
    print(f"password of {args.name} changed")
    return EXIT_OK


def cmd_user_disable(cfg: radicale_config.Configuration, args: argparse.Namespace) -> int:
    users.set_disabled(_engine(cfg), args.name, True)
    print(f"user {args.name} disabled")
    return EXIT_OK


def cmd_user_enable(cfg: radicale_config.Configuration, args: argparse.Namespace) -> int:
    users.set_disabled(_engine(cfg), args.name, False)
    print(f"user {args.name} enabled")
    return EXIT_OK


def cmd_user_delete(cfg: radicale_config.Configuration, args: argparse.Namespace) -> int:
    users.remove(_engine(cfg), args.name)
    print(f"user {args.name} and their calendars deleted")
    return EXIT_OK


def cmd_user_list(cfg: radicale_config.Configuration, args: argparse.Namespace) -> int:
    for user in users.all_users(_engine(cfg)):
        flags = " (disabled)" if user.disabled else ""
        print(f"{user.name}\t{user.email}{flags}")
    return EXIT_OK


def cmd_user_set(cfg: radicale_config.Configuration, args: argparse.Namespace) -> int:
    if args.email is not None:
        users.set_email(_engine(cfg), args.name, args.email)
        print(f"email address of {args.name}: {args.email or '(none)'}")
        if args.timezone is None and args.default_duration is None and args.week_start is None:
            return EXIT_OK
    chosen = settings.update_settings(
        _engine(cfg),
        cfg,
        args.name,
        timezone=args.timezone,
        default_duration=args.default_duration,
        week_start=args.week_start,
    )
    print(_settings_text(args.name, chosen))
    return EXIT_OK


def cmd_user_show(cfg: radicale_config.Configuration, args: argparse.Namespace) -> int:
    print(_settings_text(args.name, settings.get(_engine(cfg), cfg, args.name)))
    return EXIT_OK


def _settings_text(name: str, chosen: settings.Settings) -> str:
    values = chosen.as_json()
    return f"{name}: " + ", ".join(f"{key} {value}" for key, value in values.items())


def cmd_calendar_create(cfg: radicale_config.Configuration, args: argparse.Namespace) -> int:
    storage = _storage(cfg)
    user, _ = calendars.parse_path(args.path)
    if not user.startswith("@") and users.get(storage.engine, user) is None:
        raise CalserverError(f"no user {user!r}")
    info = calendars.create(storage, args.path, args.name, args.color)
    print(f"calendar {info.path} created")
    return EXIT_OK


def cmd_calendar_list(cfg: radicale_config.Configuration, args: argparse.Namespace) -> int:
    for info in calendars.list_calendars(_storage(cfg), args.user):
        print(f"{info.path}\t{info.name}\t{info.color}\t{info.events} items")
    return EXIT_OK


def cmd_calendar_delete(cfg: radicale_config.Configuration, args: argparse.Namespace) -> int:
    calendars.delete_calendar(_storage(cfg), args.path)
    print(f"calendar {args.path} deleted")
    return EXIT_OK


def cmd_group_create(cfg: radicale_config.Configuration, args: argparse.Namespace) -> int:
    group = manage.create_group(_engine(cfg), args.group, args.admin)
    print(f"group @{group.name} created")
    return EXIT_OK


def cmd_group_delete(cfg: radicale_config.Configuration, args: argparse.Namespace) -> int:
    manage.delete_group(_engine(cfg), args.group)
    print(f"group {args.group} and its calendars deleted")
    return EXIT_OK


def cmd_group_add_member(cfg: radicale_config.Configuration, args: argparse.Namespace) -> int:
    group = manage.add_member(_engine(cfg), args.group, args.user, admin=args.admin)
    role = "administrator" if args.admin else "member"
    print(f"{args.user} is a {role} of @{group.name}")
    return EXIT_OK


def cmd_group_remove_member(cfg: radicale_config.Configuration, args: argparse.Namespace) -> int:
    group = manage.remove_member(_engine(cfg), args.group, args.user)
    print(f"{args.user} removed from @{group.name}")
    return EXIT_OK


def cmd_group_accept(cfg: radicale_config.Configuration, args: argparse.Namespace) -> int:
    membership = manage.accept(_engine(cfg), args.group, args.user)
    role = "administrator" if membership.admin else "member"
    print(f"{args.user} is a {role} of @{membership.group}")
    return EXIT_OK


def cmd_group_decline(cfg: radicale_config.Configuration, args: argparse.Namespace) -> int:
    manage.decline(_engine(cfg), args.group, args.user)
    print(f"{args.user} declined the invitation to @{manage.group_name(args.group)}")
    return EXIT_OK


def cmd_group_list(cfg: radicale_config.Configuration, args: argparse.Namespace) -> int:
    """One line per group: members, then invitations not accepted yet, then calendars.
    With USER: the groups USER is in or invited to."""
    engine = _engine(cfg)
    invited_to = set()
    if args.user is not None:
        invited_to = {
            m.group for m in manage.memberships(engine, args.user) if m.state != "accepted"
        }
    found = manage.list_groups(engine, args.user)
    found += [manage.get_group(engine, name) for name in sorted(invited_to)]
    for group in sorted(found, key=lambda g: g.name):
        people = [m.name + (" (admin)" if m.admin else "") for m in group.members]
        people += [
            m.name + (" (admin, pending)" if m.admin else " (pending)") for m in group.invited
        ]
        print(f"@{group.name}\t{', '.join(people)}\t{' '.join(group.calendars)}")
    return EXIT_OK


def cmd_share(cfg: radicale_config.Configuration, args: argparse.Namespace) -> int:
    grant = manage.share(_engine(cfg), args.path, args.grantee, args.level)
    print(f"{grant.calendar} shared with {grant.grantee} at level {grant.level}")
    return EXIT_OK


def cmd_unshare(cfg: radicale_config.Configuration, args: argparse.Namespace) -> int:
    manage.unshare(_engine(cfg), args.path, args.grantee)
    print(f"{args.path} no longer shared with {args.grantee}")
    return EXIT_OK


def cmd_shares(cfg: radicale_config.Configuration, args: argparse.Namespace) -> int:
    given, received = manage.shares(_engine(cfg), args.user)
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


class Interrupted(CalserverError):
    """SIGTERM or SIGINT (Ctrl-C) stopped a long command; what it had written aside was
    removed on the way out."""

    def __init__(self, signum: int) -> None:
        self.signum = signum
        name = signal.Signals(signum).name
        super().__init__(f"stopped by {name}; nothing of this run was kept")


@contextlib.contextmanager
def stopped_by_signals() -> Iterator[None]:
    """Turn SIGTERM and SIGINT into :class:`Interrupted`, so that ``finally`` blocks
    (staging collections, worker pools) run as for any error. The first signal is
    enough; further ones are ignored until the clean-up is done, so that a second
    Ctrl-C cannot cut it short (``kill -9`` still can: ``calserver check --repair`` and
    the next ``calserver serve`` remove what it leaves)."""

    def stop(signum: int, _frame: Any) -> None:
        for number in (signal.SIGTERM, signal.SIGINT):
            signal.signal(number, signal.SIG_IGN)
        raise Interrupted(signum)

    previous = {number: signal.signal(number, stop) for number in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)


def cmd_import(cfg: radicale_config.Configuration, args: argparse.Namespace) -> int:
    storage = _storage(cfg)
    try:
        with open(args.file, encoding="utf-8") as f:
            text = f.read()
    except (OSError, UnicodeDecodeError) as exc:
        raise CalserverError(f"cannot read {args.file}: {exc}") from exc
    owner = calendars.parse_path(args.path)[0]
    if owner.startswith("@"):  # a group calendar: the server's default
        minutes = cfg.get("feeds", "default_duration")
    else:
        minutes = settings.get(storage.engine, cfg, owner).default_duration
    # events without an end last the owner's default duration (issue 4 item 7)
    text = icsfile.with_default_duration(text, minutes)
    with stopped_by_signals():
        result = calendars.import_file(
            storage,
            args.path,
            text,
            cfg.get("server", "max_vevent_rrule_occurrence"),
            max_bytes=cfg.get("server", "max_content_length"),
            skip_invalid=args.skip_invalid,
        )
    for line in result.skipped:
        print(f"skipped {line}", file=sys.stderr)
    print(
        f"imported {result.created + result.replaced} items into {args.path} "
        f"({result.created} new, {result.replaced} replaced"
        + (f", {len(result.skipped)} invalid skipped)" if result.skipped else ")")
    )
    return EXIT_OK


def cmd_export(cfg: radicale_config.Configuration, args: argparse.Namespace) -> int:
    text = calendars.export(_storage(cfg), args.path)
    if args.output:
        with open(args.output, "w", encoding="utf-8", newline="") as f:
            f.write(text)
    else:
        sys.stdout.write(text)
    return EXIT_OK


def cmd_migrate(cfg: radicale_config.Configuration, args: argparse.Namespace) -> int:
    from calserver import migrate

    storage = _storage(cfg)
    with stopped_by_signals():
        report = migrate.migrate(storage, args.source, dry_run=args.dry_run)
    for line in report:
        print(line)
    return EXIT_OK


def cmd_db_upgrade(cfg: radicale_config.Configuration, args: argparse.Namespace) -> int:
    before, after = db.upgrade(db.engine_for(cfg))
    if before == after:
        print(f"database schema is up to date (version {after})")
    else:
        print(f"database schema upgraded from version {before} to {after}")
    return EXIT_OK


def cmd_check(cfg: radicale_config.Configuration, args: argparse.Namespace) -> int:
    from calserver.check import check_storage, repair_storage

    if args.repair:
        for line in repair_storage(_engine(cfg)):
            print(line)
    problems = check_storage(_engine(cfg))
    for problem in problems:
        print(problem)
    if problems:
        print(f"{len(problems)} problem(s) found")
        return EXIT_ERROR
    print("no problems found")
    return EXIT_OK


def calendar_urls(cfg: radicale_config.Configuration, path: str) -> dict[str, str]:
    from calserver.feeds.links import calendar_urls as urls_of
    from calserver.server import base_url

    return urls_of(_storage(cfg), cfg, path, base_url(cfg))


def cmd_invitations(cfg: radicale_config.Configuration, args: argparse.Namespace) -> int:
    from calserver.scheduling import invitations

    engine = _engine(cfg)
    if users.get(engine, args.user) is None:  # an error, not an empty list
        raise CalserverError(f"no user {args.user!r}")
    found = invitations.pending(engine, args.user)
    if args.json:
        print(json.dumps({"invitations": [i.as_json() for i in found]}, indent=2))
        return EXIT_OK
    for invitation in found:
        print(
            f"{invitation.start}  {invitation.summary or '(no title)'}  "
            f"from {invitation.organizer}  ({invitation.href})"
        )
    if not found:
        print(f"no invitations waiting for {args.user}'s answer")
    return EXIT_OK


def cmd_urls(cfg: radicale_config.Configuration, args: argparse.Namespace) -> int:
    urls = calendar_urls(cfg, args.path)
    if args.json:
        print(json.dumps(urls, indent=2, ensure_ascii=False))
    else:
        for key, value in urls.items():
            print(f"{key}\t{value}")
    return EXIT_OK


def cmd_publish(cfg: radicale_config.Configuration, args: argparse.Namespace) -> int:
    engine = _engine(cfg)
    calendar = manage.parse_calendar(args.path)
    if args.reset:
        access.reset_public(engine, cfg, calendar)
    published = access.publish(engine, cfg, calendar, args.level)
    print(f"{calendar} published ({published.level}); see 'calserver urls {calendar}'")
    return EXIT_OK


def cmd_unpublish(cfg: radicale_config.Configuration, args: argparse.Namespace) -> int:
    calendar = manage.parse_calendar(args.path)
    access.unpublish(_engine(cfg), calendar)
    print(f"{calendar} is no longer public")
    return EXIT_OK


def cmd_reset_feeds(cfg: radicale_config.Configuration, args: argparse.Namespace) -> int:
    access.reset_feeds(_engine(cfg), args.user)
    print(f"every secret feed URL of {args.user} replaced; see 'calserver urls'")
    return EXIT_OK


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
