"""``/.invite/TOKEN``: where someone without an account answers a meeting from the links
of an invitation e-mail (``calserver.scheduling.links``).

- ``GET /.invite/TOKEN[?answer=accepted|tentative|declined]``: the meeting (summary,
  time, place, organizer, the current answer) and a form, the answer pre-selected from
  ``answer``. GET changes nothing (RFC 9110 9.2.1: safe; mail scanners open links).
- ``POST /.invite/TOKEN`` (``application/x-www-form-urlencoded``: ``answer``, optional
  ``comment``): the answer, applied by :func:`answers.answer_by_link` as an iTIP REPLY
  (RFC 5546 3.2.3) from that attendee, and a page saying it was sent.

The token is the only credential: it is never logged, pages are not cached
(RFC 9111 5.2.2.5 ``no-store``) and send no referrer; the HTML has no script and every
text from the meeting is escaped. Errors answer a short page: 400 bad form, 403 a link
this server did not sign, 404 a meeting that is gone, 409 a link older than the
meeting's last update, 410 an expired link.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from html import escape
from typing import Any, cast
from urllib.parse import parse_qs, quote

import icalendar
from radicale import app as radicale_app

from calserver import keys
from calserver.dav import compat
from calserver.errors import CalserverError
from calserver.httpbody import read_body
from calserver.scheduling import answers, copies, imip, links
from calserver.storage import Storage
from calserver.urls import INVITE, base_prefix, under

logger = logging.getLogger("calserver")

StartResponse = Callable[..., Any]

PREFIX = INVITE
#: A form is a few hundred bytes; more is not one.
MAX_FORM_BYTES = 16 * 1024
#: Characters of the optional reason (RFC 5545 3.8.1.4 COMMENT).
MAX_COMMENT = 1000
LABELS = {
    "ACCEPTED": "Accepted",
    "TENTATIVE": "Tentative",
    "DECLINED": "Declined",
    "NEEDS-ACTION": "Not answered yet",
    "DELEGATED": "Delegated",
}
CHOICES = (("accepted", "Accept"), ("tentative", "Maybe"), ("declined", "Decline"))
HEADERS = [
    ("Content-Type", "text/html; charset=utf-8"),
    ("Cache-Control", "no-store"),
    (
        "Content-Security-Policy",
        "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'",
    ),
    ("X-Content-Type-Options", "nosniff"),
    ("X-Frame-Options", "DENY"),
    ("Referrer-Policy", "no-referrer"),
    ("X-Robots-Tag", "noindex, nofollow"),
]
_STYLE = """
:root{color-scheme:light dark;font-family:system-ui,-apple-system,"Segoe UI",sans-serif}
body{margin:0 auto;padding:1rem;max-width:36rem;line-height:1.4}
h1{font-size:1.4rem;margin:0 0 .75rem}
dl{display:grid;grid-template-columns:max-content 1fr;gap:.25rem 1rem;margin:0 0 1rem}
dt{color:#777}dd{margin:0}
fieldset{border:1px solid #8886;margin:0 0 .75rem;padding:.5rem .75rem}
label{margin-right:1rem}
textarea{width:100%;box-sizing:border-box;min-height:4rem}
.note{padding:.5rem .75rem;border-left:4px solid #c80}
.done{padding:.5rem .75rem;border-left:4px solid #2a2}
""".strip()


def owns(path: str) -> bool:
    return under(path, PREFIX)


def log_path(path: str) -> str:
    """``path`` as it may be logged: never a token."""
    return PREFIX + "/…" if path.startswith(PREFIX + "/") else path


class Failure(Exception):
    """An answer of this endpoint other than 200: its status and a short text."""

    def __init__(self, status: str, title: str, text: str) -> None:
        super().__init__(text)
        self.status = status
        self.title = title
        self.text = text


class Invitations:
    """The WSGI application of ``/.invite/``; ``application`` is the Radicale
    application whose storage and configuration it shares."""

    def __init__(self, application: radicale_app.Application) -> None:
        self._storage = cast(Storage, compat.storage(application))
        self._configuration = application.configuration

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        method = environ.get("REQUEST_METHOD", "GET").upper()
        try:
            if method not in ("GET", "HEAD", "POST"):
                raise Failure(
                    "405 Method Not Allowed", "Not allowed", "Open the link in a web browser."
                )
            status, page = self._answer(environ, method)
        except Failure as exc:
            status, page = exc.status, _page(exc.title, f"<p>{escape(exc.text)}</p>\n")
        body = page.encode("utf-8")
        headers = [*HEADERS, ("Content-Length", str(len(body)))]
        if status.startswith("405"):
            headers.append(("Allow", "GET, HEAD, POST"))
        start_response(status, headers)
        return [b""] if method == "HEAD" else [body]

    def _answer(self, environ: dict[str, Any], method: str) -> tuple[str, str]:
        path = environ.get("PATH_INFO", "")
        token = path[len(PREFIX) + 1 :]
        if not token or "/" in token:
            raise Failure("404 Not Found", "Not found", "There is no such page.")
        try:
            action = f"{base_prefix(environ)}{links.path(quote(token, safe='.'))}"
        except CalserverError as exc:
            raise Failure("400 Bad Request", "Bad request", str(exc)) from exc
        claim = self._claim(token)
        if method == "POST":
            return self._post(environ, claim)
        query = _form(environ.get("QUERY_STRING", ""))
        chosen = _choice(query.get("answer", ""), required=False)
        meeting = self._meeting(claim)
        return "200 OK", meeting_page(meeting, claim, action, chosen)

    def _claim(self, token: str) -> links.Claim:
        try:
            return links.read(keys.server_key(self._configuration), token, time.time())
        except links.Expired as exc:
            raise Failure(
                "410 Gone",
                "Link expired",
                "This answer link has expired: the meeting is over.",
            ) from exc
        except links.Invalid as exc:
            raise Failure(
                "403 Forbidden",
                "Link not valid",
                "This answer link is not valid. Copy the whole link from the invitation e-mail.",
            ) from exc

    def _meeting(self, claim: links.Claim) -> icalendar.Calendar:
        meeting = answers.meeting_for_link(self._storage, organizer=claim.organizer, uid=claim.uid)
        if meeting is None:
            raise Failure(
                "404 Not Found",
                "Meeting not found",
                "This meeting no longer exists: it was cancelled or deleted.",
            )
        if imip.partstat_of(meeting, claim.attendee) is None:
            raise Failure(
                "404 Not Found",
                "Not invited",
                "You are no longer invited to this meeting.",
            )
        return meeting

    def _post(self, environ: dict[str, Any], claim: links.Claim) -> tuple[str, str]:
        kind = environ.get("CONTENT_TYPE", "").partition(";")[0].strip().lower()
        if kind != "application/x-www-form-urlencoded":
            raise Failure(
                "415 Unsupported Media Type",
                "Bad request",
                "Send the answer with the form of this page.",
            )
        if int(environ.get("CONTENT_LENGTH") or 0) > MAX_FORM_BYTES:
            raise Failure("413 Content Too Large", "Bad request", "The form is too large.")
        try:
            form = _form(read_body(environ).decode("utf-8"))
        except UnicodeDecodeError as exc:
            raise Failure("400 Bad Request", "Bad request", "The form is not UTF-8.") from exc
        answer = _choice(form.get("answer", ""), required=True)
        comment = _comment(form.get("comment", ""))
        meeting = self._meeting(claim)
        try:
            outcome = answers.answer_by_link(
                self._storage,
                organizer=claim.organizer,
                uid=claim.uid,
                attendee=claim.attendee,
                sequence=claim.sequence,
                partstat=answer.upper(),
                comment=comment,
            )
        except copies.Refused as exc:
            raise _refusal(exc) from exc
        logger.info(
            "answer link: %s answered %s to %r of %s",
            claim.attendee,
            outcome.partstat,
            claim.uid,
            claim.organizer,
        )
        return "200 OK", sent_page(meeting, outcome, claim.organizer)


def _refusal(exc: copies.Refused) -> Failure:
    """Scheduling's refusal as this page's answer (always a 4xx)."""
    if exc.status == 409:
        return Failure(
            "409 Conflict",
            "Invitation updated",
            "This invitation was updated since this link was sent; use the newest one "
            "(the links in the latest e-mail).",
        )
    if exc.status == 404:
        return Failure(
            "404 Not Found",
            "Meeting not found",
            "This meeting no longer exists: it was cancelled or deleted.",
        )
    status = exc.status if 400 <= exc.status < 500 else 403
    reasons = {400: "Bad Request", 403: "Forbidden", 410: "Gone", 422: "Unprocessable Content"}
    return Failure(f"{status} {reasons.get(status, 'Refused')}", "Answer refused", exc.reason)


def _form(raw: str) -> dict[str, str]:
    try:
        parsed = parse_qs(raw, keep_blank_values=True, max_num_fields=20)
    except ValueError as exc:
        raise Failure("400 Bad Request", "Bad request", "Too many form fields.") from exc
    return {key: values[-1] for key, values in parsed.items()}


def _choice(value: str, *, required: bool) -> str:
    value = value.strip().lower()
    if not value and not required:
        return ""
    if value not in links.ANSWERS:
        raise Failure(
            "400 Bad Request",
            "Bad request",
            "The answer must be accepted, tentative or declined.",
        )
    return value


def _comment(value: str) -> str:
    text = value.replace("\r\n", "\n").strip()
    text = "".join(c for c in text if c in "\n\t" or c.isprintable())
    if len(text) > MAX_COMMENT:
        raise Failure(
            "400 Bad Request",
            "Bad request",
            f"The reason may be at most {MAX_COMMENT} characters long.",
        )
    return text


# --- pages (pure) -----------------------------------------------------------------------


def _page(title: str, content: str) -> str:
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{escape(title)}</title>\n<style>\n{_STYLE}\n</style>\n</head>\n<body>\n"
        f"<h1>{escape(title)}</h1>\n{content}</body>\n</html>\n"
    )


def _lines(text: str) -> str:
    return "<br>".join(escape(line) for line in text.splitlines())


def _details(meeting: imip.Description, answer: str | None) -> str:
    rows = [
        ("When", meeting.when),
        ("Repeats", meeting.repeats),
        ("Where", meeting.where),
        ("Organizer", meeting.organizer),
        ("Your answer", LABELS.get(answer or "", answer or "")),
    ]
    parts = ["<dl>\n"]
    for label, value in rows:
        if value:
            parts.append(f"<dt>{escape(label)}</dt><dd>{escape(value)}</dd>\n")
    parts.append("</dl>\n")
    if meeting.description:
        parts.append(f"<p>{_lines(meeting.description)}</p>\n")
    return "".join(parts)


def meeting_page(calendar: icalendar.Calendar, claim: links.Claim, action: str, chosen: str) -> str:
    """The page of a meeting and the answer form (``chosen`` pre-selected, else the
    current answer). No form for a cancelled meeting or a link older than the
    meeting's last update (RFC 5546 2.1.4-2.1.5: SEQUENCE)."""
    meeting = imip.describe(calendar)
    current = imip.partstat_of(calendar, claim.attendee)
    parts = [_details(meeting, current)]
    if meeting.status == "CANCELLED":
        parts.append('<p class="note">This meeting was cancelled.</p>\n')
        return _page(meeting.summary, "".join(parts))
    if imip.sequence_of(calendar) > claim.sequence:
        parts.append(
            '<p class="note">This invitation was updated since this link was sent; use the '
            "newest one (the links in the latest e-mail).</p>\n"
        )
        return _page(meeting.summary, "".join(parts))
    selected = chosen or (current or "").lower()
    parts.append(f'<form method="post" action="{escape(action)}">\n<fieldset>\n')
    parts.append("<legend>Will you attend?</legend>\n")
    for value, label in CHOICES:
        checked = " checked" if value == selected else ""
        parts.append(
            f'<label><input type="radio" name="answer" value="{value}" required{checked}> '
            f"{label}</label>\n"
        )
    parts.append(
        "</fieldset>\n"
        '<p><label for="comment">Reason (optional)</label><br>\n'
        f'<textarea id="comment" name="comment" maxlength="{MAX_COMMENT}"></textarea></p>\n'
        '<p><button type="submit">Send answer</button></p>\n</form>\n'
    )
    return _page(meeting.summary, "".join(parts))


def sent_page(calendar: icalendar.Calendar, outcome: answers.ReplyOutcome, organizer: str) -> str:
    """The page after an answer: what was sent, to whom."""
    meeting = imip.describe(calendar)
    to = meeting.organizer or organizer
    label = LABELS.get(outcome.partstat.upper(), outcome.partstat)
    done = (
        f'<p class="done">Your answer ({escape(label)}) was sent to {escape(to)}.</p>\n'
        "<p>You may change it later with the same link.</p>\n"
    )
    return _page(meeting.summary, done + _details(meeting, outcome.partstat.upper()))
