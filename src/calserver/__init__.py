"""calserver: a CalDAV / iCalendar / RSS calendar server on Radicale with SQL storage."""

__version__ = "0.1.0"
