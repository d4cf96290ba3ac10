"""One run of a pair: find what changed on each side since the last run, copy it the
way the pair says, and record what each side now holds.

Per item the pair keeps the ETag and a content hash of each side as last seen
(:class:`calserver.remotesync.store.ItemState`):

- a side changed when its ETag differs and its content is not what the last run wrote
  (a run cut short after a write is recognised by the hash: loop protection and
  restart safety in one rule); an item missing from a complete listing was deleted;
- only one side changed: the change is copied to the other side if the direction lets
  it flow there (pull: remote to local; push: local to remote) -- a delete as a delete;
- both changed (direction both): a conflict, decided by the pair's policy (local,
  remote, or newest by LAST-MODIFIED, else DTSTAMP; a change beats a delete when the
  stamps cannot say), logged with both versions;
- a blocker copy is never copied back: changes of an item flow from the side that
  created it unless both directions copy details.

Nothing is written before both sides were read completely: a remote that fails or
refuses us mid-read makes the run fail with nothing deleted anywhere. A write that fails
stops the run; what was done is recorded item by item (a local write and its state in
one transaction; a remote write's expected hash before it is sent), so the next run
continues consistently.
"""

from __future__ import annotations

import logging
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from radicale import item as radicale_item
from sqlalchemy import Connection, select

from calserver import keys
from calserver.db import read_transaction, write_transaction
from calserver.db.models import items
from calserver.remotesync import content, credentials, store
from calserver.remotesync.remote import (
    AuthFailed,
    Credentials,
    Remote,
    RemoteError,
    TokenExpired,
)
from calserver.storage.context import current_scope

logger = logging.getLogger("calserver.remotesync")

#: Items handled between two renewals of the pair's lease.
LEASE_EVERY = 25


@dataclass
class Outcome:
    ok: bool = True
    error: str = ""
    run_id: int = 0
    counts: dict[str, int] = field(
        default_factory=lambda: {"pulled": 0, "pushed": 0, "deleted": 0, "conflicts": 0}
    )
    details: list[str] = field(default_factory=list)

    def summary(self, pair: store.Pair) -> str:
        c = self.counts
        state = "ok" if self.ok else f"failed: {self.error}"
        return (
            f"sync {pair.id} {pair.calendar} <-> {pair.remote_url}: {state}; pulled {c['pulled']},"
            f" pushed {c['pushed']}, deleted {c['deleted']}, conflicts {c['conflicts']}"
        )


@dataclass
class Side:
    """What one side holds now: {href: ETag}, and the texts read."""

    etags: dict[str, str]
    texts: dict[str, str] = field(default_factory=dict)


def credentials_of(configuration: Any, pair: store.Pair) -> Credentials:
    values = credentials.open_sealed(keys.server_key(configuration), pair.owner, pair.secret)
    return Credentials(pair.auth_type, pair.username, values)


def _local_side(conn: Connection, collection_id: int) -> Side:
    rows = conn.execute(
        select(items.c.href, items.c.etag, items.c.text).where(
            items.c.collection_id == collection_id
        )
    ).all()
    return Side({r.href: r.etag for r in rows}, {r.href: r.text for r in rows})


class Run:
    def __init__(
        self, engine: Any, storage: Any, configuration: Any, pair: store.Pair, lease: float
    ) -> None:
        self.engine = engine
        self.storage = storage
        self.configuration = configuration
        self.pair = pair
        self.lease = lease
        self.outcome = Outcome()
        self.handled = 0

    # --- reading --------------------------------------------------------------------

    def remote_side(self, remote: Remote, states: list[store.ItemState]) -> tuple[Side, str, str]:
        """What the remote holds now; its ctag and sync token."""
        pair = self.pair
        ctag, token = remote.state()
        known = {s.remote_href: s.remote_etag for s in states if s.remote_href}
        etags: dict[str, str] | None = None
        if not pair.baseline and pair.ctag and ctag and ctag == pair.ctag:
            etags = dict(known)  # nothing changed there (ctag, calendarserver.org)
        elif not pair.baseline and pair.sync_token and token:
            try:
                changed, removed, new_token = remote.changes(pair.sync_token)
            except (TokenExpired, AuthFailed):  # some servers answer 403 to an old token
                pass  # the listing below says whether the credentials are refused
            else:
                etags = {h: e for h, e in known.items() if h not in removed}
                etags.update(changed)
                token = new_token or token
        if etags is None:
            etags = remote.listing()
        return Side(etags), ctag, token

    # --- writing --------------------------------------------------------------------

    def _local_write(self, state: store.ItemState, text: str | None) -> None:
        """Store ``text`` at the state's local href (a new one if None) or delete it
        (``text`` None), and save the state in the same transaction."""
        path = f"/{self.pair.calendar}/"
        with self.storage.acquire_lock("w", "", path=path):
            collection = self.storage.load_collection(self.pair.calendar)
            if collection is None:
                raise RemoteError(f"the calendar {self.pair.calendar} is gone")
            conn = current_scope.get().conn
            if text is None:
                if state.local_href:
                    exists = conn.execute(
                        select(items.c.id).where(
                            items.c.collection_id == self.pair.collection_id,
                            items.c.href == state.local_href,
                        )
                    ).first()
                    if exists is not None:
                        collection.delete(state.local_href)
                store.drop_state(conn, state)
                return
            href = state.local_href or f"{uuid.uuid4()}.ics"
            try:
                components = radicale_item.read_components(text)
                radicale_item.check_and_sanitize_items(
                    components,
                    max_vevent_rrule_occurrence=0,
                    is_collection=False,
                    tag="VCALENDAR",
                )
            except Exception as exc:  # vobject raises many kinds on bad data
                raise ValueError(" ".join(str(exc).split())[:200]) from exc
            item = radicale_item.Item(
                collection_path=self.pair.calendar, text=text, vobject_item=components[0]
            )
            collection.upload(href, item)
            row = conn.execute(
                select(items.c.etag, items.c.text).where(
                    items.c.collection_id == self.pair.collection_id, items.c.href == href
                )
            ).one()
            state.local_href, state.local_etag = href, row.etag
            state.local_hash = content.content_hash(row.text)
            store.save_state(conn, self.pair.id, state)

    def _remote_write(self, remote: Remote, state: store.ItemState, text: str | None) -> None:
        if text is None:
            if state.remote_href:
                remote.delete(state.remote_href, state.remote_etag)
            with write_transaction(self.engine) as conn:
                store.drop_state(conn, state)
            return
        new = not state.remote_href
        href = state.remote_href or remote.href_for(f"{uuid.uuid4()}.ics")
        # the hash first: a run cut short after the PUT knows the remote's copy as its own
        state.remote_href, state.remote_hash = href, content.content_hash(text)
        with write_transaction(self.engine) as conn:
            store.save_state(conn, self.pair.id, state)
        etag = remote.put(href, text, None if new else state.remote_etag)
        if not etag:
            etag = remote.fetch([href]).get(href, ("", ""))[0]
        state.remote_etag = etag
        with write_transaction(self.engine) as conn:
            store.save_state(conn, self.pair.id, state)

    def _note(self, line: str, counter: str | None) -> None:
        self.outcome.details.append(line)
        if counter:
            self.outcome.counts[counter] += 1
        self.handled += 1
        if self.handled % LEASE_EVERY == 0:
            store.extend(self.engine, self.pair.id, self.lease)

    # --- deciding -------------------------------------------------------------------

    def flows_to_remote(self, state: store.ItemState) -> bool:
        both_details = content.DETAILS == self.pair.pull_content == self.pair.push_content
        return self.pair.pushes and (state.origin == "local" or both_details)

    def flows_to_local(self, state: store.ItemState) -> bool:
        both_details = content.DETAILS == self.pair.pull_content == self.pair.push_content
        return self.pair.pulls and (state.origin == "remote" or both_details)

    def push(self, remote: Remote, state: store.ItemState, text: str | None, uid: str) -> None:
        """Copy the local ``text`` (None: deleted) to the remote."""
        pair = self.pair
        if text is None and not state.remote_href:  # never copied there: nothing to delete
            self._forget(state)
            return
        if text is not None and not self._copyable(text, pair.push_content):
            text = None  # left the category filter: its copy goes
            if not state.remote_href:
                self._seen_local_only(state)
                return
        self._remote_write(remote, state, content.shaped(text, pair.push_content) if text else None)
        if text is None:
            self._note(f"deleted remotely {uid}", "deleted")
        else:
            self._note(f"pushed {uid}", "pushed")

    def pull(self, state: store.ItemState, text: str | None, uid: str) -> None:
        pair = self.pair
        if text is None and not state.local_href:
            self._forget(state)
            return
        if text is not None and not self._copyable(text, pair.pull_content):
            text = None
            if not state.local_href:
                return
        try:
            self._local_write(state, content.shaped(text, pair.pull_content) if text else None)
        except ValueError as exc:  # an event this server does not take: the others go on
            self._note(f"skipped {uid}: {exc}", None)
            return
        if text is None:
            self._note(f"deleted locally {uid}", "deleted")
        else:
            self._note(f"pulled {uid}", "pulled")

    def _forget(self, state: store.ItemState) -> None:
        with write_transaction(self.engine) as conn:
            store.drop_state(conn, state)

    def _seen_local_only(self, state: store.ItemState) -> None:
        if state.id:
            with write_transaction(self.engine) as conn:
                store.save_state(conn, self.pair.id, state)

    def _copyable(self, text: str, shape: str) -> bool:
        if shape == content.BLOCKER and "BEGIN:VEVENT" not in text.upper():
            return False
        return content.wanted(text, self.pair.categories)

    def conflict(
        self, remote: Remote, state: store.ItemState, local: str | None, remote_text: str | None
    ) -> None:
        pair = self.pair
        policy = pair.policy
        if policy == "newest":
            local_stamp = content.stamp(local) if local else ""
            remote_stamp = content.stamp(remote_text) if remote_text else ""
            if local is None or remote_text is None:
                winner = "remote" if local is None else "local"  # a change beats a delete
            else:
                winner = "remote" if remote_stamp > local_stamp else "local"
        else:
            winner = policy
        uid = state.uid or content.uid_of(local or remote_text or "")
        with write_transaction(self.engine) as conn:
            store.add_conflict(
                conn,
                pair.id,
                self.outcome.run_id,
                uid,
                local or "",
                remote_text or "",
                policy,
                winner,
            )
        self.outcome.counts["conflicts"] += 1
        self.outcome.details.append(f"conflict {uid}: {winner} wins ({policy})")
        if winner == "local":
            self.push(remote, state, local, uid)
        else:
            self.pull(state, remote_text, uid)

    # --- the run --------------------------------------------------------------------

    def execute(self) -> tuple[str, str]:
        pair = self.pair
        states = store.item_states(self.engine, pair.id)
        remote = Remote(
            pair.remote_url,
            credentials_of(self.configuration, pair),
            allowed=[  # [subscriptions] allowed_networks covers sync too (DESIGN.md)
                *self.configuration.get("sync", "allowed_networks"),
                *self.configuration.get("subscriptions", "allowed_networks"),
            ],
            timeout=self.configuration.get("sync", "timeout"),
            on_refresh=self._store_tokens,
        )
        remote_now, ctag, token = self.remote_side(remote, states)
        with read_transaction(self.engine) as conn:
            local_now = _local_side(conn, pair.collection_id)
        by_remote = {s.remote_href: s for s in states if s.remote_href}
        by_local = {s.local_href: s for s in states if s.local_href}
        # the remote texts needed: changed or new members
        wanted = [
            href
            for href, etag in remote_now.etags.items()
            if href not in by_remote or by_remote[href].remote_etag != etag
        ]
        fetched = remote.fetch(wanted) if wanted else {}
        remote_now.texts = {h: t for h, (_e, t) in fetched.items()}
        for href, (etag, _t) in fetched.items():
            remote_now.etags[href] = etag
        if set(wanted) - set(fetched):  # changed again or gone meanwhile: list all next time
            ctag = token = ""
        # -- everything is read: from here on, writes --
        for state in states:
            self._settle(remote, state, local_now, remote_now)
        new_remote = [h for h in remote_now.etags if h not in by_remote and h in remote_now.texts]
        new_local = [h for h in local_now.etags if h not in by_local]
        remote_by_uid = {content.uid_of(remote_now.texts[h]): h for h in new_remote}
        for href in new_local:
            text = local_now.texts[href]
            state = store.ItemState(
                0,
                href,
                local_now.etags[href],
                content.content_hash(text),
                None,
                "",
                "",
                "local",
                content.uid_of(text),
            )
            match = remote_by_uid.pop(content.uid_of(text), None)
            if match is not None:  # the same event on both sides already (a first run)
                new_remote.remove(match)
                state.remote_href, state.remote_etag = match, remote_now.etags[match]
                state.remote_hash = content.content_hash(remote_now.texts[match])
                if state.remote_hash == state.local_hash or pair.baseline:
                    self._saved(state)
                elif self._details_both():
                    self.conflict(remote, state, text, remote_now.texts[match])
                elif pair.pulls:
                    self.pull(state, remote_now.texts[match], content.uid_of(text))
                else:
                    self.push(remote, state, text, content.uid_of(text))
                continue
            if pair.baseline or not pair.pushes:
                self._saved(state)  # seen: settings apply to future changes only
                continue
            self.push(remote, state, text, content.uid_of(text))
        for href in new_remote:
            text = remote_now.texts[href]
            state = store.ItemState(
                0,
                None,
                "",
                "",
                href,
                remote_now.etags[href],
                content.content_hash(text),
                "remote",
                content.uid_of(text),
            )
            if pair.baseline or not pair.pulls:
                self._saved(state)
                continue
            self.pull(state, text, content.uid_of(text))
        return ctag, token

    def _details_both(self) -> bool:
        return (
            self.pair.direction == "both"
            and self.pair.pull_content == content.DETAILS == self.pair.push_content
        )

    def _saved(self, state: store.ItemState) -> store.ItemState:
        with write_transaction(self.engine) as conn:
            return store.save_state(conn, self.pair.id, state)

    def _settle(
        self, remote: Remote, state: store.ItemState, local_now: Side, remote_now: Side
    ) -> None:
        """One item both sides knew at the last run."""
        local_text: str | None = None
        local_changed = False
        if state.local_href:
            if state.local_href not in local_now.etags:
                local_changed = True  # deleted here
            elif local_now.etags[state.local_href] != state.local_etag:
                local_text = local_now.texts[state.local_href]
                local_changed = content.content_hash(local_text) != state.local_hash
                if not local_changed:  # our own write, its ETag not recorded
                    state.local_etag = local_now.etags[state.local_href]
            else:
                local_text = local_now.texts[state.local_href]
        remote_text: str | None = None
        remote_changed = False
        if state.remote_href:
            if state.remote_href not in remote_now.etags:
                remote_changed = True  # deleted there (a complete listing said so)
            elif remote_now.etags[state.remote_href] != state.remote_etag:
                if state.remote_href not in remote_now.texts:
                    return  # gone between listing and fetch: next run
                remote_text = remote_now.texts[state.remote_href]
                remote_changed = content.content_hash(remote_text) != state.remote_hash
                if not remote_changed:
                    state.remote_etag = remote_now.etags[state.remote_href]
        if not local_changed and not remote_changed:
            if state.id and (local_text is not None or remote_text is not None):
                self._saved(state)  # ETags recorded
            return
        to_remote = local_changed and self.flows_to_remote(state)
        to_local = remote_changed and self.flows_to_local(state)
        uid = state.uid or content.uid_of(local_text or remote_text or "")
        if to_remote and to_local:
            if local_text is None and remote_text is None:  # deleted on both sides
                with write_transaction(self.engine) as conn:
                    store.drop_state(conn, state)
                return
            if remote_text is not None and state.remote_href:  # overwritten knowingly
                state.remote_etag = remote_now.etags[state.remote_href]
            self.conflict(remote, state, local_text, remote_text)
        elif to_remote:
            self.push(remote, state, local_text, uid)
        elif to_local:
            self.pull(state, remote_text, uid)
        else:  # a change that flows nowhere: remembered as seen
            if local_changed:
                if local_text is None:
                    state.local_href, state.local_etag, state.local_hash = None, "", ""
                else:
                    state.local_etag = local_now.etags[state.local_href or ""]
                    state.local_hash = content.content_hash(local_text)
            if remote_changed:
                if remote_text is None:
                    state.remote_href, state.remote_etag, state.remote_hash = None, "", ""
                else:
                    state.remote_etag = remote_now.etags[state.remote_href or ""]
                    state.remote_hash = content.content_hash(remote_text)
            if state.local_href is None and state.remote_href is None:
                with write_transaction(self.engine) as conn:
                    store.drop_state(conn, state)
            else:
                self._saved(state)

    def _store_tokens(self, values: dict[str, Any]) -> None:
        secret = credentials.seal(keys.server_key(self.configuration), self.pair.owner, values)
        store.set_secret(self.engine, self.pair.id, secret)


def run_pair(
    engine: Any, storage: Any, configuration: Any, pair: store.Pair, lease: float
) -> Outcome:
    """Run the claimed ``pair`` once; record the run; release the pair."""
    started = time.time()
    run = Run(engine, storage, configuration, pair, lease)
    run.outcome.run_id = store.start_run(engine, pair.id, started)
    store.clear_dirty(engine, pair, started)
    token: str | None = None
    ctag: str | None = None
    try:
        ctag, token = run.execute()
    except (RemoteError, credentials.CredentialError, ValueError) as exc:
        run.outcome.ok = False
        run.outcome.error = str(exc)
        logger.warning("sync %d failed: %s", pair.id, exc)
    except Exception as exc:  # the job's boundary: a bug fails this run, not the worker
        run.outcome.ok = False
        run.outcome.error = f"internal error: {exc.__class__.__name__}"
        logger.exception("sync %d failed", pair.id)
    store.end_run(
        engine,
        run.outcome.run_id,
        "ok" if run.outcome.ok else "failed",
        run.outcome.counts,
        run.outcome.details,
        run.outcome.error,
    )
    store.finish(engine, pair, run.outcome.ok, run.outcome.error, sync_token=token, ctag=ctag)
    return run.outcome
