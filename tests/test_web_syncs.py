"""The web app's page of syncs with other servers (``/.web/settings/syncs``): add one
to your own calendar, see it listed (never its password), ask for a run, read its log,
remove it; forms need the CSRF token; another person's sync is not yours to touch."""

from __future__ import annotations

import html

from calserver import calendars
from calserver.remotesync import service
from tests.conftest import WSGIClient
from tests.test_web_core import get, session_of
from tests.test_web_manage import engine_of, post, storage_of

PAGE = "/.web/settings/syncs"
SECRET = "there-password-4417"


def test_add_list_run_log_and_remove_a_sync_from_the_settings(client: WSGIClient) -> None:
    calendars.create(storage_of(client), "alice/work", "Work")
    engine = engine_of(client)
    session = session_of(client)
    answer = get(client, PAGE, session)
    assert answer.status == 200 and "No sync yet" in answer.text
    form = {
        "calendar": "work",
        "url": "https://cal.example.org/dav/ann/work/",
        "username": "ann",
        "password": SECRET,
        "direction": "push",
        "pull_content": "details",
        "push_content": "blocker",
        "policy": "local",
        "categories": "",
    }
    assert post(client, PAGE, session, {**form, "action": "add"}, csrf=False).status == 403
    refused = post(client, PAGE, session, {**form, "action": "add", "url": "ftp://x/"})
    assert refused.status == 400 and "not an http(s) URL" in html.unescape(refused.text)
    assert 'value="ann"' in refused.text and SECRET not in refused.text  # input kept
    added = post(client, PAGE, session, {**form, "action": "add"})
    assert added.status == 303, added.text
    [pair] = service.list_for(engine, "alice")
    assert (pair.direction, pair.push_content, pair.policy) == ("push", "blocker", "local")
    listing = get(client, PAGE + "?done=added", session)
    assert "cal.example.org" in listing.text and "pushes Busy blocks" in listing.text
    assert SECRET not in listing.text
    log = get(client, f"{PAGE}/log?sync={pair.id}", session)
    assert log.status == 200 and "It has not run yet" in log.text
    bob = session_of(client, "bob")
    assert get(client, f"{PAGE}/log?sync={pair.id}", bob).status == 404
    stolen = post(client, PAGE, bob, {"action": "remove", "sync": str(pair.id)})
    assert stolen.status == 404 and service.list_for(engine, "alice")
    assert post(client, PAGE, session, {"action": "run", "sync": str(pair.id)}).status == 303
    assert service.get(engine, pair.id).next_run == 0.0
    assert post(client, PAGE, session, {"action": "remove", "sync": str(pair.id)}).status == 303
    assert service.list_for(engine, "alice") == []
