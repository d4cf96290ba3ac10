"""Meeting polls (issue 19): create, read, vote, edit, remind, decide, close, delete.

Every change is one write transaction of the storage (``Storage.acquire_lock``), so
the poll's rows, the e-mails queued in the outbox (``calserver.mail.outbox``, sent by
``calserver worker``), a contact added to the owner's address book and the meeting
written in the owner's calendar commit together or not at all. The address book and the
meeting are written with ``Collection.upload``, as a CardDAV / CalDAV PUT would be: the
storage's write hooks hear them, so implicit scheduling (RFC 6638 3.2,
``calserver.scheduling.organize``) invites the voters: copies in the calendars of
those with an account, iMIP e-mail with answer links for the others.

Rules (the issue's "Bad input"): 1 to :data:`MAX_OPTIONS` options, no duplicate, none in
the past; every voter with an e-mail address; a poll belongs to a person, never a group;
a vote, an edit or a choice on a poll that is not open is a 409; a reminder to a voter
reminded less than :data:`REMIND_INTERVAL` ago is a 429.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import secrets
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from radicale import item as radicale_item
from sqlalchemy import Connection, Engine, delete, func, insert, or_, select, update

from calserver import context
from calserver.accounts import directory, settings
from calserver.contacts import card, people
from calserver.db import read_transaction
from calserver.db.models import mail_outbox, poll_options, poll_voters, poll_votes, polls
from calserver.errors import CalserverError, Conflict, Forbidden, InvalidInput, NotFound
from calserver.ical import compose
from calserver.keys import server_key
from calserver.mail import outbox
from calserver.polls import links, messages
from calserver.polls.model import ANSWERS, NOTIFY, Option, Poll, Voter
from calserver.scheduling import addresses, copies
from calserver.storage import Storage
from calserver.storage import addressbooks as books
from calserver.storage.context import write_scope
from calserver.urls import base_url

logger = logging.getLogger("calserver")

MAX_OPTIONS = 100
MAX_VOTERS = 200
MAX_TITLE = 255
MAX_TEXT = 5000
#: At most one reminder per voter in this many seconds (the issue: 24 hours).
REMIND_INTERVAL = 24 * 3600
#: Votes within this many seconds make one notice to the owner (``notify = each``).
NOTICE_BATCH = 300
EMAIL = re.compile(r"^[^@\s<>\"',;]+@[^@\s<>\"',;]+\.[^@\s<>\"',;]+$")


class TooSoon(CalserverError):
    """A reminder within :data:`REMIND_INTERVAL` of the last one."""

    status = 429


@dataclass(frozen=True)
class VoterInput:
    """A voter as the owner names them: an e-mail address (and a name), or a group
    whose members are all invited."""

    email: str = ""
    name: str = ""
    group: str = ""


# --- reading ----------------------------------------------------------------------------


def _poll(conn: Connection, row: Any) -> Poll:
    poll = Poll(
        row.id,
        row.key,
        row.owner,
        row.title,
        row.description,
        row.location,
        row.duration,
        row.timezone,
        row.status,
        row.decided_option,
        row.meeting_uid,
        row.notify,
        row.created,
        row.updated,
    )
    poll.options = [
        Option(o.id, o.start, o.all_day)
        for o in conn.execute(
            select(poll_options)
            .where(poll_options.c.poll_id == row.id)
            .order_by(poll_options.c.start, poll_options.c.id)
        )
    ]
    voters = {
        v.id: Voter(v.id, v.email, v.name, v.user, v.key, v.answered, v.reminded)
        for v in conn.execute(
            select(poll_voters).where(poll_voters.c.poll_id == row.id).order_by(poll_voters.c.id)
        )
    }
    if voters:
        for vote in conn.execute(select(poll_votes).where(poll_votes.c.voter_id.in_(list(voters)))):
            voters[vote.voter_id].votes[vote.option_id] = vote.answer
    poll.voters = list(voters.values())
    return poll


def _load(conn: Connection, poll_id: int) -> Poll:
    row = conn.execute(select(polls).where(polls.c.id == poll_id)).first()
    if row is None:
        raise NotFound(f"no poll {poll_id}")
    return _poll(conn, row)


def _owned(conn: Connection, owner: str, poll_id: int) -> Poll:
    poll = _load(conn, poll_id)
    if poll.owner != owner:
        raise NotFound(f"no poll {poll_id}")  # another person's poll is not revealed
    return poll


def _mine(poll: Poll, user: str, email: str) -> Voter | None:
    for voter in poll.voters:
        if voter.user == user or (email and voter.email.lower() == email.lower()):
            return voter
    return None


def get(engine: Engine, poll_id: int) -> Poll:
    with read_transaction(engine) as conn:
        return _load(conn, poll_id)


def seen_by(engine: Engine, user: str, poll_id: int) -> tuple[Poll, Voter | None]:
    """The poll as ``user`` may see it: its owner (voter None) or one of its voters;
    404 for anyone else."""
    with read_transaction(engine) as conn:
        poll = _load(conn, poll_id)
        if poll.owner == user:
            return poll, None
        voter = _mine(poll, user, directory.email_of(conn, user) or "")
    if voter is None:
        raise NotFound(f"no poll {poll_id}")
    return poll, voter


def owned_by(engine: Engine, owner: str, poll_id: int) -> Poll:
    with read_transaction(engine) as conn:
        return _owned(conn, owner, poll_id)


def polls_of(engine: Engine, user: str) -> tuple[list[Poll], list[Poll]]:
    """(the polls ``user`` owns, the polls they are a voter of), newest first."""
    with read_transaction(engine) as conn:
        email = (directory.email_of(conn, user) or "").lower()
        owned = conn.execute(
            select(polls).where(polls.c.owner == user).order_by(polls.c.id.desc())
        ).all()
        mine = poll_voters.c.user == user
        if email:
            mine = or_(mine, func.lower(poll_voters.c.email) == email)
        invited_ids = select(poll_voters.c.poll_id).where(mine)
        invited = conn.execute(
            select(polls)
            .where(polls.c.id.in_(invited_ids), polls.c.owner != user)
            .order_by(polls.c.id.desc())
        ).all()
        return [_poll(conn, r) for r in owned], [_poll(conn, r) for r in invited]


def by_token(configuration: Any, engine: Engine, token: str) -> tuple[Poll, Voter]:
    """The poll and voter a link names: 403 for a link this server did not sign, 404
    for a poll or voter that is gone."""
    try:
        claim = links.read(server_key(configuration), token)
    except links.Invalid as exc:
        raise Forbidden(str(exc)) from exc
    with read_transaction(engine) as conn:
        row = conn.execute(select(polls).where(polls.c.key == claim.poll_key)).first()
        if row is None:
            raise NotFound("this poll no longer exists")
        poll = _poll(conn, row)
    voter = next((v for v in poll.voters if v.key == claim.voter_key), None)
    if voter is None:
        raise NotFound("you are no longer a voter of this poll")
    return poll, voter


def link_of(configuration: Any, poll: Poll, voter: Voter) -> str:
    """The voter's personal link (absolute)."""
    token = links.make(server_key(configuration), poll.key, voter.key)
    base = context.link_base.get() or base_url(configuration)
    return base + links.path(token)


def owner_url(configuration: Any, poll: Poll) -> str:
    base = context.link_base.get() or base_url(configuration)
    return f"{base}/.web/poll?id={poll.id}"


# --- checking input ---------------------------------------------------------------------


def check_owner(owner: str) -> None:
    if owner.startswith("@"):
        raise InvalidInput("a poll belongs to one person: a group cannot own a poll")


def check_zone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise InvalidInput(f"unknown time zone {value!r} (use an IANA name)") from exc
    return value


def _text(value: str, what: str, longest: int, *, required: bool = False) -> str:
    text = value.strip()
    if required and not text:
        raise InvalidInput(f"the poll needs a {what}")
    if len(text) > longest:
        raise InvalidInput(f"the {what} may have at most {longest} characters")
    return text


def _duration(value: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= 7 * 24 * 60:
        raise InvalidInput("the duration must be 1 to 10080 minutes")
    return value


def parse_option(value: str, zone: str, now: float) -> tuple[str, bool]:
    """One option as stored: ``YYYY-MM-DD`` (an all-day option) or an ISO date-time,
    local to the poll's time zone unless it carries an offset; 400 when it is not one
    or lies in the past."""
    text = str(value).strip()
    tz = ZoneInfo(zone)
    today = dt.datetime.fromtimestamp(now, tz)
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
        try:
            day = dt.date.fromisoformat(text)
        except ValueError as exc:
            raise InvalidInput(f"not a date: {text!r}") from exc
        if day < today.date():
            raise InvalidInput(f"the option {text} is in the past")
        return day.isoformat(), True
    try:
        moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as exc:
        raise InvalidInput(
            f"not a date or an ISO date-time: {text!r} (2030-11-04 or 2030-11-04T10:00)"
        ) from exc
    moment = moment.astimezone(tz) if moment.tzinfo is not None else moment.replace(tzinfo=tz)
    if moment.timestamp() < now:
        raise InvalidInput(f"the option {text} is in the past")
    return moment.strftime("%Y-%m-%dT%H:%M"), False


def _options(
    values: Sequence[str], zone: str, now: float, existing: Iterable[str] = ()
) -> list[tuple[str, bool]]:
    found: list[tuple[str, bool]] = []
    seen = set(existing)
    for value in values:
        start, all_day = parse_option(value, zone, now)
        if start in seen:
            raise InvalidInput(f"the option {start} is given twice")
        seen.add(start)
        found.append((start, all_day))
    if len(seen) > MAX_OPTIONS:
        raise InvalidInput(f"a poll may have at most {MAX_OPTIONS} options")
    return found


def _known_people(conn: Connection, owner: str) -> dict[str, str]:
    """e-mail (lower case) -> name of everyone the owner's address books and groups
    hold (``calserver.contacts.people``)."""
    known: dict[str, str] = {}
    for entry in people.merge(
        [
            *people._group_members(conn, owner),
            *people._contacts(conn, people.readable_books(conn, owner)),
        ]
    ):
        for email in entry.emails:
            known.setdefault(email.lower(), entry.name)
    return known


def known_people(engine: Engine, owner: str) -> list[tuple[str, str]]:
    """(e-mail, name) of the people the owner may pick as voters: their address books'
    contacts and their groups' members (the wizard's list)."""
    with read_transaction(engine) as conn:
        known = _known_people(conn, owner)
    return sorted(known.items(), key=lambda pair: (pair[1].lower(), pair[0]))


def _group_voters(conn: Connection, owner: str, group: str) -> list[tuple[str, str]]:
    """The members of the owner's group ``group`` (the owner aside)."""
    found = addresses.group_members_of(conn, f"/@{group}/")
    if found is None or not addresses.is_member(conn, owner, f"/@{group}/"):
        raise InvalidInput(f"you are not a member of a group {group!r}")
    result = []
    for person in found[1]:
        if person.name == owner:
            continue
        if not person.email:
            raise InvalidInput(f"the member {person.name} of {group} has no e-mail address")
        result.append(
            (person.email, directory.principals(conn, [person.name])[person.name].displayname)
        )
    return result


def _voters(conn: Connection, owner: str, values: Sequence[VoterInput]) -> list[tuple[str, str]]:
    """(e-mail, name) of every voter, deduplicated, checked."""
    owner_email = (directory.email_of(conn, owner) or "").lower()
    found: dict[str, tuple[str, str]] = {}
    for value in values:
        if value.group:
            pairs = _group_voters(conn, owner, value.group)
        else:
            email = value.email.strip()
            if not email:
                raise InvalidInput(f"the voter {value.name or '(no name)'} has no e-mail address")
            if not EMAIL.match(email) or len(email) > 254:
                raise InvalidInput(f"not an e-mail address: {email!r}")
            pairs = [(email, _text(value.name, "voter's name", 255))]
        for email, name in pairs:
            if email.lower() == owner_email:
                raise InvalidInput("the poll's owner is not one of its voters")
            found.setdefault(email.lower(), (email, name))
    if len(found) > MAX_VOTERS:
        raise InvalidInput(f"a poll may have at most {MAX_VOTERS} voters")
    return list(found.values())


# --- writing ----------------------------------------------------------------------------


class _Change:
    """One write transaction of the storage, and the e-mails it queues."""

    def __init__(self, storage: Storage, user: str) -> None:
        self.storage = storage
        self.user = user

    def __enter__(self) -> Connection:
        self._lock = self.storage.acquire_lock("w", self.user)
        self._lock.__enter__()
        self._scope = write_scope(self.storage.engine)
        try:
            return self._scope.__enter__()
        except BaseException:
            self._lock.__exit__(None, None, None)
            raise

    def __exit__(self, *exc: Any) -> None:
        try:
            self._scope.__exit__(*exc)
        finally:
            self._lock.__exit__(*exc)


def _put(collection: Any, href: str, item: radicale_item.Item) -> None:
    """``item`` stored at ``href`` as the lock's user's CalDAV / CardDAV PUT of it would
    be: the storage's write hooks see a PUT (implicit scheduling applies to PUTs and
    DELETEs only, ``calserver.scheduling.hooks``)."""
    restore = context.method.set("PUT")
    try:
        collection.upload(href, item)
    finally:
        context.method.reset(restore)


def _mail(conn: Connection, message: EmailMessage, now: float) -> None:
    try:
        outbox.enqueue(conn, message, now=now)
    except outbox.MailError as exc:
        logger.warning("poll: no e-mail to %s: %s", message.get("To"), exc)


def _tell(conn: Connection, voter: Voter, message: EmailMessage, now: float) -> None:
    """An e-mail to a voter; none to a voter with an account whose e-mail switch is off
    (``calserver.accounts.settings.wants_email``: the poll is in their list)."""
    if voter.user and not settings.wants_email(conn, voter.user):
        return
    _mail(conn, message, now)


def _owner_name(conn: Connection, owner: str) -> tuple[str, str]:
    """(how the owner is named in e-mails, their address for replies)."""
    email = directory.email_of(conn, owner) or ""
    principal = directory.principals(conn, [owner]).get(owner)
    name = principal.displayname if principal is not None else owner
    return (f"{name} <{email}>" if email else name), email


def _add_contacts(
    storage: Storage, conn: Connection, owner: str, pairs: list[tuple[str, str]]
) -> None:
    """Addresses the owner typed that no address book or group of theirs holds: a new
    vCard each in ``OWNER/contacts`` (made when missing), written as a CardDAV PUT."""
    known = _known_people(conn, owner)
    new = [(e, n) for e, n in pairs if e.lower() not in known]
    if not new:
        return
    path = f"{owner}/{books.DEFAULT_NAME}"
    if not books.is_addressbook(conn, path):
        books.create_default(conn, owner)
    collection = storage.load_collection(path)
    if collection is None:
        raise NotFound(f"no address book {path}")
    for email, name in new:
        text = card.new(card.ContactFields(name=name or email, emails=[email]))
        components = radicale_item.read_components(text)
        item = radicale_item.Item(collection_path=path, text=text, vobject_item=components[0])
        item.prepare()
        _put(collection, f"{item.uid}.vcf", item)


def _insert_voters(conn: Connection, poll_id: int, pairs: list[tuple[str, str]]) -> list[int]:
    ids = []
    for email, name in pairs:
        person = addresses.user_for(conn, addresses.mailto(email))
        result = conn.execute(
            insert(poll_voters).values(
                poll_id=poll_id,
                email=email,
                name=name,
                user=person.name if person is not None else "",
                key=secrets.token_hex(16),
            )
        )
        ids.append(int(result.inserted_primary_key[0]))  # type: ignore[index]
    return ids


def create(
    storage: Storage,
    owner: str,
    *,
    title: str,
    duration: int,
    options: Sequence[str],
    voters: Sequence[VoterInput],
    description: str = "",
    location: str = "",
    timezone: str = "",
    notify: str = "all",
    now: float | None = None,
) -> Poll:
    """A new poll of ``owner``; every voter is sent their link."""
    now = time.time() if now is None else now
    check_owner(owner)
    title = _text(title, "title", MAX_TITLE, required=True)
    description = _text(description, "description", MAX_TEXT)
    location = _text(location, "location", MAX_TITLE)
    duration = _duration(duration)
    if notify not in NOTIFY:
        raise InvalidInput(f"notify must be one of {', '.join(NOTIFY)}")
    if not options:
        raise InvalidInput("a poll needs at least one option")
    if not voters:
        raise InvalidInput("a poll needs at least one voter")
    with _Change(storage, owner) as conn:
        if directory.user_id(conn, owner) is None:
            raise NotFound(f"no user {owner!r}")
        if not directory.email_of(conn, owner):
            raise InvalidInput(
                "your account has no e-mail address: voters without an account could not "
                "answer the meeting"
            )
        zone = check_zone(timezone or _user_zone(storage, conn, owner))
        chosen = _options(options, zone, now)
        pairs = _voters(conn, owner, voters)
        result = conn.execute(
            insert(polls).values(
                key=secrets.token_hex(16),
                owner=owner,
                title=title,
                description=description,
                location=location,
                duration=duration,
                timezone=zone,
                status="open",
                meeting_uid="",
                notify=notify,
                all_answered_told=False,
                created=now,
                updated=now,
            )
        )
        poll_id = int(result.inserted_primary_key[0])  # type: ignore[index]
        for start, all_day in chosen:
            conn.execute(insert(poll_options).values(poll_id=poll_id, start=start, all_day=all_day))
        _insert_voters(conn, poll_id, pairs)
        _add_contacts(storage, conn, owner, pairs)
        poll = _load(conn, poll_id)
        shown, reply_to = _owner_name(conn, owner)
        for voter in poll.voters:
            link = link_of(storage.configuration, poll, voter)
            _tell(conn, voter, messages.invitation(poll, voter, shown, link, reply_to), now)
    return poll


def _user_zone(storage: Storage, conn: Connection, owner: str) -> str:
    return settings.load(conn, storage.configuration, owner).timezone


def _open(poll: Poll, what: str) -> None:
    if not poll.is_open:
        state = "decided" if poll.status == "decided" else "closed"
        raise Conflict(f"the poll is {state}: no {what} is accepted")


def vote(
    storage: Storage,
    poll_id: int,
    voter_id: int,
    answers: dict[int, str],
    *,
    now: float | None = None,
) -> Poll:
    """``voter_id``'s answers (option id -> yes / maybe / no), replacing theirs for the
    options named. 409 when the poll is not open."""
    now = time.time() if now is None else now
    for answer in answers.values():
        if answer not in ANSWERS:
            raise InvalidInput(f"an answer is yes, maybe or no, not {answer!r}")
    with _Change(storage, "") as conn:
        poll = _load(conn, poll_id)
        _open(poll, "vote")
        voter = poll.voter(voter_id)
        if voter is None:
            raise NotFound("you are no longer a voter of this poll")
        unknown = [o for o in answers if poll.option(o) is None]
        if unknown:
            raise InvalidInput(f"the poll has no option {unknown[0]} (it may have been removed)")
        if not answers:
            raise InvalidInput("answer at least one date")
        first = voter.answered is None
        for option_id, answer in answers.items():
            conn.execute(
                delete(poll_votes).where(
                    poll_votes.c.voter_id == voter_id, poll_votes.c.option_id == option_id
                )
            )
            conn.execute(
                insert(poll_votes).values(voter_id=voter_id, option_id=option_id, answer=answer)
            )
        conn.execute(update(poll_voters).where(poll_voters.c.id == voter_id).values(answered=now))
        conn.execute(update(polls).where(polls.c.id == poll_id).values(updated=now))
        poll = _load(conn, poll_id)
        _notice(storage, conn, poll, first, now)
    return poll


def vote_as(
    storage: Storage, user: str, poll_id: int, answers: dict[int, str], *, now: float | None = None
) -> Poll:
    """A signed-in voter's answers (the poll is theirs to vote in)."""
    _poll_seen, voter = seen_by(storage.engine, user, poll_id)
    if voter is None:
        raise InvalidInput("the owner of a poll does not vote in it")
    return vote(storage, poll_id, voter.id, answers, now=now)


def _notice(storage: Storage, conn: Connection, poll: Poll, first: bool, now: float) -> None:
    """The owner's notice of votes (``poll.notify``)."""
    if poll.notify == "never":
        return
    owner_email = directory.email_of(conn, poll.owner) or ""
    if not owner_email:
        return
    link = owner_url(storage.configuration, poll)
    everyone = all(v.answered is not None for v in poll.voters)
    if poll.notify == "all":
        told = conn.execute(select(polls.c.all_answered_told).where(polls.c.id == poll.id)).scalar()
        if everyone and not told:
            _mail(
                conn, messages.owner_notice(poll, owner_email, poll.owner, link, everyone=True), now
            )
            conn.execute(update(polls).where(polls.c.id == poll.id).values(all_answered_told=True))
        return
    # each vote, batched: one notice waits NOTICE_BATCH seconds and is rewritten with
    # every vote that comes meanwhile
    message = messages.owner_notice(poll, owner_email, poll.owner, link, everyone=everyone)
    waiting = conn.execute(select(polls.c.notice_outbox_id).where(polls.c.id == poll.id)).scalar()
    if waiting is not None:
        rewritten = conn.execute(
            update(mail_outbox)
            .where(
                mail_outbox.c.id == waiting,
                mail_outbox.c.sent.is_(None),
                mail_outbox.c.claimed_until <= now,
                mail_outbox.c.attempts == 0,
            )
            .values(message=_stored_text(conn, message, now))
        ).rowcount
        if rewritten == 1:
            return
    outbox_id = outbox.enqueue(conn, message, now=now)
    conn.execute(
        update(mail_outbox)
        .where(mail_outbox.c.id == outbox_id)
        .values(not_before=now + NOTICE_BATCH)
    )
    conn.execute(update(polls).where(polls.c.id == poll.id).values(notice_outbox_id=outbox_id))


def _stored_text(conn: Connection, message: EmailMessage, now: float) -> str:
    """The text the outbox stores for ``message`` (queued and read back in a savepoint
    that is rolled back)."""
    savepoint = conn.begin_nested()
    try:
        queued = outbox.enqueue(conn, message, now=now)
        text = str(
            conn.execute(
                select(mail_outbox.c.message).where(mail_outbox.c.id == queued)
            ).scalar_one()
        )
    finally:
        savepoint.rollback()
    return text


def update_poll(
    storage: Storage,
    owner: str,
    poll_id: int,
    *,
    title: str | None = None,
    description: str | None = None,
    location: str | None = None,
    notify: str | None = None,
    now: float | None = None,
) -> Poll:
    """Title, description, location or the owner's notices: nobody is e-mailed."""
    now = time.time() if now is None else now
    values: dict[str, object] = {}
    if title is not None:
        values["title"] = _text(title, "title", MAX_TITLE, required=True)
    if description is not None:
        values["description"] = _text(description, "description", MAX_TEXT)
    if location is not None:
        values["location"] = _text(location, "location", MAX_TITLE)
    if notify is not None:
        if notify not in NOTIFY:
            raise InvalidInput(f"notify must be one of {', '.join(NOTIFY)}")
        values["notify"] = notify
    with _Change(storage, owner) as conn:
        poll = _owned(conn, owner, poll_id)
        _open(poll, "edit")
        if values:
            conn.execute(update(polls).where(polls.c.id == poll_id).values(updated=now, **values))
        return _load(conn, poll_id)


def _tell_option_change(
    storage: Storage,
    conn: Connection,
    poll: Poll,
    added: list[Option],
    removed: list[Option],
    now: float,
) -> None:
    shown, reply_to = _owner_name(conn, poll.owner)
    for voter in poll.voters:
        link = link_of(storage.configuration, poll, voter)
        _tell(
            conn, voter, messages.changed(poll, voter, shown, link, reply_to, added, removed), now
        )


def add_options(
    storage: Storage, owner: str, poll_id: int, starts: Sequence[str], *, now: float | None = None
) -> Poll:
    now = time.time() if now is None else now
    if not starts:
        raise InvalidInput("name at least one option to add")
    with _Change(storage, owner) as conn:
        poll = _owned(conn, owner, poll_id)
        _open(poll, "edit")
        chosen = _options(starts, poll.timezone, now, (o.start for o in poll.options))
        for start, all_day in chosen:
            conn.execute(insert(poll_options).values(poll_id=poll_id, start=start, all_day=all_day))
        conn.execute(
            update(polls).where(polls.c.id == poll_id).values(updated=now, all_answered_told=False)
        )
        poll = _load(conn, poll_id)
        added = [o for o in poll.options if o.start in {s for s, _ in chosen}]
        _tell_option_change(storage, conn, poll, added, [], now)
        return poll


def remove_option(
    storage: Storage, owner: str, poll_id: int, option_id: int, *, now: float | None = None
) -> Poll:
    """The option and its votes go; the voters are told."""
    now = time.time() if now is None else now
    with _Change(storage, owner) as conn:
        poll = _owned(conn, owner, poll_id)
        _open(poll, "edit")
        option = poll.option(option_id)
        if option is None:
            raise NotFound(f"the poll has no option {option_id}")
        if len(poll.options) == 1:
            raise InvalidInput("a poll needs at least one option: this is its last")
        conn.execute(delete(poll_votes).where(poll_votes.c.option_id == option_id))
        conn.execute(delete(poll_options).where(poll_options.c.id == option_id))
        conn.execute(update(polls).where(polls.c.id == poll_id).values(updated=now))
        poll = _load(conn, poll_id)
        _tell_option_change(storage, conn, poll, [], [option], now)
        return poll


def add_voters(
    storage: Storage,
    owner: str,
    poll_id: int,
    voters: Sequence[VoterInput],
    *,
    now: float | None = None,
) -> Poll:
    """New voters, each sent their link; voters already in the poll are left as they are."""
    now = time.time() if now is None else now
    if not voters:
        raise InvalidInput("name at least one voter to add")
    with _Change(storage, owner) as conn:
        poll = _owned(conn, owner, poll_id)
        _open(poll, "edit")
        present = {v.email.lower() for v in poll.voters}
        pairs = [p for p in _voters(conn, owner, voters) if p[0].lower() not in present]
        if len(present) + len(pairs) > MAX_VOTERS:
            raise InvalidInput(f"a poll may have at most {MAX_VOTERS} voters")
        ids = _insert_voters(conn, poll_id, pairs)
        _add_contacts(storage, conn, owner, pairs)
        conn.execute(
            update(polls).where(polls.c.id == poll_id).values(updated=now, all_answered_told=False)
        )
        poll = _load(conn, poll_id)
        shown, reply_to = _owner_name(conn, owner)
        for voter in poll.voters:
            if voter.id in ids:
                link = link_of(storage.configuration, poll, voter)
                _tell(conn, voter, messages.invitation(poll, voter, shown, link, reply_to), now)
        return poll


def remove_voter(
    storage: Storage, owner: str, poll_id: int, voter_id: int, *, now: float | None = None
) -> Poll:
    """The voter and their votes go; they are told, and their link answers 404."""
    now = time.time() if now is None else now
    with _Change(storage, owner) as conn:
        poll = _owned(conn, owner, poll_id)
        _open(poll, "edit")
        voter = poll.voter(voter_id)
        if voter is None:
            raise NotFound(f"the poll has no voter {voter_id}")
        if len(poll.voters) == 1:
            raise InvalidInput("a poll needs at least one voter: this is its last")
        conn.execute(delete(poll_voters).where(poll_voters.c.id == voter_id))
        conn.execute(update(polls).where(polls.c.id == poll_id).values(updated=now))
        shown, reply_to = _owner_name(conn, owner)
        _tell(conn, voter, messages.removed_voter(poll, voter, shown, reply_to), now)
        return _load(conn, poll_id)


def remind(
    storage: Storage,
    owner: str,
    poll_id: int,
    *,
    leave_out: Sequence[int] = (),
    now: float | None = None,
) -> list[Voter]:
    """A reminder to every voter who has not answered, but those in ``leave_out``
    (voter ids); 429 when one of them was reminded less than 24 hours ago."""
    now = time.time() if now is None else now
    with _Change(storage, owner) as conn:
        poll = _owned(conn, owner, poll_id)
        _open(poll, "reminder")
        unknown = [i for i in leave_out if poll.voter(i) is None]
        if unknown:
            raise InvalidInput(f"the poll has no voter {unknown[0]}")
        chosen = [v for v in poll.voters if v.answered is None and v.id not in set(leave_out)]
        if not chosen:
            raise InvalidInput("nobody to remind: every voter chosen has answered")
        recent = [
            v for v in chosen if v.reminded is not None and now - v.reminded < REMIND_INTERVAL
        ]
        if recent:
            names = ", ".join(v.email for v in recent)
            raise TooSoon(
                f"at most one reminder a day per voter: {names} reminded less than 24 hours ago"
            )
        shown, reply_to = _owner_name(conn, owner)
        for voter in chosen:
            link = link_of(storage.configuration, poll, voter)
            _tell(conn, voter, messages.reminder(poll, voter, shown, link, reply_to), now)
            conn.execute(
                update(poll_voters).where(poll_voters.c.id == voter.id).values(reminded=now)
            )
        return chosen


def close(
    storage: Storage, owner: str, poll_id: int, *, tell: bool = True, now: float | None = None
) -> Poll:
    """Closed without a date: irreversible; readable, no more votes or edits."""
    now = time.time() if now is None else now
    with _Change(storage, owner) as conn:
        poll = _owned(conn, owner, poll_id)
        _open(poll, "change")
        conn.execute(
            update(polls).where(polls.c.id == poll_id).values(status="closed", updated=now)
        )
        poll = _load(conn, poll_id)
        if tell:
            shown, reply_to = _owner_name(conn, owner)
            for voter in poll.voters:
                _tell(conn, voter, messages.closed(poll, voter, shown, reply_to), now)
        return poll


def delete_poll(
    storage: Storage, owner: str, poll_id: int, *, tell: bool = False, now: float | None = None
) -> None:
    """Gone for ever: every link answers 404; the voters told when ``tell``."""
    now = time.time() if now is None else now
    with _Change(storage, owner) as conn:
        poll = _owned(conn, owner, poll_id)
        if tell:
            shown, reply_to = _owner_name(conn, owner)
            for voter in poll.voters:
                _tell(conn, voter, messages.deleted(poll, voter, shown, reply_to), now)
        conn.execute(delete(polls).where(polls.c.id == poll_id))


def _meeting_text(conn: Connection, poll: Poll, option: Option, now: float) -> tuple[str, str]:
    """The meeting of the chosen date, organized by the owner with every voter invited
    (``calserver.ical.compose``, as the web app writes a meeting): (UID, text)."""
    owner_email = directory.email_of(conn, poll.owner) or ""
    principal = directory.principals(conn, [poll.owner]).get(poll.owner)
    start = option.moment(poll.timezone)
    if option.all_day:
        assert isinstance(start, dt.date)
        end: dt.date | dt.datetime = start + dt.timedelta(days=1)
    else:
        end = start + dt.timedelta(minutes=poll.duration)
    fields = compose.EventFields(
        summary=poll.title,
        start=start,
        end=end,
        all_day=option.all_day,
        timezone=poll.timezone,
        location=poll.location,
        description=poll.description,
        participants=[compose.Participant(addresses.mailto(v.email), v.name) for v in poll.voters],
        organizer=addresses.mailto(owner_email),
        organizer_name=principal.displayname if principal is not None else poll.owner,
    )
    uid = compose.new_uid()
    return uid, compose.new_event(fields, dt.datetime.fromtimestamp(now, dt.UTC), uid)


def decide(
    storage: Storage, owner: str, poll_id: int, option_id: int, *, now: float | None = None
) -> Poll:
    """The final date (any option): irreversible; the poll is decided, the meeting is
    written in the owner's default calendar (scheduling invites the voters) and every
    voter is told the date."""
    now = time.time() if now is None else now
    with _Change(storage, owner) as conn:
        poll = _owned(conn, owner, poll_id)
        _open(poll, "choice")
        option = poll.option(option_id)
        if option is None:
            raise NotFound(f"the poll has no option {option_id}")
        if not directory.email_of(conn, owner):
            raise InvalidInput("your account has no e-mail address to organize the meeting from")
        uid, text = _meeting_text(conn, poll, option, now)
        path = copies.default_calendar(conn, owner)
        collection = storage.load_collection(path)
        if collection is None:
            raise NotFound(f"no calendar {path}")
        components = radicale_item.read_components(text)
        item = radicale_item.Item(collection_path=path, text=text, vobject_item=components[0])
        item.prepare()
        _put(collection, uid.partition("@")[0] + ".ics", item)
        conn.execute(
            update(polls)
            .where(polls.c.id == poll_id)
            .values(status="decided", decided_option=option_id, meeting_uid=uid, updated=now)
        )
        poll = _load(conn, poll_id)
        shown, reply_to = _owner_name(conn, owner)
        for voter in poll.voters:
            _tell(conn, voter, messages.decided(poll, voter, shown, option, reply_to), now)
        return poll


def meeting_path(engine: Engine, poll: Poll) -> str | None:
    """Where the decided poll's meeting is (``OWNER/CAL/HREF``), None when it is gone."""
    if not poll.meeting_uid:
        return None
    with read_transaction(engine) as conn:
        found = copies.organizer_copy_of(conn, poll.owner, poll.meeting_uid)
    return f"{found.path}/{found.href}" if found is not None else None


__all__ = [
    "MAX_OPTIONS",
    "REMIND_INTERVAL",
    "TooSoon",
    "VoterInput",
    "add_options",
    "add_voters",
    "by_token",
    "close",
    "create",
    "decide",
    "delete_poll",
    "get",
    "link_of",
    "owned_by",
    "polls_of",
    "remind",
    "remove_option",
    "remove_voter",
    "seen_by",
    "update_poll",
    "vote",
    "vote_as",
]
