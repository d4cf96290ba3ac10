"""A PUT onto a calendar's own URL replaces the whole calendar (Radicale's
"write whole collection"): every event not in the body is gone. That is what an
import tool means, seldom what a client means (a mistyped URL, a client that PUTs
an object to its calendar's href). calserver asks the writer to say which calendar
they replace: RFC 9110 13.1.1 ``If-Match`` with the calendar's current ETag (the
collection's ``DAV:getetag``), else 412 Precondition Failed and nothing is replaced.
``If-Match: *`` is not enough: it matches any calendar, it names none.

Radicale then compares the same ``If-Match`` with the ETag inside the write lock
(``radicale.app.put``), so a calendar changed meanwhile is refused too.
"""

from __future__ import annotations

from typing import Any

from radicale import pathutils

from calserver import errors

#: RFC 9110 15.5.13.
PRECONDITION_FAILED = 412


def refusal(storage: Any, user: str, path: str, if_match: str) -> errors.CalserverError | None:
    """Why a PUT on ``path`` may not go on (``None``: it may): ``path`` names an
    existing calendar (or address book) and ``if_match`` is not its current ETag."""
    stripped = pathutils.strip_path(path)
    if not stripped:
        return None
    with storage.acquire_lock("r", user):
        target = storage.open_collection(stripped, user)  # the collection row only
        if target is None or not target.tag:
            return None
        etag = target.etag
    if if_match.strip() == etag:
        return None
    if not if_match:
        reason = (
            "a PUT on a calendar's own URL replaces the whole calendar; to do so, "
            f"send If-Match: {etag} (the calendar's current ETag)"
        )
    else:
        reason = (
            f"If-Match {if_match.strip()} is not the calendar's current ETag {etag}: "
            "nothing was replaced"
        )
    return errors.CalserverError(reason, status=PRECONDITION_FAILED)
