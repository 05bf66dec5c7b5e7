"""The Ray executor on a real two-node Ray cluster on this machine (``ray start``), with real Docker.

The cluster has token authentication on (as every cluster lanser starts):
a client without its token is refused, and the executor refuses a cluster
that lets such a client in.

The cluster is a head and a second node, one CPU and ``docker: 1`` each, so
the three toy-c tasks spread over both.  The same dataset run by the local
executor is the reference: a Ray run must store the same content keys and
the same verdicts.  Then the second node's raylet is SIGKILLed while it runs a
task: the task is retried on the head, the run completes, each task is
recorded once.  The last test stops the cluster and checks that none of its
processes is left.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from lanser.harness.run.ray_local import LocalRayCluster

pytestmark = pytest.mark.docker

REPO = Path(__file__).resolve().parents[2]
TOY = REPO / "datasets" / "toy-c"
#: The Ray task function's name: a worker running an attempt carries it as its process title.
RAY_TASK = "_ray_attempt"


def bench_cmd(*args: str) -> list[str]:
    return [sys.executable, "-c", "from lanser.cli.main import main; main()", "--no-daemon", "--json", "bench", *args]


def bench(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        bench_cmd(*args),
        capture_output=True,
        text=True,
        timeout=900,
        cwd=REPO,
        env=None if env is None else without_ray_auth(env),
    )


def without_ray_auth(extra: dict[str, str]) -> dict[str, str]:
    """This process's environment with no Ray token of its own, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if k not in ("RAY_AUTH_MODE", "RAY_AUTH_TOKEN", "RAY_AUTH_TOKEN_PATH")}
    return {**env, **extra}


def stored(out: Path) -> list[tuple[str, str, str, dict[str, Any]]]:
    """(task, key, outcome, verdict) of every stored result, one row per result.  The canary's name
    (toy-c's tasks carry one) is drawn anew each time a task is graded: it is compared by its shape."""
    db = sqlite3.connect(out / "results.sqlite")
    try:
        rows = db.execute("SELECT task_id, key, outcome, verdict FROM results ORDER BY task_id").fetchall()
    finally:
        db.close()
    return [(task, key, outcome, _drawn(json.loads(verdict))) for task, key, outcome, verdict in rows]


def _drawn(verdict: dict[str, Any]) -> dict[str, Any]:
    canary = verdict.get("canary")
    if canary is not None:
        assert re.fullmatch(r"[a-z]{12}", canary["test"]), canary
        verdict["canary"] = {**canary, "test": "<drawn>"}
    return verdict


@pytest.fixture(scope="module")
def toy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("ray-data") / "toy-c"
    shutil.copytree(TOY, root)
    # An agent that spends a few seconds in the sandbox before it submits: long enough
    # to kill a node while one of its attempts is running.
    (root / "slow.jsonl").write_text(
        json.dumps({"type": "run", "command": "sleep 4"}) + "\n" + json.dumps({"type": "submit"}) + "\n"
    )
    return root


@pytest.fixture(scope="module")
def cluster(base_image: str) -> Iterator[LocalRayCluster]:
    ray_cluster = LocalRayCluster(2, cpus=1, resources={"docker": 1})
    ray_cluster.start()
    try:
        yield ray_cluster
    finally:
        ray_cluster.stop()


@pytest.fixture(scope="module")
def local_run(toy: Path, tmp_path_factory: pytest.TempPathFactory, base_image: str) -> Path:
    out = tmp_path_factory.mktemp("ray-local")
    for agent in ("oracle", "noop"):
        proc = bench("run", str(toy), "--agent", agent, "--out", str(out / agent), "--run-id", agent)
        assert proc.returncode == 0, proc.stderr
    return out


def test_ray_run_gives_the_local_keys_and_verdicts(
    cluster: LocalRayCluster, toy: Path, local_run: Path, tmp_path: Path
) -> None:
    proc = bench(
        "run",
        str(toy),
        "--agent",
        "oracle",
        "--out",
        str(tmp_path),
        "--run-id",
        "ray",
        "--executor",
        "ray",
        "--ray-address",
        cluster.address,
        env=cluster.client_env(),
    )
    assert proc.returncode == 0, proc.stderr
    assert len(json.loads(proc.stdout)["results"]) == 3
    on_ray, local = stored(tmp_path), stored(local_run / "oracle")
    assert [row[2] for row in on_ray] == ["resolved"] * 3
    assert on_ray == local
    # Resuming on the cluster finds every task done by its content key.
    again = bench(
        "run",
        str(toy),
        "--agent",
        "oracle",
        "--out",
        str(tmp_path),
        "--run-id",
        "ray",
        "--executor",
        "ray",
        "--ray-address",
        cluster.address,
        env=cluster.client_env(),
    )
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["results"] == []
    assert stored(tmp_path) == local


def test_a_task_that_needs_a_resource_no_node_has_is_refused(
    cluster: LocalRayCluster, toy: Path, tmp_path: Path
) -> None:
    data = tmp_path / "kernel-data"
    shutil.copytree(toy, data)
    (first, *_) = (data / "tasks.jsonl").read_text().splitlines()
    (data / "tasks.jsonl").write_text(json.dumps({**json.loads(first), "image": "kernel"}) + "\n")
    proc = bench(
        "run",
        str(data),
        "--agent",
        "noop",
        "--out",
        str(tmp_path / "out"),
        "--executor",
        "ray",
        "--ray-address",
        cluster.address,
        env=cluster.client_env(),
    )
    assert proc.returncode == 77, proc.stdout + proc.stderr  # E/INFRASTRUCTURE, one JSON object
    message = json.loads(proc.stdout)["error"]["message"]
    assert "no live node of the Ray cluster can run toy-c/clamp-and-count" in message
    assert "kernel=1" in message


def test_a_killed_node_s_task_is_retried_elsewhere(
    cluster: LocalRayCluster, toy: Path, local_run: Path, tmp_path: Path, interrupt_when
) -> None:
    """Its raylet SIGKILLed while it runs an attempt, node 1 is lost; the driver retries the attempt
    on the head (avoiding the dead node), the run completes and each task is stored once."""
    proc = subprocess.Popen(
        bench_cmd(
            "run",
            str(toy),
            "--agent",
            "replay:slow.jsonl",
            "--out",
            str(tmp_path),
            "--run-id",
            "killed",
            "--executor",
            "ray",
            "--ray-address",
            cluster.address,
        ),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=REPO,
        env=without_ray_auth(cluster.client_env()),
    )
    stdout, stderr = interrupt_when(
        proc, lambda: cluster.running(1, RAY_TASK), lambda: cluster.kill_node(1), "node 1 never ran an attempt"
    )
    assert proc.returncode == 0, stderr
    # The owner hears of the loss as the node's death or, in a race, as its worker's crash.
    assert re.search(r"attempt 1( on node \w+)? failed \((NodeDiedError|WorkerCrashedError)", stderr), stderr
    assert "retrying (2/3)" in stderr
    rows = stored(tmp_path)
    assert sorted(row[0] for row in rows) == ["toy-c/clamp-and-count", "toy-c/count-char", "toy-c/reverse"]
    assert len({row[1] for row in rows}) == 3
    assert len(json.loads(stdout)["results"]) == 3
    # Waiting in the sandbox changes nothing the grader sees: the verdicts of noop, run locally.
    assert [(row[0], row[2], row[3]) for row in rows] == [
        (row[0], row[2], row[3]) for row in stored(local_run / "noop")
    ]
    import docker

    from lanser.cli.bench import run_label

    client = docker.from_env()
    assert client.containers.list(all=True, filters={"label": f"lanser.run={run_label('killed', tmp_path)}"}) == []


#: A client of the cluster: connects and counts the nodes.
CLIENT = "import sys, ray; ray.init(address=sys.argv[1]); print('nodes', len(ray.nodes()))"


def test_a_client_without_the_token_is_refused(cluster: LocalRayCluster, tmp_path: Path) -> None:
    """A cluster lanser starts requires its token: with no token, or a wrong one, a client is refused
    at the GCS; with the token it connects."""
    home = {"HOME": str(tmp_path)}  # no ~/.ray/auth_token of this user
    for extra in ({"RAY_AUTH_MODE": "disabled"}, {}, {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": "0" * 64}):
        proc = subprocess.run(
            [sys.executable, "-c", CLIENT, cluster.address],
            capture_output=True,
            text=True,
            timeout=300,
            env=without_ray_auth({**home, **extra}),
        )
        assert proc.returncode != 0, (extra, proc.stdout)
        assert "Authentication token is missing or incorrect" in proc.stderr, (extra, proc.stderr[-2000:])
    proc = subprocess.run(
        [sys.executable, "-c", CLIENT, cluster.address],
        capture_output=True,
        text=True,
        timeout=300,
        env=without_ray_auth({**home, **cluster.client_env()}),
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "nodes 2" in proc.stdout


def test_the_executor_refuses_an_open_cluster(toy: Path, tmp_path: Path, base_image: str) -> None:
    """A cluster started without token authentication lets anyone run code on its nodes: the driver
    (holding a token) connects, finds that a client with no token is let in, and submits nothing."""
    token = tmp_path / "token"
    token.write_text("1" * 64)
    with LocalRayCluster(1, cpus=1, resources={"docker": 1}, auth=False) as open_cluster:
        proc = bench(
            "run",
            str(toy),
            "--agent",
            "noop",
            "--out",
            str(tmp_path / "out"),
            "--run-id",
            "open",
            "--executor",
            "ray",
            "--ray-address",
            open_cluster.address,
            env={"HOME": str(tmp_path), "RAY_AUTH_TOKEN_PATH": str(token)},
        )
        assert proc.returncode == 77, proc.stdout + proc.stderr  # InfrastructureError, one JSON object
        message = json.loads(proc.stdout)["error"]["message"]
        assert "accepts clients without a token" in message and "nothing was submitted" in message
        assert not open_cluster.running(0, RAY_TASK)
    assert not (tmp_path / "out" / "results.sqlite").exists() or stored(tmp_path / "out") == []


def test_the_executor_needs_a_token(toy: Path, tmp_path: Path) -> None:
    """No token for the driver (none in the environment, no ~/.ray/auth_token): refused before
    anything starts, exit 2, and never by asking for the token on the command line."""
    proc = bench(
        "run",
        str(toy),
        "--agent",
        "noop",
        "--out",
        str(tmp_path / "out"),
        "--executor",
        "ray",
        "--ray-address",
        "127.0.0.1:1",
        env={"HOME": str(tmp_path)},
    )
    assert proc.returncode == 2, proc.stderr
    error = json.loads(proc.stdout)["error"]
    assert "has no token" in error["message"] and "RAY_AUTH_TOKEN_PATH" in error["message"]
    proc = bench(
        "run",
        str(toy),
        "--agent",
        "noop",
        "--out",
        str(tmp_path / "out"),
        "--executor",
        "ray",
        "--ray-address",
        "127.0.0.1:1",
        env={"HOME": str(tmp_path), "RAY_AUTH_MODE": "disabled"},
    )
    assert proc.returncode == 2, proc.stderr
    assert "submits only to a cluster with token authentication" in json.loads(proc.stdout)["error"]["message"]


def test_the_cluster_stops_without_leaving_a_process(cluster: LocalRayCluster) -> None:
    assert cluster.stop() == [], "these processes of the cluster outlived SIGTERM; they were SIGKILLed"
    assert cluster.alive() == []
