"""Unit tests of the pure parts of calserver.sharing.levels: the Level order, how the
CLI and API spell a level, ctag view keys, and alias names (``OWNER~CAL``)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from calserver.sharing.levels import ALIAS_SEPARATOR, GRANT_LEVELS, Level, alias_name, alias_target

pytestmark = pytest.mark.unit


def test_levels_are_ordered_from_none_to_owner() -> None:
    assert list(Level) == [
        Level.NONE,
        Level.FREEBUSY,
        Level.BUSY,
        Level.READ,
        Level.WRITE,
        Level.OWNER,
    ]
    assert sorted(Level, reverse=True)[0] is Level.OWNER
    assert max(Level.BUSY, Level.READ, Level.FREEBUSY) is Level.READ
    assert [int(level) for level in Level] == [0, 1, 2, 3, 4, 5]


def test_grant_levels_are_busy_read_and_write_only() -> None:
    """A grant gives busy-only, read or read-write (DESIGN.md): never owner or free/busy."""
    assert GRANT_LEVELS == {"busy": Level.BUSY, "read": Level.READ, "write": Level.WRITE}


@pytest.mark.parametrize(
    ("spelling", "level"),
    [("busy", Level.BUSY), ("READ", Level.READ), (" Write\n", Level.WRITE)],
)
def test_parse_reads_a_grant_level_in_any_case_and_padding(spelling: str, level: Level) -> None:
    assert Level.parse(spelling) is level


@pytest.mark.parametrize("spelling", ["owner", "freebusy", "none", "", "readwrite", "3"])
def test_parse_refuses_anything_but_a_grant_level(spelling: str) -> None:
    with pytest.raises(ValueError, match="expected one of busy, read, write"):
        Level.parse(spelling)


def test_label_is_the_lowercase_name() -> None:
    assert [level.label for level in Level] == [
        "none",
        "freebusy",
        "busy",
        "read",
        "write",
        "owner",
    ]


def test_view_key_separates_busy_views_details_and_the_owner() -> None:
    """Clients resync when the representation changes: busy views (below READ), details
    (READ, WRITE) and the owner's own view each have their own key."""
    assert {level: level.view_key for level in Level} == {
        Level.NONE: "v1",
        Level.FREEBUSY: "v1",
        Level.BUSY: "v1",
        Level.READ: "v2",
        Level.WRITE: "v2",
        Level.OWNER: "",
    }


def test_alias_name_replaces_only_the_first_slash() -> None:
    assert alias_name("bob/work") == "bob~work"
    assert alias_name("@team/plans") == "@team~plans"
    assert alias_name("bob/a/b") == "bob~a/b"


@pytest.mark.parametrize(
    ("name", "target"),
    [
        ("bob~work", "bob/work"),
        ("@team~plans", "@team/plans"),
        ("bob~a~b", "bob/a~b"),
        ("bob", None),
        ("~work", None),
        ("bob~", None),
        ("~", None),
        ("", None),
    ],
)
def test_alias_target_needs_an_owner_and_a_calendar(name: str, target: str | None) -> None:
    assert alias_target(name) == target


_segment = st.text(
    st.characters(blacklist_characters="/~", blacklist_categories=["Cs"]), min_size=1
)


@given(_segment, st.text(st.characters(blacklist_characters="/"), min_size=1))
def test_alias_round_trips_for_owners_without_a_separator(owner: str, calendar: str) -> None:
    """User and group names cannot hold ``~``, so every alias names its calendar back."""
    path = owner + "/" + calendar
    assert ALIAS_SEPARATOR not in owner
    assert alias_target(alias_name(path)) == path
