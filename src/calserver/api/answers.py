"""What a handler gets and gives: the request, the answer, and the JSON responses of the
API (errors are ``{"error": "..."}``)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any

from calserver import errors
from calserver.errors import CalserverError

StartResponse = Callable[..., Any]


@dataclass
class Request:
    user: str
    prefix: str
    params: dict[str, str]
    body: Any = None
    #: Scheme and host for absolute URLs (feeds are pasted into other applications).
    origin: str = ""
    #: The query string's parameters (the first value of each).
    query: dict[str, str] = field(default_factory=dict)


@dataclass
class Answer:
    status: int
    payload: Any = None
    headers: list[tuple[str, str]] = field(default_factory=list)


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
    return respond(start_response, status, errors.json_body(message))


class Refusal(CalserverError):
    """An answer with a status of its own (404 route, 405, 415)."""

    def __init__(self, status: int, message: str, headers: list[tuple[str, str]] | None = None):
        super().__init__(message)
        self.status = status
        self.headers = headers or []
