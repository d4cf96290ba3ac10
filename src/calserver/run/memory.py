"""Memory of the server process: glibc's malloc arenas.

glibc gives each thread that allocates concurrently an arena of its own (up to eight
per core), and memory freed in one is not given back to the others: a threaded server
grows with its threads, not with what it holds. ``calserver serve`` limits the arenas
to :data:`ARENAS` before any thread starts: ``mallopt(M_ARENA_MAX)`` for its own process
(what ``MALLOC_ARENA_MAX`` sets at a process start) and ``MALLOC_ARENA_MAX`` in the
environment for the processes it starts (gunicorn's workers, forked, inherit both). An
administrator's own ``MALLOC_ARENA_MAX`` is left as it is (glibc read it at the start).
Elsewhere than on glibc, nothing changes.
"""

from __future__ import annotations

import ctypes
import os

#: Arenas of the server process (glibc's default: 8 per core).
ARENAS = 2
#: ``M_ARENA_MAX`` of glibc's ``<malloc.h>``.
M_ARENA_MAX = -8


def limit_arenas(arenas: int = ARENAS) -> bool:
    """Limit glibc's malloc arenas of this process and its children to ``arenas``
    (unless ``MALLOC_ARENA_MAX`` is set already); True when the limit is in place."""
    if os.environ.get("MALLOC_ARENA_MAX"):
        return True
    os.environ["MALLOC_ARENA_MAX"] = str(arenas)
    try:
        mallopt = ctypes.CDLL(None).mallopt  # the C library the process runs on
    except (OSError, AttributeError):  # not glibc
        return False
    return bool(mallopt(M_ARENA_MAX, arenas))
