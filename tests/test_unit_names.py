"""Unit tests of the reserved names (calserver.urls): the names the server keeps for
itself (RFC 6638 2.1, 2.2 mailboxes, caldav-proxy groups, dot-prefixed side endpoints)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from calserver import urls as names

pytestmark = pytest.mark.unit


def test_reserved_set_is_the_mailboxes_and_the_proxy_groups() -> None:
    assert (
        frozenset({"inbox", "outbox", "calendar-proxy-read", "calendar-proxy-write"})
        == names.RESERVED
    )


@pytest.mark.parametrize("name", ["inbox", "outbox"])
def test_schedule_mailboxes_are_reserved_with_the_rfc_reason(name: str) -> None:
    """RFC 6638 2.1, 2.2: every home has a schedule inbox and outbox."""
    assert names.reserved(name) == (
        f"{name!r} is the schedule {name} of every home (RFC 6638 2.1, 2.2)"
    )


@pytest.mark.parametrize("name", ["calendar-proxy-read", "calendar-proxy-write"])
def test_proxy_groups_are_reserved(name: str) -> None:
    assert names.reserved(name) == f"{name!r} is a proxy group of every home (caldav-proxy)"


@pytest.mark.parametrize("name", [".web", ".well-known", ".staging", "."])
def test_dot_names_belong_to_the_server(name: str) -> None:
    assert names.reserved(name) == "names starting with a dot are the server's"


@pytest.mark.parametrize("name", ["bob", "calendar", "inboxes", "my.inbox", "outbox2", ""])
def test_ordinary_names_are_free(name: str) -> None:
    assert names.reserved(name) is None


@given(st.text(min_size=1).filter(lambda s: not s.startswith(".")))
def test_reserved_gives_a_reason_exactly_for_reserved_names(name: str) -> None:
    assert (names.reserved(name) is not None) == (name in names.RESERVED)


@pytest.mark.parametrize(
    "path",
    [
        "/bob/inbox/",
        "/bob/inbox",
        "bob/outbox",
        "//bob//inbox//",
        "/bob/calendar-proxy-read/",
        "/bob/.web/",
        "/bob/x/../inbox/",
    ],
)
def test_reserved_path_refuses_a_reserved_collection_in_a_home(path: str) -> None:
    assert names.reserved_path(path) is True


@pytest.mark.parametrize(
    "path",
    [
        "/",
        "",
        "/inbox/",  # a user named inbox is refused elsewhere; this is not a home child
        "/bob/",
        "/bob/work/",
        "/bob/work/inbox/",  # an item inside a calendar, not a collection in a home
        "/bob/inboxes/",
    ],
)
def test_reserved_path_allows_other_paths(path: str) -> None:
    assert names.reserved_path(path) is False
