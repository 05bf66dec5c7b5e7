"""A Ray cluster of several node processes on this machine, made with ``ray start``.

For the Ray executor's tests and benchmark, and for trying ``lanser bench run
--executor ray`` without a cluster: a head and further nodes on this machine,
each with a few CPUs and the ``docker`` resource, under one private
``--temp-dir`` so every process of the cluster can be found again (by that
directory on its command line, or as a descendant of one of those).

Token authentication is on (``RAY_AUTH_MODE=token``): a fresh random token is
written to ``<temp dir>/auth_token`` (mode 0600) and every node reads it
through ``RAY_AUTH_TOKEN_PATH``, never from a command line; a client needs
:meth:`LocalRayCluster.client_env`.  Ray 2.60 replaces ``--node-ip-address
127.0.0.1`` with the host's address and its GCS and raylets listen on every
interface whatever the node address, so the token, not the address, is what
keeps others out (docs/ray.md lists the ports).
:meth:`LocalRayCluster.stop` ends those processes and no others (not
``ray stop``, which ends every Ray process of this user on the machine), so
several such clusters, or other Ray clusters, can run side by side.
"""

from __future__ import annotations

import json
import os
import re
import secrets
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
#: How long :meth:`LocalRayCluster.stop` waits for each group of processes to end on SIGTERM
#: before it SIGKILLs them (``ray stop`` waits 16 s over its three groups).
STOP_GRACE_S = 10.0


class LocalRayCluster:
    """``nodes`` Ray nodes on this machine (the first is the head), ``cpus`` CPUs and ``resources`` each.

    ``auth=False`` starts an open cluster (``RAY_AUTH_MODE=disabled``): only for showing that the
    executor refuses one.  ``node_env`` adds variables to the environment of node ``i`` (a node
    denied the Debian mirror, say); ``node_resources`` replaces ``resources`` for node ``i``.
    """

    def __init__(
        self,
        nodes: int = 2,
        *,
        cpus: int = 1,
        resources: Mapping[str, float] | None = None,
        auth: bool = True,
        node_env: Mapping[int, Mapping[str, str]] | None = None,
        node_resources: Mapping[int, Mapping[str, float]] | None = None,
    ) -> None:
        self.nodes, self.cpus, self.auth = nodes, cpus, auth
        self.resources = dict(resources if resources is not None else {"docker": float(cpus)})
        self.node_env = {i: dict(env) for i, env in (node_env or {}).items()}
        self.node_resources = {i: dict(res) for i, res in (node_resources or {}).items()}
        self.address = ""
        self.token_path: Path | None = None
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
            if self.auth:
                self.token_path = self.temp_dir / "auth_token"
                fd = os.open(self.token_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                with os.fdopen(fd, "w") as f:
                    f.write(secrets.token_hex(32))
            port = _free_port()
            self.address = f"127.0.0.1:{port}"
            self._start_node(["--head", f"--port={port}", "--include-dashboard=false"])
            for _ in range(1, self.nodes):
                self._start_node([f"--address={self.address}"])
        except BaseException:
            self.stop()
            raise

    def client_env(self) -> dict[str, str]:
        """What a driver's environment needs to connect: the auth mode and where the token is."""
        if self.token_path is None:
            return {"RAY_AUTH_MODE": "disabled"}
        return {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN_PATH": str(self.token_path)}

    def add_node(self, env: Mapping[str, str] | None = None, resources: Mapping[str, float] | None = None) -> int:
        """One more node (with ``env`` added to its environment, ``resources`` instead of the
        cluster's); returns its index."""
        index = len(self.raylets)
        if env is not None:
            self.node_env[index] = dict(env)
        if resources is not None:
            self.node_resources[index] = dict(resources)
        self._start_node([f"--address={self.address}"])
        return index

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
        """SIGTERM this cluster's processes, in ``ray stop``'s order (raylets, then the others, the GCS
        last), SIGKILL those still alive after :data:`STOP_GRACE_S`; returns the pids SIGKILLed."""
        if self.temp_dir is None:
            return []
        self.remember()
        alive = {(pid, started) for pid, started in self._seen if _start_time(pid) == started}
        table = _process_table()

        def group(pid: int) -> int:
            cmd = table.get(pid, (0, ""))[1]
            return 0 if "/raylet/raylet " in cmd else 2 if "/gcs/gcs_server " in cmd else 1

        leftovers: list[int] = []
        for rank in range(3):
            procs = {(pid, started) for pid, started in alive if group(pid) == rank}
            _signal(procs, signal.SIGTERM)
            deadline = time.monotonic() + STOP_GRACE_S
            while _living(procs) and time.monotonic() < deadline:
                time.sleep(0.1)
            leftovers += _living(procs)
            _signal(procs, signal.SIGKILL)
        # Whatever was started meanwhile (a worker forked while its raylet went down).
        late = self._processes() - alive
        leftovers += _living(late)
        _signal(late, signal.SIGKILL)
        self.raylets = []
        if self.temp_dir is not None:
            shutil.rmtree(self.temp_dir, ignore_errors=True)
        self.token_path = None
        return leftovers

    def _start_node(self, extra: list[str]) -> None:
        assert self.temp_dir is not None
        before = set(_raylets(self.temp_dir))
        index = len(self.raylets)
        resources = self.node_resources.get(index, self.resources)
        env = {**_env(), **self.client_env(), **self.node_env.get(index, {})}
        started = time.monotonic()
        proc = subprocess.run(
            [
                self._ray,
                "start",
                "--node-ip-address=127.0.0.1",
                f"--num-cpus={self.cpus}",
                f"--resources={json.dumps(resources)}",
                f"--temp-dir={self.temp_dir}",
                f"--dashboard-agent-listen-port={_free_port()}",
                "--disable-usage-stats",
                *extra,
            ],
            capture_output=True,
            text=True,
            timeout=START_TIMEOUT_S,
            env=env,
        )
        if proc.returncode != 0:
            tail = "\n".join((proc.stdout + proc.stderr).splitlines()[-15:])
            raise InfrastructureError("ray start failed", stage="ray", log_tail=tail)
        new = sorted(set(_raylets(self.temp_dir)) - before)
        if len(new) != 1:
            raise InfrastructureError(f"ray start made {len(new)} raylets, not one", stage="ray")
        self.raylets.append(new[0])
        self.started_s.append(time.monotonic() - started)
        self.remember()

    def _processes(self) -> set[tuple[int, str]]:
        """(pid, start time) of every process of this cluster: its temp dir on the command line, or
        a descendant of one of those."""
        assert self.temp_dir is not None
        table = _process_table()
        roots = {pid for pid, (_, cmd) in table.items() if _mentions(cmd, self.temp_dir)}
        found, frontier = set(roots), list(roots)
        while frontier:
            parent = frontier.pop()
            for pid, (ppid, _) in table.items():
                if ppid == parent and pid not in found:
                    found.add(pid)
                    frontier.append(pid)
        return {(pid, started) for pid in found if (started := _start_time(pid))}


def _env() -> dict[str, str]:
    # The token comes from the cluster's own file: never one this process was given for another cluster.
    env = {k: v for k, v in os.environ.items() if k not in ("RAY_AUTH_TOKEN", "RAY_AUTH_TOKEN_PATH", "RAY_AUTH_MODE")}
    return {**env, "RAY_USAGE_STATS_ENABLED": "0"}


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
                table[int(entry.name)] = (
                    ppid,
                    (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace"),
                )
            except (OSError, IndexError, ValueError):
                continue
    return table


def _mentions(cmd: str, temp_dir: Path) -> bool:
    """Whether a command line names ``temp_dir`` (or a path below it), not merely a longer name."""
    return re.search(re.escape(str(temp_dir)) + r"(?=[/\s]|$)", cmd) is not None


def _raylets(temp_dir: Path) -> list[int]:
    """This cluster's raylets: another cluster's on the same machine have another temp dir."""
    return [pid for pid, (_, cmd) in _process_table().items() if "/raylet/raylet " in cmd and _mentions(cmd, temp_dir)]


def _living(procs: set[tuple[int, str]]) -> list[int]:
    return sorted(pid for pid, started in procs if _start_time(pid) == started)


def _signal(procs: set[tuple[int, str]], sig: signal.Signals) -> None:
    """Send ``sig`` to those of ``procs`` (pid, start time) still alive: never to a reused pid."""
    for pid in _living(procs):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass


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
