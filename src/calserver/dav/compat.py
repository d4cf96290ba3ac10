"""Every private name of Radicale 3.9 that calserver relies on, in one place.

Radicale's plugin contract (storage, auth, rights, web) is public; what calserver's DAV
extensions need beyond it (the application's plugin instances, its XML answers, the
free/busy mapping and REPORT function it wraps, the PUT preparation it extends) is
not, and may change in a minor release. Each function here names the Radicale 3.9
source it relies on; ``tests/test_radicale_compat.py`` checks every one (that the name
exists, with the call signature used here, and behaves as relied on), so that a
Radicale upgrade fails there first, not somewhere in a request.

Radicale's module-level functions that calserver wraps (:func:`wrap_fbtype`,
:func:`wrap_xml_report`, :func:`wrap_put_prepare`) are replaced only by
:func:`install`, which the composition root (``calserver.app``) calls when it builds
the application: importing a module changes nothing of Radicale.
"""

from __future__ import annotations

import functools
import xml.etree.ElementTree as ET
from collections.abc import Callable
from typing import Any

from radicale import app as radicale_app
from radicale import httputils
from radicale import rights as radicale_rights
from radicale.app import base as radicale_app_base
from radicale.app import put as radicale_put
from radicale.app import report as radicale_report
from radicale.item import filter as radicale_filter

#: ``radicale.app.report._fbtype_for_component``: a VEVENT (vobject) -> its FBTYPE.
FbtypeFunction = Callable[[Any], "str | None"]

#: What marks each wrapper, so that installing twice wraps once.
FBTYPE_MARK = "_calserver_freebusy"
XML_REPORT_MARK = "_calserver_expand_limit"
PREPARE_MARK = "_calserver_prepare"
VISIT_MARK = "_calserver_visit"


# --- the application's plugins and settings (radicale/app/base.py, app/__init__.py) ------


def storage(application: radicale_app.Application) -> Any:
    """The storage plugin instance: ``Application._storage``, set in
    ``radicale/app/base.py`` ``ApplicationBase.__init__`` (``storage.load``). Typed
    ``Any``: calserver's storage has more than ``BaseStorage`` declares."""
    return application._storage


def rights(application: radicale_app.Application) -> radicale_rights.BaseRights:
    """The rights plugin instance: ``Application._rights`` (``radicale/app/base.py``
    ``ApplicationBase.__init__``, ``rights.load``)."""
    return application._rights


def auth(application: radicale_app.Application) -> Any:
    """The auth plugin instance: ``Application._auth`` (``radicale/app/base.py``
    ``ApplicationBase.__init__``, ``auth.load``)."""
    return application._auth


def encoding(application: radicale_app.Application) -> str:
    """``[encoding] request``: ``Application._encoding`` (``radicale/app/base.py``
    ``ApplicationBase.__init__``), the charset of Radicale's XML answers."""
    return str(application._encoding)


def max_resource_size(application: radicale_app.Application) -> int:
    """``[server] max_resource_size`` as Radicale applies it:
    ``Application._max_resource_size`` (``radicale/app/__init__.py``
    ``Application.__init__``, capped to 80% of ``max_content_length``)."""
    return int(application._max_resource_size)


def auth_realm(application: radicale_app.Application) -> str:
    """``[auth] realm``: ``Application._auth_realm`` (``radicale/app/__init__.py``
    ``Application.__init__``)."""
    return str(application._auth_realm)


def auth_delay(application: radicale_app.Application) -> float:
    """``[auth] delay``: ``Application._auth_delay`` (``radicale/app/__init__.py``
    ``Application.__init__``), seconds to wait after a failed login."""
    return float(application._auth_delay)


def check_user_format(application: radicale_app.Application, login: str) -> bool:
    """Whether Radicale takes ``login`` as a user name (``[server]
    validate_user_value``, ``[auth] urldecode_username``): the module function
    ``radicale.app.base._check_user_format(storage, user, validation_type,
    urldecode_username)``, with the settings ``Application.__init__`` keeps in
    ``_validate_user_value`` and ``_urldecode_username``."""
    return bool(
        radicale_app_base._check_user_format(
            application._storage,
            login,
            application._validate_user_value,
            application._urldecode_username,
        )
    )


def xml_response(
    application: radicale_app.Application, root: ET.Element, request_info: dict[str, Any]
) -> bytes:
    """``root`` serialised as Radicale serialises its XML answers:
    ``ApplicationBase._xml_response(xml_content, request_info)``
    (``radicale/app/base.py``)."""
    return application._xml_response(root, request_info)


def webdav_error_response(
    application: radicale_app.Application,
    status: int,
    precondition: str,
    request_info: dict[str, Any],
) -> Any:
    """A ``DAV:error`` answer naming ``precondition`` (``"C:name"``), as Radicale's:
    ``ApplicationBase._webdav_error_response(status, human_tag, request_info)``
    (``radicale/app/base.py``)."""
    return application._webdav_error_response(status, precondition, request_info)


def access(
    application: radicale_app.Application, user: str, user_groups: set[str], path: str
) -> radicale_app_base.Access:
    """Radicale's permission check of ``user`` on ``path``: ``radicale.app.base.Access
    (rights, user, user_groups, path)`` over ``Application._rights``."""
    return radicale_app_base.Access(application._rights, user, user_groups, path)


# --- REPORT internals (radicale/app/report.py) --------------------------------------------


def freebusy_periods(item: Any, start: Any, end: Any, max_occurrence: int) -> list[Any]:
    """The busy periods of ``item`` between ``start`` and ``end``, with calserver's
    FBTYPE rules once installed: ``radicale.app.report.freebusy_periods(item,
    range_start, range_end, max_occurrence)``; ``ValueError`` past
    ``max_occurrence``."""
    return list(radicale_report.freebusy_periods(item, start, end, max_occurrence))


def wrap_fbtype(fbtype: Callable[[Any, FbtypeFunction], str | None]) -> None:
    """Replace ``radicale.app.report._fbtype_for_component(component)`` (once) by
    ``fbtype(component, original)``. Radicale's ``freebusy_periods`` looks the
    function up by its module name at each call, so the replacement is what its
    free-busy-query uses."""
    original = radicale_report._fbtype_for_component
    if getattr(original, FBTYPE_MARK, False):
        return

    @functools.wraps(original)
    def wrapped(component: Any) -> str | None:
        return fbtype(component, original)

    setattr(wrapped, FBTYPE_MARK, True)
    radicale_report._fbtype_for_component = wrapped


#: The message of Radicale's ``ValueError`` when ``max_occurrence`` is hit
#: (``radicale/app/report.py``, ``_expand`` and ``xml_report``).
LIMIT_MESSAGE = "REPORT occurrences limit of"

XmlReport = Callable[..., tuple[int, ET.Element]]


def wrap_xml_report(wrapper: Callable[[XmlReport], XmlReport]) -> None:
    """Replace ``radicale.app.report.xml_report(base_prefix, path, xml_request,
    collection, encoding, unlock_storage_fn, max_occurrence=0, ...)`` (once) by
    ``wrapper(original)``. Radicale's REPORT handler (``ApplicationPartReport.do_REPORT``)
    calls it by its module name."""
    original: XmlReport = radicale_report.xml_report
    if getattr(original, XML_REPORT_MARK, False):
        return
    wrapped = functools.wraps(original)(wrapper(original))
    setattr(wrapped, XML_REPORT_MARK, True)
    radicale_report.xml_report = wrapped


# --- PUT (radicale/app/put.py) ---------------------------------------------------------


def wrap_put_prepare(wrapper: Callable[[Callable[..., Any]], Callable[..., Any]]) -> None:
    """Replace ``radicale.app.put.prepare(vobject_items, path, content_type, ...)`` ->
    ``(items, tag, write_whole_collection, props, exc_info)`` (once) by
    ``wrapper(original)``. Radicale's ``do_PUT`` calls it by its module name before it
    takes the storage's write lock."""
    original = radicale_put.prepare
    if getattr(original, PREPARE_MARK, False):
        return
    wrapped = wrapper(original)
    setattr(wrapped, PREPARE_MARK, True)
    radicale_put.prepare = wrapped


# --- time ranges of components (radicale/item/filter.py) -----------------------------------


def wrap_visit_time_ranges(component: str, visit: Callable[..., None]) -> None:
    """Replace ``radicale.item.filter.visit_time_ranges(vobject_item, child_name,
    range_fn, infinity_fn, component_fn=None)`` (once) by ``visit(vobject_item,
    range_fn)`` when ``child_name`` is ``component``, the original otherwise.
    ``radicale.item.find_time_range`` (an item's time range when it is stored), the
    filter module's own time-range matching and ``calserver.ical.timeindex`` look it up
    by the module's name at each call."""
    original = radicale_filter.visit_time_ranges
    if getattr(original, VISIT_MARK, False):
        return

    @functools.wraps(original)
    def wrapped(
        vobject_item: Any, child_name: str, range_fn: Any, infinity_fn: Any, *args: Any
    ) -> None:
        if child_name.upper() == component:
            visit(vobject_item, range_fn)
            return
        original(vobject_item, child_name, range_fn, infinity_fn, *args)

    setattr(wrapped, VISIT_MARK, True)
    radicale_filter.visit_time_ranges = wrapped  # type: ignore[assignment]


# --- the DAV header (radicale/httputils.py) ------------------------------------------------

#: Radicale's DAV header as it ships: ``radicale.httputils.DAV_HEADERS``, which its
#: OPTIONS, PROPFIND and PROPPATCH handlers (and calserver's own answers) read by the
#: module's name at each answer.
RADICALE_DAV_HEADER: str = httputils.DAV_HEADERS


def set_dav_header(transform: Callable[[str], str]) -> None:
    """Set ``radicale.httputils.DAV_HEADERS`` to ``transform`` of Radicale's own value
    (:data:`RADICALE_DAV_HEADER`), so that installing twice transforms once."""
    httputils.DAV_HEADERS = transform(RADICALE_DAV_HEADER)


# --- the one call of the composition root -----------------------------------------------


def install(
    *,
    fbtype: Callable[[Any, FbtypeFunction], str | None],
    xml_report: Callable[[XmlReport], XmlReport],
    put_prepare: Callable[[Callable[..., Any]], Callable[..., Any]],
) -> None:
    """Wrap Radicale's free/busy mapping, REPORT function and PUT preparation with
    calserver's (each once, whatever the number of calls)."""
    wrap_fbtype(fbtype)
    wrap_xml_report(xml_report)
    wrap_put_prepare(put_prepare)
