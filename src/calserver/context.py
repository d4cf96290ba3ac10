"""The one request context (STYLE.md 7b): what the current request carries, in one
object held in one ContextVar.

The WSGI front (``calserver.front.Front``) starts a fresh :class:`RequestContext` for
each request; the layers below read it (the storage its transaction and the expand
window, the rights plugin the method, scheduling the answer links' base) and write
their outcome into it (scheduling's refusal, a rewritten PUT, the properties that did
not fit), which the handler turns into the answer. Outside a request (CLI, tests) it is
the empty context.

The context is immutable: each :class:`Field` of it is set and reset as a ContextVar
would be (a set is seen by the code that runs after it in the same context, a reset
gives back the value before), without one ContextVar per field.
"""

from __future__ import annotations

import dataclasses
from contextvars import ContextVar, Token
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class RequestContext:
    #: The HTTP method of the request (the rights plugin lets a viewer PROPPATCH their
    #: own alias of a calendar they may only read: the properties are theirs).
    method: str = ""
    #: The storage's transaction scope (``calserver.storage.context.RequestScope``):
    #: one database transaction per ``acquire_lock``; None outside it.
    scope: Any = None
    #: The time-range of a calendar-query with ``expand`` (Radicale drops it from the
    #: filters it hands to the storage).
    expand_window: tuple[int, int] | None = None
    #: The body of the current single-resource PUT, so the storage can keep the
    #: client's text instead of vobject's re-serialisation (which drops X- property
    #: values after a comma) wherever Radicale's sanitising changed nothing.
    put_body: str | None = None
    #: The storage of the PUT being handled (its items are prepared before the lock).
    put_storage: Any = None
    #: Answers memoised for the request (rights and views: PROPFIND Depth 1 asks the
    #: rights plugin once per item); None outside a request: nothing is memoised.
    memo: dict[object, object] | None = None
    #: Where answer links of meetings point (``origin + prefix``).
    link_base: str = ""
    #: Scheduling's refusal of the request's write (``scheduling.copies.Refused``),
    #: for the handler to answer with.
    refusal: Any = None
    #: Whether scheduling stored something else than the PUT's body (RFC 4791 5.3.4:
    #: then the answer carries no ETag, and the client fetches what was stored).
    rewritten: bool = False
    #: False when the request said ``Schedule-Reply: F`` (RFC 6638 8.1): an attendee's
    #: change or deletion then sends no answer to the organizer.
    send_reply: bool = True
    #: The properties that did not fit in the last refused write of the request, and
    #: why (RFC 4918 9.2.1, 507).
    refused_properties: tuple[list[str], str] | None = None

    @property
    def user(self) -> str:
        """Who the storage works for in this request ("" outside its lock)."""
        return str(self.scope.user) if self.scope is not None else ""


#: The context outside a request (frozen: nothing can change it in place).
EMPTY = RequestContext()

_current: ContextVar[RequestContext] = ContextVar("calserver_request", default=EMPTY)


def current() -> RequestContext:
    """The context of the current request (the empty one outside a request)."""
    return _current.get()


def begin(**values: Any) -> Token[RequestContext]:
    """Start a fresh context for a request; :func:`end` with the token ends it."""
    return _current.set(RequestContext(**values))


def end(token: Token[RequestContext]) -> None:
    _current.reset(token)


@dataclass(frozen=True)
class Restore(Generic[T]):
    """What :meth:`Field.reset` gives back."""

    old: T


class Field(Generic[T]):
    """One field of the request context, read and set like a ContextVar."""

    def __init__(self, name: str) -> None:
        self.name = name

    def get(self) -> T:
        value: T = getattr(_current.get(), self.name)
        return value

    def set(self, value: T) -> Restore[T]:
        old = self.get()
        self._put(value)
        return Restore(old)

    def reset(self, token: Restore[T]) -> None:
        self._put(token.old)

    def _put(self, value: Any) -> None:
        changed: dict[str, Any] = {self.name: value}
        _current.set(dataclasses.replace(_current.get(), **changed))


method: Field[str] = Field("method")
scope: Field[Any] = Field("scope")
expand_window: Field[tuple[int, int] | None] = Field("expand_window")
put_body: Field[str | None] = Field("put_body")
put_storage: Field[Any] = Field("put_storage")
memo: Field[dict[object, object] | None] = Field("memo")
link_base: Field[str] = Field("link_base")
refusal: Field[Any] = Field("refusal")
rewritten: Field[bool] = Field("rewritten")
send_reply: Field[bool] = Field("send_reply")
refused_properties: Field[tuple[list[str], str] | None] = Field("refused_properties")
