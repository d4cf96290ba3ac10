"""The web app's door (issue 14): sign-in and out, sessions that a password change or a
disabled account ends, CSRF, the browser's way in at ``/``, static files and the
security headers. In process over the WSGI client, on SQLite and PostgreSQL."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlencode

from calserver.accounts import sessions, users
from calserver.web.render import static_files
from tests.conftest import PASSWORD, Response, WSGIClient

FORM = "application/x-www-form-urlencoded"


def cookies_of(response: Response) -> dict[str, str]:
    """name -> the whole Set-Cookie line (the WSGI client joins none: one per answer)."""
    line = response.headers.get("set-cookie", "")
    return {line.split("=", 1)[0]: line} if line else {}


def cookie_value(line: str) -> str:
    return line.split("=", 1)[1].split(";", 1)[0]


def login_form(client: WSGIClient) -> tuple[str, str]:
    """The sign-in form's CSRF token and its cookie."""
    page = client.request("GET", "/.web/login", user=None)
    assert page.status == 200
    token = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert token is not None
    line = cookies_of(page)["calserver_login"]
    return token.group(1), cookie_value(line)


def sign_in(client: WSGIClient, user: str = "alice", password: str = PASSWORD) -> Response:
    token, cookie = login_form(client)
    return client.request(
        "POST",
        "/.web/login",
        urlencode({"username": user, "password": password, "csrf": token, "next": ""}),
        {"Content-Type": FORM, "Cookie": f"calserver_login={cookie}"},
        user=None,
    )


def session_of(client: WSGIClient, user: str = "alice") -> str:
    answer = sign_in(client, user)
    assert answer.status == 303, answer.text
    return cookie_value(answer.headers["set-cookie"])


def get(client: WSGIClient, path: str, session: str = "", **headers: str) -> Response:
    if session:
        headers["Cookie"] = f"calserver_session={session}"
    return client.request("GET", path, headers=headers, user=None)


def csrf_of(client: WSGIClient, session: str) -> str:
    found = sessions.find(_engine(client), session)
    assert found is not None
    return found.csrf


def _engine(client: WSGIClient) -> Any:
    from calserver import db

    return db.engine_for(client.configuration)


def test_the_sign_in_form_names_its_fields_and_sets_strict_headers(client: WSGIClient) -> None:
    page = client.request("GET", "/.web/login", user=None)
    assert page.status == 200
    assert 'name="username"' in page.text and 'name="password"' in page.text
    assert '<label for="username">' in page.text and '<label for="password">' in page.text
    policy = page.headers["content-security-policy"]
    assert "default-src 'none'" in policy and "script-src 'self'" in policy
    assert "'unsafe-inline'" not in policy
    assert page.headers["cache-control"] == "no-store"
    assert page.headers["x-frame-options"] == "DENY"


def test_signing_in_sets_a_session_cookie_and_opens_the_week(client: WSGIClient) -> None:
    answer = sign_in(client)
    assert answer.status == 303
    assert answer.headers["location"] == "/.web/calendar"
    line = answer.headers["set-cookie"]
    assert line.startswith("calserver_session=")
    assert "HttpOnly" in line and "SameSite=Lax" in line and "Path=/.web/" in line
    assert "Secure" not in line  # plain http here
    session = cookie_value(line)
    assert get(client, "/.web/", session).headers["location"] == "/.web/calendar"


def test_the_cookie_is_secure_behind_https(client: WSGIClient) -> None:
    token, cookie = login_form(client)
    answer = client.request(
        "POST",
        "/.web/login",
        urlencode({"username": "alice", "password": PASSWORD, "csrf": token}),
        {
            "Content-Type": FORM,
            "Cookie": f"calserver_login={cookie}",
            "X-Forwarded-Proto": "https",
        },
        user=None,
    )
    assert answer.status == 303
    assert "Secure" in answer.headers["set-cookie"]


def test_a_wrong_password_shows_the_form_again_with_the_name_kept(client: WSGIClient) -> None:
    answer = sign_in(client, "alice", "wrong")
    assert answer.status == 403
    assert "Wrong user name or password." in answer.text
    assert 'value="alice"' in answer.text
    assert "calserver_session" not in answer.headers.get("set-cookie", "")
    unknown = sign_in(client, "nobody", "wrong")
    assert unknown.status == 403 and "Wrong user name or password." in unknown.text


def test_empty_fields_are_named(client: WSGIClient) -> None:
    answer = sign_in(client, "", "")
    assert answer.status == 400
    assert "Enter your user name." in answer.text and "Enter your password." in answer.text
    assert 'aria-invalid="true"' in answer.text


def test_a_sign_in_without_the_forms_token_is_refused(client: WSGIClient) -> None:
    answer = client.request(
        "POST",
        "/.web/login",
        urlencode({"username": "alice", "password": PASSWORD, "csrf": "forged"}),
        {"Content-Type": FORM, "Cookie": "calserver_login=other"},
        user=None,
    )
    assert answer.status == 403
    assert "calserver_session" not in answer.headers.get("set-cookie", "")


def test_a_page_without_a_session_sends_to_the_sign_in_and_back(client: WSGIClient) -> None:
    answer = get(client, "/.web/?x=1")
    assert answer.status == 303
    assert answer.headers["location"] == "/.web/login?next=%2F%3Fx%3D1"
    token, cookie = login_form(client)
    signed = client.request(
        "POST",
        "/.web/login",
        urlencode({"username": "alice", "password": PASSWORD, "csrf": token, "next": "/?x=1"}),
        {"Content-Type": FORM, "Cookie": f"calserver_login={cookie}"},
        user=None,
    )
    assert signed.headers["location"] == "/.web/?x=1"


def test_next_never_leads_to_another_site(client: WSGIClient) -> None:
    for target in ("//evil.example/", "https://evil.example/", "/\\evil.example"):
        token, cookie = login_form(client)
        signed = client.request(
            "POST",
            "/.web/login",
            urlencode({"username": "alice", "password": PASSWORD, "csrf": token, "next": target}),
            {"Content-Type": FORM, "Cookie": f"calserver_login={cookie}"},
            user=None,
        )
        assert signed.headers["location"] == "/.web/calendar", target


def test_sign_out_needs_the_csrf_token_and_ends_the_session(client: WSGIClient) -> None:
    session = session_of(client)
    headers = {"Content-Type": FORM, "Cookie": f"calserver_session={session}"}
    forged = client.request("POST", "/.web/logout", "csrf=nope", headers, user=None)
    assert forged.status == 403
    assert get(client, "/.web/", session).headers["location"] == "/.web/calendar"
    token = csrf_of(client, session)
    out = client.request("POST", "/.web/logout", f"csrf={token}", headers, user=None)
    assert out.status == 303 and out.headers["location"] == "/.web/login"
    assert "Max-Age=0" in out.headers["set-cookie"]
    assert get(client, "/.web/", session).headers["location"].startswith("/.web/login")


def test_a_password_change_or_a_disabled_account_ends_every_session(client: WSGIClient) -> None:
    engine = _engine(client)
    first, second = session_of(client), session_of(client)
    users.set_password(engine, "alice", "new secret")
    for session in (first, second):
        assert get(client, "/.web/", session).headers["location"].startswith("/.web/login")
    bob = session_of(client, "bob")
    users.set_disabled(engine, "bob", True)
    assert get(client, "/.web/", bob).headers["location"].startswith("/.web/login")
    assert sign_in(client, "bob").status == 403


def test_a_cross_site_post_is_refused(client: WSGIClient) -> None:
    session = session_of(client)
    token = csrf_of(client, session)
    base = {"Content-Type": FORM, "Cookie": f"calserver_session={session}"}
    for extra in ({"Sec-Fetch-Site": "cross-site"}, {"Origin": "https://evil.example"}):
        answer = client.request(
            "POST", "/.web/logout", f"csrf={token}", {**base, **extra}, user=None
        )
        assert answer.status == 403, extra
    assert get(client, "/.web/", session).status == 303  # still signed in
    same = client.request(
        "POST",
        "/.web/logout",
        f"csrf={token}",
        {**base, "Origin": "http://127.0.0.1:5232"},
        user=None,
    )
    assert same.status == 303


def test_a_form_that_is_not_a_form_is_refused(client: WSGIClient) -> None:
    session = session_of(client)
    answer = client.request(
        "POST",
        "/.web/logout",
        '{"csrf": "x"}',
        {"Content-Type": "application/json", "Cookie": f"calserver_session={session}"},
        user=None,
    )
    assert answer.status == 415


def test_unknown_pages_and_methods(client: WSGIClient) -> None:
    assert get(client, "/.web/nowhere").status == 404
    answer = client.request("DELETE", "/.web/login", user=None)
    assert answer.status == 405 and "POST" in answer.headers["allow"]
    assert get(client, "/.web").headers["location"] == "/.web/"


def test_a_browser_at_the_root_goes_to_the_web_app_and_clients_do_not(
    client: WSGIClient,
) -> None:
    browser = get(client, "/", Accept="text/html,application/xhtml+xml,*/*;q=0.8")
    assert browser.status == 303 and browser.headers["location"] == "/.web/"
    proxied = get(client, "/", Accept="text/html", **{"X-Script-Name": "/cal"})
    assert proxied.headers["location"] == "/cal/.web/"
    plain = client.request("GET", "/", headers={"Accept": "*/*"})
    assert plain.status != 303
    dav = client.request("PROPFIND", "/", headers={"Depth": "0", "Accept": "text/html"})
    assert dav.status == 207


def test_static_files_are_cached_for_a_year_under_their_hash(client: WSGIClient) -> None:
    digest = static_files()["app.css"][1]
    answer = get(client, f"/.web/static/app.css?v={digest}")
    assert answer.status == 200
    assert answer.headers["content-type"].startswith("text/css")
    assert "immutable" in answer.headers["cache-control"]
    assert get(client, "/.web/static/app.css", **{"If-None-Match": f'"{digest}"'}).status == 304
    assert get(client, "/.web/static/missing.css").status == 404
    assert get(client, "/.web/static/../app.py").status == 404
    page = client.request("GET", "/.web/login", user=None)
    assert f"/.web/static/app.css?v={digest}" in page.text
