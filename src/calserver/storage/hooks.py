"""Write hooks: how services hear about the storage's writes (STYLE.md 7a).

The storage announces, inside the write transaction of one item, that the item is about
to be stored, was stored, is about to be deleted or was deleted. Who listens is decided
by the composition root (``calserver.app.make_app`` registers implicit scheduling,
``calserver.scheduling.hooks``); the storage imports no service. A hook that raises
takes the write back: nothing of it is stored.

Only single-item writes of a collection announce themselves (``Collection.upload`` and
``Collection.delete`` of one href: CalDAV PUT and DELETE, and code that calls them);
whole-calendar imports, MOVE and the engine's own writes do not.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, select

from calserver.db.models import items


@dataclass
class WriteEvent:
    """One item written in the current transaction, as hooks see it."""

    #: The write transaction (a hook writes in it, or raises to take everything back).
    conn: Connection
    #: The storage that writes (its engine, configuration, index policy).
    storage: Any
    #: The collection as the writer named it (an alias in their home, or the calendar).
    collection_path: str
    #: The calendar's own path (the view's target; ``collection_path`` when not a view).
    target: str
    collection_id: int
    #: The collection's tag (``VCALENDAR`` for a calendar).
    tag: str
    href: str
    #: Who writes: the user of the current request, "" outside a request (CLI, tests).
    user: str
    #: The HTTP method of the current request, "" outside a request.
    method: str
    #: The item's row before the write (``items`` columns), None when there was none or
    #: it was not read (a delete: :meth:`current_text`).
    old_row: Any | None = None
    #: The row about to be stored (``items`` columns; a store only). A hook may set its
    #: provenance columns, ``sched_organizer`` and ``sched_role``.
    new_row: dict[str, Any] | None = None
    #: Set by a hook of "about to be stored": the text to store instead of the new row's
    #: (its columns are computed again; the provenance columns kept).
    replacement: str | None = None

    @property
    def old_text(self) -> str | None:
        return self.old_row.text if self.old_row is not None else None

    @property
    def new_text(self) -> str | None:
        if self.replacement is not None:
            return self.replacement
        return self.new_row["text"] if self.new_row is not None else None

    def current_text(self) -> str | None:
        """The text stored at the item's place now, read again in the transaction (a
        hook that waited for a lock sees what another writer stored meanwhile)."""
        return self.conn.execute(
            select(items.c.text).where(
                items.c.collection_id == self.collection_id, items.c.href == self.href
            )
        ).scalar()


Hook = Callable[[WriteEvent], None]


@dataclass
class WriteHooks:
    """The hooks registered on one storage, called in registration order."""

    before_store: list[Hook] = field(default_factory=list)
    after_store: list[Hook] = field(default_factory=list)
    before_delete: list[Hook] = field(default_factory=list)
    after_delete: list[Hook] = field(default_factory=list)

    def register(
        self,
        *,
        before_store: Hook | None = None,
        after_store: Hook | None = None,
        before_delete: Hook | None = None,
        after_delete: Hook | None = None,
    ) -> None:
        for hooks, hook in (
            (self.before_store, before_store),
            (self.after_store, after_store),
            (self.before_delete, before_delete),
            (self.after_delete, after_delete),
        ):
            if hook is not None and hook not in hooks:
                hooks.append(hook)

    @staticmethod
    def run(hooks: list[Hook], event: WriteEvent) -> None:
        for hook in hooks:
            hook(event)
