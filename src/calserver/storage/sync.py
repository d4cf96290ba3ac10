"""RFC 6578 sync-collection from the change log, per view.

A sync token (RFC 6578 3.2: a URI) names a revision of the collection and carries an
HMAC, under the server key (``calserver.keys``), of the collection's incarnation
(``sync_key``), the path it was read at, the viewer and their level, and the
revision. A token of another collection, route, viewer or level (a change of level
makes the old ones invalid), a forged or garbled one, one from the future, or one
older than the kept history (``[storage] max_sync_token_age``) raises ``ValueError``,
which Radicale answers with 403 and the ``DAV:valid-sync-token`` precondition (RFC
6578 3.2, 5.). The client then syncs afresh.

The changes since a token are the hrefs logged after its revision that the view
contained before or after one of those changes (RFC 6578 3.5: changed and removed
*members*; an item the viewer never saw was never a member of their view). The log
records, for each change, the lowest view level that contained the item before and
after it (``redact.shown_from``). An item that became hidden from the view is
reported as removed (404, RFC 6578 3.5.2); one the view never contained is never
named, whatever happened to it. The cost is one indexed read of the changes since
the token: proportional to them, not to the calendar.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Iterable, Iterator

from sqlalchemy import func, or_, select

from calserver import keys
from calserver.db.models import changes, items
from calserver.storage.base import CollectionBase
from calserver.storage.context import read_connection

TOKEN_PREFIX = "http://calserver.org/ns/sync/"
_TOKEN = re.compile(re.escape(TOKEN_PREFIX) + r"[0-9a-f]{32}-([0-9]{1,18})\Z")


class TooMany(Exception):
    """A sync page cannot be cut at the client's limit (RFC 6578 3.6)."""


class SyncMixin(CollectionBase):
    def _token(self, revision: int) -> str:
        """The sync token of ``revision`` for this view (see the module docstring)."""
        view = self._view
        message = "\x00".join(
            (
                "calserver sync-token v2",
                str(self._state.id),
                self._state.sync_key,
                self.path,
                view.viewer if view is not None else "",
                str(int(self.level)),
                str(revision),
            )
        ).encode("utf-8")
        key = keys.server_key(self._storage.configuration)
        mac = hmac.new(key, message, hashlib.sha256).hexdigest()[:32]
        return "%s%s-%d" % (TOKEN_PREFIX, mac, revision)

    def _token_revision(self, token: str) -> int:
        """The revision ``token`` names, if this view issued it; else ValueError."""
        match = _TOKEN.match(token)
        if match is None:
            raise ValueError(f"unknown sync token {token[:200]!r}")
        revision = int(match.group(1))
        if not hmac.compare_digest(self._token(revision), token):
            raise ValueError(f"sync token {token!r} was not issued to this view")
        if revision > self._state.revision:
            raise ValueError(f"sync token {token!r} is from the future")
        if revision < self._state.min_revision:
            raise ValueError(f"sync token {token!r} has expired")
        return revision

    def sync(self, old_token: str = "") -> tuple[str, Iterable[str]]:
        state = self._state
        token = self._token(state.revision)
        if not old_token:
            return token, self._all_hrefs()
        old_revision = self._token_revision(old_token)
        if old_revision == state.revision:
            return token, []
        level = int(self.level)
        with read_connection(self._storage.engine) as conn:
            hrefs = (
                conn.execute(
                    select(changes.c.href)
                    .where(
                        changes.c.collection_id == self.id,
                        changes.c.revision > old_revision,
                        changes.c.revision <= state.revision,
                        # the view held the item before or after one of these changes
                        or_(changes.c.before_level <= level, changes.c.after_level <= level),
                    )
                    .distinct()
                )
                .scalars()
                .all()
            )
        return token, hrefs

    def sync_page(self, old_token: str, limit: int) -> tuple[str, list[str], bool]:
        """RFC 6578 3.6-3.7: at most ``limit`` of the members :meth:`sync` names, as
        (token, hrefs, truncated). Members are ordered by the revision of their last
        change (members older than the kept log by the oldest valid one); a truncated
        page takes every member up to a revision R and none after it, and its token
        names R, so that a sync from it names the rest. ``TooMany`` when even the
        members of the first revision are more than ``limit`` (one import): the page
        cannot be cut there. ``ValueError`` for a token :meth:`sync` refuses."""
        state = self._state
        if not old_token:
            revisions = self._member_revisions()
        else:
            old_revision = self._token_revision(old_token)
            revisions = (
                self._changed_revisions(old_revision) if old_revision < state.revision else []
            )
        if len(revisions) <= limit:
            return self._token(state.revision), [href for href, _ in revisions], False
        revisions.sort(key=lambda pair: pair[1])
        cut = None
        for index in range(limit):  # the last revision whose members all fit
            if revisions[index][1] != revisions[index + 1][1]:
                cut = index + 1
        if cut is None:
            raise TooMany(f"more than {limit} members changed in one revision")
        return self._token(revisions[cut - 1][1]), [href for href, _ in revisions[:cut]], True

    def _changed_revisions(self, old_revision: int) -> list[tuple[str, int]]:
        """(href, revision of its last change) of the members changed after
        ``old_revision`` (the view held them before or after one of those changes)."""
        level = int(self.level)
        with read_connection(self._storage.engine) as conn:
            rows = conn.execute(
                select(changes.c.href, func.max(changes.c.revision))
                .where(
                    changes.c.collection_id == self.id,
                    changes.c.revision > old_revision,
                    changes.c.revision <= self._state.revision,
                    or_(changes.c.before_level <= level, changes.c.after_level <= level),
                )
                .group_by(changes.c.href)
            ).all()
        return [(href, int(revision)) for href, revision in rows]

    def _member_revisions(self) -> list[tuple[str, int]]:
        """(href, revision of its last logged change, else the oldest valid token's)
        of the members the view holds now."""
        if self._state.id is None:
            return []
        oldest = self._state.min_revision
        with read_connection(self._storage.engine) as conn:
            query = select(items.c.href).where(items.c.collection_id == self.id)
            hrefs = conn.execute(self._only_visible(query)).scalars().all()
            logged = dict(
                conn.execute(
                    select(changes.c.href, func.max(changes.c.revision))
                    .where(changes.c.collection_id == self.id)
                    .group_by(changes.c.href)
                ).all()
            )
        return [(href, max(int(logged.get(href, oldest)), oldest)) for href in hrefs]

    def _all_hrefs(self) -> Iterator[str]:
        if self._state.id is None:
            return
        with read_connection(self._storage.engine) as conn:
            # in the order of calserver.dav.streamed's initial sync
            query = (
                select(items.c.href).where(items.c.collection_id == self.id).order_by(items.c.id)
            )
            hrefs = conn.execute(self._only_visible(query)).scalars().all()
        yield from hrefs
