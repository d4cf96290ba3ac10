"""calserver driven through its command line (the CLI contract in the project brief)."""

from __future__ import annotations

import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
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


@dataclass(frozen=True)
class RunCost:
    """What one command cost: wall seconds, CPU seconds (user + system, its worker
    processes included) and the peak RSS of its largest process, KiB."""

    seconds: float
    cpu: float
    peak_kib: int


def _wait4(pid: int, deadline: float) -> tuple[int | None, resource.struct_rusage | None]:
    """Wait for ``pid`` until ``deadline`` (``time.perf_counter``), killing it then: its
    exit status and its resource usage (``wait4``: its own and its reaped workers'),
    or (None, None) when it had to be killed."""
    while True:
        done, status, usage = os.wait4(pid, os.WNOHANG)
        if done:
            return status, usage
        if time.perf_counter() > deadline:
            os.kill(pid, signal.SIGKILL)
            os.wait4(pid, 0)
            return None, None
        time.sleep(0.02)


class CalserverCli:
    """One calserver installation with its config file and data folder."""

    def __init__(self, command: Path, folder: Path, database_url: str | None = None) -> None:
        self.command = command
        self.folder = folder
        self.data_folder = folder / "data"
        self.data_folder.mkdir(parents=True, exist_ok=True)
        self.config = folder / "calserver.ini"
        self.last = RunCost(0.0, 0.0, 0)
        #: the database (SQLite in the data folder unless a URL is given)
        self.database_url = database_url or f"sqlite:///{self.data_folder}/calserver.sqlite"
        storage = [f"data_folder = {self.data_folder}"]
        if database_url:
            storage.append(f"database_url = {database_url}")
        self.config.write_text(
            "\n".join(("[storage]", *storage, "[logging]", "level = warning", "")),
            encoding="utf-8",
        )

    def run(self, args: list[str], timeout: float, stdin: str | None = None) -> float:
        """Run ``calserver --config FILE ARGS``; return its wall-clock seconds (its
        CPU seconds and peak RSS are kept in :attr:`last`)."""
        argv = [str(self.command), "--config", str(self.config), *args]
        with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
            started = time.perf_counter()
            process = subprocess.Popen(
                argv, stdin=subprocess.PIPE, stdout=out, stderr=err, text=True
            )
            assert process.stdin is not None
            if stdin:
                process.stdin.write(stdin)
            process.stdin.close()
            status, usage = _wait4(process.pid, started + timeout)
            seconds = time.perf_counter() - started
            process.returncode = -1 if status is None else os.waitstatus_to_exitcode(status)
            if status is None or usage is None:
                raise CheckFailed(f"`{' '.join(argv)}` did not finish within {timeout:.0f} s")
            self.last = RunCost(seconds, usage.ru_utime + usage.ru_stime, usage.ru_maxrss)
            if process.returncode != 0:
                out.seek(0)
                err.seek(0)
                raise CheckFailed(
                    f"`{' '.join(argv)}` exited with {process.returncode}\n"
                    f"  stdout: {out.read()[-800:]}\n  stderr: {err.read()[-1500:]}"
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
