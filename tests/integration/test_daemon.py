"""The warm daemon as users meet it: real CLI processes, real servers."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration


@pytest.fixture
def env(daemon_env: dict[str, str]) -> dict[str, str]:
    return daemon_env


def lanser(env: dict[str, str], *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", "from lanser.cli.main import main; main()", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def status(env: dict[str, str], ws: Path) -> dict:
    out = lanser(env, "--json", "-w", str(ws), "daemon", "status")
    return json.loads(out.stdout)


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ", 1)[1][0] != "Z"
    except FileNotFoundError:
        return False


def wait_dead(pid: int, bound: float = 20.0) -> bool:
    end = time.monotonic() + bound
    while time.monotonic() < end:
        if not alive(pid):
            return True
        time.sleep(0.05)
    return False


@pytest.fixture
def stop_after(env: dict[str, str]):
    started: list[Path] = []
    yield started
    for ws in started:
        lanser(env, "-w", str(ws), "daemon", "stop")


def test_daemon_answers_byte_identically_and_stays_warm(sample: Path, env, stop_after) -> None:
    stop_after.append(sample)
    first = lanser(env, "--json", "-w", str(sample), "refs", "pkg/shapes.py@L38:C5")
    assert first.returncode == 0, first.stderr
    st = status(env, sample)
    assert st["running"] and set(st["servers"]) == {"basedpyright"}
    second = lanser(env, "--json", "-w", str(sample), "refs", "pkg/shapes.py@L38:C5")
    assert status(env, sample)["pid"] == st["pid"]
    inproc = lanser({**env, "LANSER_NO_DAEMON": "1"}, "--json", "-w", str(sample), "refs", "pkg/shapes.py@L38:C5")
    assert first.stdout == second.stdout == inproc.stdout


def test_daemon_sees_edits_on_disk(sample: Path, env, stop_after) -> None:
    stop_after.append(sample)
    before = json.loads(lanser(env, "--json", "-w", str(sample), "refs", "pkg/shapes.py@L38:C5").stdout)
    report = sample / "pkg" / "report.py"
    report.write_text(report.read_text() + "\n\ndef again() -> float:\n    return total_area([])\n")
    after = json.loads(lanser(env, "--json", "-w", str(sample), "refs", "pkg/shapes.py@L38:C5").stdout)
    assert after["facts"]["total"] == before["facts"]["total"] + 1
    diag = json.loads(lanser(env, "--json", "-w", str(sample), "diag", "pkg/report.py").stdout)
    import hashlib

    assert diag["facts"]["diagnostics"][0]["contentHash"] == "sha256:" + hashlib.sha256(report.read_bytes()).hexdigest()


def test_two_concurrent_first_calls_start_one_daemon(sample: Path, env, stop_after) -> None:
    stop_after.append(sample)
    cmd = [
        sys.executable,
        "-c",
        "from lanser.cli.main import main; main()",
        "--json",
        "-w",
        str(sample),
        "def",
        "pkg/report.py@L10:C33",
    ]
    procs = [
        subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(3)
    ]
    outs = [p.communicate(timeout=120) for p in procs]
    assert all(p.returncode == 0 for p in procs), outs
    assert len({o[0] for o in outs}) == 1
    assert len(daemon_pids(sample)) == 1


def daemon_pids(ws: Path) -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            args = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"lanser.daemon.server" in args and os.fsencode(os.path.realpath(ws)) in args and alive(int(entry.name)):
            pids.append(int(entry.name))
    return pids


def test_sigkilled_daemon_leaves_no_server_and_is_replaced(sample: Path, env, stop_after) -> None:
    stop_after.append(sample)
    assert lanser(env, "-w", str(sample), "def", "pkg/report.py@L10:C33").returncode == 0
    st = status(env, sample)
    server_pid = st["servers"]["basedpyright"]["pid"]
    os.kill(st["pid"], signal.SIGKILL)
    assert wait_dead(st["pid"])
    assert wait_dead(server_pid), "basedpyright outlived its daemon"
    again = lanser(env, "--json", "-w", str(sample), "def", "pkg/report.py@L10:C33")
    assert again.returncode == 0, again.stderr
    assert status(env, sample)["pid"] != st["pid"]


def test_stop_stops_servers_and_idle_exit(sample: Path, env) -> None:
    assert lanser(env, "-w", str(sample), "def", "pkg/report.py@L10:C33").returncode == 0
    st = status(env, sample)
    assert lanser(env, "-w", str(sample), "daemon", "stop").returncode == 0
    assert wait_dead(st["pid"]) and wait_dead(st["servers"]["basedpyright"]["pid"])
    assert lanser(env, "-w", str(sample), "daemon", "status").returncode == 3
    # A daemon started with a short idle timeout goes away by itself.
    assert lanser(env, "--idle-timeout", "1", "-w", str(sample), "def", "pkg/report.py@L10:C33").returncode == 0
    pid = status(env, sample)["pid"]
    assert wait_dead(pid, bound=30.0)


def test_socket_is_owner_only(sample: Path, env, stop_after) -> None:
    stop_after.append(sample)
    assert lanser(env, "-w", str(sample), "daemon", "start").returncode == 0
    run = Path(env["XDG_RUNTIME_DIR"]) / "lanser"
    assert oct(run.stat().st_mode & 0o777) == "0o700"
    socks = list(run.glob("*.sock"))
    assert len(socks) == 1 and oct(socks[0].stat().st_mode & 0o777) == "0o600"


@pytest.mark.parametrize("daemon", [True, False], ids=["daemon", "in-process"])
def test_batch_keeps_order_and_survives_bad_lines(sample: Path, env, stop_after, daemon: bool) -> None:
    stop_after.append(sample)
    if not daemon:
        env = {**env, "LANSER_NO_DAEMON": "1"}
    lines = [
        json.dumps({"cmd": "definition", "selector": "pkg/report.py@L10:C33"}),
        "this is not json",
        json.dumps({"cmd": "teleport", "selector": "pkg/report.py@L1:C1"}),
        json.dumps({"cmd": "hover", "selector": "pkg/shapes.py@L38:C5"}),
        json.dumps({"cmd": "definition", "selector": "pkg/report.py@L0:C1"}),
        json.dumps({"cmd": "references", "selector": "csrc/main.c@L9:C17"}),
    ]
    src = sample / "q.jsonl"
    src.write_text("\n".join(lines) + "\n")
    out = lanser(env, "-w", str(sample), "batch", str(src))
    results = [json.loads(x) for x in out.stdout.splitlines()]
    assert [r["status"] for r in results] == ["ok", "error", "error", "ok", "error", "ok"]
    assert results[1]["error"]["code"] == "E/BAD_REQUEST"
    assert results[2]["error"]["code"] == "E/BAD_REQUEST" and results[2]["error"]["details"]["field"] == "cmd"
    assert results[4]["error"]["code"] == "E/BAD_SELECTOR_SYNTAX"
    assert results[5]["facts"]["total"] == 4
    assert out.returncode == 2  # the first failing line's exit code
