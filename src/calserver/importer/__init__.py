"""Bringing calendars in from other servers (L4 services): :mod:`calserver.importer.radicale`
reads a stock Radicale file storage (``calserver migrate-from-radicale``)."""
