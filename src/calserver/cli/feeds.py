"""``calserver publish``, ``unpublish``, ``reset-feeds`` and ``urls``: the URLs
beside CalDAV."""

from __future__ import annotations

import argparse
import json

from radicale import config as radicale_config

from calserver.cli.common import EXIT_OK, engine_of, storage_of
from calserver.feeds import access
from calserver.feeds.links import calendar_urls as urls_of
from calserver.sharing import manage
from calserver.urls import base_url


def calendar_urls(cfg: radicale_config.Configuration, path: str) -> dict[str, str]:
    return urls_of(storage_of(cfg), cfg, path, base_url(cfg))


def cmd_urls(cfg: radicale_config.Configuration, args: argparse.Namespace) -> int:
    urls = calendar_urls(cfg, args.path)
    if args.json:
        print(json.dumps(urls, indent=2, ensure_ascii=False))
    else:
        for key, value in urls.items():
            print(f"{key}\t{value}")
    return EXIT_OK


def cmd_publish(cfg: radicale_config.Configuration, args: argparse.Namespace) -> int:
    engine = engine_of(cfg)
    calendar = manage.parse_calendar(args.path)
    if args.reset:
        access.reset_public(engine, cfg, calendar)
    published = access.publish(engine, cfg, calendar, args.level)
    print(f"{calendar} published ({published.level}); see 'calserver urls {calendar}'")
    return EXIT_OK


def cmd_unpublish(cfg: radicale_config.Configuration, args: argparse.Namespace) -> int:
    calendar = manage.parse_calendar(args.path)
    access.unpublish(engine_of(cfg), calendar)
    print(f"{calendar} is no longer public")
    return EXIT_OK


def cmd_reset_feeds(cfg: radicale_config.Configuration, args: argparse.Namespace) -> int:
    access.reset_feeds(engine_of(cfg), args.user)
    print(f"every secret feed URL of {args.user} replaced; see 'calserver urls'")
    return EXIT_OK
