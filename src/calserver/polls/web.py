"""``/.poll/TOKEN``: where a voter, with or without an account, answers a meeting poll
from the personal link of their e-mail (``calserver.polls.links``).

- ``GET /.poll/TOKEN``: the poll (title, place, duration, the dates with the totals so
  far) and the voter's answers in a form; changes nothing (RFC 9110 9.2.1: safe; mail
  scanners open links). A closed or decided poll is shown read-only.
- ``POST /.poll/TOKEN`` (``application/x-www-form-urlencoded``: ``token``, and
  ``o<ID>`` = ``yes`` / ``maybe`` / ``no`` per option): the answers, then 303 to the
  page (POST-redirect-GET). CSRF: there is no cookie to ride on, yet a page of another
  site could still post a form to a link it learnt; the form must carry the token
  itself, and a request the browser marks as another site's (``Sec-Fetch-Site``) or
  whose ``Origin`` is not this server's is refused (403), as in the web app.
- ``GET /.poll/poll.css``: the page's stylesheet (the CSP allows no inline style).

The token is the only credential: never logged, pages ``no-store`` and without a
referrer. Errors answer a short page: 400 bad form, 403 a link this server did not sign
(or a foreign form), 404 a deleted poll or a removed voter, 409 a closed or decided
poll (with the read-only page).
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Callable, Iterable
from html import escape
from typing import Any, cast
from urllib.parse import parse_qs, quote

from radicale import app as radicale_app

from calserver.dav import compat
from calserver.errors import CalserverError
from calserver.httpbody import read_body
from calserver.polls import service
from calserver.polls.model import ANSWERS, Poll, Voter
from calserver.storage import Storage
from calserver.urls import POLL, base_prefix, origin, under

logger = logging.getLogger("calserver")

StartResponse = Callable[..., Any]
MAX_FORM_BYTES = 64 * 1024
STYLESHEET = "poll.css"
LABELS = {"yes": "Yes", "maybe": "Maybe", "no": "No"}
STATUS_TEXT = {
    "closed": "This poll is closed: the answers can no longer be changed.",
    "decided": "The date is chosen; the poll is closed.",
}
HEADERS = [
    ("Cache-Control", "no-store"),
    (
        "Content-Security-Policy",
        "default-src 'none'; style-src 'self'; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'",
    ),
    ("X-Content-Type-Options", "nosniff"),
    ("X-Frame-Options", "DENY"),
    ("Referrer-Policy", "no-referrer"),
    ("X-Robots-Tag", "noindex, nofollow"),
]
FOREIGN_SITES = frozenset({"cross-site", "same-site"})
CSS = """
:root{color-scheme:light dark;font-family:system-ui,-apple-system,"Segoe UI",sans-serif}
body{margin:0 auto;padding:1rem;max-width:40rem;line-height:1.4}
h1{font-size:1.4rem;margin:0 0 .75rem}
dl{display:grid;grid-template-columns:max-content 1fr;gap:.25rem 1rem;margin:0 0 1rem}
dt{color:#777}dd{margin:0}
fieldset{border:1px solid #8886;border-radius:.4rem;margin:0 0 .75rem;padding:.5rem .75rem}
legend{font-weight:600;padding:0 .25rem}
.choices{display:flex;flex-wrap:wrap;gap:.5rem}
.choices label{flex:1 1 5rem;border:1px solid #8886;border-radius:.4rem;padding:.6rem;
text-align:center;min-height:2.75rem;box-sizing:border-box}
.totals{color:#777;font-size:.9rem;margin:.35rem 0 0}
button{font-size:1rem;padding:.7rem 1.4rem;border-radius:.4rem;width:100%}
.note{padding:.5rem .75rem;border-left:4px solid #c80}
.done{padding:.5rem .75rem;border-left:4px solid #2a2}
.chosen{padding:.5rem .75rem;border-left:4px solid #26c;font-weight:600}
""".strip()


def owns(path: str) -> bool:
    return under(path, POLL)


class Failure(Exception):
    def __init__(self, status: str, title: str, text: str, page: str = "") -> None:
        super().__init__(text)
        self.status = status
        self.title = title
        self.text = text
        self.page = page


class VotingPages:
    """The WSGI application of ``/.poll/``; ``application`` is the Radicale
    application whose storage and configuration it shares."""

    def __init__(self, application: radicale_app.Application) -> None:
        self._storage = cast(Storage, compat.storage(application))
        self._configuration = application.configuration

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        method = str(environ.get("REQUEST_METHOD", "GET")).upper()
        path = str(environ.get("PATH_INFO", ""))
        if path == f"{POLL}/{STYLESHEET}" and method in ("GET", "HEAD"):
            data = CSS.encode("utf-8")
            start_response(
                "200 OK",
                [
                    ("Content-Type", "text/css; charset=utf-8"),
                    ("Cache-Control", "public, max-age=86400"),
                    ("X-Content-Type-Options", "nosniff"),
                    ("Content-Length", str(len(data))),
                ],
            )
            return [b""] if method == "HEAD" else [data]
        extra: list[tuple[str, str]] = []
        try:
            if method not in ("GET", "HEAD", "POST"):
                extra.append(("Allow", "GET, HEAD, POST"))
                raise Failure(
                    "405 Method Not Allowed", "Not allowed", "Open the link in a browser."
                )
            status, page, extra = self._answer(environ, method, path)
        except Failure as exc:
            status = exc.status
            page = exc.page or _page(
                environ, exc.title, f'<p class="note">{escape(exc.text)}</p>\n'
            )
        body = page.encode("utf-8")
        headers = [("Content-Type", "text/html; charset=utf-8"), *HEADERS, *extra]
        headers.append(("Content-Length", str(len(body))))
        start_response(status, headers)
        return [b""] if method == "HEAD" else [body]

    def _answer(
        self, environ: dict[str, Any], method: str, path: str
    ) -> tuple[str, str, list[tuple[str, str]]]:
        token = path[len(POLL) + 1 :]
        if not token or "/" in token:
            raise Failure("404 Not Found", "Not found", "There is no such page.")
        poll, voter = self._find(token)
        action = f"{base_prefix(environ)}{POLL}/{quote(token, safe='.')}"
        if method == "POST":
            self._refuse_cross_site(environ)
            form = _form(environ)
            if not hmac.compare_digest(form.get("token", "").encode(), token.encode()):
                raise Failure(
                    "403 Forbidden",
                    "Form not valid",
                    "Send your answers with the form of this page.",
                )
            answers = _answers(form, poll)
            try:
                service.vote(self._storage, poll.id, voter.id, answers)
            except CalserverError as exc:
                if exc.status == 409:
                    poll, voter = self._find(token)
                    raise Failure(
                        "409 Conflict",
                        poll.title,
                        exc.reason,
                        voting_page(environ, poll, voter, action, token, conflict=True),
                    ) from exc
                raise Failure(
                    f"{exc.status} {'Not Found' if exc.status == 404 else 'Bad Request'}",
                    "Answers refused",
                    exc.reason,
                ) from exc
            logger.info("poll %s: a voter answered by link", poll.id)
            return "303 See Other", "", [("Location", action + "?saved=1")]
        query = parse_qs(str(environ.get("QUERY_STRING", "")))
        saved = query.get("saved", [""])[0] == "1"
        return "200 OK", voting_page(environ, poll, voter, action, token, saved=saved), []

    def _find(self, token: str) -> tuple[Poll, Voter]:
        try:
            return service.by_token(self._configuration, self._storage.engine, token)
        except CalserverError as exc:
            if exc.status == 403:
                raise Failure(
                    "403 Forbidden",
                    "Link not valid",
                    "This poll link is not valid. Copy the whole link from the e-mail.",
                ) from exc
            raise Failure("404 Not Found", "Poll not found", exc.reason) from exc

    def _refuse_cross_site(self, environ: dict[str, Any]) -> None:
        site = str(environ.get("HTTP_SEC_FETCH_SITE", "")).strip().lower()
        if site in FOREIGN_SITES:
            raise Failure("403 Forbidden", "Refused", f"A {site} form may not answer here.")
        sender = str(environ.get("HTTP_ORIGIN", "")).strip()
        if sender and sender != "null":
            scheme = "https" if str(environ.get("wsgi.url_scheme")) == "https" else "http"
            own = {
                origin(environ, self._configuration),
                f"{scheme}://{environ.get('HTTP_HOST', '')}",
            }
            if sender.rstrip("/") not in own:
                raise Failure(
                    "403 Forbidden", "Refused", "A form of another site may not answer here."
                )


def _form(environ: dict[str, Any]) -> dict[str, str]:
    kind = str(environ.get("CONTENT_TYPE", "")).partition(";")[0].strip().lower()
    if kind != "application/x-www-form-urlencoded":
        raise Failure("415 Unsupported Media Type", "Bad request", "Send the form of this page.")
    if int(environ.get("CONTENT_LENGTH") or 0) > MAX_FORM_BYTES:
        raise Failure("413 Content Too Large", "Bad request", "The form is too large.")
    try:
        parsed = parse_qs(
            read_body(environ).decode("utf-8"), keep_blank_values=True, max_num_fields=300
        )
    except UnicodeDecodeError as exc:
        raise Failure("400 Bad Request", "Bad request", "The form is not UTF-8.") from exc
    except ValueError as exc:
        raise Failure("400 Bad Request", "Bad request", "Too many form fields.") from exc
    return {key: values[-1] for key, values in parsed.items()}


def _answers(form: dict[str, str], poll: Poll) -> dict[int, str]:
    found: dict[int, str] = {}
    for option in poll.options:
        value = form.get(f"o{option.id}", "").strip().lower()
        if not value:
            continue
        if value not in ANSWERS:
            raise Failure("400 Bad Request", "Bad request", "Each answer is yes, maybe or no.")
        found[option.id] = value
    if not found:
        raise Failure("400 Bad Request", "Bad request", "Answer at least one date.")
    return found


# --- pages (pure) -----------------------------------------------------------------------


def _page(environ: dict[str, Any], title: str, content: str) -> str:
    css = f"{base_prefix(environ)}{POLL}/{STYLESHEET}"
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f'<title>{escape(title)}</title>\n<link rel="stylesheet" href="{escape(css)}">\n'
        f"</head>\n<body>\n<main>\n<h1>{escape(title)}</h1>\n{content}</main>\n</body>\n</html>\n"
    )


def _lines(text: str) -> str:
    return "<br>".join(escape(line) for line in text.splitlines())


def voting_page(
    environ: dict[str, Any],
    poll: Poll,
    voter: Voter,
    action: str,
    token: str,
    *,
    saved: bool = False,
    conflict: bool = False,
) -> str:
    """The poll and the voter's answers: a form while the poll is open, else read-only."""
    parts = ["<dl>\n"]
    rows = [
        ("Where", poll.location),
        ("Duration", f"{poll.duration} minutes"),
        ("Time zone", poll.timezone),
        ("You", voter.shown),
    ]
    for label, value in rows:
        if value:
            parts.append(f"<dt>{escape(label)}</dt><dd>{escape(value)}</dd>\n")
    parts.append("</dl>\n")
    if poll.description:
        parts.append(f"<p>{_lines(poll.description)}</p>\n")
    if saved:
        parts.append(
            '<p class="done" role="status">Your answers are saved. You may change them '
            "as long as the poll is open.</p>\n"
        )
    chosen = poll.option(poll.decided_option) if poll.decided_option is not None else None
    if chosen is not None:
        parts.append(
            '<p class="chosen">Chosen date: '
            f"{escape(chosen.label(poll.timezone, poll.duration))}</p>\n"
        )
    if not poll.is_open:
        parts.append(
            f'<p class="note" role="alert">{escape(STATUS_TEXT.get(poll.status, ""))}</p>\n'
        )
    totals = poll.totals()
    editable = poll.is_open and not conflict
    if editable:
        parts.append(f'<form method="post" action="{escape(action)}">\n')
        parts.append(f'<input type="hidden" name="token" value="{escape(token)}">\n')
    for option in poll.options:
        current = voter.votes.get(option.id, "")
        parts.append(
            f"<fieldset>\n<legend>{escape(option.label(poll.timezone, poll.duration))}</legend>\n"
        )
        if editable:
            parts.append('<div class="choices">\n')
            for value in ANSWERS:
                checked = " checked" if value == current else ""
                parts.append(
                    f'<label><input type="radio" name="o{option.id}" value="{value}"{checked}> '
                    f"{LABELS[value]}</label>\n"
                )
            parts.append("</div>\n")
        else:
            parts.append(f"<p>Your answer: {escape(LABELS.get(current, 'none'))}</p>\n")
        count = totals[option.id]
        parts.append(
            f'<p class="totals">{count["yes"]} yes · {count["maybe"]} maybe · '
            f"{count['no']} no</p>\n"
            "</fieldset>\n"
        )
    if editable:
        parts.append('<p><button type="submit">Save my answers</button></p>\n</form>\n')
    return _page(environ, poll.title, "".join(parts))
