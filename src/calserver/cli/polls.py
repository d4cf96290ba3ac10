"""``calserver poll create|show|export`` and ``calserver polls``: meeting polls (issue 19)."""

from __future__ import annotations

import argparse
import datetime as dt
import json
from typing import Any

from radicale import config as radicale_config

from calserver.accounts import directory
from calserver.cli.common import EXIT_OK, storage_of
from calserver.db import read_transaction
from calserver.polls import service, vpoll
from calserver.polls.model import Poll


def cmd_poll_create(cfg: radicale_config.Configuration, args: argparse.Namespace) -> int:
    storage = storage_of(cfg)
    poll = service.create(
        storage,
        args.user,
        title=args.title,
        duration=args.duration,
        options=args.option or [],
        voters=[service.VoterInput(email=e) for e in args.voter or []],
        description=args.description,
        location=args.location,
        timezone=args.timezone,
        notify=args.notify,
    )
    print(f"poll {poll.id} created: {len(poll.options)} options, {len(poll.voters)} voters")
    return EXIT_OK


def _summary_line(poll: Poll) -> str:
    answered = sum(1 for v in poll.voters if v.answered is not None)
    return (
        f"{poll.id}\t{poll.status}\t{poll.owner}\t{poll.title}\t"
        f"{answered}/{len(poll.voters)} answered"
    )


def cmd_polls(cfg: radicale_config.Configuration, args: argparse.Namespace) -> int:
    storage = storage_of(cfg)
    owned, invited = service.polls_of(storage.engine, args.user)
    if args.json:
        print(
            json.dumps(
                {
                    "owned": [p.summary_json() for p in owned],
                    "invited": [p.summary_json() for p in invited],
                },
                indent=2,
                ensure_ascii=False,
            )
        )
        return EXIT_OK
    for poll in owned:
        print(_summary_line(poll))
    for poll in invited:
        print(_summary_line(poll) + "\t(invited)")
    return EXIT_OK


def _shown(cfg: Any, poll: Poll) -> dict[str, Any]:
    found = poll.as_json(owner_view=True)
    voters = found["voters"]
    assert isinstance(voters, list)
    for entry, voter in zip(voters, poll.voters, strict=True):
        entry["link"] = service.link_of(cfg, poll, voter)
    return found


def cmd_poll_show(cfg: radicale_config.Configuration, args: argparse.Namespace) -> int:
    storage = storage_of(cfg)
    poll = service.get(storage.engine, args.id)
    found = _shown(cfg, poll)
    if args.json:
        print(json.dumps(found, indent=2, ensure_ascii=False))
        return EXIT_OK
    print(f"poll {poll.id}: {poll.title} ({poll.status}), owner {poll.owner}")
    print(f"duration {poll.duration} minutes, time zone {poll.timezone}")
    if poll.location:
        print(f"where: {poll.location}")
    totals = poll.totals()
    print("options:")
    for option in poll.options:
        count = totals[option.id]
        mark = "  (chosen)" if option.id == poll.decided_option else ""
        print(
            f"  {option.id}\t{option.label(poll.timezone, poll.duration)}\t"
            f"yes {count['yes']}, maybe {count['maybe']}, no {count['no']}{mark}"
        )
    print("voters:")
    for voter, entry in zip(poll.voters, found["voters"], strict=True):
        votes = ", ".join(f"{o}:{a}" for o, a in sorted(voter.votes.items())) or "no answer"
        account = f" (user {voter.user})" if voter.user else ""
        print(f"  {voter.id}\t{voter.shown}{account}\t{votes}\n\t{entry['link']}")
    return EXIT_OK


def cmd_poll_export(cfg: radicale_config.Configuration, args: argparse.Namespace) -> int:
    storage = storage_of(cfg)
    poll = service.get(storage.engine, args.id)
    with read_transaction(storage.engine) as conn:
        email = directory.email_of(conn, poll.owner) or ""
    print(vpoll.export(poll, email, dt.datetime.now(dt.UTC)), end="")
    return EXIT_OK


def add_parser(sub: Any, parent: argparse.ArgumentParser) -> None:
    """``calserver poll create|show|export`` and ``calserver polls``."""
    poll = sub.add_parser("poll", help="meeting polls: create one, show one")
    poll_sub = poll.add_subparsers(dest="action", required=True, metavar="ACTION")
    p = poll_sub.add_parser("create", help="create a poll of USER", parents=[parent])
    p.set_defaults(func=cmd_poll_create)
    p.add_argument("user", metavar="USER")
    p.add_argument("--title", required=True)
    p.add_argument("--duration", required=True, type=int, metavar="MINUTES")
    p.add_argument(
        "--option",
        action="append",
        metavar="START",
        help="a candidate start: ISO date-time (2030-11-04T10:00), or a date for all day; "
        "repeat for each",
    )
    p.add_argument("--voter", action="append", metavar="EMAIL", help="repeat for each voter")
    p.add_argument("--description", default="")
    p.add_argument("--location", default="")
    p.add_argument("--timezone", default="", help="IANA name (default: the user's)")
    p.add_argument("--notify", choices=["all", "each", "never"], default="all")
    p = poll_sub.add_parser(
        "show", help="a poll: options, votes and each voter's link", parents=[parent]
    )
    p.set_defaults(func=cmd_poll_show)
    p.add_argument("id", type=int, metavar="ID")
    p.add_argument("--json", action="store_true", help="print a JSON object")
    p = poll_sub.add_parser(
        "export", help="a poll as a VPOLL .ics (draft-ietf-calext-vpoll)", parents=[parent]
    )
    p.set_defaults(func=cmd_poll_export)
    p.add_argument("id", type=int, metavar="ID")
    p = sub.add_parser("polls", help="the polls USER owns and is invited to", parents=[parent])
    p.set_defaults(func=cmd_polls)
    p.add_argument("user", metavar="USER")
    p.add_argument("--json", action="store_true", help="print a JSON object")
