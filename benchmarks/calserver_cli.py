"""calserver driven through its command line (the CLI contract in the project brief)."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from pathlib import Path

from benchmarks.servers import ServerProcess, free_port
from benchmarks.timing import CheckFailed


def executable() -> Path | None:
    """The ``calserver`` command of this Python environment, else the one on PATH."""
    beside = Path(sys.executable).parent / "calserver"
    if beside.exists():
        return beside
    found = shutil.which("calserver")
    return Path(found) if found else None


class CalserverCli:
    """One calserver installation with its config file and data folder."""

    def __init__(self, command: Path, folder: Path) -> None:
        self.command = command
        self.folder = folder
        self.data_folder = folder / "data"
        self.data_folder.mkdir(parents=True, exist_ok=True)
        self.config = folder / "calserver.ini"
        self.config.write_text(
            "\n".join(
                (
                    "[storage]",
                    f"data_folder = {self.data_folder}",
                    "[logging]",
                    "level = warning",
                    "",
                )
            ),
            encoding="utf-8",
        )

    def run(self, args: list[str], timeout: float, stdin: str | None = None) -> float:
        """Run ``calserver --config FILE ARGS``; return its wall-clock seconds."""
        argv = [str(self.command), "--config", str(self.config), *args]
        started = time.perf_counter()
        try:
            done = subprocess.run(
                argv, input=stdin, capture_output=True, text=True, timeout=timeout, check=False
            )
        except subprocess.TimeoutExpired as exc:
            raise CheckFailed(f"`{' '.join(argv)}` did not finish within {timeout:.0f} s") from exc
        seconds = time.perf_counter() - started
        if done.returncode != 0:
            raise CheckFailed(
                f"`{' '.join(argv)}` exited with {done.returncode}\n"
                f"  stdout: {done.stdout[-800:]}\n  stderr: {done.stderr[-1500:]}"
            )
        return seconds

    def add_user(self, user: str, password: str) -> None:
        self.run(["user", "add", user, "--password-stdin"], timeout=120, stdin=password + "\n")

    def create_calendar(self, target: str) -> None:
        self.run(["calendar", "create", target], timeout=120)

    def import_file(self, ics: Path, target: str, timeout: float) -> float:
        """``calserver import FILE USER/CAL``; the seconds include the CLI's start-up."""
        return self.run(["import", str(ics), target], timeout=timeout)

    def server(self, log: Path) -> ServerProcess:
        argv = [
            str(self.command),
            "serve",
            "--config",
            str(self.config),
            "--server-hosts",
            "127.0.0.1:{port}",
        ]
        return ServerProcess("calserver", argv, log, free_port())
