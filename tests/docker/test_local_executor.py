"""The local executor loses a worker process mid-run: the driver retries, the run completes.

The same rule as for a lost Ray node (tests/docker/test_ray.py), on one
machine: a pool worker SIGKILLed while an attempt of it is in the sandbox
breaks the process pool; every attempt the pool held is lost and retried in a
new pool, each task is stored once, and no container of the run is left.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.docker

REPO = Path(__file__).resolve().parents[2]
TOY = REPO / "datasets" / "toy-c"


def children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1]) == pid:
                    found.append(int(entry.name))
            except (OSError, IndexError, ValueError):
                continue
    return found


def cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:  # gone meanwhile
        return b""


def test_a_killed_pool_worker_s_attempts_are_retried(
    tmp_path: Path, base_image: str, docker_client, interrupt_when
) -> None:
    data = tmp_path / "toy-c"
    shutil.copytree(TOY, data)
    (data / "slow.jsonl").write_text(
        json.dumps({"type": "run", "command": "sleep 4"}) + "\n" + json.dumps({"type": "submit"}) + "\n"
    )
    out = tmp_path / "out"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from lanser.cli.main import main; main()",
            "--no-daemon",
            "--json",
            "bench",
            "run",
            str(data),
            "--agent",
            "replay:slow.jsonl",
            "--out",
            str(out),
            "--run-id",
            "pool",
            "--workers",
            "2",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=REPO,
    )
    from lanser.cli.bench import run_label

    label = f"lanser.run={run_label('pool', out)}"

    def kill_a_worker() -> None:
        # Forked workers keep the driver's command line (a resource tracker, say, has its own).
        driver = Path(f"/proc/{proc.pid}/cmdline").read_bytes()
        workers = [pid for pid in children(proc.pid) if cmdline(pid) == driver]
        assert workers, "no pool worker found"
        os.kill(workers[0], signal.SIGKILL)

    # An attempt is in the sandbox once a container of the run exists; the pool's workers
    # are the driver's Python children.
    stdout, stderr = interrupt_when(
        proc,
        lambda: bool(docker_client.containers.list(filters={"label": label})),
        kill_a_worker,
        "no attempt reached the sandbox",
    )
    assert proc.returncode == 0, stderr
    assert "failed (the worker process died" in stderr and "retrying (2/3)" in stderr
    db = sqlite3.connect(out / "results.sqlite")
    rows = db.execute("SELECT task_id, outcome FROM results ORDER BY task_id").fetchall()
    db.close()
    assert rows == [
        ("toy-c/clamp-and-count", "tests_failed"),
        ("toy-c/count-char", "tests_failed"),
        ("toy-c/reverse", "tests_failed"),
    ]
    assert len(json.loads(stdout)["results"]) == 3
    assert docker_client.containers.list(all=True, filters={"label": label}) == []


def test_sigterm_stops_the_pool_workers_and_leaves_no_container(
    tmp_path: Path, base_image: str, docker_client, interrupt_when
) -> None:
    """SIGTERM to the driver (a CI job cancelled) ends the run: its pool workers do not go on
    starting attempts in the sandbox after the driver removed the run's containers."""
    import time

    data = tmp_path / "toy-c"
    shutil.copytree(TOY, data)
    (data / "slow.jsonl").write_text(
        "".join(json.dumps({"type": "run", "command": "sleep 3"}) + "\n" for _ in range(6))
        + json.dumps({"type": "submit"})
        + "\n"
    )
    out = tmp_path / "out"
    argv = [sys.executable, "-c", "from lanser.cli.main import main; main()", "--no-daemon", "--json", "bench"]
    proc = subprocess.Popen(
        [*argv, "run", str(data), "--agent", "replay:slow.jsonl", "--out", str(out), "--run-id", "term"]
        + ["--workers", "2"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=REPO,
    )
    from lanser.cli.bench import run_label

    label = f"lanser.run={run_label('term', out)}"
    workers: list[int] = []
    signalled: list[int] = []

    def terminate() -> None:
        driver = Path(f"/proc/{proc.pid}/cmdline").read_bytes()
        workers.extend(pid for pid in children(proc.pid) if cmdline(pid) == driver)
        assert workers, "no pool worker found"
        signalled.append(int(time.time()) + 1)
        proc.send_signal(signal.SIGTERM)

    _, stderr = interrupt_when(
        proc,
        lambda: bool(docker_client.containers.list(filters={"label": label})),
        terminate,
        "no attempt reached the sandbox",
    )
    assert proc.returncode != 0 and "interrupted" in stderr, stderr
    assert [pid for pid in workers if cmdline(pid)] == [], "pool workers outlived the driver"
    # The attempts in flight had five more `run` steps each: a worker left running goes on
    # making a container per step after the signal (at most one per worker may be mid-creation).
    created = docker_client.events(
        since=signalled[0],
        until=int(time.time()) + 1,
        filters={"label": label, "type": "container", "event": "create"},
        decode=True,
    )
    after = list(created)
    made = [(e.get("time"), e.get("Actor", {}).get("Attributes", {}).get("lanser.stage")) for e in after]
    assert len(after) <= len(workers), f"{len(after)} containers made after SIGTERM ({made}): the attempts went on"
    assert docker_client.containers.list(all=True, filters={"label": label}) == []
