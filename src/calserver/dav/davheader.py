"""The compliance classes calserver announces in the DAV header (RFC 4918 §10.1, §18).

Radicale 3.9 announces ``DAV: 1, 2, 3, ...`` but has no LOCK or UNLOCK (both answer
405 and are not in ``Allow``). RFC 4918 §18.2: class 2 means the server supports
LOCK, UNLOCK and the ``If`` header's lock tokens; a client that reads "2" may LOCK
before it writes (litmus does, some WebDAV file managers do) and then fails. CalDAV
clients do not lock. calserver therefore does not claim class 2; class 3 (RFC 4918
§18.3, the revisions of RFC 4918 over RFC 2518) does not depend on class 2 and stays.
"""

from __future__ import annotations

#: The classes a server claims only when it implements locking (RFC 4918 §18.2).
LOCKING_CLASSES = frozenset({"2"})


def without_locking(header: str) -> str:
    """``header`` (a DAV header's value) without the locking compliance class."""
    tokens = [token.strip() for token in header.split(",")]
    return ", ".join(token for token in tokens if token and token not in LOCKING_CLASSES)
