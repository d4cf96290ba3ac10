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

``OPENAPI`` (OpenAPI 3.1) is the one source of truth: the dispatcher routes exactly the
operations it lists, each to the ``op_<operationId>`` method of :class:`Api`, checks
request bodies against the schemas it declares, and asks for a login unless the
operation says ``security: []``. It is served, anonymously, at
``/.api/v1/openapi.json``.
"""

from __future__ import annotations

import copy
import json
import logging
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any, cast

from radicale import app as radicale_app
from radicale import pathutils, xmlutils
from sqlalchemy import Engine

from calserver import calendars, httpauth, settings
from calserver.dav import compat
from calserver.errors import CalserverError, Forbidden, InvalidInput, NotFound
from calserver.feeds import access, links
from calserver.prefix import base_prefix, origin
from calserver.scheduling import engine as scheduling_engine
from calserver.scheduling import invitations
from calserver.sharing import manage
from calserver.sharing.levels import GRANT_LEVELS, alias_name
from calserver.storage import Storage

logger = logging.getLogger("calserver")

StartResponse = Callable[..., Any]

#: Every path under it belongs to the API (a JSON 404 for what it does not know).
RESERVED = "/.api"
ROOT = "/.api/v1"

_NAME = {"type": "string", "minLength": 1, "maxLength": 255}
_COLOR = {"type": "string", "pattern": "^#[0-9A-Fa-f]{6}([0-9A-Fa-f]{2})?$"}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _param(name: str, description: str) -> dict[str, Any]:
    return {
        "name": name,
        "in": "path",
        "required": True,
        "description": description,
        "schema": {"type": "string"},
    }


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _body(schema: str, required: bool = True) -> dict[str, Any]:
    return {"required": required, "content": {"application/json": {"schema": _ref(schema)}}}


def _errors(*codes: int) -> dict[str, Any]:
    return {str(code): {"$ref": f"#/components/responses/{code}"} for code in codes}


_NO_CONTENT = {"204": {"description": "Done."}}
_CALENDAR = [
    _param("owner", "the calendar's owner: a user name, or @GROUP for a group calendar"),
    _param("calendar", "the calendar's name"),
]
_GRANTEE = _param("grantee", "a user name, or @GROUP for every member of a group")
_GROUP = _param("group", "the group's name (GROUP or @GROUP)")
_MEMBER = _param("member", "a user name")

OPENAPI: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {
        "title": "calserver management API",
        "version": "1",
        "description": (
            "Sharing management for calserver: the grants of your calendars, the other "
            "calendars you added, your own settings of calendars shared with you, and the "
            "groups you administer. Sign in as for CalDAV (HTTP Basic). Request bodies are "
            'application/json; errors are {"error": "..."}. Levels: busy (times only, '
            'as "Busy"), read (details), write (add, change, delete events).'
        ),
    },
    "servers": [{"url": ROOT}],
    "security": [{"basic": []}],
    "paths": {
        "/openapi.json": {
            "get": {
                "operationId": "get_openapi",
                "summary": "This document (no login needed)",
                "security": [],
                "responses": {"200": _json({"type": "object"}, "The OpenAPI document.")},
            }
        },
        "/me": {
            "get": {
                "operationId": "get_me",
                "summary": "Who you are signed in as, and your groups",
                "responses": {"200": _json(_ref("Me"), "You."), **_errors(401)},
            }
        },
        "/calendars": {
            "get": {
                "operationId": "list_calendars",
                "summary": "Your calendars with their grants, and the calendars shared with you",
                "responses": {"200": _json(_ref("Calendars"), "Calendars."), **_errors(401)},
            }
        },
        "/calendars/{owner}/{calendar}/shares": {
            "parameters": _CALENDAR,
            "get": {
                "operationId": "list_shares",
                "summary": "The grants of a calendar (its owner, or an admin of its group)",
                "responses": {
                    "200": _json(_ref("Shares"), "The grants."),
                    **_errors(401, 403, 404),
                },
            },
        },
        "/calendars/{owner}/{calendar}/shares/{grantee}": {
            "parameters": [*_CALENDAR, _GRANTEE],
            "get": {
                "operationId": "get_share",
                "summary": "One grant",
                "responses": {
                    "200": _json(_ref("Grant"), "The grant."),
                    **_errors(401, 403, 404),
                },
            },
            "put": {
                "operationId": "put_share",
                "summary": "Grant the calendar to a user or a group, or change the level",
                "requestBody": _body("GrantInput"),
                "responses": {
                    "200": _json(_ref("Grant"), "The grant as it is now."),
                    **_errors(400, 401, 403, 404, 415),
                },
            },
            "delete": {
                "operationId": "delete_share",
                "summary": "Take a grant back",
                "responses": {**_NO_CONTENT, **_errors(401, 403, 404)},
            },
        },
        "/calendars/{owner}/{calendar}/settings": {
            "parameters": _CALENDAR,
            "patch": {
                "operationId": "patch_settings",
                "summary": "Your own name, colour and order of a calendar shared with you",
                "description": "Changes nothing for the owner or other viewers.",
                "requestBody": _body("Settings"),
                "responses": {
                    "200": _json(_ref("SettingsResult"), "The settings you sent."),
                    **_errors(400, 401, 404, 415),
                },
            },
        },
        "/calendars/{owner}/{calendar}/urls": {
            "parameters": _CALENDAR,
            "get": {
                "operationId": "get_urls",
                "summary": "Every URL of a calendar you see: CalDAV, calendar.ics, RSS feeds",
                "description": (
                    "The feeds behind your password (ics, rss_today, rss_week, rss_month, "
                    "rss_30days), the same behind your secret token (secret_...), and "
                    "public_html, public_embed, public_ics when the calendar is published."
                ),
                "responses": {
                    "200": _json(_ref("Urls"), "The URLs."),
                    **_errors(401, 404),
                },
            },
        },
        "/calendars/{owner}/{calendar}/publication": {
            "parameters": _CALENDAR,
            "get": {
                "operationId": "get_publication",
                "summary": "Whether the calendar is public, and its public URLs",
                "responses": {
                    "200": _json(_ref("Publication"), "The publication."),
                    **_errors(401, 403, 404),
                },
            },
            "put": {
                "operationId": "put_publication",
                "summary": "Publish the calendar (its owner, or an admin of its group)",
                "description": "reset: true gives new public URLs; the old ones end at once.",
                "requestBody": _body("PublicationInput"),
                "responses": {
                    "200": _json(_ref("Publication"), "The publication."),
                    **_errors(400, 401, 403, 404, 415),
                },
            },
            "delete": {
                "operationId": "delete_publication",
                "summary": "Unpublish: the public URLs end at once",
                "responses": {**_NO_CONTENT, **_errors(401, 403, 404)},
            },
        },
        "/me/settings": {
            "get": {
                "operationId": "get_my_settings",
                "summary": "Your time zone, default event duration and first day of the week",
                "responses": {"200": _json(_ref("UserSettings"), "Settings."), **_errors(401)},
            },
            "patch": {
                "operationId": "patch_my_settings",
                "summary": "Change your settings (feeds, public pages and imports use them)",
                "requestBody": _body("UserSettingsInput"),
                "responses": {
                    "200": _json(_ref("UserSettings"), "Settings as they are now."),
                    **_errors(400, 401, 415),
                },
            },
        },
        "/me/reset-feeds": {
            "post": {
                "operationId": "reset_feeds",
                "summary": "Reset my calendar feeds: every secret URL of yours is replaced",
                "responses": {**_NO_CONTENT, **_errors(401)},
            }
        },
        "/me/groups": {
            "get": {
                "operationId": "list_my_groups",
                "summary": "The groups you are in, and the invitations waiting for your answer",
                "description": (
                    "A group administrator's invitation is pending until you accept it: "
                    "until then it grants nothing, and the group's members cannot see "
                    "your free/busy time."
                ),
                "responses": {
                    "200": _json(_ref("Memberships"), "Your memberships."),
                    **_errors(401),
                },
            }
        },
        "/me/groups/{group}": {
            "parameters": [_GROUP],
            "delete": {
                "operationId": "leave_group",
                "summary": "Leave the group, or drop an invitation to it (always possible)",
                "description": (
                    "The last administrator may leave too; the group keeps its members "
                    "and calendars, and the server administrator names a new one."
                ),
                "responses": {**_NO_CONTENT, **_errors(401, 404)},
            },
        },
        "/me/groups/{group}/accept": {
            "parameters": [_GROUP],
            "post": {
                "operationId": "accept_group",
                "summary": "Accept an invitation to the group: from now on you are a member",
                "responses": {
                    "200": _json(_ref("Membership"), "Your membership."),
                    **_errors(401, 404),
                },
            },
        },
        "/me/groups/{group}/decline": {
            "parameters": [_GROUP],
            "post": {
                "operationId": "decline_group",
                "summary": "Decline an invitation to the group: it is gone",
                "responses": {**_NO_CONTENT, **_errors(401, 404, 409)},
            },
        },
        "/me/invitations": {
            "get": {
                "operationId": "list_invitations",
                "summary": "Meeting invitations waiting for your answer, soonest first",
                "responses": {
                    "200": _json(_ref("Invitations"), "Invitations."),
                    **_errors(401),
                },
            }
        },
        "/me/meetings": {
            "get": {
                "operationId": "list_meetings",
                "summary": "Meetings you organize that have not ended, with the answers",
                "responses": {"200": _json(_ref("Meetings"), "Meetings."), **_errors(401)},
            }
        },
        "/me/meetings/{uid}": {
            "parameters": [_param("uid", "The meeting's UID")],
            "patch": {
                "operationId": "patch_meeting",
                "summary": "Turn e-mail to attendees with an account on or off for a meeting "
                "you organize (people without an account are always e-mailed)",
                "requestBody": _body("MeetingInput"),
                "responses": {**_NO_CONTENT, **_errors(400, 401, 404, 415)},
            },
        },
        "/other-calendars": {
            "get": {
                "operationId": "list_other_calendars",
                "summary": "The other calendars you added to your home",
                "responses": {
                    "200": _json(_ref("OtherCalendars"), "Other calendars."),
                    **_errors(401),
                },
            }
        },
        "/other-calendars/{owner}/{calendar}": {
            "parameters": _CALENDAR,
            "put": {
                "operationId": "put_other_calendar",
                "summary": "Add someone's calendar to your home",
                "description": (
                    "A calendar of someone in one of your groups comes as a busy view at "
                    "least; a calendar granted to you at its grant's level. No body."
                ),
                "responses": {
                    "200": _json(_ref("SharedCalendar"), "The calendar as you see it."),
                    **_errors(400, 401, 404),
                },
            },
            "delete": {
                "operationId": "delete_other_calendar",
                "summary": "Remove a calendar you added",
                "responses": {**_NO_CONTENT, **_errors(401, 404)},
            },
        },
        "/groups": {
            "get": {
                "operationId": "list_groups",
                "summary": "The groups you belong to",
                "responses": {"200": _json(_ref("Groups"), "Your groups."), **_errors(401)},
            }
        },
        "/groups/{group}": {
            "parameters": [_GROUP],
            "get": {
                "operationId": "get_group",
                "summary": "A group of yours: members and calendars",
                "responses": {
                    "200": _json(_ref("Group"), "The group."),
                    **_errors(401, 403, 404),
                },
            },
        },
        "/groups/{group}/members/{member}": {
            "parameters": [_GROUP, _MEMBER],
            "put": {
                "operationId": "put_member",
                "summary": "Invite a user, or change a member's role (administrators only)",
                "description": (
                    "A new member is invited: they are listed under invited, and count "
                    "for nothing (no free/busy, no group calendars, no grants) until "
                    "they accept (POST /me/groups/{group}/accept)."
                ),
                "requestBody": _body("MemberInput", required=False),
                "responses": {
                    "200": _json(_ref("Group"), "The group as it is now."),
                    **_errors(400, 401, 403, 404, 415),
                },
            },
            "delete": {
                "operationId": "delete_member",
                "summary": "Remove a member or withdraw an invitation (administrators), "
                "or leave the group (yourself)",
                "responses": {**_NO_CONTENT, **_errors(401, 403, 404)},
            },
        },
        "/groups/{group}/calendars": {
            "parameters": [_GROUP],
            "post": {
                "operationId": "create_group_calendar",
                "summary": "Create a calendar of the group (administrators only)",
                "description": "Every member reads it; administrators write it.",
                "requestBody": _body("NewGroupCalendar"),
                "responses": {
                    "201": {
                        **_json(_ref("GroupCalendar"), "Created."),
                        "headers": {
                            "Location": {
                                "description": "The calendar's CalDAV URL",
                                "schema": {"type": "string"},
                            }
                        },
                    },
                    **_errors(400, 401, 403, 404, 409, 415),
                },
            },
        },
        "/groups/{group}/calendars/{calendar}": {
            "parameters": [_GROUP, _param("calendar", "the calendar's name")],
            "delete": {
                "operationId": "delete_group_calendar",
                "summary": "Delete a calendar of the group and its events (administrators only)",
                "responses": {**_NO_CONTENT, **_errors(401, 403, 404)},
            },
        },
    },
    "components": {
        "securitySchemes": {"basic": {"type": "http", "scheme": "basic"}},
        "responses": {
            str(code): _json(_ref("Error"), text)
            for code, text in (
                (400, "Bad JSON, a body of the wrong shape, or a value that is not allowed."),
                (401, "No or wrong credentials (WWW-Authenticate: Basic)."),
                (403, "Not yours to manage, or a cross-site request."),
                (404, "No such user, group, calendar or grant."),
                (409, "It exists already."),
                (415, "The body is not application/json (a POST needs it even without a body)."),
            )
        },
        "schemas": {
            "Error": {
                "type": "object",
                "required": ["error"],
                "properties": {"error": {"type": "string"}},
            },
            "Level": {"type": "string", "enum": list(GRANT_LEVELS)},
            "ViewLevel": {"type": "string", "enum": [*GRANT_LEVELS, "owner"]},
            "GrantInput": {
                "type": "object",
                "required": ["level"],
                "additionalProperties": False,
                "properties": {"level": _ref("Level")},
            },
            "Grant": {
                "type": "object",
                "required": ["calendar", "grantee", "level"],
                "properties": {
                    "calendar": {"type": "string", "description": "OWNER/CAL or @GROUP/CAL"},
                    "grantee": {"type": "string", "description": "USER or @GROUP"},
                    "level": _ref("Level"),
                },
            },
            "GranteeLevel": {
                "type": "object",
                "required": ["grantee", "level"],
                "properties": {"grantee": {"type": "string"}, "level": _ref("Level")},
            },
            "Shares": {
                "type": "object",
                "required": ["calendar", "shares"],
                "properties": {
                    "calendar": {"type": "string"},
                    "shares": {"type": "array", "items": _ref("GranteeLevel")},
                },
            },
            "Role": {
                "type": "object",
                "required": ["name", "admin"],
                "properties": {"name": {"type": "string"}, "admin": {"type": "boolean"}},
            },
            "Me": {
                "type": "object",
                "required": ["user", "href", "groups"],
                "properties": {
                    "user": {"type": "string"},
                    "href": {"type": "string", "description": "your CalDAV home"},
                    "groups": {"type": "array", "items": _ref("Role")},
                },
            },
            "OwnCalendar": {
                "type": "object",
                "required": ["calendar", "displayname", "color", "href", "shares"],
                "properties": {
                    "calendar": {"type": "string"},
                    "displayname": {"type": "string"},
                    "color": {"type": "string"},
                    "href": {"type": "string"},
                    "shares": {"type": "array", "items": _ref("GranteeLevel")},
                },
            },
            "SharedCalendar": {
                "type": "object",
                "required": ["calendar", "alias", "level", "added", "href"],
                "properties": {
                    "calendar": {"type": "string", "description": "OWNER/CAL or @GROUP/CAL"},
                    "alias": {"type": "string", "description": "its name in your home"},
                    "level": _ref("ViewLevel"),
                    "added": {"type": "boolean", "description": "you added it yourself"},
                    "href": {"type": "string", "description": "its CalDAV URL in your home"},
                },
            },
            "Calendars": {
                "type": "object",
                "required": ["own", "shared"],
                "properties": {
                    "own": {"type": "array", "items": _ref("OwnCalendar")},
                    "shared": {"type": "array", "items": _ref("SharedCalendar")},
                },
            },
            "OtherCalendars": {
                "type": "object",
                "required": ["other_calendars"],
                "properties": {
                    "other_calendars": {"type": "array", "items": _ref("SharedCalendar")}
                },
            },
            "Settings": {
                "type": "object",
                "minProperties": 1,
                "additionalProperties": False,
                "properties": {
                    "displayname": _NAME,
                    "color": _COLOR,
                    "order": {"type": "integer"},
                },
            },
            "SettingsResult": {
                "type": "object",
                "required": ["calendar", "settings"],
                "properties": {"calendar": {"type": "string"}, "settings": _ref("Settings")},
            },
            "Urls": {
                "type": "object",
                "required": ["caldav"],
                "additionalProperties": {"type": "string"},
                "properties": {"caldav": {"type": "string"}},
            },
            "PublicationInput": {
                "type": "object",
                "required": ["level"],
                "additionalProperties": False,
                "properties": {
                    "level": {"type": "string", "enum": ["busy", "details"]},
                    "reset": {"type": "boolean", "default": False},
                },
            },
            "Publication": {
                "type": "object",
                "required": ["calendar", "level"],
                "properties": {
                    "calendar": {"type": "string"},
                    "level": {"type": "string", "enum": ["off", "busy", "details"]},
                    "public_html": {"type": "string"},
                    "public_embed": {"type": "string"},
                    "public_ics": {"type": "string"},
                },
            },
            "UserSettingsInput": {
                "type": "object",
                "minProperties": 1,
                "additionalProperties": False,
                "properties": {
                    "timezone": {
                        "type": "string",
                        "maxLength": 64,
                        "description": "IANA name, e.g. Europe/Brussels; empty: the server's",
                    },
                    "default_duration": {
                        "type": "string",
                        "maxLength": 16,
                        "description": "e.g. 45m, 1h30m; empty: the server's",
                    },
                    "week_start": {"type": "string", "maxLength": 16},
                },
            },
            "UserSettings": {
                "type": "object",
                "required": ["timezone", "default_duration", "week_start"],
                "properties": {
                    "timezone": {"type": "string"},
                    "default_duration": {"type": "integer", "description": "minutes"},
                    "week_start": {"type": "string"},
                },
            },
            "MemberInput": {
                "type": "object",
                "additionalProperties": False,
                "properties": {"admin": {"type": "boolean", "default": False}},
            },
            "GroupCalendarRef": {
                "type": "object",
                "required": ["calendar", "href"],
                "properties": {
                    "calendar": {"type": "string"},
                    "href": {"type": "string", "description": "its CalDAV URL in your home"},
                },
            },
            "Group": {
                "type": "object",
                "required": ["name", "admin", "members", "calendars"],
                "properties": {
                    "name": {"type": "string"},
                    "admin": {"type": "boolean", "description": "you administer it"},
                    "members": {"type": "array", "items": _ref("Role")},
                    "invited": {
                        "type": "array",
                        "items": _ref("Role"),
                        "description": "invitations not accepted yet (to administrators)",
                    },
                    "calendars": {"type": "array", "items": _ref("GroupCalendarRef")},
                },
            },
            "Membership": {
                "type": "object",
                "required": ["group", "admin", "state", "invited_by"],
                "properties": {
                    "group": {"type": "string"},
                    "admin": {"type": "boolean", "description": "as an administrator"},
                    "state": {"type": "string", "enum": ["pending", "accepted"]},
                    "invited_by": {
                        "type": ["string", "null"],
                        "description": "the group administrator who invited you",
                    },
                },
            },
            "Memberships": {
                "type": "object",
                "required": ["groups"],
                "properties": {"groups": {"type": "array", "items": _ref("Membership")}},
            },
            "Groups": {
                "type": "object",
                "required": ["groups"],
                "properties": {"groups": {"type": "array", "items": _ref("Group")}},
            },
            "NewGroupCalendar": {
                "type": "object",
                "required": ["name"],
                "additionalProperties": False,
                "properties": {"name": _NAME, "displayname": _NAME, "color": _COLOR},
            },
            "GroupCalendar": {
                "type": "object",
                "required": ["calendar", "displayname", "color", "href"],
                "properties": {
                    "calendar": {"type": "string"},
                    "displayname": {"type": "string"},
                    "color": {"type": "string"},
                    "href": {"type": "string"},
                },
            },
            "Invitation": {
                "type": "object",
                "required": [
                    "uid",
                    "summary",
                    "start",
                    "end",
                    "organizer",
                    "calendar",
                    "href",
                    "partstat",
                ],
                "properties": {
                    "uid": {"type": "string"},
                    "summary": {"type": "string"},
                    "start": {"type": "string", "description": "ISO 8601, the event's zone"},
                    "end": {"type": "string"},
                    "organizer": {"type": "string", "description": "e.g. mailto:a@example.org"},
                    "calendar": {"type": "string", "description": "USER/CAL holding it"},
                    "href": {"type": "string", "description": "its CalDAV URL"},
                    "partstat": {"type": "string", "description": "NEEDS-ACTION"},
                },
            },
            "Invitations": {
                "type": "object",
                "required": ["invitations"],
                "properties": {"invitations": {"type": "array", "items": _ref("Invitation")}},
            },
            "MeetingAttendee": {
                "type": "object",
                "required": ["address", "name", "partstat", "schedule_status", "comment"],
                "properties": {
                    "address": {"type": "string"},
                    "name": {"type": "string"},
                    "partstat": {
                        "type": "string",
                        "description": "NEEDS-ACTION, ACCEPTED, DECLINED, TENTATIVE...",
                    },
                    "schedule_status": {
                        "type": "string",
                        "description": "RFC 6638 SCHEDULE-STATUS, e.g. 1.2 (delivered)",
                    },
                    "comment": {"type": "string", "description": "the reason given, if any"},
                },
            },
            "Meeting": {
                "type": "object",
                "required": ["uid", "summary", "start", "end", "calendar", "href", "attendees"],
                "properties": {
                    "uid": {"type": "string"},
                    "summary": {"type": "string"},
                    "start": {"type": "string"},
                    "end": {"type": "string"},
                    "calendar": {"type": "string"},
                    "href": {"type": "string"},
                    "attendees": {"type": "array", "items": _ref("MeetingAttendee")},
                    "email": {
                        "type": "boolean",
                        "description": "whether attendees with an account are e-mailed",
                    },
                },
            },
            "MeetingInput": {
                "type": "object",
                "required": ["email"],
                "additionalProperties": False,
                "properties": {"email": {"type": "boolean"}},
            },
            "Meetings": {
                "type": "object",
                "required": ["meetings"],
                "properties": {"meetings": {"type": "array", "items": _ref("Meeting")}},
            },
        },
    },
}

METHODS = ("get", "put", "post", "patch", "delete")
#: Methods that change nothing (RFC 9110 9.2.1): no CSRF guard.
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
#: Content-Types a page of another site may send without a CORS preflight (Fetch,
#: "CORS-safelisted request-header"): a form's and text.
SIMPLE_MEDIA_TYPES = frozenset(
    {"application/x-www-form-urlencoded", "multipart/form-data", "text/plain"}
)
#: Sec-Fetch-Site values of a request that a page of another origin caused.
FOREIGN_SITES = frozenset({"cross-site", "same-site"})

# every state-changing operation may be refused as cross-site (403) or for its media
# type (415): documented once here rather than on each operation
for _item in OPENAPI["paths"].values():
    for _method in ("put", "post", "patch", "delete"):
        if _method in _item:
            _item[_method]["responses"].update(_errors(403, 415))


# --- request bodies against the document's schemas ------------------------------------


def _resolve(schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        name = schema["$ref"].rpartition("/")[2]
        schema = OPENAPI["components"]["schemas"][name]
    return schema


def check_body(schema: dict[str, Any], value: Any, where: str = "the body") -> None:
    """Raise InvalidInput unless ``value`` fits ``schema`` (the subset of JSON Schema the
    document uses: type, properties, required, additionalProperties, minProperties,
    enum, pattern, minLength, maxLength)."""
    schema = _resolve(schema)
    kind = schema.get("type")
    checks: dict[str, Callable[[Any], bool]] = {
        "object": lambda v: isinstance(v, dict),
        "string": lambda v: isinstance(v, str),
        "boolean": lambda v: isinstance(v, bool),
        "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    }
    if kind is not None and not checks[kind](value):
        raise InvalidInput(f"{where} must be a JSON {kind}")
    if "enum" in schema and value not in schema["enum"]:
        allowed = ", ".join(schema["enum"])
        raise InvalidInput(f"{where} must be one of {allowed}, not {value!r}")
    if isinstance(value, str):
        shortest, longest = schema.get("minLength", 0), schema.get("maxLength", len(value))
        if not shortest <= len(value) <= longest:
            raise InvalidInput(f"{where} must be {shortest} to {longest} characters long")
        if "pattern" in schema and not re.search(schema["pattern"], value):
            raise InvalidInput(f"{where} is not valid: {value!r}")
    if isinstance(value, dict):
        properties = schema.get("properties", {})
        if schema.get("additionalProperties") is False:
            unknown = sorted(set(value) - set(properties))
            if unknown:
                raise InvalidInput(f"unknown field(s) in {where}: {', '.join(unknown)}")
        for name in schema.get("required", []):
            if name not in value:
                raise InvalidInput(f"{where} lacks the field {name!r}")
        if len(value) < schema.get("minProperties", 0):
            raise InvalidInput(f"{where} must name at least one of {', '.join(properties)}")
        for name, item in value.items():
            if name in properties:
                check_body(properties[name], item, f"{name!r}")


# --- requests and answers -------------------------------------------------------------


@dataclass
class Request:
    user: str
    prefix: str
    params: dict[str, str]
    body: Any = None
    #: Scheme and host for absolute URLs (feeds are pasted into other applications).
    origin: str = ""


@dataclass
class Answer:
    status: int
    payload: Any = None
    headers: list[tuple[str, str]] = field(default_factory=list)


@dataclass(frozen=True)
class Route:
    template: str
    method: str  # upper case
    operation_id: str
    anonymous: bool
    body: dict[str, Any] | None  # the requestBody object

    @property
    def segments(self) -> list[str]:
        return self.template.strip("/").split("/")


def routes() -> list[Route]:
    """Every operation of ``OPENAPI``: what the dispatcher knows."""
    found = []
    for template, item in OPENAPI["paths"].items():
        for method in METHODS:
            operation = item.get(method)
            if operation is None:
                continue
            found.append(
                Route(
                    template,
                    method.upper(),
                    operation["operationId"],
                    operation.get("security", OPENAPI["security"]) == [],
                    operation.get("requestBody"),
                )
            )
    return found


def refuse_cross_site(environ: dict[str, Any], method: str) -> None:
    """Refuse a state-changing request that a page of another site could have made a
    browser send with the user's cached credentials (CSRF; see the module docstring)."""
    if method in SAFE_METHODS:
        return
    site = str(environ.get("HTTP_SEC_FETCH_SITE", "")).strip().lower()
    if site in FOREIGN_SITES:
        raise _Refusal(403, f"a {site} request may not change anything here")
    media = str(environ.get("CONTENT_TYPE", "")).split(";")[0].strip().lower()
    if media in SIMPLE_MEDIA_TYPES:
        raise _Refusal(415, f"a change must be sent as application/json, not {media}")
    if method == "POST" and media != "application/json" and not media.endswith("+json"):
        raise _Refusal(415, "a POST must be application/json (even without a body)")


def owns(path: str) -> bool:
    return path == RESERVED or path.startswith(RESERVED + "/")


def respond(
    start_response: StartResponse,
    status: int | str,
    payload: Any = None,
    headers: Iterable[tuple[str, str]] = (),
    head: bool = False,
) -> list[bytes]:
    """A JSON answer (none for 204); ``status`` a code or a whole status line."""
    line = status if isinstance(status, str) else f"{status} {HTTPStatus(status).phrase}"
    body = b""
    all_headers = [("Cache-Control", "no-store"), ("X-Content-Type-Options", "nosniff")]
    if payload is not None:
        body = (json.dumps(payload, ensure_ascii=False) + "\n").encode("utf-8")
        all_headers.append(("Content-Type", "application/json; charset=utf-8"))
    all_headers.append(("Content-Length", str(len(body))))
    start_response(line, [*all_headers, *headers])
    return [] if head else [body]


def error(start_response: StartResponse, status: int | str, message: str) -> list[bytes]:
    return respond(start_response, status, {"error": message})


class _Refusal(CalserverError):
    """An answer with a status of its own (404 route, 405, 415)."""

    def __init__(self, status: int, message: str, headers: list[tuple[str, str]] | None = None):
        super().__init__(message)
        self.status = status
        self.headers = headers or []


# --- the application ------------------------------------------------------------------


class Api:
    """The WSGI application of ``/.api/``; ``application`` is the Radicale application
    whose auth plugin and storage it shares."""

    def __init__(self, application: radicale_app.Application) -> None:
        self._application = application
        self._storage = cast(Storage, compat.storage(application))
        self._engine: Engine = self._storage.engine
        self._config = application.configuration
        self._routes = routes()
        missing = [
            r.operation_id for r in self._routes if not hasattr(self, "op_" + r.operation_id)
        ]
        unrouted = {name[3:] for name in dir(self) if name.startswith("op_")} - {
            r.operation_id for r in self._routes
        }
        if missing or unrouted:  # the document and the handlers must agree
            raise RuntimeError(f"API handlers missing: {missing}, undocumented: {unrouted}")

    @property
    def routes(self) -> list[Route]:
        return list(self._routes)

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> list[bytes]:
        method = environ.get("REQUEST_METHOD", "GET").upper()
        head = method == "HEAD"
        try:
            route, params = self._match(environ.get("PATH_INFO", ""), "GET" if head else method)
            # before the login: a forged request gets no further, not even a 401
            refuse_cross_site(environ, method)
            prefix = base_prefix(environ)
            user = "" if route.anonymous else httpauth.authenticate(self._application, environ)
            request = Request(user, prefix, params, origin=origin(environ, self._config))
            request.body = self._read_body(environ, route)
            answer: Answer = getattr(self, "op_" + route.operation_id)(request)
        except httpauth.Unauthorized as exc:
            challenge = httpauth.challenge(self._application)
            return respond(start_response, 401, {"error": str(exc)}, [challenge], head)
        except _Refusal as exc:
            return respond(start_response, exc.status, {"error": str(exc)}, exc.headers, head)
        except CalserverError as exc:
            return respond(start_response, exc.status, {"error": str(exc)}, (), head)
        return respond(start_response, answer.status, answer.payload, answer.headers, head)

    # --- dispatch ---------------------------------------------------------------------

    def _match(self, path: str, method: str) -> tuple[Route, dict[str, str]]:
        if not path.startswith(ROOT + "/"):
            raise _Refusal(404, f"no such API route; see {ROOT}/openapi.json")
        segments = path[len(ROOT) + 1 :].split("/")
        methods: set[str] = set()
        for route in self._routes:
            params = _match_segments(route.segments, segments)
            if params is not None and route.method == method:
                return route, params
            if params is not None:
                methods.add(route.method)
        if not methods:
            raise _Refusal(404, f"no such API route; see {ROOT}/openapi.json")
        if "GET" in methods:
            methods.add("HEAD")
        names = ", ".join(sorted(methods))
        raise _Refusal(405, f"{method} is not allowed here (allowed: {names})", [("Allow", names)])

    @staticmethod
    def _read_body(environ: dict[str, Any], route: Route) -> Any:
        """The JSON body (None when there is none), checked against the route's schema.
        Front has refused a Content-Length above [server] max_content_length."""
        length = int(environ.get("CONTENT_LENGTH") or 0)
        raw = environ["wsgi.input"].read(length) if length else b""
        if route.body is None:
            return None
        if not raw.strip():
            if route.body.get("required"):
                raise InvalidInput("this request needs a JSON body")
            return None
        media = environ.get("CONTENT_TYPE", "").split(";")[0].strip().lower()
        if media != "application/json" and not media.endswith("+json"):
            raise _Refusal(415, "the body must be application/json")
        try:
            value = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as exc:
            raise InvalidInput(f"the body is not valid JSON: {exc}") from exc
        check_body(route.body["content"]["application/json"]["schema"], value)
        return value

    # --- helpers ----------------------------------------------------------------------

    @staticmethod
    def _href(request: Request, path: str) -> str:
        return xmlutils.make_href(request.prefix, pathutils.sanitize_path(path))

    def _shared(self, request: Request, entry: manage.SharedCalendar) -> dict[str, Any]:
        return {
            "calendar": entry.calendar,
            "alias": entry.alias,
            "level": entry.level,
            "added": entry.added,
            "href": self._href(request, f"/{request.user}/{entry.alias}/"),
        }

    def _group(self, request: Request, group: manage.Group) -> dict[str, Any]:
        admin = any(m.name == request.user and m.admin for m in group.members)
        return {
            "name": group.name,
            "admin": admin,
            "members": [{"name": m.name, "admin": m.admin} for m in group.members],
            "invited": [{"name": m.name, "admin": m.admin} for m in group.invited if admin],
            "calendars": [
                {
                    "calendar": path,
                    "href": self._href(request, f"/{request.user}/{alias_name(path)}/"),
                }
                for path in group.calendars
            ],
        }

    def _admin_group(self, request: Request) -> manage.Group:
        """The group of the request, which the signed-in user administers."""
        group = manage.get_group(self._engine, request.params["group"])
        if not any(m.name == request.user and m.admin for m in group.members):
            raise Forbidden(f"{request.user!r} is not an administrator of the group {group.name!r}")
        return group

    @staticmethod
    def _calendar(request: Request) -> str:
        return f"{request.params['owner']}/{request.params['calendar']}"

    # --- operations (one per operationId of OPENAPI) -----------------------------------

    def op_get_openapi(self, request: Request) -> Answer:
        document = copy.deepcopy(OPENAPI)
        document["servers"] = [{"url": request.prefix + ROOT}]
        return Answer(200, document)

    def op_get_me(self, request: Request) -> Answer:
        groups = manage.list_groups(self._engine, request.user)
        return Answer(
            200,
            {
                "user": request.user,
                "href": self._href(request, f"/{request.user}/"),
                "groups": [
                    {
                        "name": g.name,
                        "admin": any(m.name == request.user and m.admin for m in g.members),
                    }
                    for g in groups
                ],
            },
        )

    def op_list_calendars(self, request: Request) -> Answer:
        given, received = manage.shares(self._engine, request.user)
        own = []
        for info in calendars.list_calendars(self._storage, request.user):
            own.append(
                {
                    "calendar": info.path,
                    "displayname": info.name,
                    "color": info.color,
                    "href": self._href(request, f"/{info.path}/"),
                    "shares": [
                        {"grantee": g.grantee, "level": g.level}
                        for g in given
                        if g.calendar == info.path
                    ],
                }
            )
        shared = [self._shared(request, entry) for entry in received]
        return Answer(200, {"own": own, "shared": shared})

    def op_list_shares(self, request: Request) -> Answer:
        path = self._calendar(request)
        found = manage.grants_of(self._engine, path, actor=request.user)
        shares = [{"grantee": g.grantee, "level": g.level} for g in found]
        return Answer(200, {"calendar": path, "shares": shares})

    def op_get_share(self, request: Request) -> Answer:
        path, grantee = self._calendar(request), request.params["grantee"]
        for grant in manage.grants_of(self._engine, path, actor=request.user):
            if grant.grantee == grantee:
                return Answer(200, {"calendar": path, "grantee": grantee, "level": grant.level})
        raise NotFound(f"{path!r} is not shared with {grantee!r}")

    def op_put_share(self, request: Request) -> Answer:
        grant = manage.share(
            self._engine,
            self._calendar(request),
            request.params["grantee"],
            request.body["level"],
            actor=request.user,
        )
        return Answer(
            200, {"calendar": grant.calendar, "grantee": grant.grantee, "level": grant.level}
        )

    def op_delete_share(self, request: Request) -> Answer:
        manage.unshare(
            self._engine, self._calendar(request), request.params["grantee"], actor=request.user
        )
        return Answer(204)

    def op_patch_settings(self, request: Request) -> Answer:
        keys = {
            "displayname": "D:displayname",
            "color": "ICAL:calendar-color",
            "order": "ICAL:calendar-order",
        }
        props = {keys[name]: str(value) for name, value in request.body.items()}
        path = self._calendar(request)
        manage.set_own_properties(self._engine, request.user, path, props)
        return Answer(200, {"calendar": path, "settings": request.body})

    def _seen_as(self, request: Request) -> str:
        """The calendar of the route as the signed-in user sees it in their home."""
        path = self._calendar(request)
        return (
            path
            if path.partition("/")[0] == request.user
            else (f"{request.user}/{alias_name(path)}")
        )

    def op_get_urls(self, request: Request) -> Answer:
        base = request.origin + request.prefix
        return Answer(
            200, links.calendar_urls(self._storage, self._config, self._seen_as(request), base)
        )

    def _publication(self, request: Request, path: str) -> dict[str, Any]:
        found = access.publication(self._engine, self._config, path)
        if found is None:
            return {"calendar": path, "level": "off"}
        base = f"{request.origin}{request.prefix}/.public/{found.token}/"
        return {
            "calendar": path,
            "level": found.level,
            "public_html": base,
            "public_embed": base + "embed",
            "public_ics": base + "calendar.ics",
        }

    def op_get_publication(self, request: Request) -> Answer:
        path = self._calendar(request)
        access.check_may_publish(self._engine, path, request.user)
        return Answer(200, self._publication(request, path))

    def op_put_publication(self, request: Request) -> Answer:
        path = self._calendar(request)
        if request.body.get("reset"):
            access.reset_public(self._engine, self._config, path, actor=request.user)
        access.publish(self._engine, self._config, path, request.body["level"], actor=request.user)
        return Answer(200, self._publication(request, path))

    def op_delete_publication(self, request: Request) -> Answer:
        access.unpublish(self._engine, self._calendar(request), actor=request.user)
        return Answer(204)

    def op_get_my_settings(self, request: Request) -> Answer:
        return Answer(200, settings.get(self._engine, self._config, request.user).as_json())

    def op_patch_my_settings(self, request: Request) -> Answer:
        chosen = settings.update_settings(self._engine, self._config, request.user, **request.body)
        return Answer(200, chosen.as_json())

    def op_reset_feeds(self, request: Request) -> Answer:
        access.reset_feeds(self._engine, request.user)
        return Answer(204)

    @staticmethod
    def _membership(entry: manage.Membership) -> dict[str, Any]:
        return {
            "group": entry.group,
            "admin": entry.admin,
            "state": entry.state,
            "invited_by": entry.invited_by,
        }

    def op_list_my_groups(self, request: Request) -> Answer:
        found = manage.memberships(self._engine, request.user)
        return Answer(200, {"groups": [self._membership(entry) for entry in found]})

    def op_accept_group(self, request: Request) -> Answer:
        entry = manage.accept(self._engine, request.params["group"], request.user)
        return Answer(200, self._membership(entry))

    def op_decline_group(self, request: Request) -> Answer:
        manage.decline(self._engine, request.params["group"], request.user)
        return Answer(204)

    def op_leave_group(self, request: Request) -> Answer:
        manage.remove_member(
            self._engine, request.params["group"], request.user, actor=request.user
        )
        return Answer(204)

    def op_list_invitations(self, request: Request) -> Answer:
        found = [
            {**entry.as_json(), "href": self._href(request, entry.href)}
            for entry in invitations.pending(self._engine, request.user)
        ]
        return Answer(200, {"invitations": found})

    def op_patch_meeting(self, request: Request) -> Answer:
        scheduling_engine.set_email(
            self._storage, request.user, request.params["uid"], request.body["email"]
        )
        return Answer(204)

    def op_list_meetings(self, request: Request) -> Answer:
        found = [
            {**entry.as_json(), "href": self._href(request, entry.href)}
            for entry in invitations.meetings(self._engine, request.user)
        ]
        return Answer(200, {"meetings": found})

    def op_list_other_calendars(self, request: Request) -> Answer:
        found = manage.calendars_shared_with(self._engine, request.user)
        added = [self._shared(request, entry) for entry in found if entry.added]
        return Answer(200, {"other_calendars": added})

    def op_put_other_calendar(self, request: Request) -> Answer:
        entry = manage.add_other_calendar(self._engine, request.user, self._calendar(request))
        return Answer(200, self._shared(request, entry))

    def op_delete_other_calendar(self, request: Request) -> Answer:
        manage.remove_other_calendar(self._engine, request.user, self._calendar(request))
        return Answer(204)

    def op_list_groups(self, request: Request) -> Answer:
        groups = manage.list_groups(self._engine, request.user)
        return Answer(200, {"groups": [self._group(request, g) for g in groups]})

    def op_get_group(self, request: Request) -> Answer:
        group = manage.get_group(self._engine, request.params["group"])
        if not any(m.name == request.user for m in group.members):
            raise Forbidden(f"{request.user!r} is not a member of the group {group.name!r}")
        return Answer(200, self._group(request, group))

    def op_put_member(self, request: Request) -> Answer:
        admin = bool((request.body or {}).get("admin", False))
        group = manage.add_member(
            self._engine,
            request.params["group"],
            request.params["member"],
            admin=admin,
            actor=request.user,
        )
        return Answer(200, self._group(request, group))

    def op_delete_member(self, request: Request) -> Answer:
        manage.remove_member(
            self._engine, request.params["group"], request.params["member"], actor=request.user
        )
        return Answer(204)

    def op_create_group_calendar(self, request: Request) -> Answer:
        group = self._admin_group(request)
        body = request.body
        info = calendars.create(
            self._storage,
            f"@{group.name}/{body['name']}",
            body.get("displayname"),
            body.get("color"),
        )
        href = self._href(request, f"/{info.path}/")
        return Answer(
            201,
            {"calendar": info.path, "displayname": info.name, "color": info.color, "href": href},
            [("Location", href)],
        )

    def op_delete_group_calendar(self, request: Request) -> Answer:
        group = self._admin_group(request)
        calendars.delete_calendar(self._storage, f"@{group.name}/{request.params['calendar']}")
        return Answer(204)


def _match_segments(template: list[str], segments: list[str]) -> dict[str, str] | None:
    if len(template) != len(segments):
        return None
    params = {}
    for pattern, segment in zip(template, segments, strict=True):
        if pattern.startswith("{"):
            if not pathutils.is_safe_path_component(segment):
                return None
            params[pattern[1:-1]] = segment
        elif pattern != segment:
            return None
    return params
