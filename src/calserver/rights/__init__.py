"""Radicale rights plugin (``[rights] type = calserver.rights``).

Letters as in ``radicale.rights``: ``R``/``W`` on plain collections (the root, homes),
``r``/``w`` on calendars and their items, ``f`` free/busy only, ``d``/``o`` deny
deleting or overwriting a whole calendar. What a viewer may do follows from their
level (``calserver.sharing.levels``); what they see of it is the storage's business
(the busy view).

- the root: ``R`` (discovery); one's own home: ``RW``; another user's principal or a
  group home of one's own: ``R`` (Thunderbird "on the network", Apple delegation);
- owner: ``rw``; writer: ``rwdo`` (items only, never the calendar itself);
  reader and busy-only viewer: ``r`` (RFC 3744 DAV:read of what is served to them,
  plus CALDAV:read-free-busy); free/busy only (a co-member's calendar): ``f``;
- a viewer's own alias of a calendar they may read takes PROPPATCH (``rwdo``): its
  colour, name and order are the viewer's (``calserver.storage.meta``).
"""

from __future__ import annotations

from radicale import pathutils
from radicale import rights as radicale_rights

from calserver import db
from calserver.context import method as request_method
from calserver.sharing import levels
from calserver.sharing.levels import Level
from calserver.storage.context import read_connection


class Rights(radicale_rights.BaseRights):
    def __init__(self, configuration: object) -> None:
        super().__init__(configuration)  # type: ignore[arg-type]
        self._engine = db.engine_for(configuration)

    def authorization(self, user: str, user_groups: set[str], path: str) -> str:
        if not user:
            return ""
        sane_path = pathutils.strip_path(path)
        if not sane_path:
            return "R"
        segments = sane_path.split("/")
        if len(segments) > 2:
            return ""
        if segments[0] == user and len(segments) == 1:
            return "RW"
        if segments[0] == user and levels.alias_target(segments[1]) is None:
            return "rw"
        with read_connection(self._engine) as conn:
            resolved = levels.resolve(conn, user, sane_path)
        level = resolved.level
        if len(segments) == 1:
            return "R" if level >= Level.FREEBUSY else ""
        if level >= Level.OWNER:
            return "rw"
        if level >= Level.WRITE:
            return "rwdo"
        if level >= Level.BUSY:
            if resolved.alias and request_method.get() == "PROPPATCH":
                return "rwdo"
            return "r"
        if level >= Level.FREEBUSY:
            return "f"
        if resolved.alias:
            # A name in the viewer's own home that shows no calendar (a grant taken
            # back, a group left): not found, as any other missing calendar of theirs,
            # so that clients drop it; reading finds nothing, writing is refused.
            return "r"
        return ""
