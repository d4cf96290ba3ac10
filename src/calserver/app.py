"""The composition root: what calserver mounts, on one screen.

Ops (/health, /.health; request metrics when [server] metrics_hosts is set: calserver.ops)
-> Front (calserver.front: request hygiene, limits, the request context, the error
   boundary; a database out of reach or out of space is 503 + Retry-After: calserver.outage)
  -> /.api/v1/: the management JSON API (calserver.api; same auth plugin and storage)
  -> /.feeds/, /.secret/, /.public/: calendar.ics, RSS, public pages (calserver.feeds.web)
  -> /.invite/: answer links of meeting invitations (calserver.scheduling.web)
  -> CalserverApplication (calserver.dav.application: Radicale 3.9 with calserver's plugins)
       storage = calserver.storage   (SQL, time index, change log)
       auth    = calserver.auth      (users table, argon2, throttling)
       rights  = calserver.rights    (owner, grants, groups)
       + write hooks of the storage: implicit scheduling (calserver.scheduling.hooks,
         registered below, RFC 6638 3.2)
       + Apple delegation: caldav-proxy, expand-property, principal search
         (calserver.dav.delegation, the do_* overrides marked "delegation")
       + free/busy availability rules (calserver.dav.freebusy)
       + [reporting] max_expand_occurrence on expand only (calserver.dav.expandlimit)
       + a PUT's items indexed before the write lock (dav.application._prepare_before_lock)
         these three wraps of Radicale functions through calserver.dav.compat
       + scheduling DAV: principal properties, inbox/outbox, outbox free/busy POST
         (calserver.dav.scheduling, the lines marked "scheduling")
       + PROPPATCH all or nothing, protected properties, limits (calserver.dav.proppatch)
"""

from __future__ import annotations

from radicale import config as radicale_config

from calserver import api, db, ops, outage
from calserver.dav import compat
from calserver.dav.application import CalserverApplication
from calserver.feeds import web as feeds_web
from calserver.front import Front, WSGIApp
from calserver.scheduling import hooks as scheduling_hooks
from calserver.scheduling import web as invite_web


def make_app(
    configuration: radicale_config.Configuration, *, create_schema: bool = True
) -> WSGIApp:
    """The whole calserver WSGI application for ``configuration``."""
    # a database out of reach or out of space is a 503, not a 500 (calserver.outage)
    outage.install()
    if create_schema:
        db.ensure_schema(db.engine_for(configuration))
    application = CalserverApplication(configuration)
    storage = compat.storage(application)
    # what the storage's writes set off, inside their transaction (calserver.storage.hooks)
    scheduling_hooks.register(storage)  # implicit scheduling, RFC 6638 3.2
    storage.warm_up()  # type: ignore[attr-defined]
    front = Front(
        application,
        configuration,
        api.Api(application),
        feeds_web.Feeds(application),
        invite_web.Invitations(application),
    )
    return ops.mount(front, configuration)
