"""Sync with another CalDAV server, per calendar pair (issue 18 part 2).

A pair joins one of our calendars and one calendar of another server (RFC 4791),
reached through the ``caldav`` library. ``direction`` says which way changes go
(pull: remote to us, push: us to remote, both); ``content`` per direction copies the
event as it is (details) or only its time as a "Busy" block with no text
(:mod:`calserver.remotesync.content`). What each side held at the last run is kept per
item (:mod:`calserver.remotesync.store`), which makes deletes propagate, recognises a
change that came from the other side (loop protection) and finds conflicts (both sides
changed since). The engine is :mod:`calserver.remotesync.engine`; ``calserver worker``
runs due pairs (:mod:`calserver.remotesync.worker`).
"""
