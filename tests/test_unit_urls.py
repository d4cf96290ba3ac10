"""Unit tests of calserver.urls: the reserved URL space in one place (the side endpoints,
the names kept in every home, the deployment prefix, the origin and base URL)."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from calserver import api, ops, urls
from calserver import config as calserver_config
from calserver.errors import InvalidInput
from calserver.feeds import web as feeds_web
from calserver.scheduling import links as scheduling_links
from calserver.scheduling import web as scheduling_web

pytestmark = pytest.mark.unit

SIDE_ENDPOINTS = ("/.api", "/.feeds", "/.secret", "/.public", "/.invite")


def test_the_side_endpoints_are_spelled_once() -> None:
    assert (urls.API, urls.FEEDS, urls.SECRET, urls.PUBLIC, urls.INVITE) == SIDE_ENDPOINTS
    assert urls.API_ROOT == "/.api/v1"
    assert (urls.WEB, urls.WELL_KNOWN) == ("/.web", "/.well-known")
    assert urls.FEED_PREFIXES == ("/.feeds", "/.secret", "/.public")
    assert {"/health", "/.health"} == urls.HEALTH_PATHS
    assert {"/metrics", "/.metrics"} == urls.METRICS_PATHS


def test_every_reserved_prefix_is_a_dot_name() -> None:
    """A user, group or calendar can never take a side endpoint's path."""
    for prefix in (*SIDE_ENDPOINTS, urls.WEB, urls.WELL_KNOWN):
        assert urls.reserved(prefix.lstrip("/")) is not None


@pytest.mark.parametrize("prefix", SIDE_ENDPOINTS)
def test_under_is_the_prefix_or_below_it(prefix: str) -> None:
    assert urls.under(prefix, prefix)
    assert urls.under(prefix + "/", prefix)
    assert urls.under(prefix + "/a/b", prefix)
    assert not urls.under(prefix + "x", prefix)
    assert not urls.under(prefix[:-1], prefix)
    assert not urls.under("/bob" + prefix, prefix)


@given(st.text())
def test_under_any_is_under_one_of_them(path: str) -> None:
    assert urls.under_any(path, SIDE_ENDPOINTS) == any(
        urls.under(path, prefix) for prefix in SIDE_ENDPOINTS
    )


def test_the_endpoints_own_exactly_their_prefixes() -> None:
    owners = {api.owns: ("/.api",), feeds_web.owns: urls.FEED_PREFIXES}
    owners[scheduling_web.owns] = ("/.invite",)
    for owns, prefixes in owners.items():
        for prefix in SIDE_ENDPOINTS:
            assert owns(prefix + "/x") == (prefix in prefixes), (owns, prefix)
            assert owns(prefix) == (prefix in prefixes), (owns, prefix)
            assert not owns(prefix + "x")
        assert not owns("/bob/calendar/")
    assert ops.HEALTH_PATHS == urls.HEALTH_PATHS


@pytest.mark.parametrize(
    ("path", "logged"),
    [
        ("/.secret/TOKEN/calendar.ics", "/.secret/…"),
        ("/.public/TOKEN/", "/.public/…"),
        ("/.invite/TOKEN", "/.invite/…"),
        ("/.feeds/bob/work/calendar.ics", "/.feeds/bob/work/calendar.ics"),
        ("/.secret", "/.secret"),
        ("/bob/work/", "/bob/work/"),
    ],
)
def test_log_path_never_shows_a_token(path: str, logged: str) -> None:
    assert urls.log_path(path) == logged


def test_the_endpoints_log_paths_without_tokens() -> None:
    assert feeds_web.log_path("/.public/TOKEN/embed") == "/.public/…"
    assert scheduling_web.log_path("/.invite/TOKEN") == "/.invite/…"


def test_token_paths() -> None:
    assert urls.secret_path("t") == "/.secret/t"
    assert urls.public_path("t") == "/.public/t"
    assert urls.invite_path("t") == "/.invite/t"
    assert scheduling_links.path("t") == "/.invite/t"


def test_the_reserved_names_are_the_mailboxes_and_proxy_groups() -> None:
    assert {"inbox", "outbox", "calendar-proxy-read", "calendar-proxy-write"} == urls.RESERVED


@pytest.mark.parametrize(
    ("environ", "prefix"),
    [
        ({}, ""),
        ({"SCRIPT_NAME": "/cal/"}, "/cal"),
        ({"SCRIPT_NAME": "/cal", "HTTP_X_SCRIPT_NAME": "/proxy/"}, "/proxy"),
        ({"HTTP_X_SCRIPT_NAME": ""}, ""),
    ],
)
def test_base_prefix(environ: dict[str, Any], prefix: str) -> None:
    assert urls.base_prefix(environ) == prefix


def test_base_prefix_refuses_a_relative_prefix() -> None:
    with pytest.raises(InvalidInput):
        urls.base_prefix({"HTTP_X_SCRIPT_NAME": "cal"})


def configuration(**server: str) -> Any:
    return calserver_config.load((), {"server": server})


def test_origin_is_the_public_url_when_set() -> None:
    public = configuration(public_url="https://cal.example.org/sub/")
    environ = {"HTTP_HOST": "internal:5232", "wsgi.url_scheme": "http"}
    assert urls.origin(environ, public) == "https://cal.example.org"
    assert urls.origin(environ, configuration()) == "http://internal:5232"
    assert urls.origin({"SERVER_NAME": "h", "SERVER_PORT": "1"}, configuration()) == "http://h:1"


def test_base_url() -> None:
    assert urls.base_url(configuration(public_url="https://cal.example.org/x/")) == (
        "https://cal.example.org/x"
    )
    assert urls.base_url(configuration(hosts="127.0.0.1:5232")) == "http://127.0.0.1:5232"
    assert urls.base_url(configuration(hosts="[::1]:5232")) == "http://[::1]:5232"
