"""The levels at which a viewer sees a calendar, and the alias under which a calendar
shared with them appears in their home: pure values and rules, no database. Who has
which level is :mod:`calserver.sharing.levels`; what each level shows of an event is
:mod:`calserver.sharing.redact`.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

ALIAS_SEPARATOR = "~"


class Level(enum.IntEnum):
    NONE = 0
    FREEBUSY = 1
    BUSY = 2
    READ = 3
    WRITE = 4
    OWNER = 5

    @classmethod
    def parse(cls, name: str) -> Level:
        """A grant level as the CLI and the API spell it."""
        try:
            return GRANT_LEVELS[name.strip().lower()]
        except KeyError:
            raise ValueError(
                f"unknown level {name!r}: expected one of {', '.join(GRANT_LEVELS)}"
            ) from None

    @property
    def label(self) -> str:
        return self.name.lower()

    @property
    def view_key(self) -> str:
        """What sets the representation apart in ctags (clients resync when it
        changes); sync tokens bind the exact level (calserver.storage.sync)."""
        if self >= Level.OWNER:
            return ""
        return "v2" if self >= Level.READ else "v1"


GRANT_LEVELS = {"busy": Level.BUSY, "read": Level.READ, "write": Level.WRITE}


@dataclass(frozen=True)
class Resolved:
    """A collection path as a viewer reaches it."""

    level: Level
    #: The calendar's own path (differs from the requested one for an alias).
    target: str
    alias: bool = False


def alias_name(calendar_path: str) -> str:
    return calendar_path.replace("/", ALIAS_SEPARATOR, 1)


def alias_target(name: str) -> str | None:
    owner, sep, calendar = name.partition(ALIAS_SEPARATOR)
    if not sep or not owner or not calendar:
        return None
    return owner + "/" + calendar
