"""Apple delegation: calendar user proxies and the principal reports that show and find
people.

- caldav-proxy ("Calendar User Proxy Functionality in CalDAV", calendarserver.org,
  draft caldav-cu-proxy-03): the proxy group principals ``/USER/calendar-proxy-read/``
  and ``/USER/calendar-proxy-write/`` with their ``DAV:group-member-set`` (section 5.2),
  ``CS:calendar-proxy-read-for`` / ``CS:calendar-proxy-write-for`` and
  ``DAV:group-membership`` on user principals (5.3), and ``calendar-proxy`` in the DAV
  header (5.1), without which Apple Calendar shows no Delegation tab;
- RFC 3253 3.8 ``DAV:expand-property``, which Apple Calendar sends to its principal to
  list the people it acts for with their names and addresses;
- RFC 3744 9.4 ``DAV:principal-property-search`` and 9.5
  ``DAV:principal-search-property-set``, with which Apple Calendar finds people by
  name or address (announced as ``calendarserver-principal-property-search``).

Who acts for whom follows from the grants (``calserver.sharing.proxies``); delegation
is read-only over WebDAV (grants are managed by ``calserver share`` and the HTTP API),
so changing a proxy group answers 403. What someone's proxies are (the member sets of
their proxy groups, the principals they act for, the groups they are in) only that
person reads; everyone else gets 403 for those properties. Names and e-mail addresses
of principals are visible to every signed-in user, as principals are.

Radicale answers these REPORTs with an empty multistatus and does not know the proxy
properties. Nothing of its handlers is copied: a principal's PROPFIND answer is
completed after Radicale wrote it (the properties named here replace whatever it
said about them), and expand-property and the search answer each principal with an
internal PROPFIND through the application, so rights and properties are the same as
for a direct request.
"""

from __future__ import annotations

import io
import xml.etree.ElementTree as ET
from typing import Any, cast

from radicale import httputils, pathutils, xmlutils
from sqlalchemy import Connection

from calserver import urls
from calserver.accounts import directory as accounts_directory
from calserver.accounts.directory import Principal
from calserver.dav import compat
from calserver.dav.xml import (
    ALLPROP,
    CALENDAR_USER_ADDRESS_SET,
    CURRENT_USER_PRINCIPAL,
    CURRENT_USER_PRIVILEGE_SET,
    DISPLAYNAME,
    HREF,
    MULTISTATUS,
    PRINCIPAL_COLLECTION_SET,
    PROP,
    PROPFIND,
    PROPNAME,
    PROPSTAT,
    RESOURCETYPE,
    RESPONSE,
    STATUS,
    SUPPORTED_REPORT_SET,
    Caller,
    add_property,
    clark,
    hrefs,
    parse_xml,
    path_of,
    remove_property,
    status_line,
)
from calserver.httpbody import read_body
from calserver.sharing import directory, proxies
from calserver.storage.context import read_connection

READ = "calendar-proxy-read"
WRITE = "calendar-proxy-write"
PROXY_GROUPS = urls.PROXY_GROUPS  # (READ, WRITE)

#: DAV header tokens (caldav-proxy 5.1; Apple's flag for principal-property-search).
DAV_FEATURES = ("calendar-proxy", "calendarserver-principal-property-search")


PRINCIPAL_URL = clark("D:principal-URL")
GROUP_MEMBER_SET = clark("D:group-member-set")
GROUP_MEMBERSHIP = clark("D:group-membership")
ALTERNATE_URI_SET = clark("D:alternate-URI-set")
READ_FOR = clark("CS:calendar-proxy-read-for")
WRITE_FOR = clark("CS:calendar-proxy-write-for")
EMAIL_ADDRESS_SET = clark("CS:email-address-set")
EMAIL_ADDRESS = clark("CS:email-address")

EXPAND_PROPERTY = clark("D:expand-property")
PROPERTY = clark("D:property")
PRINCIPAL_PROPERTY_SEARCH = clark("D:principal-property-search")
PRINCIPAL_SEARCH_PROPERTY_SET = clark("D:principal-search-property-set")
REPORTS = frozenset({EXPAND_PROPERTY, PRINCIPAL_PROPERTY_SEARCH, PRINCIPAL_SEARCH_PROPERTY_SET})
_REPORT_NAMES = (b"expand-property", b"principal-property-search", b"principal-search-property")

#: Properties of user principals answered here.
COMPUTED = frozenset({READ_FOR, WRITE_FOR, GROUP_MEMBERSHIP, EMAIL_ADDRESS_SET})
#: Of those, what only the principal themselves may read.
PRIVATE = frozenset({READ_FOR, WRITE_FOR, GROUP_MEMBERSHIP})

#: Limits of expand-property: how deep hrefs are followed, how many are.
MAX_EXPAND_DEPTH = 3
MAX_EXPANDED = 200
#: Most principals a search returns (RFC 3744 9.4: then a 507 for the request-URI).
MAX_SEARCH_RESULTS = 50


def announce(headers: Any) -> dict[str, str]:
    """``headers`` with calserver's DAV features added to Radicale's DAV header."""
    result = dict(headers)
    dav = result.get("DAV")
    if dav is not None:
        result["DAV"] = ", ".join([dav, *DAV_FEATURES])
    return result


def proxy_group(path: str) -> tuple[str, str] | None:
    """(owner, group name) when ``path`` names a proxy group principal."""
    segments = pathutils.strip_path(path).split("/")
    if len(segments) != 2 or segments[1] not in PROXY_GROUPS:
        return None
    owner = segments[0]
    if not owner or owner.startswith(("@", ".")):
        return None
    return owner, segments[1]


# --- user principals: PROPFIND completed -----------------------------------------------


def _requested(body: bytes) -> list[str]:
    """The properties named in a PROPFIND ``<prop>`` (none for allprop / propname:
    caldav-proxy's properties SHOULD NOT be returned by allprop)."""
    root = parse_xml(body)
    if root is None or root.tag != PROPFIND:
        return []
    prop = root.find(PROP)
    return [child.tag for child in prop] if prop is not None else []


def _principal_values(
    caller: Caller, conn: Connection, principal: str, row: Principal, names: set[str]
) -> list[tuple[ET.Element, int]]:
    """The values (and statuses) of the COMPUTED properties in ``names`` for a user
    principal."""
    values: list[tuple[ET.Element, int]] = []
    own = caller.user == principal
    acts_for = proxies.proxy_for(conn, principal) if own and names & PRIVATE else None
    for name in sorted(names & COMPUTED):
        if name in PRIVATE and acts_for is None:
            values.append((ET.Element(name), 403))
        elif name == READ_FOR:
            assert acts_for is not None
            values.append((hrefs(name, caller, acts_for.read), 200))
        elif name == WRITE_FOR:
            assert acts_for is not None
            values.append((hrefs(name, caller, acts_for.write), 200))
        elif name == GROUP_MEMBERSHIP:
            assert acts_for is not None
            groups = [f"{owner}/{WRITE}" for owner in acts_for.write]
            groups += [f"{owner}/{READ}" for owner in acts_for.read]
            values.append((hrefs(name, caller, sorted(groups)), 200))
        elif name == EMAIL_ADDRESS_SET:
            element = ET.Element(name)
            if row.email:
                ET.SubElement(element, EMAIL_ADDRESS).text = row.email
            values.append((element, 200))
    return values


def complete_propfind(
    caller: Caller, path: str, body: bytes, answer: Any, request_info: dict[str, Any]
) -> Any:
    """Radicale's PROPFIND answer with the proxy properties, e-mail address and
    display name of every user principal in it, and calserver's DAV features. Only
    answers on the root or a principal can hold principals: calendar listings (which
    can be long) are left as they are."""
    status, headers, content, xml_request = answer
    if status != 207 or not isinstance(content, bytes):
        return answer
    headers = announce(headers)
    if "/" in pathutils.strip_path(path):
        return status, headers, content, xml_request
    names = set(_requested(body)) & (COMPUTED | {DISPLAYNAME})
    if not names:
        return status, headers, content, xml_request
    root = parse_xml(content)
    if root is None:
        return status, headers, content, xml_request
    principals: dict[str, ET.Element] = {}
    for response in root.findall(RESPONSE):
        found = path_of(response.findtext(HREF) or "", caller.base_prefix)
        if found and "/" not in found:
            principals[found] = response
    with read_connection(caller.engine) as conn:
        rows = accounts_directory.principals(conn, principals)
        for name, response in principals.items():
            row = rows.get(name)
            if row is None:
                continue
            for element, code in _principal_values(caller, conn, name, row, names):
                remove_property(response, element.tag)
                add_property(response, element, code)
            if DISPLAYNAME in names and remove_property(response, DISPLAYNAME, only_status=404):
                element = ET.Element(DISPLAYNAME)
                element.text = row.displayname
                add_property(response, element, 200)
    return status, headers, caller.xml_response(root, request_info), xml_request


# --- proxy group principals --------------------------------------------------------------

#: What allprop returns of a proxy group (and propname names).
_GROUP_PROPS = (
    RESOURCETYPE,
    DISPLAYNAME,
    PRINCIPAL_URL,
    GROUP_MEMBER_SET,
    GROUP_MEMBERSHIP,
    ALTERNATE_URI_SET,
    PRINCIPAL_COLLECTION_SET,
    CURRENT_USER_PRINCIPAL,
    CURRENT_USER_PRIVILEGE_SET,
    SUPPORTED_REPORT_SET,
)


def _group_value(
    caller: Caller, conn: Connection, owner: str, group: str, name: str
) -> tuple[ET.Element, int]:
    element = ET.Element(name)
    if name == RESOURCETYPE:
        ET.SubElement(element, clark("D:principal"))
        ET.SubElement(element, clark("CS:" + group))
    elif name == DISPLAYNAME:
        element.text = group
    elif name == PRINCIPAL_URL:
        ET.SubElement(element, HREF).text = caller.href(f"{owner}/{group}")
    elif name == GROUP_MEMBER_SET:
        if caller.user != owner:
            return element, 403
        members = proxies.proxies_of(conn, owner)
        return hrefs(name, caller, members.write if group == WRITE else members.read), 200
    elif name in (GROUP_MEMBERSHIP, ALTERNATE_URI_SET):
        pass
    elif name == PRINCIPAL_COLLECTION_SET:
        ET.SubElement(element, HREF).text = xmlutils.make_href(caller.base_prefix, "/")
    elif name == CURRENT_USER_PRINCIPAL:
        ET.SubElement(element, HREF).text = caller.href(caller.user)
    elif name == CURRENT_USER_PRIVILEGE_SET:
        privilege = ET.SubElement(element, clark("D:privilege"))
        ET.SubElement(privilege, clark("D:read"))
    elif name == SUPPORTED_REPORT_SET:
        for report in sorted(REPORTS):
            supported = ET.SubElement(element, clark("D:supported-report"))
            ET.SubElement(ET.SubElement(supported, clark("D:report")), report)
    else:
        return element, 404
    return element, 200


def propfind_proxy_group(
    caller: Caller, path: str, body: bytes, request_info: dict[str, Any]
) -> Any | None:
    """The PROPFIND answer of a proxy group principal (it has no members of its own:
    Depth 0 and 1 answer alike), or None when ``path`` is not one."""
    found = proxy_group(path)
    if found is None:
        return None
    owner, group = found
    if not caller.user:
        return httputils.NOT_ALLOWED
    with read_connection(caller.engine) as conn:
        if directory.collection_exists(conn, f"{owner}/{group}"):
            return None  # a collection of that name (from before) is answered as such
        if not accounts_directory.principals(conn, [owner]):
            return httputils.NOT_FOUND
        rights = compat.rights(caller.app).authorization(
            caller.user, caller.user_groups, f"/{owner}/"
        )
        if "R" not in rights:
            return httputils.NOT_ALLOWED
        root = parse_xml(body)
        top = root[0] if root is not None and root.tag == PROPFIND and len(root) else None
        response = ET.Element(RESPONSE)
        ET.SubElement(response, HREF).text = caller.href(f"{owner}/{group}")
        if top is not None and top.tag == PROPNAME:
            for name in _GROUP_PROPS:
                add_property(response, ET.Element(name), 200)
        else:
            wanted = [child.tag for child in top] if top is not None and top.tag == PROP else []
            if top is None or top.tag == ALLPROP:
                wanted = list(_GROUP_PROPS)
            for name in wanted:
                element, code = _group_value(caller, conn, owner, group, name)
                if code == 403 and (top is None or top.tag == ALLPROP):
                    continue
                add_property(response, element, code)
    multistatus = ET.Element(MULTISTATUS)
    multistatus.append(response)
    headers = announce(
        {
            "DAV": httputils.DAV_HEADERS,
            "Content-Type": "text/xml; charset=%s" % caller.encoding,
        }
    )
    return 207, headers, caller.xml_response(multistatus, request_info), None


def refuses_write(path: str, body: bytes = b"") -> bool:
    """Whether a write to ``path`` touches what delegation owns: a proxy group (read-
    only here; the name is reserved in every home) or, with a PROPPATCH ``body``, a
    computed property of a user principal (RFC 4918 15: protected)."""
    if proxy_group(path) is not None:
        return True
    if not body:
        return False
    segments = pathutils.strip_path(path).split("/")
    if len(segments) != 1 or not segments[0]:
        return False
    root = parse_xml(body)
    if root is None:
        return False
    return any(element.tag in COMPUTED for element in root.iter())


# --- REPORTs -----------------------------------------------------------------------------


def report(caller: Caller, path: str, depth: str, request_info: dict[str, Any]) -> Any | None:
    """The answer to expand-property, principal-property-search and
    principal-search-property-set; None for every other REPORT."""
    body = read_body(caller.environ)
    if not any(name in body for name in _REPORT_NAMES):
        return None  # calendar-query, multiget, sync-collection: parsed once, by Radicale
    root = parse_xml(body)
    if root is None or root.tag not in REPORTS:
        return None
    if not caller.user:
        return httputils.NOT_ALLOWED
    headers = {"Content-Type": "text/xml; charset=%s" % caller.encoding}
    if root.tag == PRINCIPAL_SEARCH_PROPERTY_SET:
        content = caller.xml_response(search_property_set(), request_info)
        return 200, headers, content, None
    if root.tag == PRINCIPAL_PROPERTY_SEARCH:
        multistatus = principal_property_search(caller, path, root)
    else:
        expansion = Expansion(caller)
        found = expansion.expand(pathutils.strip_path(path), list(root.findall(PROPERTY)), depth, 0)
        if isinstance(found, tuple):
            return found  # the request-URI itself is not readable: Radicale's answer
        multistatus = ET.Element(MULTISTATUS)
        multistatus.extend(found)
    return 207, headers, caller.xml_response(multistatus, request_info), None


def _internal_propfind(caller: Caller, path: str, names: list[str], depth: str = "0") -> Any:
    """PROPFIND of the resource at ``path`` (stripped) through the application
    (calserver's completion included), as the signed-in user."""
    request = ET.Element(PROPFIND)
    prop = ET.SubElement(request, PROP)
    for name in dict.fromkeys(names):
        ET.SubElement(prop, name)
    body = ET.tostring(request, encoding="utf-8")
    environ = dict(caller.environ)
    environ.pop("HTTP_CONTENT_ENCODING", None)
    environ.update(
        {
            "REQUEST_METHOD": "PROPFIND",
            "HTTP_DEPTH": depth,
            "CONTENT_TYPE": "application/xml; charset=utf-8",
            "CONTENT_LENGTH": str(len(body)),
            "wsgi.input": io.BytesIO(body),
        }
    )
    return caller.app.do_PROPFIND(
        environ,
        caller.base_prefix,
        pathutils.unstrip_path(path, True),
        caller.user,
        caller.user_groups,
        {},
    )


def _error_response(href: str, code: int) -> ET.Element:
    response = ET.Element(RESPONSE)
    ET.SubElement(response, HREF).text = href
    ET.SubElement(response, STATUS).text = status_line(code)
    return response


class Expansion:
    """RFC 3253 3.8: each DAV:href in a property the request names with nested
    DAV:property elements is replaced by the DAV:response of the resource it names,
    with those nested properties (expanded the same way)."""

    def __init__(self, caller: Caller) -> None:
        self._caller = caller
        self._count = 0

    @staticmethod
    def _name(spec: ET.Element) -> str:
        return "{%s}%s" % (spec.get("namespace", "DAV:"), spec.get("name", ""))

    def expand(
        self, path: str, specs: list[ET.Element], depth: str, level: int
    ) -> list[ET.Element] | tuple[Any, ...]:
        """The expanded responses for ``path``, or the failed PROPFIND's answer."""
        wanted = {self._name(spec): spec for spec in specs if spec.get("name")}
        status, _headers, content, _xml = _internal_propfind(
            self._caller, path, list(wanted) or [RESOURCETYPE], "1" if depth == "1" else "0"
        )
        root = parse_xml(content) if status == 207 and isinstance(content, bytes) else None
        if root is None:
            return cast(tuple[Any, ...], (status, _headers, content, _xml))
        responses = root.findall(RESPONSE)
        for response in responses:
            for propstat in response.findall(PROPSTAT):
                if " 200 " not in (propstat.findtext(STATUS) or ""):
                    continue
                for prop in propstat.iterfind(PROP + "/*"):
                    spec = wanted.get(prop.tag)
                    if spec is not None and len(spec.findall(PROPERTY)):
                        self._replacehrefs(prop, spec, level)
        return responses

    def _replacehrefs(self, prop: ET.Element, spec: ET.Element, level: int) -> None:
        nested = list(spec.findall(PROPERTY))
        for index, child in enumerate(list(prop)):
            if child.tag != HREF:
                continue
            href = (child.text or "").strip()
            target = path_of(href, self._caller.base_prefix)
            self._count += 1
            if target is None:
                replacement = _error_response(href, 404)
            elif level + 1 >= MAX_EXPAND_DEPTH or self._count > MAX_EXPANDED:
                replacement = _error_response(href, 507)
            else:
                found = self.expand(target, nested, "0", level + 1)
                if isinstance(found, tuple):
                    replacement = _error_response(href, int(found[0]))
                else:
                    replacement = found[0] if found else _error_response(href, 404)
            prop.remove(child)
            prop.insert(index, replacement)


# --- principal-property-search -----------------------------------------------------------

#: RFC 3744 9.5: the properties a search may name, with their descriptions.
SEARCHABLE = {
    DISPLAYNAME: "Display name",
    EMAIL_ADDRESS_SET: "Email addresses",
    CALENDAR_USER_ADDRESS_SET: "Calendar user addresses",
}


def search_property_set() -> ET.Element:
    """RFC 3744 9.5 DAV:principal-search-property-set."""
    root = ET.Element(PRINCIPAL_SEARCH_PROPERTY_SET)
    for name, description in SEARCHABLE.items():
        entry = ET.SubElement(root, clark("D:principal-search-property"))
        ET.SubElement(ET.SubElement(entry, PROP), name)
        text = ET.SubElement(entry, clark("D:description"))
        text.set("{http://www.w3.org/XML/1998/namespace}lang", "en")
        text.text = description
    return root


def _searched_values(caller: Caller, row: Principal, name: str) -> list[str]:
    if name == DISPLAYNAME:
        return [row.displayname, row.name]
    if name == EMAIL_ADDRESS_SET:
        return [row.email] if row.email else []
    if name == CALENDAR_USER_ADDRESS_SET:
        values = [caller.href(row.name)]
        if row.email:
            values += ["mailto:" + row.email, row.email]
        return values
    return []  # not searchable: matches nothing


def matches(values: list[str], text: str, match_type: str) -> bool:
    """RFC 3744 9.4: a caseless substring match; CalendarServer's ``match-type``
    attribute also asks for "starts-with" or "equals"."""
    wanted = text.casefold()
    for value in values:
        value = value.casefold()
        if match_type == "starts-with" and value.startswith(wanted):
            return True
        if match_type == "equals" and value == wanted:
            return True
        if match_type not in ("starts-with", "equals") and wanted in value:
            return True
    return False


def principal_property_search(caller: Caller, path: str, root: ET.Element) -> ET.Element:
    """RFC 3744 9.4 over every enabled user principal (the principal collection is the
    root, whatever the request-URI), each answered by an internal PROPFIND."""
    conditions: list[tuple[list[str], str, str]] = []
    for search in root.findall(clark("D:property-search")):
        match = search.find(clark("D:match"))
        names = [child.tag for child in search.iterfind(PROP + "/*")]
        text = (match.text or "").strip() if match is not None else ""
        match_type = match.get("match-type", "contains") if match is not None else "contains"
        if text:  # an empty match constrains nothing (and must not list everyone)
            conditions.append((names, text, match_type))
    any_of = root.get("test", "allof") == "anyof"
    prop = root.find(PROP)
    wanted = [child.tag for child in prop] if prop is not None else []
    with read_connection(caller.engine) as conn:
        rows = accounts_directory.enabled_principals(conn)
    found = []
    for row in rows:
        results = [
            any(matches(_searched_values(caller, row, name), text, kind) for name in names)
            for names, text, kind in conditions
        ]
        if results and (any(results) if any_of else all(results)):
            found.append(row.name)
    multistatus = ET.Element(MULTISTATUS)
    for name in found[:MAX_SEARCH_RESULTS]:
        if not wanted:
            response = ET.Element(RESPONSE)
            ET.SubElement(response, HREF).text = caller.href(name)
            ET.SubElement(response, STATUS).text = status_line(200)
            multistatus.append(response)
            continue
        status, _headers, content, _xml = _internal_propfind(caller, name, wanted)
        answer = parse_xml(content) if status == 207 and isinstance(content, bytes) else None
        if answer is not None:
            multistatus.extend(answer.findall(RESPONSE))
    if len(found) > MAX_SEARCH_RESULTS:
        href = xmlutils.make_href(caller.base_prefix, pathutils.sanitize_path(path))
        multistatus.append(_error_response(href, 507))
    return multistatus
