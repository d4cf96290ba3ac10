"""RFC 6578 sync-collection from the change log.

A token names the collection's incarnation (``sync_key``) and a revision; the changes
since a token are the hrefs logged after its revision, deleted ones included (Radicale
answers 404 for them). Tokens of another incarnation, from the future, or older than
the pruned log raise ``ValueError``, which Radicale answers with 403 valid-sync-token.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator

from sqlalchemy import select

from calserver.db.models import changes, items
from calserver.storage.base import CollectionBase
from calserver.storage.context import read_connection

TOKEN_PREFIX = "http://calserver.org/ns/sync/"
_TOKEN = re.compile(re.escape(TOKEN_PREFIX) + r"([0-9a-z]+)-([0-9]{1,18})\Z")


class SyncMixin(CollectionBase):
    def sync(self, old_token: str = "") -> tuple[str, Iterable[str]]:
        state = self._state
        key = self._view_key()
        token = "%s%s-%d" % (TOKEN_PREFIX, key, state.revision)
        if not old_token:
            return token, self._all_hrefs()
        match = _TOKEN.match(old_token)
        if match is None or match.group(1) != key:
            raise ValueError(f"unknown sync token {old_token!r}")
        old_revision = int(match.group(2))
        if old_revision > state.revision:
            raise ValueError(f"sync token {old_token!r} is from the future")
        if old_revision < state.min_revision:
            raise ValueError(f"sync token {old_token!r} has expired")
        if old_revision == state.revision:
            return token, []
        with read_connection(self._storage.engine) as conn:
            hrefs = (
                conn.execute(
                    select(changes.c.href)
                    .where(
                        changes.c.collection_id == self.id,
                        changes.c.revision > old_revision,
                        changes.c.revision <= state.revision,
                    )
                    .distinct()
                )
                .scalars()
                .all()
            )
        return token, hrefs

    def _all_hrefs(self) -> Iterator[str]:
        if self._state.id is None:
            return
        with read_connection(self._storage.engine) as conn:
            query = select(items.c.href).where(items.c.collection_id == self.id)
            hrefs = conn.execute(self._only_visible(query)).scalars().all()
        yield from hrefs
