"""``calserver search`` and ``calserver tags`` (issue 17)."""

from __future__ import annotations

import argparse
import json
from typing import Any

from radicale import config as radicale_config

from calserver import deletebetween, search, tags
from calserver.attachments import hooks as attachment_hooks
from calserver.cli.common import EXIT_OK, engine_of, storage_of
from calserver.push import hooks as push_hooks
from calserver.scheduling import hooks as scheduling_hooks
from calserver.scheduling import scheduletag
from calserver.storage import Storage


def add_parser(sub: Any, parent: argparse.ArgumentParser) -> None:
    """``calserver search USER QUERY`` and ``calserver tags USER [ACTION ...]``."""
    p = sub.add_parser(
        "search",
        help='search the events USER can see (words, OR, "phrase", prefix*, -word)',
        parents=[parent],
    )
    p.set_defaults(func=cmd_search)
    p.add_argument("user")
    p.add_argument("query")
    p.add_argument("--scope", default="all", help="private, all (default) or group:NAME")
    p.add_argument("--tag", default="", help="only events USER tagged so")
    p.add_argument("--from", dest="start", help="ISO date or date-time")
    p.add_argument("--to", dest="end", help="ISO date or date-time")
    p.add_argument("--json", action="store_true", help="print JSON")
    p = sub.add_parser(
        "delete-between",
        help="delete the events of USER/CAL between FROM and TO (try --dry-run first)",
        parents=[parent],
    )
    p.set_defaults(func=cmd_delete_between)
    p.add_argument("path", metavar="USER/CAL")
    p.add_argument("start", metavar="FROM", help="ISO date or date-time (UTC without offset)")
    p.add_argument("end", metavar="TO")
    p.add_argument("--dry-run", action="store_true", help="only say what would be deleted")
    p.add_argument("--json", action="store_true", help="print JSON")
    t = sub.add_parser(
        "tags", help="USER's tags: list, add, colour, delete, tag, untag", parents=[parent]
    )
    t.set_defaults(func=cmd_tags, action="list")
    t.add_argument("user")
    actions = t.add_subparsers(dest="action", metavar="ACTION")
    a = actions.add_parser("list", help="list the tags (default)")
    a.add_argument("--json", action="store_true", help="print JSON")
    a = actions.add_parser("add", help="make a tag")
    a.add_argument("name")
    a.add_argument("--colour", default="", help="#rrggbb")
    a = actions.add_parser("colour", help="change a tag's colour ('' for none)")
    a.add_argument("name")
    a.add_argument("colour")
    a = actions.add_parser("delete", help="delete a tag (it goes from every event)")
    a.add_argument("name")
    for verb in ("tag", "untag"):
        a = actions.add_parser(verb, help=f"{verb} the event HREF of CAL (as USER sees it)")
        a.add_argument("name")
        a.add_argument("calendar", metavar="CAL")
        a.add_argument("href", metavar="HREF")


def cmd_search(cfg: radicale_config.Configuration, args: argparse.Namespace) -> int:
    hits = search.search(
        engine_of(cfg),
        args.user,
        args.query,
        scope=args.scope,
        tag=args.tag,
        start=args.start,
        end=args.end,
    )
    if args.json:
        print(json.dumps([hit.as_json() for hit in hits], indent=2, ensure_ascii=False))
        return EXIT_OK
    for hit in hits:
        labels = "".join(f" #{t['name']}" for t in hit.tags)
        print(f"{hit.start}\t{hit.calendar}/{hit.href}\t{hit.summary}{labels}")
    if not hits:
        print("nothing found")
    return EXIT_OK


def cmd_tags(cfg: radicale_config.Configuration, args: argparse.Namespace) -> int:
    action = args.action or "list"
    if action == "list":
        found = tags.list_tags(engine_of(cfg), args.user)
        if getattr(args, "json", False):
            print(json.dumps([vars(t) for t in found], indent=2, ensure_ascii=False))
        else:
            for tag in found:
                print(f"{tag.name}\t{tag.colour or '-'}\t{tag.count}")
        return EXIT_OK
    if action == "add":
        made = tags.create_tag(engine_of(cfg), args.user, args.name, args.colour)
        print(f"tag {made.name!r} made")
    elif action == "colour":
        changed = tags.set_tag_colour(engine_of(cfg), args.user, args.name, args.colour)
        print(f"tag {changed.name!r} is now {changed.colour or 'without colour'}")
    elif action == "delete":
        count = tags.delete_tag(storage_of(cfg), args.user, args.name)
        print(f"tag {args.name!r} deleted (it was on {count} event(s))")
    elif action == "tag":
        tags.tag_event(storage_of(cfg), args.user, args.calendar, args.href, args.name)
        print(f"{args.calendar}/{args.href} tagged {args.name!r}")
    elif action == "untag":
        tags.untag_event(storage_of(cfg), args.user, args.calendar, args.href, args.name)
        print(f"{args.calendar}/{args.href} no longer tagged {args.name!r}")
    return EXIT_OK


def _storage_with_hooks(cfg: radicale_config.Configuration) -> Storage:
    """The storage with the write hooks the server registers (calserver.app): a
    deletion from the command line sends the cancellations of meetings as the server's
    would."""
    storage = storage_of(cfg)
    scheduling_hooks.register(storage)
    attachment_hooks.register(storage)
    scheduletag.register(storage)
    if cfg.get("push", "enabled"):
        push_hooks.register(storage)
    return storage


def cmd_delete_between(cfg: radicale_config.Configuration, args: argparse.Namespace) -> int:
    user = args.path.strip("/").partition("/")[0]
    plan = deletebetween.delete_between(
        _storage_with_hooks(cfg), user, args.path, args.start, args.end, dry_run=args.dry_run
    )
    if args.json:
        print(json.dumps(plan.as_json(), indent=2, ensure_ascii=False))
        return EXIT_OK
    verb = "deleted" if plan.done else "would delete"
    print(
        f"{plan.calendar} {plan.start} .. {plan.end}: {verb} {plan.events} event(s),"
        f" {plan.occurrences} occurrence(s) in all"
    )
    for series in plan.series:
        print(f"  series {series.summary!r} ({series.href}): {series.how}, {series.occurrences}")
    if plan.kept:
        print(f"  {plan.kept} event(s) kept: not yours to change")
    return EXIT_OK
