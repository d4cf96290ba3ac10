"""The schema migrations: ``MIGRATIONS[n]`` takes a database from schema version ``n``
to ``n + 1``; :func:`calserver.db.upgrade` applies the missing ones in one transaction.

The rule: a migration is frozen once released. It uses SQLAlchemy, the table
definitions of :mod:`calserver.db.models` (``_v1`` creates today's tables in a fresh
database, which is why each later migration must be a no-op where its change is
already there) and nothing else of calserver: logic it needs from elsewhere (how an
item's CLASS is read, which names are mailboxes) is a frozen copy here, named after
the migration, so that a later change of today's code can never change what an old
migration does, and the database layer imports nothing above it.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from typing import Any

from sqlalchemy import Connection, bindparam, inspect, select, text

import calserver.db.models as models


class SchemaError(Exception):
    """The database schema is missing or older than this calserver."""


Migration = Callable[[Connection], None]


def _v1(conn: Connection) -> None:
    """The first schema (a fresh database gets every current table here, so each later
    migration must also be a no-op where its change is already there)."""
    models.metadata.create_all(conn)


def _v2(conn: Connection) -> None:
    """The shared cache of verified logins."""
    models.login_cache.create(conn, checkfirst=True)


#: ``calserver.sharing.redact.CLASSES`` and its CLASS line, as of schema version 3.
_V3_CLASSES = ("PUBLIC", "CONFIDENTIAL", "PRIVATE")
_V3_CLASS_LINE = re.compile(r"^CLASS(?:;[^:\r\n]*)?:([^\r\n]*)", re.IGNORECASE | re.MULTILINE)
_V3_FOLD = re.compile(r"\r?\n[ \t]")


def _v3_item_class(text: str) -> str:
    """The item's effective CLASS, the most restrictive of its components' (frozen copy
    of ``calserver.sharing.redact.item_class`` as of schema version 3)."""
    rank = 0
    for match in _V3_CLASS_LINE.finditer(_V3_FOLD.sub("", text)):
        value = match.group(1).strip().upper()
        rank = max(rank, _V3_CLASSES.index(value) if value in _V3_CLASSES else 2)
    return _V3_CLASSES[rank]


def _v3(conn: Connection) -> None:
    """Sharing: groups, grants, the viewer's own calendar settings, and each item's
    CLASS (computed from the stored text for the items already there)."""
    for table in (models.groups, models.group_members, models.grants, models.calendar_views):
        table.create(conn, checkfirst=True)
    columns = {column["name"] for column in inspect(conn).get_columns("items")}
    if "klass" in columns:
        return
    conn.execute(text("ALTER TABLE items ADD COLUMN klass VARCHAR(16) NOT NULL DEFAULT 'PUBLIC'"))
    rows = conn.execute(
        select(models.items.c.id, models.items.c.text).where(models.items.c.text.ilike("%CLASS%"))
    ).all()
    updates = [
        {"item_id": row.id, "value": klass}
        for row in rows
        if (klass := _v3_item_class(row.text)) != "PUBLIC"
    ]
    if updates:
        conn.execute(
            models.items.update()
            .where(models.items.c.id == bindparam("item_id"))
            .values(klass=bindparam("value")),
            updates,
        )


def _v4(conn: Connection) -> None:
    """Feeds and settings: the user's time zone, default duration, week start and feed
    epoch; secret feed tokens (hashed) and publications."""
    for table in (models.feed_tokens, models.publications):
        table.create(conn, checkfirst=True)
    columns = {column["name"] for column in inspect(conn).get_columns("users")}
    for name, kind, default in (
        ("timezone", "VARCHAR(64)", "''"),
        ("default_duration", "INTEGER", "0"),
        ("week_start", "INTEGER", "0"),
        ("feed_epoch", "INTEGER", "0"),
    ):
        if name not in columns:
            conn.execute(
                text(f"ALTER TABLE users ADD COLUMN {name} {kind} NOT NULL DEFAULT {default}")
            )


def _v5(conn: Connection) -> None:
    """The outbox of email waiting for ``calserver worker``."""
    models.mail_outbox.create(conn, checkfirst=True)


#: The schedule inbox and outbox of every home (``calserver.urls.MAILBOXES`` as of
#: schema version 6).
_V6_MAILBOXES = frozenset({"inbox", "outbox"})


def _ical_value(line: str) -> str:
    """The value of one unfolded iCalendar content line (after the first colon outside
    a quoted parameter value, RFC 5545 3.1)."""
    quoted = False
    for index, char in enumerate(line):
        if char == '"':
            quoted = not quoted
        elif char == ":" and not quoted:
            return line[index + 1 :].strip()
    return ""


def _v6_scheduling_provenance(conn: Connection) -> None:
    """Scheduling provenance of items (``sched_organizer``, ``sched_role``): which
    items the scheduling engine wrote for which organizer. Items already there get it
    as best it can be told from the data (the engine of this schema never wrote it):
    an event in a calendar of its ORGANIZER's home (or of a group the organizer is in)
    that has other attendees is that organizer's copy; an event in a user's home whose
    ORGANIZER is another user here, whose organizer's copy lists the user, is the
    user's copy of that meeting. Self-contained: no service code."""
    columns = {column["name"] for column in inspect(conn).get_columns("items")}
    if "sched_organizer" not in columns:
        conn.execute(text("ALTER TABLE items ADD COLUMN sched_organizer VARCHAR(255)"))
        conn.execute(text("ALTER TABLE items ADD COLUMN sched_role VARCHAR(16)"))
    if "ix_items_sched" not in {index["name"] for index in inspect(conn).get_indexes("items")}:
        for index in models.items.indexes:
            if index.name == "ix_items_sched":
                index.create(conn)
    if "sched_organizer" in columns:  # a fresh database: nothing written before
        return
    by_email = {
        row.email.strip().lower(): row.name
        for row in conn.execute(select(models.users.c.name, models.users.c.email))
        if row.email
    }
    names = set(by_email.values()) | set(conn.execute(select(models.users.c.name)).scalars().all())
    members: dict[str, set[str]] = {}
    for row in conn.execute(
        select(models.groups.c.name, models.users.c.name.label("user"))
        .join(models.group_members, models.group_members.c.group_id == models.groups.c.id)
        .join(models.users, models.users.c.id == models.group_members.c.user_id)
    ):
        members.setdefault(row.name, set()).add(row.user)

    def user_of(address: str) -> str | None:
        if address[:7].lower() == "mailto:":
            return by_email.get(address[7:].strip().lower())
        segments = [part for part in address.split("/") if part]
        return segments[-1] if segments and segments[-1] in names else None

    rows = conn.execute(
        select(
            models.items.c.id,
            models.items.c.uid,
            models.items.c.text,
            models.collections.c.path,
            models.collections.c.parent,
        )
        .join(models.collections, models.collections.c.id == models.items.c.collection_id)
        .where(
            models.collections.c.tag == "VCALENDAR",
            models.items.c.uid != "",
            models.items.c.text.ilike("%ORGANIZER%"),
        )
    ).all()
    parsed: list[tuple[Any, str, set[str | None]]] = []
    for item in rows:
        if item.path.rpartition("/")[2] in _V6_MAILBOXES:
            continue
        lines = re.sub(r"\r?\n[ \t]", "", item.text).splitlines()
        organizers = {
            user_of(_ical_value(line))
            for line in lines
            if line[:10].upper() in ("ORGANIZER:", "ORGANIZER;")
        }
        organizer = organizers.pop() if len(organizers) == 1 else None
        if organizer is None:
            continue
        attendees = {
            user_of(_ical_value(line))
            for line in lines
            if line[:9].upper() in ("ATTENDEE:", "ATTENDEE;")
        }
        parsed.append((item, organizer, attendees))
    invited: dict[tuple[str, str], set[str | None]] = {}
    marks = []
    for item, organizer, attendees in parsed:
        home = item.parent
        mine = home == organizer or (
            home.startswith("@") and organizer in members.get(home[1:], set())
        )
        if mine and attendees - {organizer}:
            invited.setdefault((organizer, item.uid), set()).update(attendees)
            marks.append({"item_id": item.id, "organizer": organizer, "role": "organizer"})
    for item, organizer, _attendees in parsed:
        home = item.parent
        if home != organizer and home in invited.get((organizer, item.uid), set()):
            marks.append({"item_id": item.id, "organizer": organizer, "role": "attendee"})
    if marks:
        conn.execute(
            models.items.update()
            .where(models.items.c.id == bindparam("item_id"))
            .values(sched_organizer=bindparam("organizer"), sched_role=bindparam("role")),
            marks,
        )


def _v7_group_consent(conn: Connection) -> None:
    """Group membership by consent: a membership is ``pending`` (a group administrator's
    invitation, which grants nothing) or ``accepted``; the memberships already there
    were made before consent existed and stay in force (``accepted``)."""
    columns = {column["name"] for column in inspect(conn).get_columns("group_members")}
    if "state" not in columns:
        conn.execute(
            text(
                "ALTER TABLE group_members ADD COLUMN state VARCHAR(16) NOT NULL DEFAULT 'accepted'"
            )
        )
    if "invited_by" not in columns:
        conn.execute(
            text(
                "ALTER TABLE group_members ADD COLUMN invited_by INTEGER "
                "REFERENCES users (id) ON DELETE SET NULL"
            )
        )


def _v8_feed_salts(conn: Connection) -> None:
    """A random ``feed_salt`` per grant and group membership, part of the secret feed
    URLs of calendars seen through it. Rows already there keep "" and with it the URLs
    they have today; every new grant or membership gets a fresh value."""
    for table in ("grants", "group_members"):
        columns = {column["name"] for column in inspect(conn).get_columns(table)}
        if "feed_salt" not in columns:
            conn.execute(
                text(f"ALTER TABLE {table} ADD COLUMN feed_salt VARCHAR(32) NOT NULL DEFAULT ''")
            )


def _v9_sync_visibility(conn: Connection) -> None:
    """The change log records who could see each changed item before and after the
    change. The rows logged before cannot say it: they are dropped and every
    collection's history starts at its current revision, so every older sync token
    gets valid-sync-token and its client syncs afresh once (RFC 6578 3.2); the token
    format changes too (HMAC-bound to the view)."""
    columns = {column["name"] for column in inspect(conn).get_columns("changes")}
    for name in ("before_level", "after_level"):
        if name not in columns:
            conn.execute(text(f"ALTER TABLE changes ADD COLUMN {name} SMALLINT"))
    conn.execute(
        models.changes.delete().where(
            models.changes.c.before_level.is_(None) & models.changes.c.after_level.is_(None)
        )
    )
    conn.execute(models.collections.update().values(min_revision=models.collections.c.revision))


def _v10_unique_email(conn: Connection) -> None:
    """One account per e-mail address, case-insensitive (``ix_users_email_lower``).

    Accounts that share an address already are not changed behind their owners' backs:
    the upgrade stops (nothing of it is applied) and names them, so that the
    administrator gives each its own address (``calserver user set NAME --email ...``,
    or ``--email ''``) and runs ``calserver db upgrade`` again."""
    shared = conn.execute(
        text(
            "SELECT lower(email) AS address, name FROM users WHERE email <> '' "
            "AND lower(email) IN (SELECT lower(email) FROM users WHERE email <> '' "
            "GROUP BY lower(email) HAVING count(*) > 1) ORDER BY lower(email), name"
        )
    ).all()
    if shared:
        by_address: dict[str, list[str]] = {}
        for row in shared:
            by_address.setdefault(row.address, []).append(row.name)
        listing = "; ".join(f"{address}: {', '.join(who)}" for address, who in by_address.items())
        raise SchemaError(
            "several accounts share an e-mail address, which must now be unique: "
            f"{listing}. Give each its own ('calserver user set NAME --email ADDRESS', "
            "or --email '' for none), then run 'calserver db upgrade' again"
        )
    conn.execute(
        text(
            "CREATE UNIQUE INDEX IF NOT EXISTS ix_users_email_lower "
            "ON users (lower(email)) WHERE email <> ''"
        )
    )


def _v11_web_sessions(conn: Connection) -> None:
    """The web app: its sessions, and the server administrator flag of an account."""
    models.web_sessions.create(conn, checkfirst=True)
    columns = {column["name"] for column in inspect(conn).get_columns("users")}
    if "is_admin" not in columns:
        conn.execute(text("ALTER TABLE users ADD COLUMN is_admin BOOLEAN NOT NULL DEFAULT FALSE"))


def _v12_cs_sharing(conn: Connection) -> None:
    """calendarserver-sharing: the invitations of CS:share and the notification
    collections (``sharing_invites``, ``sharing_notifications``); new tables only."""
    models.sharing_invites.create(conn, checkfirst=True)
    models.sharing_notifications.create(conn, checkfirst=True)


def _v13_push_and_attachments(conn: Connection) -> None:
    """WebDAV-Push subscriptions and RFC 8607 managed attachments: two new tables."""
    models.push_subscriptions.create(conn, checkfirst=True)
    for index in models.push_subscriptions.indexes:
        index.create(conn, checkfirst=True)
    models.attachments.create(conn, checkfirst=True)
    for index in models.attachments.indexes:
        index.create(conn, checkfirst=True)


def _v14_item_properties(conn: Connection) -> None:
    """Dead properties of calendar objects (RFC 4918 9.2 PROPPATCH on an item): the
    ``item_properties`` table (a frozen copy of its definition)."""
    conn.execute(
        text(
            "CREATE TABLE IF NOT EXISTS item_properties ("
            "collection_id INTEGER NOT NULL REFERENCES collections (id) ON DELETE CASCADE, "
            "href VARCHAR(1024) NOT NULL, "
            "name VARCHAR(512) NOT NULL, "
            "value TEXT NOT NULL, "
            "PRIMARY KEY (collection_id, href, name))"
        )
    )


def _v15_event_colours(conn: Connection) -> None:
    """Per-user event colours (issue 14): a colour on an event seen by its setter only."""
    models.event_colours.create(conn, checkfirst=True)


def _v16_email_notifications(conn: Connection) -> None:
    """A user's e-mail switch (the web app's settings): on for every account."""
    columns = {column["name"] for column in inspect(conn).get_columns("users")}
    if "email_notifications" not in columns:
        conn.execute(
            text("ALTER TABLE users ADD COLUMN email_notifications BOOLEAN NOT NULL DEFAULT TRUE")
        )


def _v17_availability(conn: Connection) -> None:
    """Availability (RFC 7953): a user's working hours."""
    models.availability.create(conn, checkfirst=True)


def _v18_polls(conn: Connection) -> None:
    """Meeting polls (issue 19): four new tables."""
    for table in (models.polls, models.poll_options, models.poll_voters, models.poll_votes):
        table.create(conn, checkfirst=True)
        for index in table.indexes:
            index.create(conn, checkfirst=True)


def _v19_reminders(conn: Connection) -> None:
    """Reminders by e-mail and SMS and the agenda (issue 16): new tables only."""
    for table in (
        models.reminders,
        models.reminder_defaults,
        models.reminder_queue,
        models.phones,
        models.sms_outbox,
        models.agendas,
    ):
        table.create(conn, checkfirst=True)
        for index in table.indexes:
            index.create(conn, checkfirst=True)


def _v20_subscriptions(conn: Connection) -> None:
    """Calendar subscriptions (issue 18): their sources and subscribers; new tables only."""
    for table in (models.subscription_sources, models.subscriptions, models.subscription_items):
        table.create(conn, checkfirst=True)
        for index in table.indexes:
            index.create(conn, checkfirst=True)


def _v21_calendar_sync(conn: Connection) -> None:
    """Sync with other CalDAV servers (issue 18 part 2): pairs, their item state, runs
    and conflicts; new tables only."""
    for table in (models.sync_pairs, models.sync_items, models.sync_runs, models.sync_conflicts):
        table.create(conn, checkfirst=True)
        for index in table.indexes:
            index.create(conn, checkfirst=True)


#: ``calserver.ical.searchquery`` as of schema version 22 (fold, words, event_words): the
#: searchable words of an item, for the index of the items already there.
_V22_WORD = re.compile(r"[^\W_]+")
_V22_CN = re.compile(r';CN=(?:"([^"]*)"|([^;:]*))', re.IGNORECASE)
_V22_TEXT = ("SUMMARY", "LOCATION", "DESCRIPTION", "CATEGORIES", "COMMENT")
_V22_NAMED = ("ATTENDEE", "ORGANIZER")


def _v22_words(text: str) -> list[str]:
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    folded = "".join(c for c in decomposed if not unicodedata.combining(c))
    return [w[:100] for w in _V22_WORD.findall(folded)]


def _v22_event_words(ics: str) -> list[str]:
    found: list[str] = []
    in_alarm = 0
    for line in _V3_FOLD.sub("", ics).splitlines():
        upper = line[:16].upper()
        if upper.startswith("BEGIN:VALARM"):
            in_alarm += 1
            continue
        if upper.startswith("END:VALARM"):
            in_alarm = max(0, in_alarm - 1)
            continue
        if in_alarm:
            continue
        name_end = min((i for i in (line.find(":"), line.find(";")) if i >= 0), default=-1)
        if name_end <= 0:
            continue
        name = line[:name_end].upper()
        quoted, params, value = False, line[name_end:], ""
        for i in range(name_end, len(line)):
            if line[i] == '"':
                quoted = not quoted
            elif line[i] == ":" and not quoted:
                params, value = line[name_end:i], line[i + 1 :]
                break
        if name in _V22_TEXT:
            value = value.replace("\\n", " ").replace("\\N", " ").replace("\\,", ",")
            found.extend(_v22_words(value.replace("\\;", ";").replace("\\\\", "\\")))
        elif name in _V22_NAMED:
            cn = _V22_CN.search(params)
            if cn is not None:
                found.extend(_v22_words(cn.group(1) if cn.group(1) is not None else cn.group(2)))
        if len(found) >= 16000:
            return found[:16000]
    return found


def _v22_search_and_tags(conn: Connection) -> None:
    """Search and tags (issue 17): the search index (built here for the items already
    there; the engine's index DDL comes with the table, ``models.SEARCH_DDL``), a
    person's tags and what they tagged."""
    fresh = not inspect(conn).has_table("search_docs")
    models.search_docs.create(conn, checkfirst=True)
    models.tags.create(conn, checkfirst=True)
    models.item_tags.create(conn, checkfirst=True)
    if not fresh:
        return
    sqlite = conn.dialect.name == "sqlite"
    items = models.items
    last = 0
    while True:
        batch = conn.execute(
            select(items.c.id, items.c.text)
            .where(items.c.component.in_(("VEVENT", "VTODO", "VJOURNAL")), items.c.id > last)
            .order_by(items.c.id)
            .limit(1000)
        ).all()
        if not batch:
            return
        docs = [(row.id, _v22_event_words(row.text)) for row in batch]
        if sqlite:
            conn.execute(
                models.search_docs.insert(),
                [{"item_id": i, "words": " ".join(w)} for i, w in docs],
            )
        else:
            conn.execute(
                text(
                    "INSERT INTO search_docs (item_id, words, tsv)"
                    " VALUES (:item_id, :words, CAST(:tsv AS tsvector))"
                ),
                [
                    {
                        "item_id": i,
                        "words": " ".join(w),
                        "tsv": " ".join(f"'{x}':{min(n + 1, 16383)}" for n, x in enumerate(w)),
                    }
                    for i, w in docs
                ],
            )
        last = batch[-1].id


#: Ordered migrations; the schema version is the number of migrations applied.
def _v23_ready_hrefs(conn: Connection) -> None:
    """Whole-collection listings in id order from an index (issue 15): the covering
    ``ix_items_listing`` on SQLite, ``ix_items_ordered`` on PostgreSQL."""
    for index in models.items.indexes:
        if index.name in ("ix_items_listing", "ix_items_ordered"):
            index.create(conn, checkfirst=True)


MIGRATIONS: list[Migration] = [
    _v1,
    _v2,
    _v3,
    _v4,
    _v5,
    _v6_scheduling_provenance,
    _v7_group_consent,
    _v8_feed_salts,
    _v9_sync_visibility,
    _v10_unique_email,
    _v11_web_sessions,
    _v12_cs_sharing,
    _v13_push_and_attachments,
    _v14_item_properties,
    _v15_event_colours,
    _v16_email_notifications,
    _v17_availability,
    _v18_polls,
    _v19_reminders,
    _v20_subscriptions,
    _v21_calendar_sync,
    _v22_search_and_tags,
    _v23_ready_hrefs,
]
LATEST = len(MIGRATIONS)
