"""A Ray cluster of several node processes on this machine, made with ``ray start``.

For the Ray executor's tests and benchmark, and for trying ``lanser bench run
--executor ray`` without a cluster: a head and further nodes on loopback,
each with a few CPUs and the ``docker`` resource, under one private
``--temp-dir`` so every process of the cluster can be found again (by that
directory on its command line, or as a child of one of its raylets).
:meth:`LocalRayCluster.stop` runs ``ray stop`` and then makes sure none of
those processes is left.  ``ray stop`` ends every Ray process of this user
on the machine, so one such cluster at a time.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType

from lanser.harness.errors import InfrastructureError

__all__ = ["LocalRayCluster"]

START_TIMEOUT_S = 180.0


class LocalRayCluster:
    """``nodes`` Ray nodes on 127.0.0.1 (the first is the head), ``cpus`` CPUs and ``resources`` each."""

    def __init__(self, nodes: int = 2, *, cpus: int = 1, resources: Mapping[str, float] | None = None) -> None:
        self.nodes, self.cpus = nodes, cpus
        self.resources = dict(resources if resources is not None else {"docker": float(cpus)})
        self.address = ""
        self.raylets: list[int] = []
        self.started_s: list[float] = []
        self.temp_dir: Path | None = None
        self._seen: set[tuple[int, str]] = set()
        self._ray = str(Path(sys.executable).with_name("ray"))

    def __enter__(self) -> LocalRayCluster:
        self.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()

    def start(self) -> None:
        # Short: Ray's Unix socket paths live below it and must stay under 108 bytes.
        self.temp_dir = Path(tempfile.mkdtemp(prefix="lanser-ray-"))
        try:
            port = _free_port()
            self.address = f"127.0.0.1:{port}"
            self._start_node(["--head", f"--port={port}", "--include-dashboard=false"])
            for _ in range(1, self.nodes):
                self._start_node([f"--address={self.address}"])
        except BaseException:
            self.stop()
            raise

    def add_node(self) -> int:
        """One more node; returns its index."""
        self._start_node([f"--address={self.address}"])
        return len(self.raylets) - 1

    def kill_node(self, index: int) -> None:
        """SIGKILL the raylet of node ``index``: the node is lost as a crashed machine would be."""
        self.remember()
        os.kill(self.raylets[index], signal.SIGKILL)

    def running(self, index: int, function: str) -> bool:
        """Whether a worker of node ``index`` is running the Ray task ``function`` now (its process title)."""
        return any(_cmdline(pid).startswith(f"ray::{function}") for pid in _children(self.raylets[index]))

    def remember(self) -> None:
        """Note the cluster's processes now (workers come and go; a killed raylet's children lose their parent)."""
        self._seen |= self._processes()

    def alive(self) -> list[int]:
        """Pids of this cluster's processes that are alive now (those noted before included)."""
        if self.temp_dir is None:
            return []
        return sorted(pid for pid, started in self._seen | self._processes() if _start_time(pid) == started)

    def stop(self) -> list[int]:
        """``ray stop``, then SIGKILL whatever of this cluster is still alive; returns those pids."""
        self.remember()
        env = _env()
        if self.raylets:
            subprocess.run([self._ray, "stop"], capture_output=True, text=True, timeout=120, env=env)
        leftovers = [pid for pid, started in self._seen if _start_time(pid) == started]
        for pid in leftovers:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.raylets = []
        if self.temp_dir is not None:
            shutil.rmtree(self.temp_dir, ignore_errors=True)
        return leftovers

    def _start_node(self, extra: list[str]) -> None:
        assert self.temp_dir is not None
        before = set(_raylets())
        started = time.monotonic()
        proc = subprocess.run([self._ray, "start", "--node-ip-address=127.0.0.1", f"--num-cpus={self.cpus}",
                               f"--resources={json.dumps(self.resources)}", f"--temp-dir={self.temp_dir}",
                               f"--dashboard-agent-listen-port={_free_port()}", "--disable-usage-stats", *extra],
                              capture_output=True, text=True, timeout=START_TIMEOUT_S, env=_env())
        if proc.returncode != 0:
            tail = "\n".join((proc.stdout + proc.stderr).splitlines()[-15:])
            raise InfrastructureError("ray start failed", stage="ray", log_tail=tail)
        new = sorted(set(_raylets()) - before)
        if len(new) != 1:
            raise InfrastructureError(f"ray start made {len(new)} raylets, not one", stage="ray")
        self.raylets.append(new[0])
        self.started_s.append(time.monotonic() - started)
        self.remember()

    def _processes(self) -> set[tuple[int, str]]:
        """(pid, start time) of every process of this cluster: its temp dir on the command line, or
        a descendant of one of those."""
        assert self.temp_dir is not None
        marker = str(self.temp_dir)
        table = _process_table()
        roots = {pid for pid, (_, cmd) in table.items() if marker in cmd}
        found, frontier = set(roots), list(roots)
        while frontier:
            parent = frontier.pop()
            for pid, (ppid, _) in table.items():
                if ppid == parent and pid not in found:
                    found.add(pid)
                    frontier.append(pid)
        return {(pid, started) for pid in found if (started := _start_time(pid))}


def _env() -> dict[str, str]:
    return {**os.environ, "RAY_USAGE_STATS_ENABLED": "0"}


def _free_port() -> int:
    # Ray gives workers ports 10002-19999 by default; ephemeral ports lie above that.
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _process_table() -> dict[int, tuple[int, str]]:
    table = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
                table[int(entry.name)] = (ppid, (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(
                    errors="replace"))
            except (OSError, IndexError, ValueError):
                continue
    return table


def _raylets() -> list[int]:
    return [pid for pid, (_, cmd) in _process_table().items() if "/raylet/raylet " in cmd]


def _children(parent: int) -> list[int]:
    return [pid for pid, (ppid, _) in _process_table().items() if ppid == parent]


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def _start_time(pid: int) -> str:
    """The process's start time in clock ticks (field 22 of /proc/PID/stat), "" when it is gone or a
    zombie: with the pid, it names one process even after the pid is reused."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return ""
    return "" if len(fields) < 20 or fields[0] in ("Z", "X") else fields[19]
