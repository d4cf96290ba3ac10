"""calendarserver-sharing's store side in-process (calserver.sharing.invites), on every
engine: how invitations map onto grants, who may invite, what answers do, and what
the notification collections hold. The XML is tests/test_cs_sharing.py's."""

from __future__ import annotations

from typing import Any

import pytest

from calserver import calendars
from calserver.accounts import users
from calserver.errors import Conflict, Forbidden, InvalidInput, NotFound
from calserver.sharing import invites, manage
from calserver.storage import Storage
from tests.conftest import PASSWORD

pytestmark = pytest.mark.storage


@pytest.fixture
def world(configuration: Any, engine: Any) -> Any:
    """alice, bob, carol; alice/work; @staff (carol its admin) with @staff/plans."""
    for name in ("alice", "bob", "carol"):
        users.add(engine, name, PASSWORD, f"{name}@example.org")
    storage = Storage(configuration)
    calendars.create(storage, "alice/work")
    manage.create_group(engine, "staff", admin="carol")
    calendars.create(storage, "@staff/plans")
    return engine


def levels(engine: Any, calendar: str) -> dict[str, str]:
    return {g.grantee: g.level for g in manage.grants_of(engine, calendar)}


def test_invitation_grants_at_once_and_decline_takes_it_back(world: Any) -> None:
    uid = invites.invite(world, "alice/work", "bob", "read-write", "alice", "Work")
    assert levels(world, "alice/work") == {"bob": "write"}
    assert invites.invitees(world, "alice/work", "alice") == [
        invites.Invitee("bob", "bob@example.org", "read-write", invites.NORESPONSE)
    ]
    [note] = invites.notifications(world, "bob")
    assert (note.uid, note.kind, note.status) == (uid, invites.INVITE_NOTIFICATION, "noresponse")
    assert note.data["calendar"] == "alice/work" and note.data["summary"] == "Work"
    invites.reply(world, "bob", "alice/work", accepted=False)
    assert levels(world, "alice/work") == {}
    assert invites.notification(world, "bob", uid).status == invites.DECLINED  # type: ignore[union-attr]
    [answer] = invites.notifications(world, "alice")
    assert answer.kind == invites.INVITE_REPLY and answer.data["in_reply_to"] == uid
    with pytest.raises(Conflict, match="share it again"):
        invites.reply(world, "bob", "alice/work", accepted=True)


def test_sharing_again_changes_access_and_keeps_the_answer(world: Any) -> None:
    uid = invites.invite(world, "alice/work", "bob", "read", "alice")
    invites.reply(world, "bob", "alice/work", accepted=True)
    assert invites.invite(world, "alice/work", "bob", "read-write", "alice") == uid
    assert levels(world, "alice/work") == {"bob": "write"}
    [who] = invites.invitees(world, "alice/work", "alice")
    assert (who.access, who.status) == ("read-write", invites.ACCEPTED)


def test_only_who_manages_the_calendar_invites(world: Any) -> None:
    with pytest.raises(Forbidden):
        invites.invite(world, "alice/work", "carol", "read", "bob")
    with pytest.raises(Forbidden):
        invites.uninvite(world, "alice/work", "bob", "carol")
    with pytest.raises(Forbidden):
        invites.invitees(world, "alice/work", "bob")
    with pytest.raises(InvalidInput, match="unknown access"):
        invites.invite(world, "alice/work", "bob", "write", "alice")
    # a group calendar: its administrators share it; the group gets no notification
    invites.invite(world, "@staff/plans", "bob", "read", "carol")
    assert levels(world, "@staff/plans") == {"bob": "read"}
    invites.reply(world, "bob", "@staff/plans", accepted=True)
    assert invites.notifications(world, "carol") == []


def test_cli_grants_count_as_accepted_busy_and_groups_not_shown(world: Any) -> None:
    manage.share(world, "alice/work", "bob", "read")
    manage.share(world, "alice/work", "carol", "busy")
    manage.share(world, "alice/work", "@staff", "read")
    assert invites.invitees(world, "alice/work", "alice") == [
        invites.Invitee("bob", "bob@example.org", "read", invites.ACCEPTED)
    ]
    with manage_connection(world) as conn:
        assert invites.shared_calendars(conn, ["alice/work", "@staff/plans"]) == {"alice/work"}
    # a sharee may decline a grant of the CLI too: it goes
    invites.reply(world, "bob", "alice/work", accepted=False)
    assert "bob" not in levels(world, "alice/work")
    with pytest.raises(NotFound, match="no invitation"):
        invites.reply(world, "bob", "alice/work", accepted=True)


def test_uninvite_withdraws_and_is_idempotent(world: Any) -> None:
    uid = invites.invite(world, "alice/work", "bob", "read", "alice")
    invites.uninvite(world, "alice/work", "bob", "alice")
    invites.uninvite(world, "alice/work", "bob", "alice")
    assert levels(world, "alice/work") == {}
    assert invites.notification(world, "bob", uid) is None


def test_change_is_all_or_nothing(world: Any) -> None:
    with pytest.raises(InvalidInput, match="owns"):
        invites.change(world, "alice/work", "alice", [("bob", "read", ""), ("alice", "read", "")])
    assert levels(world, "alice/work") == {}
    assert invites.notifications(world, "bob") == []


def test_dismiss_and_deleting_the_calendar_cascades(world: Any, configuration: Any) -> None:
    uid = invites.invite(world, "alice/work", "bob", "read", "alice")
    assert invites.dismiss(world, "bob", uid)
    assert not invites.dismiss(world, "bob", uid)
    assert levels(world, "alice/work") == {"bob": "read"}
    other = invites.invite(world, "alice/work", "carol", "read", "alice")
    calendars.delete_calendar(Storage(configuration), "alice/work")
    with manage_connection(world) as conn:
        assert invites.shared_calendars(conn, ["alice/work"]) == set()
    # carol's notification stays, telling that the invitation is gone
    assert invites.notification(world, "carol", other).status == invites.DELETED  # type: ignore[union-attr]


def manage_connection(engine: Any) -> Any:
    return engine.connect()
