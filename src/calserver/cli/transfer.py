"""``calserver import``, ``export`` and ``migrate-from-radicale``: calendars in and
out."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from radicale import config as radicale_config

from calserver import calendars
from calserver.accounts import settings
from calserver.cli.common import EXIT_OK, stopped_by_signals, storage_of
from calserver.contacts import books
from calserver.errors import CalserverError
from calserver.ical import icsfile
from calserver.importer import radicale as radicale_import
from calserver.subscriptions import hooks as subscription_hooks


def cmd_import(cfg: radicale_config.Configuration, args: argparse.Namespace) -> int:
    storage = storage_of(cfg)
    try:
        with open(args.file, encoding="utf-8") as f:
            text = f.read()
    except (OSError, UnicodeDecodeError) as exc:
        raise CalserverError(f"cannot read {args.file}: {exc}") from exc
    if args.file.lower().endswith(".vcf") or books.is_address_book(storage, args.path):
        return _import_vcf(cfg, storage, args, text)
    refused = subscription_hooks.refusal(storage, "/" + args.path.strip("/") + "/")
    if refused is not None:  # its events come from the source; a refresh would drop these
        raise CalserverError(refused.reason)
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


def _import_vcf(
    cfg: radicale_config.Configuration, storage: Any, args: argparse.Namespace, text: str
) -> int:
    with stopped_by_signals():
        result = books.import_vcf(
            storage,
            args.path,
            text,
            max_bytes=cfg.get("server", "max_content_length"),
            skip_invalid=args.skip_invalid,
        )
    for line in [*result.uids_given, *("skipped " + s for s in result.skipped)]:
        print(line, file=sys.stderr)
    print(result.summary(args.path))
    return EXIT_OK


def cmd_export(cfg: radicale_config.Configuration, args: argparse.Namespace) -> int:
    storage = storage_of(cfg)
    if books.is_address_book(storage, args.path):
        text = books.export(storage, args.path)
    else:
        text = calendars.export(storage, args.path)
    if args.output:
        with open(args.output, "w", encoding="utf-8", newline="") as f:
            f.write(text)
    else:
        sys.stdout.write(text)
    return EXIT_OK


def cmd_migrate(cfg: radicale_config.Configuration, args: argparse.Namespace) -> int:
    storage = storage_of(cfg)
    with stopped_by_signals():
        report = radicale_import.migrate(storage, args.source, dry_run=args.dry_run)
    for line in report:
        print(line)
    return EXIT_OK
