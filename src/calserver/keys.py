"""The server's secret key, kept outside the database (a dump alone reveals nothing
that it protects). Created on first use with mode 0600."""

from __future__ import annotations

import os
import secrets
import threading
from typing import Any

_lock = threading.Lock()
_cache: dict[str, bytes] = {}


def key_path(configuration: Any) -> str:
    path = configuration.get("server", "key_file")
    if path:
        return str(path)
    return os.path.join(configuration.get("storage", "data_folder"), "server.key")


def server_key(configuration: Any) -> bytes:
    """The 256-bit key, read once per process."""
    path = key_path(configuration)
    with _lock:
        if path not in _cache:
            _cache[path] = _load_or_create(path)
        return _cache[path]


def _load_or_create(path: str) -> bytes:
    try:
        with open(path, encoding="ascii") as f:
            return bytes.fromhex(f.read().strip())
    except FileNotFoundError:
        pass
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    key = secrets.token_bytes(32)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process created it first
        with open(path, encoding="ascii") as f:
            return bytes.fromhex(f.read().strip())
    with os.fdopen(fd, "w", encoding="ascii") as f:
        f.write(key.hex() + "\n")
    return key
