"""Run one command in a sealed, limited, always-removed Docker container.

Every container :func:`run` starts has no network (``network_mode="none"``),
no capabilities, ``no-new-privileges``, runs as uid:gid 1000:1000 on a
read-only root filesystem, and may write only to its work area (the host
``workdir`` bind-mounted at ``/work``, read-only on request) and to two
small tmpfs mounts (``/tmp``, ``/home/agent``).  Pids, memory (swap
included: ``memswap_limit == mem_limit``) and CPUs are capped, the
wall-clock time is enforced by killing the container, and the output kept
is bounded on both sides: Docker keeps at most :func:`_docker_log_cap`
bytes of log on disk, and the result keeps ``output_bytes`` of it.

The container is removed in every case (success, error, ``KeyboardInterrupt``,
a second Ctrl-C during the removal); :func:`cleanup` removes by label what
a killed harness process (SIGKILL, a crash of the interpreter) could not.

Errors from Docker (and from preparing the work area) are translated here,
once, into :class:`~lanser.harness.errors.InfrastructureError`: they are the
harness's failures, never the agent's.  What the command itself does (a
non-zero exit, a timeout, the OOM killer, a fork bomb hitting the pids
limit) is a :class:`RunResult`, never an exception.
"""

from __future__ import annotations

import os
import re
import time
import uuid
from collections import deque
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import docker  # type: ignore[import-untyped, unused-ignore]
import docker.errors  # type: ignore[import-untyped, unused-ignore]
import docker.types  # type: ignore[import-untyped, unused-ignore]
import requests

from lanser.harness.env import diskguard
from lanser.harness.errors import InfrastructureError

__all__ = ["AGENT_UID", "HARNESS_LABEL", "RUN_LABEL", "Limits", "RunResult", "cleanup", "run"]

#: Every container the harness starts carries ``HARNESS_LABEL=1``.
HARNESS_LABEL = "lanser.harness"
#: The label a caller uses to group the containers of one run (see :func:`cleanup`).
RUN_LABEL = "lanser.run"
#: The unprivileged user and group every command runs as.
AGENT_UID = 1000
WORK_MOUNT = "/work"
HOME = "/home/agent"

_STAGE = "sandbox"
#: Errors of the Docker SDK and of its HTTP transport (an unreachable engine).
_DOCKER_ERRORS = (docker.errors.DockerException, requests.exceptions.RequestException)

#: Messages by which shells, Python and toolchains report a failed fork or clone
#: (EAGAIN from the pids cgroup).  Best effort: a program may say nothing.
_PIDS_EXHAUSTED = re.compile(
    r"(?:v?fork|clone|thread)[^\n]{0,40}Resource temporarily unavailable"
    r"|Cannot fork|can't fork|can't start new thread"
    r"|BlockingIOError: \[Errno 11\]",
)


@dataclass(frozen=True)
class Limits:
    """What one command may use.  ``output_bytes`` bounds the output kept."""

    wall_s: float = 300.0
    memory_mb: int = 1024
    cpus: float = 1.0
    pids: int = 256
    output_bytes: int = 1 << 20
    #: The command is stopped when the file system holding its work area has less free than this
    #: (MiB, inodes): see :mod:`lanser.harness.env.diskguard`.
    disk_floor_mb: int = 1024
    inode_floor: int = 10_000

    def __post_init__(self) -> None:
        for name in ("wall_s", "memory_mb", "cpus", "pids", "output_bytes", "disk_floor_mb", "inode_floor"):
            if not getattr(self, name) > 0:
                raise ValueError(f"Limits.{name} must be positive, got {getattr(self, name)!r}")


@dataclass(frozen=True)
class RunResult:
    """How a command ended.

    ``exit_code`` is ``None`` when the command was killed for exceeding its
    wall time.  ``output`` is stdout and stderr interleaved as written,
    decoded as UTF-8 (bad bytes replaced), and cut in the middle to
    ``Limits.output_bytes`` with a marker saying how much was left out.
    ``pids_exhausted`` is best effort: a fork failure reported in the
    output, or a pids count at the limit when the wall time ran out.
    ``image_id`` is the id (``sha256:...``) of the image that ran.
    ``disk_exceeded`` says why the command was stopped for its writes (its work area over its
    cap, or the disk at its floor: :mod:`~lanser.harness.env.diskguard`); ``exit_code`` is then
    ``None`` too.
    """

    exit_code: int | None
    output: str
    duration_s: float
    timed_out: bool
    oom_killed: bool
    pids_exhausted: bool
    image_id: str
    disk_exceeded: str | None = None


def run(
    image: str,
    command: str | list[str],
    workdir: Path,
    *,
    limits: Limits = Limits(),
    labels: dict[str, str] | None = None,
    env: dict[str, str] | None = None,
    client: Any = None,
    read_only_workdir: bool = False,
    disk_cap: diskguard.DiskCap | None = None,
) -> RunResult:
    """Run ``command`` in ``image`` with ``workdir`` mounted at ``/work``.

    A string command runs as ``["sh", "-c", command]``.  ``workdir`` must be
    a harness-owned copy: it is chowned (recursively, symlinks not
    followed) to uid:gid 1000:1000 so that the unprivileged user can use it,
    and so must not share inodes (hard links) with anything else.  ``HOME``
    is ``/home/agent`` unless ``env`` says otherwise.  ``labels`` are added
    to ``lanser.harness=1``; give ``lanser.run`` to make :func:`cleanup`
    able to find this run's containers.  The command is stopped when the
    work area's disk reaches ``limits``' floor, or the work area holds more
    than ``disk_cap`` (give one when the writer is untrusted).
    """
    workdir = _prepare_workdir(workdir)
    argv = ["sh", "-c", command] if isinstance(command, str) else list(command)
    owned = client is None
    if owned:
        client = _connect()
    name = f"lanser-{uuid.uuid4().hex[:16]}"
    try:
        try:
            guard = diskguard.Guard(
                workdir,
                None if read_only_workdir else disk_cap,
                floor_bytes=limits.disk_floor_mb * diskguard.MIB,
                floor_inodes=limits.inode_floor,
            )
            result = _run_in(client, name, image, argv, workdir, limits, labels, env, read_only_workdir, guard)
        except BaseException:
            _force_remove(client, name, quiet=True)
            raise
        _force_remove(client, name, quiet=False)
        return result
    finally:
        if owned:
            client.close()


def cleanup(run_label: str | None = None, client: Any = None) -> int:
    """Force-remove the harness's containers (those of one run if ``run_label``).

    Returns how many were removed.  The backstop for what :func:`run` could
    not remove itself: the harness process was SIGKILLed or the engine was
    unreachable at the time.
    """
    owned = client is None
    if owned:
        client = _connect()
    wanted = [f"{HARNESS_LABEL}=1"] + ([f"{RUN_LABEL}={run_label}"] if run_label is not None else [])
    try:
        try:
            found = client.api.containers(all=True, quiet=True, filters={"label": wanted})
        except _DOCKER_ERRORS as exc:
            raise InfrastructureError(f"cannot list containers: {exc}", stage=_STAGE) from exc
        removed = 0
        for entry in found:
            try:
                client.api.remove_container(entry["Id"], force=True, v=True)
            except docker.errors.NotFound:
                continue
            except _DOCKER_ERRORS as exc:
                if _removal_in_progress(exc):
                    continue
                raise InfrastructureError(f"cannot remove container {entry['Id'][:12]}: {exc}", stage=_STAGE) from exc
            removed += 1
        return removed
    finally:
        if owned:
            client.close()


# -- the run ----------------------------------------------------------------


def _run_in(
    client: Any,
    name: str,
    image: str,
    argv: list[str],
    workdir: Path,
    limits: Limits,
    labels: Mapping[str, str] | None,
    env: Mapping[str, str] | None,
    read_only_workdir: bool,
    guard: diskguard.Guard,
) -> RunResult:
    try:
        image_id = str(client.images.get(image).id)
    except docker.errors.ImageNotFound as exc:
        raise InfrastructureError(f"image {image!r} not found", stage=_STAGE) from exc
    except _DOCKER_ERRORS as exc:
        raise InfrastructureError(f"cannot inspect image {image!r}: {exc}", stage=_STAGE) from exc
    mb = limits.memory_mb
    try:
        # The image is referenced by id, so the container runs exactly what
        # image_id records even if the tag moves meanwhile.
        container = client.containers.create(
            image_id,
            argv,
            name=name,
            detach=True,
            network_mode="none",
            cap_drop=["ALL"],
            security_opt=["no-new-privileges"],
            user=f"{AGENT_UID}:{AGENT_UID}",
            read_only=True,
            tmpfs={
                "/tmp": "rw,exec,nosuid,nodev,size=256m",
                HOME: f"rw,nosuid,nodev,size=64m,uid={AGENT_UID},gid={AGENT_UID},mode=0700",
            },
            volumes={str(workdir): {"bind": WORK_MOUNT, "mode": "ro" if read_only_workdir else "rw"}},
            working_dir=WORK_MOUNT,
            environment={"HOME": HOME, **(env or {})},
            pids_limit=limits.pids,
            mem_limit=f"{mb}m",
            memswap_limit=f"{mb}m",
            nano_cpus=int(limits.cpus * 1e9),
            labels={**(labels or {}), HARNESS_LABEL: "1"},
            log_config=docker.types.LogConfig(
                type="json-file", config={"max-size": str(_docker_log_cap(limits)), "max-file": "1"}
            ),
        )
        started = time.monotonic()
        container.start()
        status, timed_out, disk_exceeded = _wait(container, started + limits.wall_s, guard)
        pids_at_limit = False
        if timed_out or disk_exceeded:
            if timed_out:
                pids_at_limit = _pids_at_limit(client, name, limits.pids)
            try:
                container.kill()
            except docker.errors.APIError as exc:
                if exc.status_code != 409:  # 409: it exited meanwhile
                    raise
        if status is None:
            status = container.wait(timeout=30)
        duration = time.monotonic() - started
        container.reload()
        state = container.attrs["State"]
        output = _bounded_output(client.api.logs(name, stdout=True, stderr=True, stream=True), limits.output_bytes)
    except InfrastructureError:
        raise
    except _DOCKER_ERRORS as exc:
        raise InfrastructureError(f"container run failed: {exc}", stage=_STAGE) from exc
    return RunResult(
        exit_code=None if timed_out or disk_exceeded else int(status["StatusCode"]),
        output=output,
        duration_s=duration,
        timed_out=timed_out,
        oom_killed=bool(state.get("OOMKilled")),
        pids_exhausted=(timed_out and pids_at_limit) or bool(_PIDS_EXHAUSTED.search(output)),
        image_id=image_id,
        disk_exceeded=disk_exceeded,
    )


#: How often a running command's disk is looked at (seconds).
_POLL_S = 1.0


def _wait(container: Any, deadline: float, guard: diskguard.Guard) -> tuple[dict[str, Any] | None, bool, str | None]:
    """Wait for the container to exit, its deadline, or its guard to object:
    (its status if it exited, timed out, why the guard stopped it)."""
    while True:
        try:
            return container.wait(timeout=max(0.05, min(_POLL_S, deadline - time.monotonic()))), False, None
        except requests.exceptions.RequestException:
            # The read timed out (requests reports it as ReadTimeout or, over
            # the unix socket, ConnectionError): look before deciding.
            container.reload()
            if not container.attrs["State"]["Running"]:
                return None, False, None
        if time.monotonic() >= deadline:
            return None, True, None
        why = guard.check()
        if why is not None:
            return None, False, why


def _connect() -> Any:
    try:
        client = docker.from_env()
        client.ping()
    except _DOCKER_ERRORS as exc:
        raise InfrastructureError(f"cannot reach the Docker engine: {exc}", stage=_STAGE) from exc
    return client


def _prepare_workdir(workdir: Path) -> Path:
    """Make the (harness-owned) work area usable by uid 1000; return it absolute.

    As root: ``chown -R 1000:1000`` without following symlinks, so a link
    planted in the tree cannot hand a host file to the agent.  As uid 1000
    nothing is needed.  As anyone else (a non-root user in the docker
    group) the tree is made group- and world-writable instead.
    """
    workdir = workdir.resolve()
    if not workdir.is_dir():
        raise InfrastructureError(f"work directory {workdir} does not exist", stage=_STAGE)
    euid = os.geteuid()
    if euid == AGENT_UID:
        return workdir
    try:
        for path in _walk(workdir):
            if euid == 0:
                os.lchown(path, AGENT_UID, AGENT_UID)
            elif not path.is_symlink():
                mode = path.stat().st_mode
                extra = 0o077 if path.is_dir() or mode & 0o100 else 0o066
                path.chmod(mode | extra)
    except OSError as exc:
        raise InfrastructureError(f"cannot hand {workdir} to uid {AGENT_UID}: {exc}", stage=_STAGE) from exc
    return workdir


def _walk(root: Path) -> Iterator[Path]:
    yield root
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        for entry in (*dirnames, *filenames):
            yield Path(dirpath, entry)


def _docker_log_cap(limits: Limits) -> int:
    """Bytes of log Docker keeps on disk: enough to fill ``output_bytes``
    (json-file stores each line wrapped in JSON), and bounded so that a
    command printing forever cannot fill the engine's disk."""
    return max(4 * limits.output_bytes, 16 << 20)


def _bounded_output(chunks: Iterator[bytes], limit: int) -> str:
    """Keep the first and the last ``limit // 2`` bytes of a stream, and say
    how much was left out between them.  The head holds the first error of a
    build, the tail the summary of a test run.

    The cut falls inside lines (the code under test chooses how much it prints,
    so where), and a piece of a line must never read as a whole one: a tail that
    began inside ``not ok 3 - x`` would begin ``ok 3 - x``.  So a line cut at
    either end shares its line with the marker: the head's last piece before it,
    the tail's first piece after it, and no log parser (anchored at a line's
    start, reading a name to the line's end) reads either as a result."""
    head_cap = limit - limit // 2
    tail_cap = limit // 2
    head = bytearray()
    tail: deque[bytes] = deque()
    tail_len = 0
    total = 0
    keep = tail_cap + 1  # and the byte before the tail: does the tail begin a line?
    for chunk in chunks:
        total += len(chunk)
        if len(head) < head_cap:
            take = head_cap - len(head)
            head += chunk[:take]
            chunk = chunk[take:]
        if chunk:
            tail.append(chunk)
            tail_len += len(chunk)
            while tail_len - len(tail[0]) >= keep:
                tail_len -= len(tail.popleft())
    kept = b"".join(tail)[-keep:]
    tail_bytes = kept[-tail_cap:] if tail_cap else b""
    omitted = total - len(head) - len(tail_bytes)
    text = head.decode("utf-8", errors="replace")
    if omitted <= 0:
        return text + tail_bytes.decode("utf-8", errors="replace")
    before_tail = kept[-tail_cap - 1 : -tail_cap] if tail_cap else kept[-1:]
    marker = f"[lanser: {omitted} bytes of output omitted]"
    marker = ("" if head.endswith(b"\n") or not head else " ") + marker
    marker += "\n" if before_tail == b"\n" else " "
    return text + marker + tail_bytes.decode("utf-8", errors="replace")


def _pids_at_limit(client: Any, name: str, limit: int) -> bool:
    """Whether the container's pids count is (nearly) at its limit now."""
    try:
        stats = client.api.stats(name, stream=False, one_shot=True)
        current = int(stats.get("pids_stats", {}).get("current", 0))
    except (*_DOCKER_ERRORS, ValueError, TypeError):
        return False
    return current >= 0.9 * limit


def _removal_in_progress(exc: BaseException) -> bool:
    return isinstance(exc, docker.errors.APIError) and exc.status_code == 409 and "in progress" in str(exc)


def _force_remove(client: Any, name: str, *, quiet: bool) -> None:
    """Remove the container ``name`` whatever its state (also if it was never
    created).  A Ctrl-C during the removal does not stop it: the removal is
    retried and the interrupt re-raised after.  ``quiet`` swallows Docker
    errors, for when another exception is already on its way out."""
    interrupt: KeyboardInterrupt | None = None
    for _attempt in range(3):
        try:
            client.api.remove_container(name, force=True, v=True)
        except KeyboardInterrupt as exc:
            interrupt = exc
            continue
        except docker.errors.NotFound:
            pass
        except _DOCKER_ERRORS as exc:
            if not (quiet or _removal_in_progress(exc)):
                raise InfrastructureError(f"cannot remove container {name}: {exc}", stage=_STAGE) from exc
        break
    if interrupt is not None:
        raise interrupt
