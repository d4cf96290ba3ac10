"""iCalendar as a format, pure (layer L1: no database, no HTTP, no Radicale request):

- :mod:`~calserver.ical.icsfile`: splitting, unfolding and joining iCalendar text, and
  the limits on what a client may send (RFC 5545 3.1, 3.6, 3.8.5.3);
- :mod:`~calserver.ical.timeindex`: the time spans an item covers, for the time index
  the storage keeps (RFC 4791 9.9);
- :mod:`~calserver.ical.occurrences`: occurrence expansion and dates in words, for the
  feeds and the public pages (RFC 5545 3.8.5);
- :mod:`~calserver.ical.vobjectzones`: vobject's TZID registry made per object, installed
  here, before any calserver code reads iCalendar with vobject.
"""

from calserver.ical import vobjectzones

vobjectzones.install()
