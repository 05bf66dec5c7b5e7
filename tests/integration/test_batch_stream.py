"""``lanser batch`` through the daemon: bundles streamed as the daemon rendered them.

The daemon sends each bundle as the text its cache holds (``render_json``)
and ``lanser batch`` prints it without parsing and rendering it again, so
the daemon's answers, its memory and disk cache hits and the in-process
answers must agree byte for byte.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

LINES = [
    json.dumps({"cmd": "definition", "selector": "pkg/report.py@L10:C33"}),
    json.dumps({"cmd": "hover", "selector": "pkg/shapes.py@L38:C5"}),
    "not json",
    json.dumps({"cmd": "references", "selector": "pkg/shapes.py@L38:C5"}),
    json.dumps({"cmd": "symbols", "selector": "pkg/shapes.py"}),
    json.dumps({"cmd": "definition", "selector": "pkg/report.py@L0:C1"}),
    json.dumps({"cmd": "references", "selector": "csrc/main.c@L9:C17"}),
]


@pytest.fixture
def env(daemon_env: dict[str, str]) -> dict[str, str]:
    return daemon_env


def lanser(env: dict[str, str], *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", "from lanser.cli.main import main; main()", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        input=stdin,
    )


def test_daemon_batches_match_in_process_and_the_caches_byte_for_byte(sample: Path, env: dict[str, str]) -> None:
    queries = "\n".join(LINES) + "\n"
    try:
        first = lanser(env, "-w", str(sample), "batch", "-", stdin=queries)
        again = lanser(env, "-w", str(sample), "batch", "-", stdin=queries)  # served from the daemon's memory
        assert lanser(env, "-w", str(sample), "daemon", "stop").returncode == 0
        # Stopping flushed the disk cache; a new daemon serves every answer from it.
        assert (sample / ".lanser" / "cache" / "bundles.sqlite").is_file()
        from_disk = lanser(env, "-w", str(sample), "batch", "-", stdin=queries)
        status = json.loads(lanser(env, "--json", "-w", str(sample), "daemon", "status").stdout)
    finally:
        lanser(env, "-w", str(sample), "daemon", "stop")
    in_process = lanser({**env, "LANSER_NO_DAEMON": "1"}, "-w", str(sample), "batch", "-", stdin=queries)
    assert first.returncode == again.returncode == from_disk.returncode == in_process.returncode == 2, first.stderr
    assert len(first.stdout.splitlines()) == len(LINES)
    assert first.stdout == again.stdout == from_disk.stdout == in_process.stdout
    statuses = [json.loads(line)["status"] for line in first.stdout.splitlines()]
    assert statuses == ["ok", "ok", "error", "ok", "ok", "error", "ok"]
    # Everything but the bad line (never reaches the cache) came from disk.
    assert status["cache"] == {"hits": len(LINES) - 1, "misses": 0}


def test_a_daemon_that_goes_away_mid_batch_loses_nothing(
    sample: Path, env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two answers come from a daemon that then hangs up; the rest are answered by a new one, in order."""
    from lanser import __version__
    from lanser.cli.batch import _answers
    from lanser.cli.main import Settings
    from lanser.daemon import client, paths

    monkeypatch.setenv("XDG_RUNTIME_DIR", env["XDG_RUNTIME_DIR"])
    monkeypatch.delenv("LANSER_NO_DAEMON", raising=False)
    requests = [json.loads(line) for line in LINES if line != "not json"]
    canned = [
        '{"meta":{"exit_code":0},"status":"ok","from":"the first daemon"}',
        '{"meta":{"exit_code":3},"status":"error","n":2}',
    ]
    sock_path = paths.socket_path(paths.daemon_key(str(sample), None, __version__))
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(sock_path))
    listener.listen(1)

    def first_daemon() -> None:  # a fake at the socket seam: answers two requests, then goes away
        conn, _ = listener.accept()
        with conn:
            message = json.loads(conn.makefile("rb").readline())
            assert message["op"] == "batch" and len(message["requests"]) == len(requests)
            assert message["options"]["coded"] is True  # each reply line: "<exit code> <bundle>"
            conn.sendall(f"0 {canned[0]}\n3 {canned[1]}\n".encode())
        listener.close()
        sock_path.unlink()

    thread = threading.Thread(target=first_daemon)
    thread.start()
    settings = Settings(
        workspace=sample,
        json=True,
        pretty=False,
        index_io="utf-16",
        timeout=60.0,
        verbose=False,
        python=None,
        daemon=True,
        idle=60.0,
    )
    try:
        got = list(_answers(settings, requests))
    finally:
        thread.join(timeout=30)
        client.stop(str(sample), None, __version__)
    rest = "".join(json.dumps(r) + "\n" for r in requests[2:])
    expected = lanser({**env, "LANSER_NO_DAEMON": "1"}, "-w", str(sample), "batch", "-", stdin=rest).stdout
    assert got[:2] == [(canned[0], 0), (canned[1], 3)]
    assert "\n".join(text for text, _ in got[2:]) + "\n" == expected
    assert [code for _, code in got[2:]] == [json.loads(line)["meta"]["exit_code"] for line in expected.splitlines()]


def test_pipelined_batch_is_byte_identical_to_one_request_at_a_time(sample: Path, env: dict[str, str]) -> None:
    """Read-only requests go several at a time; diagnostics and workspace symbols are barriers.
    Real basedpyright and clangd, each side a fresh process (the first clangd requests arrive
    together, before its index settled): the bundles must not change."""
    lines = [
        json.dumps({"cmd": "definition", "selector": "csrc/main.c@L9:C17"}),
        json.dumps({"cmd": "hover", "selector": "csrc/geometry.c@L8:C5"}),
        *LINES[:4],
        json.dumps({"cmd": "diagnostics", "selector": "pkg/shapes.py"}),
        json.dumps({"cmd": "hover", "selector": "pkg/report.py@L10:C33"}),
        json.dumps({"cmd": "symbols", "args": {"query": "area"}}),
        json.dumps({"cmd": "locate", "selector": "pkg/shapes.py@L38:C5"}),
        *LINES[4:],
    ]
    queries = "\n".join(lines) + "\n"
    no_daemon = {**env, "LANSER_NO_DAEMON": "1"}
    one = lanser(no_daemon, "-w", str(sample), "batch", "--pipeline", "1", "-", stdin=queries)
    many = lanser(no_daemon, "-w", str(sample), "batch", "--pipeline", "16", "-", stdin=queries)
    assert one.returncode == many.returncode == 2, one.stderr
    assert len(many.stdout.splitlines()) == len(lines)
    assert many.stdout == one.stdout
    statuses = [json.loads(line)["status"] for line in many.stdout.splitlines()]
    assert statuses == ["ok", "ok", "ok", "ok", "error", "ok", "ok", "ok", "ok", "ok", "ok", "error", "ok"]
