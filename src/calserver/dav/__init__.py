"""calserver's extensions of Radicale's WebDAV/CalDAV handlers (the DAV surface).

- :mod:`~calserver.dav.propfind`: PROPFIND Depth 1 of item ETags from one index query;
- :mod:`~calserver.dav.proppatch`: PROPPATCH all or nothing, protected properties, limits;
- :mod:`~calserver.dav.freebusy`: FBTYPE availability rules (RFC 4791 7.10, RFC 5545);
- :mod:`~calserver.dav.expandlimit`: ``max_expand_occurrence`` on ``expand`` only;
- :mod:`~calserver.dav.delegation`: caldav-proxy, expand-property, principal search;
- :mod:`~calserver.dav.scheduling`: RFC 6638 on the WebDAV side (inbox, outbox, POST);
- :mod:`~calserver.dav.xml`: the WebDAV XML toolkit they share;
- :mod:`~calserver.dav.compat`: every private Radicale name they rely on.

:mod:`~calserver.dav.application` composes them into the Radicale application subclass;
``calserver.app`` (the composition root) builds it.
"""
