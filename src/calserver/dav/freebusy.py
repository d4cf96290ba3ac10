"""Free/busy time of an event: RFC 4791 7.10 (free-busy-query) and RFC 5545 3.2.9
(FBTYPE), with the availability rules of calserver (DESIGN.md, "Rules in detail").

Radicale's free-busy-query (``radicale.app.report.freebusy_periods``) asks
``radicale.app.report._fbtype_for_component`` for the FBTYPE of each VEVENT (and each
overridden instance); that function knows TRANSP and STATUS only. :func:`install`
wraps it once, when the composition root (``calserver.app``) builds the application
(``calserver.dav.compat.install``), with :func:`fbtype`, which adds:

- ``X-MICROSOFT-CDO-BUSYSTATUS`` (Outlook's availability, which the busy view keeps):
  ``FREE`` blocks nothing, ``TENTATIVE`` is ``BUSY-TENTATIVE``, ``OOF`` (out of
  office) is ``BUSY-UNAVAILABLE``, ``BUSY`` is ``BUSY``; it wins over STATUS, which
  describes the event rather than the person's availability;
- an all-day event (``DTSTART;VALUE=DATE``) without TRANSP and without a busy status
  blocks nothing: free is the default for all-day events (a birthday, a holiday);
  ``TRANSP:OPAQUE`` makes it busy.

Unchanged from Radicale: ``TRANSP:TRANSPARENT`` blocks nothing, whatever else the
event says; ``STATUS:CANCELLED`` is ``FREE``; ``STATUS:TENTATIVE`` is
``BUSY-TENTATIVE``; anything else is ``BUSY``. Which events a viewer's free/busy
answer considers at all (confidential and private ones) is the storage's business:
the view of the calendar holds only what the viewer's level may see.

``tests/test_freebusy.py`` fails if Radicale's function disappears, changes its
signature, or stops being what ``freebusy_periods`` calls.
"""

from __future__ import annotations

import datetime
from typing import Any

from calserver.dav import compat
from calserver.dav.compat import FbtypeFunction

#: RFC 5545 3.2.9 FBTYPE for each X-MICROSOFT-CDO-BUSYSTATUS value (None: free).
BUSYSTATUS: dict[str, str | None] = {
    "FREE": None,
    "TENTATIVE": "BUSY-TENTATIVE",
    "BUSY": "BUSY",
    "OOF": "BUSY-UNAVAILABLE",
}


def _text(component: Any, name: str) -> str:
    """The upper-case value of the first property ``name`` (vobject), or ""."""
    lines = component.contents.get(name.lower())
    if not lines:
        return ""
    value = lines[0].value
    return (value if isinstance(value, str) else str(value)).strip().upper()


def is_all_day(component: Any) -> bool:
    """Whether the component starts on a DATE (RFC 5545 3.3.4), not a DATE-TIME."""
    lines = component.contents.get("dtstart")
    if not lines:
        return False
    value = lines[0].value
    return isinstance(value, datetime.date) and not isinstance(value, datetime.datetime)


def fbtype(component: Any, radicale_fbtype: FbtypeFunction) -> str | None:
    """The FBTYPE of a VEVENT (vobject component), None when it blocks nothing;
    ``radicale_fbtype`` is Radicale's mapping of TRANSP and STATUS."""
    transp = _text(component, "TRANSP")
    if transp not in ("", "OPAQUE") or _text(component, "STATUS") == "CANCELLED":
        return radicale_fbtype(component)
    busy_status = _text(component, "X-MICROSOFT-CDO-BUSYSTATUS")
    if busy_status in BUSYSTATUS:
        return BUSYSTATUS[busy_status]
    if not transp and is_all_day(component):
        return None
    return radicale_fbtype(component)


def install() -> None:
    """Wrap Radicale's ``_fbtype_for_component`` with :func:`fbtype` (once):
    ``calserver.dav.compat.wrap_fbtype``."""
    compat.wrap_fbtype(fbtype)
