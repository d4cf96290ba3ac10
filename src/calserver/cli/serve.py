"""``calserver serve``, ``calserver worker`` and ``calserver mail-queue``: the processes."""

from __future__ import annotations

import argparse
import sys
import time

from radicale import config as radicale_config

from calserver import config as calserver_config
from calserver.cli.common import EXIT_OK, engine_of
from calserver.mail import outbox, worker
from calserver.run.serve import serve


def cmd_serve(cfg: radicale_config.Configuration, args: argparse.Namespace) -> int:
    calserver_config.setup_logging(cfg)
    serve(cfg)
    return EXIT_OK


def cmd_worker(cfg: radicale_config.Configuration, args: argparse.Namespace) -> int:
    # sets Radicale's logger only: the worker's follows [logging] level
    calserver_config.setup_logging(cfg)
    worker.logger.setLevel(cfg.get("logging", "level").upper())
    engine = engine_of(cfg)
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
    def when(timestamp: float) -> str:
        return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(timestamp))

    queued = outbox.unsent(engine_of(cfg))
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
