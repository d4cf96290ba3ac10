"""The management HTTP JSON API (issue 3) under the reserved path ``/.api/v1/``.

A signed-in user manages the grants of their own calendars, the "other calendars" they
added to their home, and their own name, colour and order of a calendar shared with
them; a group's administrators manage its members, its calendars and their grants.
Creating and deleting groups is the administrator's (``calserver group``).

- Authentication is CalDAV's: HTTP Basic (RFC 7617) checked by the Radicale
  application's own auth plugin instance (``calserver.auth``: throttling, login cache,
  the fail2ban log line); 401 with ``WWW-Authenticate: Basic realm=...`` otherwise.
- JSON (RFC 8259) in and out. A request body must be ``application/json`` (415
  otherwise: a cross-site form cannot send one without a CORS preflight, which this
  API never grants).
- No cross-site request changes anything (CSRF, :func:`refuse_cross_site`): a browser
  that cached Alice's Basic credentials sends them with any request, also one a
  foreign page triggers. What a foreign page can send without a CORS preflight is a
  GET/HEAD/POST whose Content-Type is a form's or text (Fetch, "CORS-safelisted
  request-header"), or none at all. So every state-changing request with such a
  Content-Type, and every POST that is not ``application/json`` (even without a body),
  gets 415; and one that the browser itself marks as coming from another site
  (``Sec-Fetch-Site: cross-site`` or ``same-site``, Fetch Metadata) gets 403. PUT,
  PATCH and DELETE with no body need no Content-Type: a browser sends them cross-site
  only after a preflight, which fails. The other side routes need no such guard:
  ``/.feeds``, ``/.secret`` and ``/.public`` answer GET and HEAD only (405), and
  ``/.invite/TOKEN`` takes a form POST by design, but its one credential is the
  token in its own URL, never a login the browser keeps, so a foreign page that
  does not know the token cannot answer for anyone. CalDAV's writing methods are
  not ones a form sends, and POST to a schedule outbox only asks for free/busy.
- Errors are ``{"error": "..."}`` with the status of the ``calserver.errors``
  exception (RFC 9110 15.5): 400 bad JSON or body shape, 403 cross-site, 404 unknown
  route, 405 wrong method (with ``Allow``), 415 wrong media type.
- URLs it returns carry the prefix of ``X-Script-Name`` / ``SCRIPT_NAME``.

The package: ``openapi.json`` (the OpenAPI 3.1 document, the one source of truth, loaded by
:mod:`~calserver.api.document`), :mod:`~calserver.api.schema` (request bodies against its
schemas), :mod:`~calserver.api.router` (routes, CSRF guard, login, dispatch),
:mod:`~calserver.api.answers` (request, answer, JSON responses) and the handlers by
resource in :mod:`calserver.api.handlers`.
"""

from __future__ import annotations

from calserver.api.answers import Answer, Refusal, Request, StartResponse, error, respond
from calserver.api.document import METHODS, OPENAPI, RESERVED, ROOT, owns
from calserver.api.handlers.availability import Availability
from calserver.api.handlers.calendars import Calendars
from calserver.api.handlers.groups import Groups
from calserver.api.handlers.me import Me
from calserver.api.handlers.meetings import Meetings
from calserver.api.handlers.people import People
from calserver.api.handlers.polls import Polls
from calserver.api.handlers.reminders import Reminders
from calserver.api.handlers.search import Search
from calserver.api.handlers.shares import Shares
from calserver.api.handlers.subscriptions import Subscriptions
from calserver.api.handlers.syncs import Syncs
from calserver.api.router import Route, refuse_cross_site, routes
from calserver.api.router import Router as _Router
from calserver.api.schema import check_body

__all__ = [
    "METHODS",
    "OPENAPI",
    "RESERVED",
    "ROOT",
    "Answer",
    "Api",
    "Refusal",
    "Request",
    "Route",
    "StartResponse",
    "check_body",
    "error",
    "owns",
    "refuse_cross_site",
    "respond",
    "routes",
]


class Api(
    _Router,
    Me,
    Calendars,
    Shares,
    Groups,
    Meetings,
    People,
    Availability,
    Polls,
    Reminders,
    Subscriptions,
    Syncs,
    Search,
):
    """The WSGI application of ``/.api/``: the router with every operation's handler;
    ``application`` is the Radicale application whose auth plugin and storage it shares."""
