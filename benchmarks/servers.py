"""Starting, stopping and observing the server processes under test (127.0.0.1 only)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from benchmarks.davclient import DavClient


class ServerError(RuntimeError):
    """A server did not start, or died."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass(frozen=True)
class Memory:
    """Resident memory of a process tree, in KiB (``/proc/PID/status``)."""

    rss_kib: int  # VmRSS, summed over the process and its children
    hwm_kib: int  # VmHWM (peak), summed likewise
    processes: int


def _status_fields(pid: int) -> dict[str, str]:
    fields: dict[str, str] = {}
    with open(f"/proc/{pid}/status", encoding="ascii", errors="replace") as status:
        for line in status:
            name, _, value = line.partition(":")
            fields[name] = value.strip()
    return fields


def _children(pid: int) -> list[int]:
    found: list[int] = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        if ppid == pid:
            found.append(int(entry.name))
    return found


def process_tree(pid: int) -> list[int]:
    """``pid`` and all its descendants."""
    pids, queue = [], [pid]
    while queue:
        current = queue.pop()
        pids.append(current)
        queue.extend(_children(current))
    return pids


_TICKS = os.sysconf("SC_CLK_TCK")


def tree_cpu(pids: list[int]) -> float:
    """CPU seconds the processes ``pids`` have used so far: the on-CPU nanoseconds of
    each of their threads (``/proc/PID/task/TID/schedstat``), else, where that is not
    available, user + system ticks (``/proc/PID/stat``, 10 ms steps). The server's own
    work, whatever else runs on the machine."""
    total = 0.0
    for current in pids:
        try:
            tasks = os.listdir(f"/proc/{current}/task")
            nanoseconds = 0
            for task in tasks:
                with open(f"/proc/{current}/task/{task}/schedstat", encoding="ascii") as stat:
                    nanoseconds += int(stat.read().split()[0])
            total += nanoseconds / 1e9
        except (OSError, ValueError, IndexError):
            try:
                with open(f"/proc/{current}/stat", encoding="ascii", errors="replace") as stat:
                    fields = stat.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            total += sum(int(value) for value in fields[11:13]) / _TICKS  # utime stime
    return total


def reset_peak(pids: list[int]) -> None:
    """Start VmHWM again from VmRSS (``/proc/PID/clear_refs``, Linux 4.0+), so that
    the next reading is the peak of what follows; where not allowed, VmHWM stays the
    peak since the process started."""
    for current in pids:
        try:
            with open(f"/proc/{current}/clear_refs", "w", encoding="ascii") as refs:
                refs.write("5")
        except OSError:
            continue


def process_memory(pid: int) -> Memory:
    """VmRSS and VmHWM of ``pid`` plus all its descendants."""
    pids = process_tree(pid)
    rss = hwm = 0
    for current in pids:
        try:
            fields = _status_fields(current)
        except OSError:
            continue
        rss += int(fields.get("VmRSS", "0 kB").split()[0])
        hwm += int(fields.get("VmHWM", "0 kB").split()[0])
    return Memory(rss, hwm, len(pids))


class ServerProcess:
    """One server under test: a command line that listens on ``127.0.0.1:<port>``."""

    def __init__(self, name: str, argv_for_port: list[str], log_path: Path, port: int) -> None:
        self.name = name
        self._argv_template = argv_for_port  # "{port}" is replaced by the port
        self._log_path = log_path
        self.port = port
        self._process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        if self._process is None:
            raise ServerError(f"{self.name} is not running")
        return self._process.pid

    def start(self, timeout: float) -> float:
        """Start the process and wait until it answers HTTP; return the start-up seconds."""
        argv = [part.replace("{port}", str(self.port)) for part in self._argv_template]
        self._log = self._log_path.open("ab")
        self._log.write(f"\n=== start {' '.join(argv)}\n".encode())
        self._log.flush()
        started = time.perf_counter()
        self._process = subprocess.Popen(
            argv, stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True
        )
        self._wait_ready(timeout)
        return time.perf_counter() - started

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process is not None and self._process.poll() is not None:
                raise ServerError(
                    f"{self.name} exited with {self._process.returncode}; see {self._log_path}"
                )
            try:
                probe = DavClient(self.url, "", "", timeout=2)
                probe.request("OPTIONS", "/")
                probe.close()
                return
            except OSError:
                time.sleep(0.1)
        raise ServerError(f"{self.name} did not answer on {self.url} within {timeout:.0f} s")

    def memory(self) -> Memory:
        return process_memory(self.pid)

    def alive(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def stop(self, timeout: float = 15) -> None:
        """SIGTERM the process group we started, SIGKILL it after ``timeout``."""
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout)
        if self._log is not None:
            self._log.close()
            self._log = None

    def restart(self, timeout: float) -> float:
        """Stop, then start on a fresh port (the old one may linger in TIME_WAIT)."""
        self.stop()
        self.port = free_port()
        return self.start(timeout)
