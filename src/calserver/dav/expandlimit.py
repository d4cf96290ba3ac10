"""Radicale's ``[reporting] max_expand_occurrence`` limits expansion, and only expansion
(RFC 4791 9.6.5, CALDAV:expand).

Radicale 3.9's ``xml_report`` (``radicale/app/report.py``) counts every VEVENT it serves
in ``calendar-data``, expanded or not, and refuses the whole REPORT with a bare 400
once the count passes ``max_expand_occurrence``. So a calendar-query or a
calendar-multiget without ``expand`` (what the ``caldav`` library's ``events()`` and
vdirsyncer send to sync a calendar) fails on every calendar with more events than the
limit, though nothing is expanded and the answer costs what a whole-calendar GET costs.

:func:`limit_expansion_only` wraps ``xml_report`` once, when the composition root
builds the application (``calserver.dav.compat.install``):

- a REPORT without ``expand`` runs without the limit (``max_occurrence=0``, Radicale's
  "no limit"): it serves stored items, one per resource;
- a REPORT with ``expand`` keeps it: each instance is computed, so the limit guards the
  server. Hitting it is still a 400, now with a body that says what happened and what to
  change: ``DAV:number-of-matches-within-limits`` (RFC 4791 7.8, the postcondition of a
  calendar-query whose time range is too broad) and a ``calserver:reason`` naming the
  option and its value.

``tests/test_expand_limit.py`` fails if Radicale's function disappears, stops being
what its REPORT handler calls, or changes the message of the limit.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Callable
from typing import Any

from radicale import xmlutils

from calserver.dav import compat

#: Radicale's message when the limit is hit (``_expand`` and ``xml_report``).
LIMIT_MESSAGE = compat.LIMIT_MESSAGE

REASON = "{urn:calserver}reason"


def asks_expansion(request: ET.Element | None) -> bool:
    """Whether the REPORT body asks for recurrences expanded (CALDAV:expand)."""
    return request is not None and request.find(".//" + xmlutils.make_clark("C:expand")) is not None


def limit_answer(limit: int) -> tuple[int, ET.Element]:
    """The 400 of an expansion over ``limit`` instances, with what to change."""
    error = xmlutils.webdav_error("D:number-of-matches-within-limits")
    ET.SubElement(error, REASON).text = (
        f"expanding this query gives more than {limit} instances, the server's limit "
        f"([reporting] max_expand_occurrence = {limit}): ask for a shorter time range, "
        "or without expand, or ask the administrator to raise the option"
    )
    return 400, error


def limit_expansion_only(original: compat.XmlReport) -> compat.XmlReport:
    """Radicale's ``xml_report`` with ``max_occurrence`` for ``expand`` only, and the
    answer of :func:`limit_answer` when the limit is hit."""

    def wrapped(
        base_prefix: str,
        path: str,
        xml_request: ET.Element | None,
        collection: Any,
        encoding: str,
        unlock_storage_fn: Callable[[], None],
        max_occurrence: int = 0,
        *args: Any,
        **kwargs: Any,
    ) -> tuple[int, ET.Element]:
        if not asks_expansion(xml_request):
            max_occurrence = 0  # nothing is expanded: no expansion limit
        try:
            return original(
                base_prefix,
                path,
                xml_request,
                collection,
                encoding,
                unlock_storage_fn,
                max_occurrence,
                *args,
                **kwargs,
            )
        except ValueError as exc:
            if max_occurrence and str(exc).startswith(LIMIT_MESSAGE):
                return limit_answer(max_occurrence)
            raise

    return wrapped


def install() -> None:
    """Wrap Radicale's ``xml_report`` (once): the limit applies only to ``expand``."""
    compat.wrap_xml_report(limit_expansion_only)
