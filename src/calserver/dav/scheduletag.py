"""The Schedule-Tag of scheduling object resources on the DAV surface (RFC 6638 3.2.10,
3.3, 8.2, 8.3); when a tag changes is ``calserver.scheduling.scheduletag``'s concern.

- GET and PUT of a scheduling object answer with a ``Schedule-Tag`` header;
- ``If-Schedule-Tag-Match`` on PUT or DELETE: 412 unless it is the current tag
  (the client's copy of the meeting is not the organizer's latest);
- the ``CALDAV:schedule-tag`` property (``calserver.dav.itemprops``).
"""

from __future__ import annotations

from typing import Any

from radicale import app as radicale_app
from radicale import pathutils

from calserver import errors
from calserver.dav import answers, compat
from calserver.scheduling import scheduletag as scheduling_tags
from calserver.storage import scheduletags
from calserver.storage.context import read_connection

HEADER = "Schedule-Tag"
#: RFC 9110 15.5.13.
PRECONDITION_FAILED = 412


def tag_of(application: radicale_app.Application, user: str, path: str) -> str | None:
    """The Schedule-Tag of the item at ``path`` as ``user`` sees its calendar."""
    if not user or path.endswith("/"):
        return None
    parent, _, name = pathutils.strip_path(path).rpartition("/")
    if not parent or not name:
        return None
    storage = compat.storage(application)
    with storage.acquire_lock("r", user):
        collection = storage.open_collection(parent, user)
        if collection is None or collection.tag != "VCALENDAR":
            return None
        with read_connection(storage.engine) as conn:
            return scheduletags.get(conn, collection.id, name)


def unmatched(
    application: radicale_app.Application,
    environ: Any,
    user: str,
    path: str,
    request_info: dict[str, Any],
) -> Any:
    """RFC 6638 3.3 / 8.3: the 412 of an ``If-Schedule-Tag-Match`` that is not the
    item's current tag; None when there is no such header or it matches."""
    wanted = environ.get("HTTP_IF_SCHEDULE_TAG_MATCH")
    if wanted is None:
        return None
    current = tag_of(application, user, path)
    if current is not None and wanted.strip() == current:
        return None
    reason = (
        f"If-Schedule-Tag-Match {wanted.strip()} is not the meeting's Schedule-Tag "
        f"{current or '(none: not a scheduling object)'}: fetch it again (RFC 6638 3.3)"
    )
    error = errors.CalserverError(reason, status=PRECONDITION_FAILED)
    return answers.refusal(application, error, request_info)


def with_header(
    application: radicale_app.Application,
    answer: Any,
    user: str,
    path: str,
    put_text: str | None = None,
) -> Any:
    """``answer`` (a GET's or PUT's) with the item's Schedule-Tag header (RFC 6638 8.3).
    A PUT's answer (``put_text``: its body) reads the tag only for a scheduling object:
    a PUT of anything else leaves the item without one
    (``calserver.scheduling.scheduletag.after_store``)."""
    if not isinstance(answer, tuple) or answer[0] not in (200, 201, 204):
        return answer
    if put_text is not None and not scheduling_tags.is_scheduling_object(put_text):
        return answer
    if not isinstance(answer[1], dict):
        return answer
    tag = tag_of(application, user, path)
    if tag is None:
        return answer
    return (answer[0], {**answer[1], HEADER: tag}, *answer[2:])
