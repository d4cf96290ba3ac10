"""The relational schema: the single source of truth of calserver.

Items carry the columns computed when they are stored (UID, component, ETag, the UTC
span they cover), recurring ones their indexed instances, and every change of a
collection is logged under a revision number, so time-range queries, UID checks, ctags
and incremental sync (RFC 6578) are index lookups instead of scans.
"""

from __future__ import annotations

import secrets

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    SmallInteger,
    String,
    Table,
    Text,
    UniqueConstraint,
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
