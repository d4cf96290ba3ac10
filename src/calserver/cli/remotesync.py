"""``calserver sync add|list|set|run|log|remove``: keep a calendar in step with a
calendar of another CalDAV server (``calserver.remotesync``)."""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

from radicale import config as radicale_config

from calserver.cli.common import EXIT_ERROR, EXIT_OK, UsageError, engine_of, storage_of
from calserver.remotesync import service, store
from calserver.remotesync import worker as sync_worker


def _settings(args: argparse.Namespace) -> dict[str, Any]:
    settings: dict[str, Any] = {}
    for key in (
        "url",
        "direction",
        "content",
        "pull_content",
        "push_content",
        "policy",
        "categories",
        "interval",
    ):
        value = getattr(args, key, None)
        if value is not None:
            settings[key] = value
    return settings


def _auth(args: argparse.Namespace) -> dict[str, Any] | None:
    if args.oauth2:
        if not args.secrets_stdin:
            raise UsageError("--oauth2 reads its tokens with --secrets-stdin (a JSON object)")
        try:
            values = json.loads(sys.stdin.read())
        except ValueError as exc:
            raise UsageError(f"--secrets-stdin: not a JSON object: {exc}") from exc
        if not isinstance(values, dict):
            raise UsageError("--secrets-stdin: not a JSON object")
        auth = {"type": "oauth2", "username": args.username or ""}
        auth.update({k: v for k, v in values.items() if k in service.OAUTH_FIELDS})
        if args.token_url:
            auth["token_url"] = args.token_url
        if args.client_id:
            auth["client_id"] = args.client_id
        return auth
    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
        return {"type": "basic", "username": args.username or "", "password": password}
    if args.username is not None:
        raise UsageError("--username goes with --password-stdin")
    return None


def _when(timestamp: float | None) -> str:
    if not timestamp:
        return "-"
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(timestamp))


def cmd_sync_add(cfg: radicale_config.Configuration, args: argparse.Namespace) -> int:
    auth = _auth(args) or {"type": "basic", "username": "", "password": ""}
    pair = service.add(engine_of(cfg), cfg, args.path, _settings(args), auth)
    print(f"sync {pair.id} added: {pair.calendar} <-> {pair.remote_url} ({pair.direction})")
    return EXIT_OK


def cmd_sync_set(cfg: radicale_config.Configuration, args: argparse.Namespace) -> int:
    pair = service.change(engine_of(cfg), cfg, args.id, _settings(args), _auth(args))
    print(f"sync {pair.id} changed (for future changes)")
    return EXIT_OK


def cmd_sync_list(cfg: radicale_config.Configuration, args: argparse.Namespace) -> int:
    pairs = service.list_for(engine_of(cfg), args.user)
    if args.json:
        print(json.dumps([p.as_json() for p in pairs], indent=2))
        return EXIT_OK
    print("ID\tCALENDAR\tURL\tDIRECTION\tCONTENT\tLAST RUN\tSTATUS" if pairs else "no sync")
    for p in pairs:
        content = p.pull_content if p.direction == "pull" else p.push_content
        if p.direction == "both" and p.pull_content != p.push_content:
            content = f"pull {p.pull_content}, push {p.push_content}"
        status = p.last_status or "never run"
        if p.last_error:
            status += f": {p.last_error}"
        print(
            f"{p.id}\t{p.calendar}\t{p.remote_url}\t{p.direction}\t{content}"
            f"\t{_when(p.last_run)}\t{status}"
        )
    return EXIT_OK


def cmd_sync_run(cfg: radicale_config.Configuration, args: argparse.Namespace) -> int:
    engine = engine_of(cfg)
    if args.all:
        ids = [p.id for p in store.list_pairs(engine)]
    elif args.ids:
        ids = [service.get(engine, i).id for i in args.ids]
    else:
        raise UsageError("name the syncs to run, or --all")
    counts = sync_worker.run_once(engine, storage_of(cfg), cfg, pair_ids=ids)
    print(counts.summary())
    return EXIT_ERROR if counts.failed or counts.disabled else EXIT_OK


def cmd_sync_log(cfg: radicale_config.Configuration, args: argparse.Namespace) -> int:
    engine = engine_of(cfg)
    if args.conflicts:
        found = service.conflicts(engine, args.id, limit=args.limit)
        if args.json:
            print(json.dumps(found, indent=2))
            return EXIT_OK
        for c in found:
            print(f"{_when(c['at'])}\tconflict {c['uid']}: {c['winner']} won ({c['policy']})")
        return EXIT_OK
    runs = service.log(engine, args.id, limit=args.limit)
    if args.json:
        print(json.dumps(runs, indent=2))
        return EXIT_OK
    for r in runs:
        print(
            f"{_when(r['started'])}\t{r['status']}\tpulled {r['pulled']}, pushed {r['pushed']},"
            f" deleted {r['deleted']}, conflicts {r['conflicts']}"
            + (f"\t{r['error']}" if r["error"] else "")
        )
        for line in r["details"]:
            print(f"\t{line}")
    return EXIT_OK


def cmd_sync_remove(cfg: radicale_config.Configuration, args: argparse.Namespace) -> int:
    service.remove(engine_of(cfg), args.id)
    print(f"sync {args.id} removed (both calendars keep what they hold)")
    return EXIT_OK


def _settings_flags(p: argparse.ArgumentParser, adding: bool) -> None:
    p.add_argument("--url", required=adding, help="the remote calendar's URL")
    p.add_argument(
        "--direction",
        choices=store.DIRECTIONS,
        help="pull (remote to here), push (here to remote) or both (default)",
    )
    p.add_argument(
        "--content",
        choices=("details", "blocker"),
        help="what is copied both ways: the details (default) or a 'Busy' block",
    )
    p.add_argument("--pull-content", choices=("details", "blocker"), help="for pulls only")
    p.add_argument("--push-content", choices=("details", "blocker"), help="for pushes only")
    p.add_argument("--categories", help="copy only events with one of these categories (A,B)")
    p.add_argument(
        "--policy",
        choices=store.POLICIES,
        help="who wins a conflict: local, remote or newest (default)",
    )
    p.add_argument("--interval", type=float, help="seconds between runs ([sync] interval)")
    p.add_argument("--username", help="the remote account")
    p.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    p.add_argument(
        "--oauth2",
        action="store_true",
        help="OAuth2 bearer tokens instead of a password (Google's CalDAV, ...)",
    )
    p.add_argument("--token-url", help="OAuth2 token endpoint (with --oauth2)")
    p.add_argument("--client-id", help="OAuth2 client id (with --oauth2)")
    p.add_argument(
        "--secrets-stdin",
        action="store_true",
        help="OAuth2: read {refresh_token, client_secret, access_token} as JSON",
    )


def add_parser(sub: Any, parent: argparse.ArgumentParser) -> None:
    """``calserver sync add|list|set|run|log|remove``."""
    sync = sub.add_parser("sync", help="keep calendars in step with other CalDAV servers")
    sync_sub = sync.add_subparsers(dest="action", required=True, metavar="ACTION")
    p = sync_sub.add_parser("add", help="pair USER/CAL with a remote calendar", parents=[parent])
    p.set_defaults(func=cmd_sync_add)
    p.add_argument("path", metavar="USER/CAL")
    _settings_flags(p, True)
    p = sync_sub.add_parser("set", help="change a sync (for future changes)", parents=[parent])
    p.set_defaults(func=cmd_sync_set)
    p.add_argument("id", type=int)
    _settings_flags(p, False)
    p = sync_sub.add_parser("list", help="list the syncs (of USER)", parents=[parent])
    p.set_defaults(func=cmd_sync_list)
    p.add_argument("user", nargs="?", metavar="USER")
    p.add_argument("--json", action="store_true")
    p = sync_sub.add_parser("run", help="run syncs now, whatever their interval", parents=[parent])
    p.set_defaults(func=cmd_sync_run)
    p.add_argument("ids", nargs="*", type=int, metavar="ID")
    p.add_argument("--all", action="store_true")
    p = sync_sub.add_parser("log", help="the runs (or conflicts) of a sync", parents=[parent])
    p.set_defaults(func=cmd_sync_log)
    p.add_argument("id", type=int)
    p.add_argument("--conflicts", action="store_true", help="the conflicts, with both versions")
    p.add_argument("--limit", type=int, default=20)
    p.add_argument("--json", action="store_true")
    p = sync_sub.add_parser("remove", help="remove a sync", parents=[parent])
    p.set_defaults(func=cmd_sync_remove)
    p.add_argument("id", type=int)
