"""``calserver reminders USER`` (a user's reminders, phone and agenda; add or cancel
one) and ``calserver sms-queue`` (SMS waiting for the gateway, or given up)."""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

from radicale import config as radicale_config

from calserver.accounts import settings
from calserver.cli.common import EXIT_OK, engine_of, next_attempt, utc_time
from calserver.reminders import agenda_mail, sms, store


def add_parsers(sub: Any, parent: argparse.ArgumentParser) -> None:
    p = sub.add_parser(
        "reminders",
        help="list a user's e-mail and SMS reminders, phone and agenda; add or cancel one",
        parents=[parent],
    )
    p.set_defaults(func=cmd_reminders)
    p.add_argument("user", metavar="USER")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.add_argument(
        "--add",
        nargs=2,
        metavar=("CALENDAR", "UID"),
        help="remind USER of the event UID of CALENDAR (a path in USER's home)",
    )
    p.add_argument(
        "--minutes",
        type=int,
        default=15,
        help="with --add: minutes before each occurrence (default 15)",
    )
    p.add_argument(
        "--channel",
        choices=store.CHANNELS,
        default="email",
        help="with --add: email (default) or sms",
    )
    p.add_argument("--cancel", type=int, metavar="ID", help="cancel the reminder ID")
    q = sub.add_parser(
        "sms-queue",
        help="list SMS not sent yet by the http gateway (waiting or given up)",
        parents=[parent],
    )
    q.set_defaults(func=cmd_sms_queue)


def cmd_reminders(cfg: radicale_config.Configuration, args: argparse.Namespace) -> int:
    engine = engine_of(cfg)
    user = args.user
    zone = settings.get(engine, cfg, user).zone  # 404 for an unknown user
    if args.add:
        calendar, uid = args.add
        made = store.add(
            engine, cfg, user, calendar, uid, args.channel, minutes_before=args.minutes
        )
        print(f"reminder {made.id} added")
    if args.cancel is not None:
        store.cancel(engine, user, args.cancel)
        print(f"reminder {args.cancel} cancelled")
    found = store.list_for(engine, user)
    phone = sms.get_phone(engine, user)
    agenda = agenda_mail.get(engine, user)
    if args.json:
        print(
            json.dumps(
                {
                    "reminders": [r.as_json(zone, due) for r, due in found],
                    "phone": phone.as_json() if phone else None,
                    "agenda": agenda.as_json(zone.key),
                },
                indent=2,
            )
        )
        return EXIT_OK
    if args.add or args.cancel is not None:
        return EXIT_OK
    if found:
        print("ID\tCALENDAR\tUID\tCHANNEL\tWHEN\tSOURCE\tNEXT")
    else:
        print(f"{user} has no reminders")
    for reminder, due in found:
        print(
            "\t".join(
                [
                    str(reminder.id),
                    reminder.calendar,
                    reminder.uid,
                    reminder.channel,
                    store.timing.describe_offset(reminder.offset, reminder.at, zone),
                    reminder.source,
                    utc_time(due),
                ]
            )
        )
    if phone is not None:
        print(f"phone: {phone.number} ({'verified' if phone.verified else 'not verified'})")
    if agenda.enabled:
        print(
            f"agenda: {agenda.channel} on {','.join(agenda.days)} at {agenda.send_time} "
            f"({zone.key}), {'the next day' if agenda.content == 'next' else 'that day'}"
        )
    return EXIT_OK


def cmd_sms_queue(cfg: radicale_config.Configuration, args: argparse.Namespace) -> int:
    queued = sms.unsent(engine_of(cfg))
    print("ID\tTO\tATTEMPTS\tNEXT ATTEMPT\tLAST ERROR" if queued else "no SMS waiting")
    now = time.time()
    for message in queued:
        state = next_attempt(message.failed, message.not_before, now)
        print(
            f"{message.id}\t{message.number}\t{message.attempts} attempt(s)\t{state}"
            f"\t{message.last_error or '-'}"
        )
    return EXIT_OK
