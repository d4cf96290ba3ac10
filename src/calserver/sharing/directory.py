"""What of someone's a viewer may look at: the collection look-ups of the DAV extensions
(delegation, scheduling), so that the WebDAV surface asks questions instead of running
SQL. :func:`calendars_for` lists someone's calendars that a viewer has a level on
(``calserver.sharing.levels``), for free/busy look-ups. Users themselves are looked up
in :mod:`calserver.accounts.directory`.
"""

from __future__ import annotations

from sqlalchemy import Connection, select

from calserver.db.models import MAILBOXES, collections
from calserver.sharing.levels import Level, level_for


def collection_exists(conn: Connection, path: str) -> bool:
    """Whether a collection is stored at ``path`` (stripped)."""
    found = conn.execute(select(collections.c.id).where(collections.c.path == path)).first()
    return found is not None


def calendars_for(conn: Connection, viewer: str, owner: str) -> list[tuple[str, Level]]:
    """``owner``'s own calendars (not the inbox) that ``viewer`` has a level on, with
    that level (a co-member of a group has FREEBUSY)."""
    rows = conn.execute(
        select(collections.c.path)
        .where(collections.c.parent == owner, collections.c.tag == "VCALENDAR")
        .order_by(collections.c.path)
    ).scalars()
    found = []
    for path in rows:
        if path.rpartition("/")[2] in MAILBOXES:
            continue
        level = level_for(conn, viewer, path)
        if level >= Level.FREEBUSY:
            found.append((path, level))
    return found
