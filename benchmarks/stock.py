"""Stock Radicale 3.9.0 as the baseline: multifilesystem storage, htpasswd (plain), owner_only.

Its calendar is loaded by writing one ``.ics`` file per event plus ``.Radicale.props`` into
``collection-root/USER/CAL/``: uploading 100,000 events over HTTP would take too long.
Its bulk import is measured separately, as Radicale's own import path: one PUT of the whole
calendar to a new collection URL, on an empty storage.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from benchmarks.model import Event
from benchmarks.render import write_event_files
from benchmarks.servers import ServerProcess, free_port

MAX_CONTENT_LENGTH = 100_000_000  # Radicale's [server] max_content_length default


def write_config(folder: Path, user: str, password: str) -> Path:
    """A Radicale config (and its htpasswd file) with its storage under ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    htpasswd = folder / "htpasswd"
    htpasswd.write_text(f"{user}:{password}\n", encoding="utf-8")
    config = folder / "radicale.ini"
    config.write_text(
        "\n".join(
            (
                "[auth]",
                "type = htpasswd",
                f"htpasswd_filename = {htpasswd}",
                "htpasswd_encryption = plain",
                "[rights]",
                "type = owner_only",
                "[storage]",
                "type = multifilesystem",
                f"filesystem_folder = {folder / 'collections'}",
                "[web]",
                "type = none",
                "[logging]",
                "level = warning",
                "",
            )
        ),
        encoding="utf-8",
    )
    return config


def load_calendar(folder: Path, user: str, calendar: str, events: Sequence[Event]) -> float:
    """Write the calendar's files straight into the storage; return the seconds it took."""
    started = time.perf_counter()
    collection = folder / "collections" / "collection-root" / user / calendar
    collection.mkdir(parents=True)
    props = {
        "tag": "VCALENDAR",
        "D:displayname": f"Benchmark ({len(events)} events)",
        "C:supported-calendar-component-set": "VEVENT",
    }
    (collection / ".Radicale.props").write_text(json.dumps(props, sort_keys=True), "utf-8")
    write_event_files(events, collection)
    return time.perf_counter() - started


def server(config: Path, log: Path) -> ServerProcess:
    """``python -m radicale --config FILE`` on a free port (its built-in HTTP/1.0 server)."""
    argv = [
        sys.executable,
        "-m",
        "radicale",
        "--config",
        str(config),
        "--server-hosts",
        "127.0.0.1:{port}",
    ]
    return ServerProcess("stock Radicale", argv, log, free_port())
