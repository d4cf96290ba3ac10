"""``calserver addressbook ...``: create, list and delete address books (CardDAV)."""

from __future__ import annotations

import argparse
from typing import Any

from radicale import config as radicale_config

from calserver import addressbooks, calendars
from calserver.accounts import users
from calserver.cli.common import EXIT_OK, storage_of
from calserver.errors import CalserverError


def cmd_addressbook_create(cfg: radicale_config.Configuration, args: argparse.Namespace) -> int:
    storage = storage_of(cfg)
    owner, _ = calendars.parse_path(args.path)
    if not owner.startswith("@") and users.get(storage.engine, owner) is None:
        raise CalserverError(f"no user {owner!r}")
    info = addressbooks.create(storage, args.path, args.name)
    print(f"address book {info.path} created")
    return EXIT_OK


def cmd_addressbook_list(cfg: radicale_config.Configuration, args: argparse.Namespace) -> int:
    for info in addressbooks.list_addressbooks(storage_of(cfg), args.owner):
        print(f"{info.path}\t{info.name}\t{info.cards} vCards")
    return EXIT_OK


def cmd_addressbook_delete(cfg: radicale_config.Configuration, args: argparse.Namespace) -> int:
    addressbooks.delete(storage_of(cfg), args.path)
    print(f"address book {args.path} deleted")
    return EXIT_OK


def add_parser(sub: Any, parent: argparse.ArgumentParser) -> None:
    """``calserver addressbook create|list|delete``."""
    book = sub.add_parser("addressbook", help="manage address books (CardDAV)")
    book_sub = book.add_subparsers(dest="action", required=True, metavar="ACTION")
    p = book_sub.add_parser("create", help="create USER/BOOK or @GROUP/BOOK", parents=[parent])
    p.set_defaults(func=cmd_addressbook_create)
    p.add_argument("path", metavar="USER/BOOK")
    p.add_argument("--name", help="display name")
    p = book_sub.add_parser(
        "list", help="list the address books of USER or @GROUP", parents=[parent]
    )
    p.set_defaults(func=cmd_addressbook_list)
    p.add_argument("owner", metavar="USER|@GROUP")
    p = book_sub.add_parser("delete", help="delete USER/BOOK", parents=[parent])
    p.set_defaults(func=cmd_addressbook_delete)
    p.add_argument("path", metavar="USER/BOOK")
