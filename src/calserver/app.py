"""The composition root: what calserver mounts, on one screen.

Ops (/health, /.health; request metrics when [server] metrics_hosts is set: calserver.ops)
-> Front (calserver.front: request hygiene, limits, the request context, the error
   boundary; a database out of reach or out of space is 503 + Retry-After: calserver.outage)
  -> /.api/v1/: the management JSON API (calserver.api; same auth plugin and storage)
  -> /.feeds/, /.secret/, /.public/: calendar.ics, RSS, public pages (calserver.feeds.web)
  -> /.invite/: answer links of meeting invitations (calserver.scheduling.web)
  -> /.poll/: meeting poll voters' links (calserver.polls.web)
  -> /.web/: the web app (calserver.web; events through in-process CalDAV requests to
     this same Front); a browser's GET of / is sent there
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
       + WebDAV-Push: properties, P:push-register POST (calserver.dav.push), the
         storage hook that queues pushes (calserver.push.hooks), /.push/ registrations;
         `calserver worker` sends them (calserver.push.worker)
       + RFC 8607 managed attachments: POST ?action=attachment-*, properties
         (calserver.dav.attachments), /.attachments/ downloads, the storage hook that
         drops an event's attachments with it (calserver.attachments.hooks)
       + reminders: the storage hook that keeps their due-queue in step with the
         events (calserver.reminders.hooks); `calserver worker` delivers them
       + subscribed calendars (issue 18): the hook that keeps them read-only
         (calserver.subscriptions.hooks); `calserver worker` refreshes them
       + sync with other CalDAV servers: the storage hook that marks a calendar's pairs
         dirty (calserver.remotesync.hooks); `calserver worker` runs them
"""

from __future__ import annotations

from radicale import config as radicale_config

from calserver import api, db, ops, outage, warmup
from calserver.attachments import hooks as attachment_hooks
from calserver.dav import attachments as attachments_dav
from calserver.dav import compat
from calserver.dav import push as push_dav
from calserver.dav.application import CalserverApplication
from calserver.feeds import web as feeds_web
from calserver.front import Front, WSGIApp
from calserver.polls import web as poll_web
from calserver.push import hooks as push_hooks
from calserver.reminders import hooks as reminder_hooks
from calserver.remotesync import hooks as sync_hooks
from calserver.scheduling import hooks as scheduling_hooks
from calserver.scheduling import scheduletag
from calserver.scheduling import web as invite_web
from calserver.subscriptions import hooks as subscription_hooks
from calserver.web.app import Web


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
    # first the refusal: subscribed calendars are read-only for clients (issue 18)
    subscription_hooks.register(storage)
    scheduling_hooks.register(storage)  # implicit scheduling, RFC 6638 3.2
    if configuration.get("push", "enabled"):  # no write pays for push while it is off
        push_hooks.register(storage)  # WebDAV-Push: a calendar's subscriptions have news
    attachment_hooks.register(storage)  # RFC 8607: an event's attachments go with it
    scheduletag.register(storage)  # Schedule-Tag of scheduling objects, RFC 6638 3.2.10
    reminder_hooks.register(storage)  # reminders follow their events (issue 16)
    sync_hooks.register(storage)  # calendar pairs with other servers run after local changes
    storage.warm_up()  # type: ignore[attr-defined]
    web = Web(application)
    front = Front(
        application,
        configuration,
        api.Api(application),
        feeds_web.Feeds(application),
        invite_web.Invitations(application),
        web,
        mounted=[
            (push_dav.owns, push_dav.Registrations(application)),  # /.push/
            (attachments_dav.owns, attachments_dav.Downloads(application)),  # /.attachments/
            (poll_web.owns, poll_web.VotingPages(application)),  # /.poll/: poll voters' links
        ],
    )
    web.mount(front)  # the web app's CalDAV requests take the same way as a client's
    warmup.warm(front, application, storage)  # the first request as fast as the tenth
    return ops.mount(front, configuration)
