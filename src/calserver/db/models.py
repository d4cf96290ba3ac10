"""The relational schema: the single source of truth of calserver.

Items carry the columns computed when they are stored (UID, component, ETag, the UTC
span they cover), recurring ones their indexed instances, and every change of a
collection is logged under a revision number, so time-range queries, UID checks, ctags
and incremental sync (RFC 6578) are index lookups instead of scans.
"""

from __future__ import annotations

import secrets

from sqlalchemy import (
    DDL,
    BigInteger,
    Boolean,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    SmallInteger,
    String,
    Table,
    Text,
    UniqueConstraint,
    event,
    func,
)

from calserver import urls

metadata = MetaData()


def new_feed_salt() -> str:
    """A fresh random value for a grant or a group membership: part of the secret feed
    URL of whoever sees a calendar through it (``calserver.feeds.access``), so a share
    granted again gets a new URL and the old one stays dead."""
    return secrets.token_hex(16)


def first_epoch() -> int:
    """A random first feed or publication epoch: a user or a calendar deleted and made
    again under the same name must not get the secret or public URLs of the one before
    (they are HMACs of the name and the epoch). Room is left for the resets to count up."""
    return secrets.randbelow(2**30)


#: Parent of the hidden collections imports are built in before they are swapped in.
#: Dot-prefixed: no user name can start with a dot, so no request can reach them.
STAGING = ".staging"

#: Names of the schedule inbox and outbox in every user's home (RFC 6638 2.1, 2.2):
#: kept by the server, never a calendar of the user's (calserver.urls).
MAILBOXES = urls.MAILBOXES

#: Collections: principals ("alice"), calendars ("alice/work") and plain folders.
collections = Table(
    "collections",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("path", String(1024), nullable=False, unique=True),
    Column("parent", String(1024), nullable=False, index=True),
    Column("tag", String(32), nullable=False, default=""),
    Column("props", Text, nullable=False, default="{}"),
    # Bumped by every change of the collection: ctag, sync token, Last-Modified.
    Column("revision", BigInteger, nullable=False, default=0),
    # Changes below this revision were pruned: older sync tokens are invalid.
    Column("min_revision", BigInteger, nullable=False, default=0),
    # Random per incarnation of the collection: tokens of a deleted/replaced one fail.
    Column("sync_key", String(32), nullable=False),
    Column("modified", Float, nullable=False),
)

items = Table(
    "items",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column(
        "collection_id",
        Integer,
        ForeignKey("collections.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("href", String(1024), nullable=False),
    Column("uid", String(1024), nullable=False, default=""),
    Column("etag", String(80), nullable=False),
    Column("name", String(32), nullable=False, default=""),
    Column("component", String(32), nullable=False, default=""),
    # Enclosing UTC span (RFC 4791 9.9), TIMESTAMP_MAX for endless series.
    Column("start_ts", BigInteger, nullable=False),
    Column("end_ts", BigInteger, nullable=False),
    # Instances are indexed up to here; beyond it the item is a candidate of every query.
    # NULL: every instance is in `instances`.
    Column("indexed_until", BigInteger, nullable=True),
    Column("text", Text, nullable=False),
    Column("modified", Float, nullable=False),
    # RFC 5545 3.8.1.3 CLASS, the most restrictive of the item's components, as
    # PUBLIC, CONFIDENTIAL or PRIVATE (unknown values count as PRIVATE): which views
    # show the item and how (calserver.sharing).
    Column("klass", String(16), nullable=False, default="PUBLIC", server_default="PUBLIC"),
    # Scheduling provenance (RFC 6638 3.2), written only by the scheduling engine: the
    # user name of the organizer of the meeting this item is a scheduling object of,
    # and whether it is that organizer's copy ("organizer") or an attendee's copy the
    # engine delivered ("attendee"); NULL for everything else. A client's PUT cannot
    # set it; an edit of the same UID at the same href keeps it (calserver.scheduling).
    Column("sched_organizer", String(255), nullable=True),
    Column("sched_role", String(16), nullable=True),
    UniqueConstraint("collection_id", "href", name="uq_items_href"),
)
Index(
    "uq_items_uid",
    items.c.collection_id,
    items.c.uid,
    unique=True,
    sqlite_where=items.c.uid != "",
    postgresql_where=items.c.uid != "",
)
Index("ix_items_open", items.c.collection_id, items.c.indexed_until)
Index("ix_items_sched", items.c.sched_organizer, items.c.uid)
# Whole-collection listings (initial sync, Depth 1 PROPFIND: calserver.dav.streamed) read
# (href, ETag) in id order without touching the rows' texts: a covering index on SQLite,
# where a row's columns after its text are read through the text's overflow pages; on
# PostgreSQL (texts in TOAST; index entries limited in size) the order only.
Index(
    "ix_items_listing",
    items.c.collection_id,
    items.c.id,
    items.c.href,
    items.c.etag,
    items.c.component,
    items.c.klass,
).ddl_if(dialect="sqlite")
Index("ix_items_ordered", items.c.collection_id, items.c.id).ddl_if(dialect="postgresql")

#: The time index: one row per instance of every item (one for a single event), short
#: ones (<= SHORT_SPAN seconds) found by a bounded range scan on start_ts, long ones
#: by a scan of the few long rows of the collection.
instances = Table(
    "instances",
    metadata,
    Column(
        "item_id",
        Integer,
        ForeignKey("items.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    Column("collection_id", Integer, nullable=False),
    Column("long", Boolean, nullable=False),
    Column("start_ts", BigInteger, nullable=False),
    Column("end_ts", BigInteger, nullable=False),
)
Index("ix_instances_window", instances.c.collection_id, instances.c.long, instances.c.start_ts)

#: Dead properties of calendar objects (RFC 4918 4.4, 9.2: PROPPATCH on an item), by
#: href in their collection; the item's DELETE drops them (storage.itemprops).
item_properties = Table(
    "item_properties",
    metadata,
    Column(
        "collection_id",
        Integer,
        ForeignKey("collections.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("href", String(1024), primary_key=True),
    Column("name", String(512), primary_key=True),  # Clark notation
    Column("value", Text, nullable=False),  # the property element, serialised XML
)

#: Change log for RFC 6578 sync-collection.
changes = Table(
    "changes",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column(
        "collection_id",
        Integer,
        ForeignKey("collections.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("revision", BigInteger, nullable=False),
    Column("href", String(1024), nullable=False),
    Column("deleted", Boolean, nullable=False),
    Column("created", Float, nullable=False),
    # Who could see the item at ``href`` just before and just after the change: the
    # lowest view level (calserver.sharing.levels.Level) that contains it, from its
    # CLASS and component (calserver.sharing.redact.shown_from); NULL where there was
    # no item. A view's incremental sync names only the hrefs it saw at its token's
    # revision or sees now (RFC 6578 3.5: calserver.storage.sync).
    Column("before_level", SmallInteger, nullable=True),
    Column("after_level", SmallInteger, nullable=True),
)
Index("ix_changes_rev", changes.c.collection_id, changes.c.revision)

users = Table(
    "users",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(255), nullable=False, unique=True),
    Column("email", String(320), nullable=False, default=""),
    Column("password_hash", String(512), nullable=False, default=""),
    Column("disabled", Boolean, nullable=False, default=False),
    # Bumped by a password change or (dis|en)abling: cached logins of every process die.
    Column("auth_epoch", Integer, nullable=False, default=0),
    Column("created", Float, nullable=False),
    # Settings (issue 4): IANA time zone ("" = the server's [feeds] timezone), default
    # event duration in seconds (0 = the server's), first day of the week (0 = Monday).
    Column("timezone", String(64), nullable=False, default="", server_default=""),
    Column("default_duration", Integer, nullable=False, default=0, server_default="0"),
    Column("week_start", Integer, nullable=False, default=0, server_default="0"),
    # Bumped by "reset my calendar feeds": every secret URL of the user is derived
    # from it (calserver.feeds.tokens), so the old ones stop matching at once.
    Column("feed_epoch", Integer, nullable=False, default=first_epoch, server_default="0"),
    # A server administrator (``calserver user admin``) manages users and groups in the
    # web app; the CLI needs no flag (it is the machine's administrator).
    Column("is_admin", Boolean, nullable=False, default=False, server_default="0"),
    # The user's e-mail switch (web app settings): off, meetings reach them in their
    # calendar only, with no e-mail (calserver.accounts.settings.wants_email).
    Column("email_notifications", Boolean, nullable=False, default=True, server_default="1"),
)
#: One account per e-mail address, whatever its case (RFC 5321 2.4: the domain is
#: case-insensitive, and no mail system tells local parts apart by case): the address
#: says who a scheduling message is for (calserver.scheduling.addresses).
Index(
    "ix_users_email_lower",
    func.lower(users.c.email),
    unique=True,
    sqlite_where=users.c.email != "",
    postgresql_where=users.c.email != "",
)

#: Recently verified logins, shared by every process and surviving restarts, so that
#: only the first login after a password change pays for argon2. The digest is an HMAC
#: under the server key, which is not in the database; an entry is valid only for the
#: user's current auth_epoch and until it expires.
login_cache = Table(
    "login_cache",
    metadata,
    Column(
        "user_id",
        Integer,
        ForeignKey("users.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("digest", String(64), nullable=False),
    Column("epoch", Integer, nullable=False),
    Column("expires", Float, nullable=False),
)

#: Failed logins per key ("user:NAME", "addr:IP"), shared by every server process.
login_failures = Table(
    "login_failures",
    metadata,
    Column("key", String(400), primary_key=True),
    Column("failures", Integer, nullable=False),
    Column("last_failure", Float, nullable=False),
)

#: Key/value facts about the database itself (schema version).
meta = Table(
    "calserver_meta",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("value", Text, nullable=False),
)

#: Groups of users. Their calendars live under the group's home ``@NAME``, a path no
#: user name can take.
groups = Table(
    "groups",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(255), nullable=False, unique=True),
    Column("created", Float, nullable=False),
)

#: States of a group membership: a group administrator's invitation waits for the
#: user's consent (``pending``, it grants nothing); ``accepted`` counts.
MEMBER_PENDING = "pending"
MEMBER_ACCEPTED = "accepted"

#: Members of a group; ``admin`` members (the administrator and co-administrators)
#: manage the group, write its calendars and publish them. Only ``accepted`` rows
#: count for access: read memberships through ``calserver.sharing.membership``.
#: ``invited_by`` names the group administrator who invited a pending member.
group_members = Table(
    "group_members",
    metadata,
    Column("group_id", Integer, ForeignKey("groups.id", ondelete="CASCADE"), primary_key=True),
    Column("user_id", Integer, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    Column("admin", Boolean, nullable=False, default=False),
    Column("state", String(16), nullable=False, server_default=MEMBER_ACCEPTED),
    Column("invited_by", Integer, ForeignKey("users.id", ondelete="SET NULL"), nullable=True),
    # New with every membership (a re-added member gets a new one, a role change keeps
    # it); "" for memberships older than it. See new_feed_salt.
    Column("feed_salt", String(32), nullable=False, default=new_feed_salt, server_default=""),
)
Index("ix_group_members_user", group_members.c.user_id)

#: A calendar granted to a user or to a whole group at one level: busy, read, write.
grants = Table(
    "grants",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column(
        "collection_id",
        Integer,
        ForeignKey("collections.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("user_id", Integer, ForeignKey("users.id", ondelete="CASCADE"), nullable=True),
    Column("group_id", Integer, ForeignKey("groups.id", ondelete="CASCADE"), nullable=True),
    Column("level", String(8), nullable=False),
    Column("created", Float, nullable=False),
    # New with every grant (a grant taken back and given again gets a new one, a level
    # change keeps it); "" for grants older than it. See new_feed_salt.
    Column("feed_salt", String(32), nullable=False, default=new_feed_salt, server_default=""),
)
Index(
    "uq_grants_user",
    grants.c.collection_id,
    grants.c.user_id,
    unique=True,
    sqlite_where=grants.c.user_id.is_not(None),
    postgresql_where=grants.c.user_id.is_not(None),
)
Index(
    "uq_grants_group",
    grants.c.collection_id,
    grants.c.group_id,
    unique=True,
    sqlite_where=grants.c.group_id.is_not(None),
    postgresql_where=grants.c.group_id.is_not(None),
)
Index("ix_grants_user", grants.c.user_id)
Index("ix_grants_group", grants.c.group_id)

#: calendarserver-sharing (``calserver.sharing.invites``): the invitation of a user to
#: a calendar shared with them by a CS:share POST, and what they answered
#: (``noresponse``, ``accepted``, ``declined``). The grant itself is in ``grants``.
sharing_invites = Table(
    "sharing_invites",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column(
        "collection_id",
        Integer,
        ForeignKey("collections.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("user_id", Integer, ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("uid", String(64), nullable=False, unique=True),
    Column("status", String(16), nullable=False),
    Column("access", String(16), nullable=False),
    Column("summary", Text, nullable=False, default=""),
    Column("created", Float, nullable=False),
    UniqueConstraint("collection_id", "user_id", name="uq_sharing_invites_calendar_user"),
)

#: calendarserver-sharing notifications (the CS:notification-URL collection of a user):
#: an invitation to a sharee, a sharee's answer to the owner. ``data`` is JSON.
sharing_notifications = Table(
    "sharing_notifications",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("user_id", Integer, ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("uid", String(64), nullable=False),
    Column("kind", String(24), nullable=False),
    Column("data", Text, nullable=False, default="{}"),
    Column("created", Float, nullable=False),
    UniqueConstraint("user_id", "uid", name="uq_sharing_notifications_user_uid"),
)


#: A viewer's own settings of a calendar they see but do not own (colour, name,
#: order: WebDAV properties laid over the owner's), and the "other calendars" they
#: added to their home themselves (``added``).
calendar_views = Table(
    "calendar_views",
    metadata,
    Column("user_id", Integer, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    Column(
        "collection_id",
        Integer,
        ForeignKey("collections.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("props", Text, nullable=False, default="{}"),
    Column("added", Boolean, nullable=False, default=False),
)


#: Secret feed URLs, stored hashed. The token itself is an HMAC under the server key of
#: (user, calendar path as the user sees it, the user's feed epoch, and for a calendar
#: of someone else's the feed_salt of the grant or membership it is seen through): it
#: can be shown again on demand, but neither this table nor a dump of the database
#: reveals it.
feed_tokens = Table(
    "feed_tokens",
    metadata,
    Column("digest", String(64), primary_key=True),
    Column("user_id", Integer, ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("path", String(1024), nullable=False),
    Column("epoch", Integer, nullable=False),
    Column("created", Float, nullable=False),
)
Index("ix_feed_tokens_user", feed_tokens.c.user_id)

#: Anonymous access to a calendar: ``level`` is "busy" or "details" while published,
#: "" when not. ``epoch`` is bumped by every unpublish or reset, and the public token
#: (an HMAC of the calendar and the epoch) is found by its SHA-256 ``digest``.
publications = Table(
    "publications",
    metadata,
    Column(
        "collection_id",
        Integer,
        ForeignKey("collections.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("level", String(8), nullable=False, default=""),
    Column("epoch", Integer, nullable=False, default=0),
    Column("digest", String(64), nullable=True, unique=True),
    Column("changed", Float, nullable=False),
)

#: Email waiting to go out (``calserver.mail``). A row is written in the transaction of
#: the change that causes it, so a message exists exactly when that change committed;
#: ``calserver worker`` sends it. ``message`` is the whole RFC 5322 message, ``recipients``
#: the envelope recipients (one address per line). Times are POSIX seconds:
#: ``not_before`` is the next attempt, ``claimed_until`` the lease of the worker sending it
#: (a worker takes a row only when the lease has run out), ``sent`` is set once the SMTP
#: server accepted the message, ``failed`` once calserver gave up (the row is kept, with
#: ``last_error``).
mail_outbox = Table(
    "mail_outbox",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("created", Float, nullable=False),
    Column("recipients", Text, nullable=False),
    Column("message", Text, nullable=False),
    Column("not_before", Float, nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    Column("last_error", Text, nullable=False, default=""),
    Column("claimed_until", Float, nullable=False, default=0.0),
    Column("sent", Float, nullable=True),
    Column("failed", Float, nullable=True),
)
Index(
    "ix_mail_outbox_due",
    mail_outbox.c.not_before,
    sqlite_where=mail_outbox.c.sent.is_(None) & mail_outbox.c.failed.is_(None),
    postgresql_where=mail_outbox.c.sent.is_(None) & mail_outbox.c.failed.is_(None),
)

#: Signed-in browser sessions of the web app (calserver.web). The cookie holds a random
#: token; only its SHA-256 is stored. A session holds for the account's ``auth_epoch`` at
#: sign-in: a password change or disabling the account bumps the epoch and so ends every
#: session in every process at once. ``csrf`` is the session's form token.
web_sessions = Table(
    "web_sessions",
    metadata,
    Column("digest", String(64), primary_key=True),
    Column("user_id", Integer, ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("epoch", Integer, nullable=False),
    Column("csrf", String(64), nullable=False),
    Column("created", Float, nullable=False),
    Column("expires", Float, nullable=False),
)
Index("ix_web_sessions_user", web_sessions.c.user_id)
#: WebDAV-Push subscriptions (``calserver.push``, draft "WebDAV-Push" of bitfire.at):
#: one Web Push subscription (RFC 8030 push resource, RFC 8291 keys) of ``user`` on the
#: calendar ``collection_path`` (its own path, not an alias), until ``expires`` (POSIX
#: seconds). ``token`` names the registration in its URL (``/.push/TOKEN``). The queue
#: columns coalesce changes: a write sets ``pending_since`` when it is NULL; ``calserver
#: worker`` claims a pending row whose ``not_before`` has come (``claimed_until``: its
#: lease), pushes one message, and clears ``pending_since`` when no write came since.
push_subscriptions = Table(
    "push_subscriptions",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("token", String(64), nullable=False, unique=True),
    Column("user", String(255), nullable=False),
    Column("collection_path", String(1024), nullable=False, index=True),
    Column("push_resource", Text, nullable=False),
    Column("public_key", String(255), nullable=False),
    Column("auth_secret", String(255), nullable=False),
    Column("expires", Float, nullable=False),
    Column("created", Float, nullable=False),
    Column("pending_since", Float, nullable=True),
    Column("not_before", Float, nullable=False, default=0.0),
    Column("claimed_until", Float, nullable=False, default=0.0),
    Column("attempts", Integer, nullable=False, default=0),
    Column("last_error", Text, nullable=False, default=""),
)

#: Managed attachments (RFC 8607, ``calserver.attachments``): the content of one
#: ATTACH of the calendar object resource ``href`` in the calendar ``collection_id``,
#: named by ``managed_id`` (the ATTACH's MANAGED-ID parameter and its URL). ``owner``
#: is the user whose quota it counts against (the calendar's owner).
attachments = Table(
    "attachments",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("managed_id", String(64), nullable=False, unique=True),
    Column(
        "collection_id",
        Integer,
        ForeignKey("collections.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("href", String(1024), nullable=False),
    Column("owner", String(255), nullable=False, index=True),
    Column("filename", String(255), nullable=False),
    Column("content_type", String(255), nullable=False),
    Column("size", Integer, nullable=False),
    Column("data", LargeBinary, nullable=False),
    Column("created", Float, nullable=False),
)
Index("ix_attachments_item", attachments.c.collection_id, attachments.c.href)

#: A colour a user gave one event (by UID) of a calendar they see (issue 14 section 4):
#: shown to that user only, never written into the event, so a meeting's colour stays the
#: business of whoever set it (calserver.eventcolours).
event_colours = Table(
    "event_colours",
    metadata,
    Column("user_id", Integer, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    Column(
        "collection_id",
        Integer,
        ForeignKey("collections.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("uid", String(512), primary_key=True),
    Column("colour", String(9), nullable=False),
)

#: A user's availability (RFC 7953, ``calserver.accounts.availability``): their working
#: hours as the text of one VCALENDAR of VAVAILABILITY components; free/busy answers mark
#: the time outside it BUSY-UNAVAILABLE. ``updated`` is POSIX seconds.
availability = Table(
    "availability",
    metadata,
    Column("user_id", Integer, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    Column("text", Text, nullable=False),
    Column("updated", Float, nullable=False),
)

#: Meeting polls (issue 19, ``calserver.polls``): a poll belongs to one user (``owner``);
#: ``key`` is random and signed into every voter's link, so a link of a deleted poll
#: never opens a later poll that got the same id. ``status`` is ``open``, ``closed``
#: (without a date) or ``decided`` (``decided_option``; the meeting's UID in
#: ``meeting_uid``). ``notify``: the owner's notices (``all`` answered, ``each`` vote
#: batched, ``never``); ``notice_outbox_id`` the batched notice still waiting to be sent.
polls = Table(
    "polls",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("key", String(32), nullable=False, unique=True),
    Column("owner", String(255), nullable=False, index=True),
    Column("title", String(255), nullable=False),
    Column("description", Text, nullable=False, default=""),
    Column("location", String(255), nullable=False, default=""),
    Column("duration", Integer, nullable=False),
    Column("timezone", String(64), nullable=False),
    Column("status", String(16), nullable=False, default="open"),
    Column("decided_option", Integer, nullable=True),
    Column("meeting_uid", String(255), nullable=False, default=""),
    Column("notify", String(8), nullable=False, default="all"),
    Column("notice_outbox_id", Integer, nullable=True),
    Column("all_answered_told", Boolean, nullable=False, default=False),
    Column("created", Float, nullable=False),
    Column("updated", Float, nullable=False),
)
#: A poll's candidate dates: ``start`` is ``YYYY-MM-DD`` (all day) or
#: ``YYYY-MM-DDTHH:MM`` in the poll's time zone.
poll_options = Table(
    "poll_options",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("poll_id", Integer, ForeignKey("polls.id", ondelete="CASCADE"), nullable=False),
    Column("start", String(16), nullable=False),
    Column("all_day", Boolean, nullable=False, default=False),
    UniqueConstraint("poll_id", "start", name="uq_poll_options_start"),
)
#: A poll's voters: their e-mail address, the account it names (``user``, "" for none)
#: and the random ``key`` signed into their personal link (``/.poll/TOKEN``).
poll_voters = Table(
    "poll_voters",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("poll_id", Integer, ForeignKey("polls.id", ondelete="CASCADE"), nullable=False),
    Column("email", String(320), nullable=False),
    Column("name", String(255), nullable=False, default=""),
    Column("user", String(255), nullable=False, default="", index=True),
    Column("key", String(32), nullable=False, unique=True),
    Column("answered", Float, nullable=True),
    Column("reminded", Float, nullable=True),
    UniqueConstraint("poll_id", "email", name="uq_poll_voters_email"),
)
#: One voter's answer (``yes``, ``maybe``, ``no``) for one option.
poll_votes = Table(
    "poll_votes",
    metadata,
    Column("voter_id", Integer, ForeignKey("poll_voters.id", ondelete="CASCADE"), primary_key=True),
    Column(
        "option_id", Integer, ForeignKey("poll_options.id", ondelete="CASCADE"), primary_key=True
    ),
    Column("answer", String(8), nullable=False),
)


#: Reminders (issue 16, ``calserver.reminders``): what one user asked to be reminded of,
#: kept outside the iCalendar object so that no client can strip it. An event (every
#: occurrence of a series) by its calendar's own id and UID; a channel (``email`` or
#: ``sms``) and either ``offset_seconds`` before each occurrence's start or one absolute
#: instant ``at_time`` (POSIX seconds). ``source``: ``user`` (set through the API, the
#: web app or the CLI), ``valarm`` (an ``ACTION:EMAIL`` VALARM a client wrote, honoured
#: for the calendar's owner) or ``default`` (the calendar's default for new events).
reminders = Table(
    "reminders",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("user_name", String(255), nullable=False, index=True),
    Column(
        "collection_id", Integer, ForeignKey("collections.id", ondelete="CASCADE"), nullable=False
    ),
    Column("uid", String(1024), nullable=False),
    Column("channel", String(8), nullable=False),
    Column("offset_seconds", Integer, nullable=True),
    Column("at_time", Float, nullable=True),
    Column("source", String(8), nullable=False, default="user"),
    Column("created", Float, nullable=False),
)
Index("ix_reminders_event", reminders.c.collection_id, reminders.c.uid)

#: A user's default reminders for new events of one calendar they see.
reminder_defaults = Table(
    "reminder_defaults",
    metadata,
    Column("user_name", String(255), primary_key=True),
    Column(
        "collection_id",
        Integer,
        ForeignKey("collections.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("channel", String(8), primary_key=True),
    Column("offset_seconds", Integer, primary_key=True),
)

#: The due-queue of reminders: the next occurrence of each reminder, claimed by
#: ``calserver worker`` under a lease (``claimed_until``), then ``sent``, ``missed``
#: (later than ``[reminders] max_lateness``), ``failed`` or ``hidden`` (the person may
#: no longer see the event). ``dedup_key`` (a hash of person, UID, occurrence, channel
#: and offset) is unique: the same reminder is never queued twice, even from two copies
#: of one meeting. ``occurrence`` is the occurrence's RECURRENCE-ID in UTC ("" for a
#: single event); ``occ_start`` its start in POSIX seconds.
reminder_queue = Table(
    "reminder_queue",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("reminder_id", Integer, nullable=False, index=True),
    Column("user_name", String(255), nullable=False),
    Column("collection_id", Integer, nullable=False),
    Column("uid", String(1024), nullable=False),
    Column("occurrence", String(32), nullable=False),
    Column("channel", String(8), nullable=False),
    Column("occ_start", Float, nullable=False),
    Column("fire_at", Float, nullable=False),
    Column("state", String(8), nullable=False, default="pending"),
    Column("attempts", Integer, nullable=False, default=0),
    Column("not_before", Float, nullable=False),
    Column("claimed_until", Float, nullable=False, default=0.0),
    Column("last_error", Text, nullable=False, default=""),
    Column("done_at", Float, nullable=True),
    Column("dedup_key", String(64), nullable=False, unique=True),
)
Index("ix_reminder_queue_due", reminder_queue.c.state, reminder_queue.c.not_before)
Index("ix_reminder_queue_event", reminder_queue.c.collection_id, reminder_queue.c.uid)

#: A user's phone for SMS (E.164), verified with a one-time code (its SHA-256 kept).
phones = Table(
    "phones",
    metadata,
    Column("user_name", String(255), primary_key=True),
    Column("number", String(16), nullable=False),
    Column("verified", Boolean, nullable=False, default=False),
    Column("code_hash", String(64), nullable=False, default=""),
    Column("code_expires", Float, nullable=False, default=0.0),
    Column("code_attempts", Integer, nullable=False, default=0),
)

#: SMS waiting for the ``[sms] backend = http`` gateway (the ``smtp`` backend goes
#: through ``mail_outbox``), claimed under a lease like the mail outbox.
sms_outbox = Table(
    "sms_outbox",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("number", String(16), nullable=False),
    Column("text", Text, nullable=False),
    Column("created", Float, nullable=False),
    Column("not_before", Float, nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    Column("claimed_until", Float, nullable=False, default=0.0),
    Column("last_error", Text, nullable=False, default=""),
    Column("sent", Float, nullable=True),
    Column("failed", Float, nullable=True),
)

#: A user's agenda by e-mail or SMS: the days (``mo,tu,...``; none: off), local time
#: ``HH:MM`` in their time zone, the content (``same`` day or ``next`` day), the extra
#: calendars they picked (JSON list of paths in their home; their own are always in),
#: and the last local day it went out (one per day, whichever worker claims it).
agendas = Table(
    "agendas",
    metadata,
    Column("user_name", String(255), primary_key=True),
    Column("channel", String(8), nullable=False, default="email"),
    Column("days", String(32), nullable=False, default=""),
    Column("send_time", String(5), nullable=False, default="07:00"),
    Column("content", String(8), nullable=False, default="same"),
    Column("calendars", Text, nullable=False, default="[]"),
    Column("last_day", String(10), nullable=False, default=""),
    Column("last_send_now", Float, nullable=False, default=0.0),
)


#: Calendar subscriptions (issue 18, ``calserver.subscriptions``): one row per distinct
#: source URL, fetched once however many people subscribe to it (its conditional-request
#: validators, when it is due, who holds the fetch, its errors and back-off), and one row
#: per subscriber, tied to the read-only calendar in their home that shows the source.
subscription_sources = Table(
    "subscription_sources",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("url", String(2048), nullable=False, unique=True),
    Column("etag", String(1024), nullable=False, default=""),
    Column("last_modified", String(255), nullable=False, default=""),
    # sha256 of the last good body: an unchanged body (200 without validators) is not
    # applied again
    Column("body_hash", String(64), nullable=False, default=""),
    # seconds between refreshes the source asks for (REFRESH-INTERVAL), NULL: none
    Column("hint", Integer, nullable=True),
    Column("next_fetch", Float, nullable=False, default=0.0),
    Column("claimed_until", Float, nullable=False, default=0.0),
    Column("failures", Integer, nullable=False, default=0),
    Column("last_error", Text, nullable=False, default=""),
    Column("last_attempt", Float, nullable=False, default=0.0),
    Column("last_success", Float, nullable=False, default=0.0),
)
Index("ix_subscription_sources_due", subscription_sources.c.next_fetch)

subscriptions = Table(
    "subscriptions",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("owner", String(255), nullable=False, index=True),
    Column(
        "collection_id",
        Integer,
        ForeignKey("collections.id", ondelete="CASCADE"),
        nullable=False,
        unique=True,
    ),
    Column(
        "source_id",
        Integer,
        ForeignKey("subscription_sources.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    # seconds between refreshes; NULL: the source's hint, else the default
    Column("interval", Integer, nullable=True),
    Column("strip_alarms", Boolean, nullable=False, default=True),
    Column("strip_attachments", Boolean, nullable=False, default=False),
    # body_hash of the source last applied to this calendar (with these options)
    Column("applied_hash", String(64), nullable=False, default=""),
    Column("created", Float, nullable=False),
)

#: What each event of a subscribed calendar was when it was fetched (fingerprints of
#: the source's text, ``calserver.ical.subscription``): an event that did not change
#: keeps its href, stored text and ETag at the next refresh.
subscription_items = Table(
    "subscription_items",
    metadata,
    Column(
        "collection_id",
        Integer,
        ForeignKey("collections.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("href", String(1024), primary_key=True),
    Column("uid", String(1024), nullable=False),
    Column("fingerprint", String(64), nullable=False),
    # the same without the UID: recognises an unchanged event under a new UID
    Column("anonymous", String(64), nullable=False),
)

#: Sync with another CalDAV server (``calserver.remotesync``, issue 18 part 2): one pair
#: of the calendar ``collection_id`` (owned by ``owner``) and the remote calendar
#: ``remote_url``. ``direction`` is pull, push or both; ``pull_content`` and
#: ``push_content`` are details or blocker; ``categories`` (comma-separated, empty: all)
#: limits what is copied; ``policy`` decides conflicts (local, remote, newest).
#: ``secret`` holds the credentials encrypted under the server key
#: (``calserver.remotesync.credentials``), never in clear. The queue columns are those
#: of a claimed, leased job: ``dirty_since`` (a local change, set by the storage hook),
#: ``next_run`` (the interval or the back-off), ``claimed_until`` (the lease).
#: ``baseline``: set by a change of settings, the next run records what both sides hold
#: without copying it (settings apply to future changes only).
sync_pairs = Table(
    "sync_pairs",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("owner", String(255), nullable=False, index=True),
    Column(
        "collection_id",
        Integer,
        ForeignKey("collections.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    Column("remote_url", Text, nullable=False),
    Column("direction", String(8), nullable=False),
    Column("pull_content", String(16), nullable=False),
    Column("push_content", String(16), nullable=False),
    Column("categories", Text, nullable=False, default=""),
    Column("policy", String(16), nullable=False),
    Column("auth_type", String(16), nullable=False),
    Column("username", String(255), nullable=False, default=""),
    Column("secret", Text, nullable=False, default=""),
    Column("interval", Float, nullable=False),
    Column("enabled", Boolean, nullable=False, default=True),
    Column("baseline", Boolean, nullable=False, default=False),
    Column("sync_token", Text, nullable=False, default=""),
    Column("ctag", Text, nullable=False, default=""),
    Column("dirty_since", Float, nullable=True),
    Column("next_run", Float, nullable=False, default=0.0),
    Column("claimed_until", Float, nullable=False, default=0.0),
    Column("attempts", Integer, nullable=False, default=0),
    Column("last_run", Float, nullable=True),
    Column("last_status", String(16), nullable=False, default=""),
    Column("last_error", Text, nullable=False, default=""),
    Column("created", Float, nullable=False),
)

#: What a pair last saw of one item on each side (loop protection and conflicts): the
#: local href and ETag, the remote href and ETag, and a hash of each side's content as
#: last written or read (a write whose ETag was not recorded, a run cut short, is
#: recognised by its content). ``origin``: the side that created the item; ``uid``: its
#: UID there (for the log).
sync_items = Table(
    "sync_items",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("pair_id", Integer, ForeignKey("sync_pairs.id", ondelete="CASCADE"), nullable=False),
    Column("uid", String(1024), nullable=False, default=""),
    Column("local_href", String(1024), nullable=True),
    Column("local_etag", String(255), nullable=False, default=""),
    Column("local_hash", String(64), nullable=False, default=""),
    Column("remote_href", Text, nullable=True),
    Column("remote_etag", String(255), nullable=False, default=""),
    Column("remote_hash", String(64), nullable=False, default=""),
    Column("origin", String(8), nullable=False),
)
Index("ix_sync_items_pair", sync_items.c.pair_id)

#: One run of a pair: when, how it ended (ok, failed), what it copied (``details``: one
#: line per item) and the error of a failed run.
sync_runs = Table(
    "sync_runs",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("pair_id", Integer, ForeignKey("sync_pairs.id", ondelete="CASCADE"), nullable=False),
    Column("started", Float, nullable=False),
    Column("finished", Float, nullable=True),
    Column("status", String(16), nullable=False),
    Column("pulled", Integer, nullable=False, default=0),
    Column("pushed", Integer, nullable=False, default=0),
    Column("deleted", Integer, nullable=False, default=0),
    Column("conflicts", Integer, nullable=False, default=0),
    Column("details", Text, nullable=False, default=""),
    Column("error", Text, nullable=False, default=""),
)
Index("ix_sync_runs_pair", sync_runs.c.pair_id, sync_runs.c.started)

#: A conflict: both sides changed one item since the last run. Both versions as they
#: were (an empty text: that side deleted it), the policy and which side won.
sync_conflicts = Table(
    "sync_conflicts",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("pair_id", Integer, ForeignKey("sync_pairs.id", ondelete="CASCADE"), nullable=False),
    Column("run_id", Integer, nullable=False),
    Column("at", Float, nullable=False),
    Column("uid", String(1024), nullable=False),
    Column("local_text", Text, nullable=False),
    Column("remote_text", Text, nullable=False),
    Column("policy", String(16), nullable=False),
    Column("winner", String(8), nullable=False),
)
Index("ix_sync_conflicts_pair", sync_conflicts.c.pair_id)

#: The search index (issue 17, ``calserver.storage.searchindex``): the folded searchable
#: words of each calendar item (``calserver.ical.searchquery.event_words``), written where
#: the item row is written (``calserver.storage.rows.insert_items``) and gone with it
#: (cascade), so every path that writes items keeps it right. The engine's full-text
#: index over ``words`` is engine-specific DDL (SQLite: the FTS5 table ``search_fts``
#: kept by triggers; PostgreSQL: the ``tsv`` column and its GIN index), made by
#: ``calserver.storage.searchindex.create_engine_index``.
search_docs = Table(
    "search_docs",
    metadata,
    Column("item_id", Integer, ForeignKey("items.id", ondelete="CASCADE"), primary_key=True),
    Column("words", Text, nullable=False),
)

#: A person's own tags (issue 17): a name (never renamed), an optional colour.
tags = Table(
    "tags",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("user_id", Integer, ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("name", String(64), nullable=False),
    # the folded name (calserver.ical.searchquery.fold): "Work" and "work" are one tag
    Column("folded", String(64), nullable=False),
    Column("colour", String(9), nullable=False, default=""),
    Column("created", Float, nullable=False),
    UniqueConstraint("user_id", "folded", name="uq_tags_user_name"),
)

#: Which events (by calendar and UID, like ``event_colours``) a person tagged: seen by
#: that person only; on their own calendars the tag is also in the event's CATEGORIES.
item_tags = Table(
    "item_tags",
    metadata,
    Column("tag_id", Integer, ForeignKey("tags.id", ondelete="CASCADE"), primary_key=True),
    Column(
        "collection_id",
        Integer,
        ForeignKey("collections.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("uid", String(512), primary_key=True),
)
Index("ix_item_tags_item", item_tags.c.collection_id, item_tags.c.uid)

#: The engine's full-text index of ``search_docs`` (calserver.storage.searchindex), made
#: whenever the table is created (``create_all`` of a new database or a migration).
SEARCH_DDL = {
    "sqlite": (
        "CREATE VIRTUAL TABLE IF NOT EXISTS search_fts USING fts5(words,"
        " content='search_docs', content_rowid='item_id',"
        " tokenize='unicode61 remove_diacritics 2')",
        "CREATE TRIGGER IF NOT EXISTS search_docs_ai AFTER INSERT ON search_docs BEGIN"
        " INSERT INTO search_fts(rowid, words) VALUES (new.item_id, new.words); END",
        "CREATE TRIGGER IF NOT EXISTS search_docs_ad AFTER DELETE ON search_docs BEGIN"
        " INSERT INTO search_fts(search_fts, rowid, words)"
        " VALUES ('delete', old.item_id, old.words); END",
    ),
    "postgresql": (
        "ALTER TABLE search_docs ADD COLUMN IF NOT EXISTS tsv tsvector NOT NULL DEFAULT ''",
        "CREATE INDEX IF NOT EXISTS ix_search_docs_tsv ON search_docs USING gin (tsv)",
    ),
}
for _dialect, _statements in SEARCH_DDL.items():
    for _statement in _statements:
        event.listen(search_docs, "after_create", DDL(_statement).execute_if(dialect=_dialect))
