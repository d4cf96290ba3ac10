"""Names the server keeps for itself: no user, group or calendar may take them.

They are part of the reserved URL space, kept in :mod:`calserver.urls`; this module
names them for the callers that ask about names only.
"""

from __future__ import annotations

from calserver.urls import MAILBOXES, PROXY_GROUPS, RESERVED, reserved, reserved_path

__all__ = ["MAILBOXES", "PROXY_GROUPS", "RESERVED", "reserved", "reserved_path"]
