"""``calserver group ...``: groups and their members."""

from __future__ import annotations

import argparse

from radicale import config as radicale_config

from calserver.cli.common import EXIT_OK, engine_of
from calserver.sharing import manage


def cmd_group_create(cfg: radicale_config.Configuration, args: argparse.Namespace) -> int:
    group = manage.create_group(engine_of(cfg), args.group, args.admin)
    print(f"group @{group.name} created")
    return EXIT_OK


def cmd_group_delete(cfg: radicale_config.Configuration, args: argparse.Namespace) -> int:
    manage.delete_group(engine_of(cfg), args.group)
    print(f"group {args.group} and its calendars deleted")
    return EXIT_OK


def cmd_group_add_member(cfg: radicale_config.Configuration, args: argparse.Namespace) -> int:
    group = manage.add_member(engine_of(cfg), args.group, args.user, admin=args.admin)
    role = "administrator" if args.admin else "member"
    print(f"{args.user} is a {role} of @{group.name}")
    return EXIT_OK


def cmd_group_remove_member(cfg: radicale_config.Configuration, args: argparse.Namespace) -> int:
    group = manage.remove_member(engine_of(cfg), args.group, args.user)
    print(f"{args.user} removed from @{group.name}")
    return EXIT_OK


def cmd_group_accept(cfg: radicale_config.Configuration, args: argparse.Namespace) -> int:
    membership = manage.accept(engine_of(cfg), args.group, args.user)
    role = "administrator" if membership.admin else "member"
    print(f"{args.user} is a {role} of @{membership.group}")
    return EXIT_OK


def cmd_group_decline(cfg: radicale_config.Configuration, args: argparse.Namespace) -> int:
    manage.decline(engine_of(cfg), args.group, args.user)
    print(f"{args.user} declined the invitation to @{manage.group_name(args.group)}")
    return EXIT_OK


def cmd_group_list(cfg: radicale_config.Configuration, args: argparse.Namespace) -> int:
    """One line per group: members, then invitations not accepted yet, then calendars.
    With USER: the groups USER is in or invited to."""
    engine = engine_of(cfg)
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
