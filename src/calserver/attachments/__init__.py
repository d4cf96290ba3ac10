"""Managed attachments (RFC 8607) as a service: the attachments of calendar object
resources, stored in the database (table ``attachments``), with the limits of
``[attachments]`` (size, number per resource, a quota per calendar owner).

- ``store``: the SQL (add, replace, remove, read, forget those of a deleted event);
- ``hooks``: an event's attachments go with it (``calserver.storage.hooks``).

The DAV side (``POST ...?action=attachment-add``, properties, downloads under
``/.attachments/``) is ``calserver.dav.attachments``; the ATTACH rewriting is pure,
``calserver.ical.attachments``.
"""
