"""Sync never names what the viewer may not see (issue 12, item 3; RFC 6578).

Against a live ``calserver serve`` on SQLite and PostgreSQL. Alice's calendar is
shared with Bob at the busy level, with Carol at the read level and with Dave at the
write level. Alice creates, changes, re-classes and deletes events, tasks and journal
entries of every CLASS; after each step every viewer takes a sync token on both of
their routes (their alias and Alice's URL). Then each viewer syncs from every token
they were given: the answer names exactly the hrefs that changed since and that the
viewer saw at some point since (as the view at their level holds them: DESIGN.md's
table), as changed (200) when they see them now and as removed (404) when not -- an
item they never saw never appears. Tokens the server did not issue to that view get
403 ``DAV:valid-sync-token``. A writer's PUT, MOVE or DELETE on an item hidden from
them answers as for a free name, or exactly as a UID conflict (which RFC 4791 5.3.2.1
requires for a hidden item's UID anyway).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest

from tests.conftest import LiveServer
from tests.e2e_support import (
    ENGINES,
    NS,
    calserver,
    module_server_with,
    report,
    responses,
    send,
    status_code,
    unique,
)

pytestmark = pytest.mark.live

ICS = {"Content-Type": "text/calendar; charset=utf-8"}
VIEWERS = {"bob": "busy", "carol": "read", "dave": "write"}
ROUTES = ("alias", "owner-url")

#: Who sees an item of this CLASS and component (DESIGN.md "Rules in detail"; a busy
#: view holds events only, and a confidential task or journal entry is nobody's busy
#: block).
SEEN_BY: dict[tuple[str, str], set[str]] = {
    ("PUBLIC", "VEVENT"): {"busy", "read", "write"},
    ("PUBLIC", "VTODO"): {"read", "write"},
    ("PUBLIC", "VJOURNAL"): {"read", "write"},
    ("CONFIDENTIAL", "VEVENT"): {"read", "write"},
    ("CONFIDENTIAL", "VTODO"): set(),
    ("CONFIDENTIAL", "VJOURNAL"): set(),
    ("PRIVATE", "VEVENT"): set(),
    ("PRIVATE", "VTODO"): set(),
    ("PRIVATE", "VJOURNAL"): set(),
}

#: Alice's steps: (href, CLASS, component), or (href, None, None) to delete.
STEPS: list[tuple[str, str | None, str | None]] = [
    ("public.ics", "PUBLIC", "VEVENT"),
    ("private.ics", "PRIVATE", "VEVENT"),
    ("confidential.ics", "CONFIDENTIAL", "VEVENT"),
    ("task.ics", "PUBLIC", "VTODO"),
    ("conf-task.ics", "CONFIDENTIAL", "VTODO"),
    ("journal.ics", "PUBLIC", "VJOURNAL"),
    ("priv-journal.ics", "PRIVATE", "VJOURNAL"),
    ("private.ics", "PRIVATE", "VEVENT"),  # a hidden change
    ("conf-task.ics", "CONFIDENTIAL", "VTODO"),  # a hidden change
    ("public.ics", "PRIVATE", "VEVENT"),  # visible to everyone -> hidden
    ("private.ics", "PUBLIC", "VEVENT"),  # hidden -> visible to everyone
    ("confidential.ics", "PUBLIC", "VEVENT"),  # readers' busy block -> everyone's
    ("task.ics", "CONFIDENTIAL", "VTODO"),  # readers' -> nobody's
    ("journal.ics", "PRIVATE", "VJOURNAL"),  # readers' -> nobody's
    ("priv-journal.ics", None, None),  # a hidden item deleted
    ("ghost.ics", "PRIVATE", "VEVENT"),  # created and deleted unseen
    ("ghost.ics", None, None),
    ("flash.ics", "PUBLIC", "VEVENT"),  # created, then hidden
    ("flash.ics", "PRIVATE", "VEVENT"),
    ("private.ics", None, None),  # a visible item deleted
    ("conf-task.ics", None, None),
]


def item_text(href: str, klass: str, component: str, version: int) -> str:
    uid = href.removesuffix(".ics")
    times = (
        "DTSTART:20260601T100000Z\r\nDTEND:20260601T110000Z\r\n"
        if component == "VEVENT"
        else "DTSTART:20260601T100000Z\r\n"
    )
    return (
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//calserver tests//sync//EN\r\n"
        f"BEGIN:{component}\r\nUID:{uid}\r\nDTSTAMP:20260101T000000Z\r\n{times}"
        f"SUMMARY:secret {uid} {version}\r\nCLASS:{klass}\r\nEND:{component}\r\n"
        "END:VCALENDAR\r\n"
    )


def sync_body(token: str) -> str:
    return (
        '<?xml version="1.0" encoding="utf-8"?><D:sync-collection xmlns:D="DAV:">'
        f"<D:sync-token>{token}</D:sync-token><D:sync-level>1</D:sync-level>"
        "<D:prop><D:getetag/></D:prop></D:sync-collection>"
    )


def sync(server: LiveServer, path: str, token: str, user: str) -> tuple[str, dict[str, int]]:
    """(new token, href name -> status) of a sync-collection from ``token``."""
    reply = report(server, path, sync_body(token), depth="0", user=user)
    assert reply.status == 207, (user, path, token, reply.status, reply.text)
    root = reply.xml()
    found = {href.rpartition("/")[2]: status_code(r) for href, r in responses(root).items()}
    return root.findtext("D:sync-token", namespaces=NS) or "", found


def refused(server: LiveServer, path: str, token: str, user: str) -> bool:
    """Whether a sync from ``token`` gets 403 with DAV:valid-sync-token (RFC 6578 3.2)."""
    reply = report(server, path, sync_body(token), depth="0", user=user)
    return reply.status == 403 and reply.xml().find("D:valid-sync-token", NS) is not None


@dataclass
class Shared:
    """Alice's calendar and the state of its items after each of Alice's steps."""

    name: str
    states: list[dict[str, tuple[str, str]]] = field(default_factory=list)
    touched: list[str] = field(default_factory=list)  # href of step i (1-based: [i-1])
    tokens: dict[tuple[str, str], list[str]] = field(default_factory=dict)
    #: (viewer, route) -> what each step's incremental sync named
    steps: dict[tuple[str, str], list[dict[str, int]]] = field(default_factory=dict)

    def path(self, viewer: str, route: str) -> str:
        if route == "alias":
            return f"/{viewer}/alice~{self.name}/"
        return f"/alice/{self.name}/"


@pytest.fixture(scope="module", params=ENGINES)
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    yield from module_server_with(request, tmp_path_factory, ["alice", *VIEWERS])


def new_shared_calendar(server: LiveServer) -> str:
    name = unique("sync")
    calserver(server, "calendar", "create", f"alice/{name}")
    for viewer, level in VIEWERS.items():
        calserver(server, "share", f"alice/{name}", "--with", viewer, "--level", level)
    return name


@pytest.fixture(scope="module")
def history(server: LiveServer) -> Shared:
    """Alice's STEPS on a new shared calendar; each viewer's sync token on each route
    before the first step and after each one, each got by an incremental sync from
    the one before (what those named is kept in ``steps``)."""
    shared = Shared(new_shared_calendar(server))
    state: dict[str, tuple[str, str]] = {}
    shared.states.append(dict(state))
    for viewer in VIEWERS:
        for route in ROUTES:
            token, listed = sync(server, shared.path(viewer, route), "", viewer)
            assert listed == {}
            shared.tokens[viewer, route] = [token]
            shared.steps[viewer, route] = []
    for number, (href, klass, component) in enumerate(STEPS, start=1):
        if klass is None or component is None:
            reply = send(server, "DELETE", f"/alice/{shared.name}/{href}")
            assert reply.status in (200, 204), reply.text
            del state[href]
        else:
            text = item_text(href, klass, component, number)
            reply = send(server, "PUT", f"/alice/{shared.name}/{href}", text, ICS)
            assert reply.status in (201, 204), reply.text
            state[href] = (klass, component)
        shared.states.append(dict(state))
        shared.touched.append(href)
        for viewer in VIEWERS:
            for route in ROUTES:
                tokens = shared.tokens[viewer, route]
                path = shared.path(viewer, route)
                token, listed = sync(server, path, tokens[-1], viewer)
                shared.steps[viewer, route].append(listed)
                tokens.append(token)
    return shared


def sees(level: str, item: tuple[str, str] | None) -> bool:
    return item is not None and level in SEEN_BY[item]


def expected(shared: Shared, level: str, since: int) -> dict[str, int]:
    """What a sync from the token of step ``since`` names for a view at ``level``: the
    hrefs changed since that the view held at some point since, 200 if it holds them
    now, 404 if not."""
    now = shared.states[-1]
    names: dict[str, int] = {}
    for href in set(shared.touched[since:]):
        held = [shared.states[step].get(href) for step in range(since, len(shared.states))]
        if any(sees(level, item) for item in held):
            names[href] = 200 if sees(level, now.get(href)) else 404
    return names


def test_full_sync_holds_exactly_what_each_level_sees(server: LiveServer, history: Shared) -> None:
    now = history.states[-1]
    assert set(now) == {"public.ics", "confidential.ics", "task.ics", "journal.ics", "flash.ics"}
    for viewer, level in VIEWERS.items():
        for route in ROUTES:
            _, listed = sync(server, history.path(viewer, route), "", viewer)
            assert listed == {href: 200 for href, item in now.items() if sees(level, item)}


def test_each_step_s_sync_names_only_what_the_viewer_saw_or_sees(
    server: LiveServer, history: Shared
) -> None:
    for (viewer, route), answers in history.steps.items():
        for number, listed in enumerate(answers, start=1):
            partial = Shared(history.name, history.states[: number + 1], history.touched[:number])
            assert listed == expected(partial, VIEWERS[viewer], number - 1), (
                viewer,
                route,
                STEPS[number - 1],
            )


@pytest.mark.parametrize("viewer", sorted(VIEWERS))
def test_sync_from_any_earlier_token_names_only_what_the_viewer_saw_or_sees(
    server: LiveServer, history: Shared, viewer: str
) -> None:
    level = VIEWERS[viewer]
    never_seen = {"ghost.ics", "priv-journal.ics", "conf-task.ics"}
    if level == "busy":
        never_seen |= {"task.ics", "journal.ics"}
    for route in ROUTES:
        path = history.path(viewer, route)
        for since, token in enumerate(history.tokens[viewer, route]):
            _, listed = sync(server, path, token, viewer)
            assert listed == expected(history, level, since), (route, since)
            assert not never_seen & set(listed), (route, since, listed)


def test_the_owner_still_hears_of_every_change(server: LiveServer, history: Shared) -> None:
    path = f"/alice/{history.name}/"
    token, _ = sync(server, path, "", "alice")
    send(server, "PUT", path + "later.ics", item_text("later.ics", "PRIVATE", "VTODO", 0), ICS)
    send(server, "DELETE", path + "flash.ics")
    _, listed = sync(server, path, token, "alice")
    assert listed == {"later.ics": 200, "flash.ics": 404}


# --- tokens the server did not issue to this view ---------------------------------------


def forged(token: str) -> list[str]:
    """Variations of a valid token: another revision (lower, higher, zero-padded), a
    changed MAC, garbage around it."""
    prefix, _, revision = token.rpartition("-")
    mac = prefix.rpartition("/")[2]
    flipped = prefix[: -len(mac)] + ("0" if mac[0] != "0" else "1") + mac[1:]
    return [
        f"{prefix}-{int(revision) - 1}",
        f"{prefix}-0",
        f"{prefix}-{int(revision) + 1}",
        f"{prefix}-0{revision}",
        f"{flipped}-{revision}",
        token + "0",
        token.upper(),
        token.replace("http://", "https://"),
        token + "/",
        " x" + token,
        token[:-1],
        "http://calserver.org/ns/sync/" + "f" * 32 + "-1",
        "http://calserver.org/ns/sync/" + "f" * 32 + "-" + "9" * 40,
        "urn:x:" + "é" * 300,
    ]


def test_forged_and_garbled_tokens_get_valid_sync_token(
    server: LiveServer, history: Shared
) -> None:
    for viewer in VIEWERS:
        for route in ROUTES:
            path = history.path(viewer, route)
            token = history.tokens[viewer, route][3]
            for bad in forged(token):
                assert refused(server, path, bad, viewer), (viewer, route, bad)


def test_a_token_of_another_view_gets_valid_sync_token(server: LiveServer, history: Shared) -> None:
    other = new_shared_calendar(server)
    owner_token, _ = sync(server, f"/alice/{history.name}/", "", "alice")
    for viewer in VIEWERS:
        for route in ROUTES:
            path = history.path(viewer, route)
            elsewhere = "alias" if route == "owner-url" else "owner-url"
            foreign = {
                "the owner's": owner_token,
                "the other route's": history.tokens[viewer, elsewhere][2],
                "another calendar's": sync(server, Shared(other).path(viewer, route), "", viewer)[
                    0
                ],
            }
            for someone in VIEWERS:
                if someone != viewer:
                    foreign[someone + "'s"] = history.tokens[someone, route][2]
            for what, token in foreign.items():
                assert refused(server, path, token, viewer), (viewer, route, what)


@pytest.mark.parametrize(("before", "after"), [("read", "write"), ("write", "read")])
def test_a_token_from_before_a_change_of_level_gets_valid_sync_token(
    server: LiveServer, before: str, after: str
) -> None:
    """Even between read and write, which show the same items: the grant changed."""
    name = unique("level")
    calserver(server, "calendar", "create", f"alice/{name}")
    calserver(server, "share", f"alice/{name}", "--with", "carol", "--level", before)
    send(server, "PUT", f"/alice/{name}/a.ics", item_text("a.ics", "PUBLIC", "VEVENT", 0), ICS)
    paths = [f"/carol/alice~{name}/", f"/alice/{name}/"]
    tokens = [sync(server, path, "", "carol")[0] for path in paths]
    calserver(server, "share", f"alice/{name}", "--with", "carol", "--level", after)
    for path, token in zip(paths, tokens, strict=True):
        assert refused(server, path, token, "carol"), path
        assert sync(server, path, "", "carol")[1] == {"a.ics": 200}


# --- a writer cannot find hidden items by writing -------------------------------------


def answer(reply: object) -> tuple[int, str, bytes]:
    status = getattr(reply, "status")  # noqa: B009 - Reply
    headers = getattr(reply, "headers")  # noqa: B009
    return status, headers.get("content-type", ""), getattr(reply, "body")  # noqa: B009


def test_a_writer_cannot_tell_a_hidden_item_from_a_free_name_or_a_uid_in_use(
    server: LiveServer,
) -> None:
    """Dave writes Alice's calendar, which holds a private event and a confidential
    task (both hidden from him). Whatever he sends to their hrefs is answered as for a
    free name (GET, DELETE, If-Match: 404/412) or exactly as a UID in use (409
    CALDAV:no-uid-conflict, which RFC 4791 5.3.2.1 makes him get for a hidden UID
    anyway); nothing he does changes them."""
    name = unique("probe")
    calserver(server, "calendar", "create", f"alice/{name}")
    calserver(server, "share", f"alice/{name}", "--with", "dave", "--level", "write")
    own = f"/alice/{name}/"
    hidden = {
        "secret.ics": item_text("secret.ics", "PRIVATE", "VEVENT", 0),
        "conf-task.ics": item_text("conf-task.ics", "CONFIDENTIAL", "VTODO", 0),
    }
    for href, text in hidden.items():
        assert send(server, "PUT", own + href, text, ICS).status == 201
    send(server, "PUT", own + "mine.ics", item_text("mine.ics", "PUBLIC", "VEVENT", 0), ICS)
    before = {href: send(server, "GET", own + href) for href in hidden}
    for path in (f"/dave/alice~{name}/", own):

        def put(href: str, uid: str, path: str = path, **headers: str) -> tuple[int, str, bytes]:
            text = item_text(uid + ".ics", "PUBLIC", "VEVENT", 1)
            reply = send(server, "PUT", path + href, text, {**ICS, **headers}, user="dave")
            return answer(reply)

        # the answer RFC 4791 requires for a UID in use: 409 no-uid-conflict
        uid_in_use = put(unique("free") + ".ics", "secret")
        assert uid_in_use[0] == 409 and b"no-uid-conflict" in uid_in_use[2]
        assert put(unique("free") + ".ics", "conf-task") == uid_in_use
        assert put(unique("free") + ".ics", "mine") == uid_in_use  # a visible one's
        for href in hidden:
            uid = href.removesuffix(".ics")
            assert put(href, unique("fresh")) == uid_in_use, href
            assert put(href, unique("fresh"), **{"If-None-Match": "*"}) == uid_in_use, href
            assert put(href, uid) == uid_in_use, href
            # answered as for a free name
            free = unique("free") + ".ics"
            for method in ("GET", "DELETE", "PROPFIND"):
                hidden_reply = send(server, method, path + href, user="dave")
                free_reply = send(server, method, path + free, user="dave")
                assert answer(hidden_reply) == answer(free_reply), (method, href)
            if_match = {"If-Match": '"abc"'}
            assert put(href, unique("fresh"), **if_match) == put(free, unique("f"), **if_match)
            # MOVE of his own item onto it: a UID conflict too (never an overwrite)
            moved = unique("moved")
            assert put(moved + ".ics", moved)[0] == 201
            for overwrite in ("T", "F"):
                move = send(
                    server,
                    "MOVE",
                    path + moved + ".ics",
                    headers={"Destination": server.url + path + href, "Overwrite": overwrite},
                    user="dave",
                )
                assert answer(move) == uid_in_use, (href, overwrite)
    for href, reply in before.items():
        after = send(server, "GET", own + href)
        assert (after.status, after.headers["etag"], after.body) == (
            200,
            reply.headers["etag"],
            reply.body,
        )


# --- every way items change is logged with who saw them ---------------------------------


def test_import_and_move_are_synced_by_what_the_viewer_saw(
    server: LiveServer, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """``calserver import`` into a calendar Bob sees at the busy level (new items and
    items replaced by UID), and MOVEs into and out of it: Bob's sync names the public
    ones only, and an item replaced by a private one as removed."""
    name = unique("moves")
    calserver(server, "calendar", "create", f"alice/{name}")
    calserver(server, "share", f"alice/{name}", "--with", "bob", "--level", "busy")
    calserver(server, "calendar", "create", f"alice/{name}-other")
    own, other, bobs = f"/alice/{name}/", f"/alice/{name}-other/", f"/bob/alice~{name}/"
    for href in ("stays.ics", "goes-private.ics", "leaves.ics"):
        reply = send(server, "PUT", own + href, item_text(href, "PUBLIC", "VEVENT", 0), ICS)
        assert reply.status == 201
    assert (
        send(
            server, "PUT", own + "secret.ics", item_text("secret.ics", "PRIVATE", "VEVENT", 0), ICS
        ).status
        == 201
    )
    for href, klass in (("visitor.ics", "PUBLIC"), ("shy.ics", "PRIVATE")):
        assert (
            send(server, "PUT", other + href, item_text(href, klass, "VEVENT", 0), ICS).status
            == 201
        )
    token, _ = sync(server, bobs, "", "bob")
    # an import: one new public event, one new private one, one public made private
    imported = tmp_path_factory.mktemp("import") / "import.ics"
    bodies = [
        item_text("fresh.ics", "PUBLIC", "VEVENT", 1),
        item_text("hidden-fresh.ics", "PRIVATE", "VEVENT", 1),
        item_text("goes-private.ics", "PRIVATE", "VEVENT", 1),
    ]
    events = "".join(
        body.split("PRODID:-//calserver tests//sync//EN\r\n", 1)[1].rsplit("END:VCALENDAR", 1)[0]
        for body in bodies
    )
    imported.write_text(
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//calserver tests//sync//EN\r\n"
        + events
        + "END:VCALENDAR\r\n",
        encoding="utf-8",
    )
    calserver(server, "import", str(imported), f"alice/{name}")
    token, listed = sync(server, bobs, token, "bob")
    assert listed == {"fresh.ics": 200, "goes-private.ics": 404}
    # MOVEs by Alice: in from her other calendar, out to it
    for source, target in (
        (other + "visitor.ics", own + "visitor.ics"),
        (other + "shy.ics", own + "shy.ics"),
        (own + "leaves.ics", other + "leaves.ics"),
        (own + "secret.ics", other + "secret.ics"),
    ):
        move = send(server, "MOVE", source, headers={"Destination": server.url + target})
        assert move.status in (201, 204), (source, move.status, move.text)
    _, listed = sync(server, bobs, token, "bob")
    assert listed == {"visitor.ics": 200, "leaves.ics": 404}


def test_a_token_older_than_the_kept_history_gets_valid_sync_token(server: LiveServer) -> None:
    """Once the change log before a viewer's token is pruned (``[storage]
    max_sync_token_age``), the token gets 403 DAV:valid-sync-token, never a listing.
    Last in this module: it prunes every calendar's history on the server."""
    from calserver.storage import Storage
    from tests.conftest import make_configuration

    name = unique("old")
    calserver(server, "calendar", "create", f"alice/{name}")
    calserver(server, "share", f"alice/{name}", "--with", "bob", "--level", "busy")
    own, bobs = f"/alice/{name}/", f"/bob/alice~{name}/"
    send(server, "PUT", own + "a.ics", item_text("a.ics", "PUBLIC", "VEVENT", 0), ICS)
    old, _ = sync(server, bobs, "", "bob")
    send(server, "PUT", own + "b.ics", item_text("b.ics", "PRIVATE", "VEVENT", 0), ICS)
    send(server, "PUT", own + "c.ics", item_text("c.ics", "PUBLIC", "VEVENT", 0), ICS)
    assert sync(server, bobs, old, "bob")[1] == {"c.ics": 200}
    configuration = make_configuration(
        server.database_url, server.data_folder, storage={"max_sync_token_age": "0"}
    )
    assert Storage(configuration).prune_changes() > 0
    assert refused(server, bobs, old, "bob")
    assert sync(server, bobs, "", "bob")[1] == {"a.ics": 200, "c.ics": 200}
