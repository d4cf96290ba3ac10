"""``calserver imip-receive`` and ``calserver invitations``: meetings."""

from __future__ import annotations

import argparse
import email
import email.policy
import json
import sys

from radicale import config as radicale_config
from sqlalchemy.exc import OperationalError

from calserver.accounts import users
from calserver.cli.common import EXIT_OK, engine_of, storage_of
from calserver.errors import CalserverError
from calserver.scheduling import answers, copies, imip, invitations

#: sysexits.h codes an MTA understands (Postfix pipe(8), procmail): bad message (bounce),
#: no such meeting (bounce), try again later (the message stays queued).
EX_DATAERR, EX_NOUSER, EX_TEMPFAIL = 65, 67, 75


#: Larger messages are not meeting answers.
MAX_IMIP_BYTES = 25 * 1024 * 1024


def cmd_imip_receive(cfg: radicale_config.Configuration, args: argparse.Namespace) -> int:
    """One e-mailed iTIP REPLY (RFC 6047) applied to the organizer's copy; its From must
    be the answering attendee. Exit 0 applied, 65 refused, 67 unknown meeting, 75 the
    database was unreachable (the MTA retries): never a traceback to the MTA."""

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
        outcome = answers.apply_reply(storage_of(cfg), reply, sender=from_address)
    except copies.Refused as exc:
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


def cmd_invitations(cfg: radicale_config.Configuration, args: argparse.Namespace) -> int:
    engine = engine_of(cfg)
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
