"""Radicale rights plugin (``[rights] type = calserver.rights``).

Owner-only for now: a user reads and writes what lies under their own principal and
reads the root (for discovery). Letters as in ``radicale.rights``: ``R``/``W`` on plain
collections, ``r``/``w`` on calendars and their items.
"""

from __future__ import annotations

from radicale import pathutils
from radicale import rights as radicale_rights


class Rights(radicale_rights.BaseRights):
    def authorization(self, user: str, user_groups: set[str], path: str) -> str:
        if not user:
            return ""
        sane_path = pathutils.strip_path(path)
        if not sane_path:
            return "R"
        segments = sane_path.split("/")
        if segments[0] != user:
            return ""
        if len(segments) == 1:
            return "RW"
        if len(segments) == 2:
            return "rw"
        return ""
