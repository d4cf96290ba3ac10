"""The contract with Radicale's private names (``calserver.dav.compat``): each name
calserver relies on exists in the installed Radicale, with the call signature used,
and behaves as relied on. A Radicale upgrade that breaks one fails here first, not in
a request.

Also checked: the private attributes of ``radicale.item.Item`` that the storage sets
(``calserver.storage.base``: ``_text``, ``_etag``, ``_vobject_item``).
"""

from __future__ import annotations

import inspect
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path
from types import CodeType
from typing import Any

import pytest
import radicale
from radicale import config as radicale_config
from radicale import httputils, xmlutils
from radicale import item as radicale_item
from radicale import rights as radicale_rights
from radicale.app import base as radicale_app_base
from radicale.app import options as radicale_options
from radicale.app import put as radicale_put
from radicale.app import report as radicale_report
from radicale.item import filter as radicale_filter

from calserver.dav import compat
from calserver.dav.application import install_radicale_extensions

pytestmark = pytest.mark.unit

EVENT = (
    "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\nBEGIN:VEVENT\r\n"
    "UID:compat@example.com\r\nDTSTAMP:20260101T000000Z\r\n"
    "DTSTART:20260105T100000Z\r\nDTEND:20260105T110000Z\r\n"
    "END:VEVENT\r\nEND:VCALENDAR\r\n"
)


def parameters(function: Callable[..., Any]) -> list[str]:
    return list(inspect.signature(function).parameters)


def global_names(code: CodeType) -> set[str]:
    """The global names a function and the functions defined in it refer to."""
    names = set(code.co_names)
    for const in code.co_consts:
        if isinstance(const, CodeType):
            names |= global_names(const)
    return names


@pytest.fixture
def application(tmp_path: Path) -> radicale.Application:
    """Stock Radicale on a folder: no server, no database."""
    configuration = radicale_config.load()
    configuration.update(
        {
            "storage": {"filesystem_folder": str(tmp_path / "collections")},
            "auth": {"type": "denyall", "delay": "0.25", "realm": "compat realm"},
            "rights": {"type": "owner_only"},
        },
        "test",
    )
    return radicale.Application(configuration)


def test_radicale_version_is_the_one_the_contract_was_written_for() -> None:
    assert radicale.VERSION.startswith("3.9")


def test_the_application_keeps_its_plugins_and_settings(application: Any) -> None:
    """``ApplicationBase.__init__`` / ``Application.__init__`` attributes."""
    assert compat.storage(application) is application._storage
    assert hasattr(compat.storage(application), "acquire_lock")
    assert isinstance(compat.rights(application), radicale_rights.BaseRights)
    assert hasattr(compat.auth(application), "login")
    assert hasattr(compat.auth(application), "get_external_login")
    assert compat.encoding(application) == "utf-8"
    assert compat.auth_realm(application) == "compat realm"
    assert compat.auth_delay(application) == 0.25
    assert isinstance(application._validate_user_value, str)
    assert isinstance(application._urldecode_username, bool)


def test_check_user_format(application: Any) -> None:
    assert parameters(radicale_app_base._check_user_format)[:4] == [
        "self",
        "user",
        "validation_type",
        "urldecode_username",
    ]
    assert compat.check_user_format(application, "alice")


def test_xml_response_and_webdav_error_response(application: Any) -> None:
    assert parameters(type(application)._xml_response) == ["self", "xml_content", "request_info"]
    assert parameters(type(application)._webdav_error_response) == [
        "self",
        "status",
        "human_tag",
        "request_info",
    ]
    root = ET.Element(xmlutils.make_clark("D:multistatus"))
    body = compat.xml_response(application, root, {})
    assert isinstance(body, bytes) and b"multistatus" in body
    status, headers, content, xml_request = compat.webdav_error_response(
        application, 403, "C:supported-calendar-component", {}
    )
    assert status == 403
    assert headers["Content-Type"] == "text/xml; charset=utf-8"
    assert b"supported-calendar-component" in content
    assert xml_request is None


def test_access(application: Any) -> None:
    assert parameters(radicale_app_base.Access)[:4] == ["rights", "user", "user_groups", "path"]
    access = compat.access(application, "alice", set(), "/alice/calendar/")
    assert access.check("r")
    assert not compat.access(application, "bob", set(), "/alice/calendar/").check("r")


def test_freebusy_internals() -> None:
    """``freebusy_periods`` looks ``_fbtype_for_component`` up by its module name."""
    assert parameters(radicale_report.freebusy_periods) == [
        "item",
        "range_start",
        "range_end",
        "max_occurrence",
    ]
    assert "_fbtype_for_component" in global_names(radicale_report.freebusy_periods.__code__)
    original = getattr(
        radicale_report._fbtype_for_component,
        "__wrapped__",
        radicale_report._fbtype_for_component,
    )
    assert parameters(original) == ["component"]


def test_xml_report_is_what_the_report_handler_calls() -> None:
    original = getattr(radicale_report.xml_report, "__wrapped__", radicale_report.xml_report)
    assert parameters(original)[:7] == [
        "base_prefix",
        "path",
        "xml_request",
        "collection",
        "encoding",
        "unlock_storage_fn",
        "max_occurrence",
    ]
    report_handler = radicale_report.ApplicationPartReport.do_REPORT
    assert "xml_report" in global_names(report_handler.__code__)
    # the message expandlimit recognises when the limit is hit
    assert compat.LIMIT_MESSAGE in inspect.getsource(radicale_report)


def test_put_prepare_is_what_the_put_handler_calls() -> None:
    original = getattr(radicale_put.prepare, "__wrapped__", radicale_put.prepare)
    assert parameters(original)[:2] == ["vobject_items", "path"]
    assert "prepare" in global_names(radicale_put.ApplicationPartPut.do_PUT.__code__)


def test_install_wraps_each_function_once() -> None:
    install_radicale_extensions()
    wrapped = (
        radicale_report._fbtype_for_component,
        radicale_report.xml_report,
        radicale_put.prepare,
    )
    install_radicale_extensions()
    assert (
        radicale_report._fbtype_for_component,
        radicale_report.xml_report,
        radicale_put.prepare,
    ) == wrapped
    assert getattr(wrapped[0], compat.FBTYPE_MARK)
    assert getattr(wrapped[1], compat.XML_REPORT_MARK)
    assert getattr(wrapped[2], compat.PREPARE_MARK)
    for function in wrapped:
        assert not hasattr(function.__wrapped__, "__wrapped__")  # one wrap, not two


def test_item_private_attributes_the_storage_sets() -> None:
    item = radicale_item.Item(collection_path="alice/calendar", text=EVENT, etag='"e"')
    assert item._text == EVENT
    assert item._etag == '"e"'
    assert item._vobject_item is None  # parsed on first use
    assert item.vobject_item is not None and item._vobject_item is not None
    item._text, item._etag = "replaced", '"f"'
    assert item.serialize() == "replaced"
    assert item.etag == '"f"'


def test_dav_header_is_read_by_name_and_set_from_radicales_own() -> None:
    options = radicale_options.ApplicationPartOptions.do_OPTIONS
    assert "DAV_HEADERS" in global_names(options.__code__)
    assert compat.RADICALE_DAV_HEADER.startswith("1, 2, 3")
    install_radicale_extensions()
    install_radicale_extensions()
    assert compat.RADICALE_DAV_HEADER.replace(" 2,", "") == httputils.DAV_HEADERS


def test_visit_time_ranges_is_looked_up_by_name_and_wrapped_once() -> None:
    original = getattr(
        radicale_filter.visit_time_ranges, "__wrapped__", radicale_filter.visit_time_ranges
    )
    assert parameters(original)[:4] == ["vobject_item", "child_name", "range_fn", "infinity_fn"]
    assert "visit_time_ranges" in global_names(radicale_item.find_time_range.__code__)
    assert "visit_time_ranges" in global_names(radicale_filter.time_range_match.__code__)
    install_radicale_extensions()
    wrapped = radicale_filter.visit_time_ranges
    install_radicale_extensions()
    assert radicale_filter.visit_time_ranges is wrapped
    assert getattr(wrapped, compat.VISIT_MARK)
