"""``calserver serve``, ``calserver worker`` (queued email and WebDAV-Push messages) and
``calserver mail-queue``: the processes."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
import time

from radicale import config as radicale_config

from calserver import config as calserver_config
from calserver.cli.common import EXIT_OK, engine_of, next_attempt, storage_of
from calserver.mail import outbox, worker
from calserver.push import worker as push_worker
from calserver.reminders import worker as reminders_worker
from calserver.remotesync import worker as sync_worker
from calserver.run import memory
from calserver.run.serve import serve
from calserver.subscriptions import refresh as subscription_worker


def cmd_serve(cfg: radicale_config.Configuration, args: argparse.Namespace) -> int:
    memory.limit_arenas()  # before any thread: glibc's arenas (calserver.run.memory)
    calserver_config.setup_logging(cfg)
    serve(cfg)
    return EXIT_OK


def cmd_worker(cfg: radicale_config.Configuration, args: argparse.Namespace) -> int:
    # sets Radicale's logger only: the worker's follows [logging] level
    calserver_config.setup_logging(cfg)
    worker.logger.setLevel(cfg.get("logging", "level").upper())
    push_worker.logger.setLevel(cfg.get("logging", "level").upper())
    reminders_worker.logger.setLevel(cfg.get("logging", "level").upper())
    sync_worker.logger.setLevel(cfg.get("logging", "level").upper())
    engine = engine_of(cfg)
    pushing = push_worker.enabled(cfg)  # WebDAV-Push messages (calserver.push.worker)
    mailing = worker.SmtpSettings.from_configuration(cfg).enabled
    # calendar subscriptions to keep fresh (calserver.subscriptions.refresh)
    fetching = subscription_worker.any_subscription(engine)
    # calendar pairs with other servers (calserver.remotesync.worker); none: nothing to wait for
    syncing = sync_worker.enabled(cfg) and sync_worker.has_pairs(engine)
    if args.once or not (mailing or pushing or fetching or syncing):
        # reminders and agendas go to the outboxes first, so this pass sends them
        reminded = reminders_worker.run_once(engine, cfg)
        counts = worker.run_once(engine, cfg)
        if counts.disabled:
            print("calserver: " + counts.summary(), file=sys.stderr)
        else:
            print(counts.summary())
        if pushing:
            print(push_worker.run_once(engine, cfg).summary())
        print(reminded.summary())
        if fetching:
            print(subscription_worker.run_once(storage_of(cfg), cfg).summary())
        if syncing:
            print(sync_worker.run_once(engine, storage_of(cfg), cfg).summary())
        return EXIT_OK
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    pusher = None
    if pushing:
        pusher = threading.Thread(target=push_worker.run_forever, args=(engine, cfg, stop))
        pusher.start()
    # reminders, agendas and the SMS gateway (calserver.reminders.worker), each its loop
    helpers = [
        threading.Thread(target=loop, args=(engine, cfg, stop))
        for loop in (reminders_worker.run_forever, reminders_worker.run_sms_forever)
    ]
    for helper in helpers:
        helper.start()
    fetcher = threading.Thread(
        target=subscription_worker.run_forever, args=(storage_of(cfg), cfg, stop)
    )
    fetcher.start()
    syncer = None
    if syncing:
        syncer = threading.Thread(
            target=sync_worker.run_forever, args=(engine, storage_of(cfg), cfg, stop)
        )
        syncer.start()
    try:
        if mailing:
            worker.run_forever(engine, cfg, stop)
        else:
            stop.wait()
    finally:
        stop.set()
        if pusher is not None:
            pusher.join()
        for helper in helpers:
            helper.join()
        fetcher.join()
        if syncer is not None:
            syncer.join()
    return EXIT_OK


def cmd_mail_queue(cfg: radicale_config.Configuration, args: argparse.Namespace) -> int:
    queued = outbox.unsent(engine_of(cfg))
    print("ID\tRECIPIENTS\tATTEMPTS\tNEXT ATTEMPT\tLAST ERROR" if queued else "no email waiting")
    now = time.time()
    for message in queued:
        state = next_attempt(message.failed, message.not_before, now)
        print(
            f"{message.id}\t{', '.join(message.recipients)}\t{message.attempts} attempt(s)"
            f"\t{state}\t{message.last_error or '-'}"
        )
    return EXIT_OK
