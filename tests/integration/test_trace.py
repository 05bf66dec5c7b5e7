"""Record a real run, then replay it offline: byte-identical bundles, no server."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

QUERIES = [
    {"cmd": "definition", "selector": "pkg/report.py@L10:C33"},
    {"cmd": "references", "selector": "pkg/shapes.py@L38:C5"},
    {"cmd": "hover", "selector": "py://pkg.shapes#Circle.area"},
    {"cmd": "diagnostics"},
    {"cmd": "references", "selector": "csrc/main.c@L9:C17"},
    {"cmd": "symbols", "args": {"query": "Circle"}},
    {"cmd": "definition", "selector": "pkg/report.py@L1:C1"},
]


def lanser(ws: Path, *args: str, env_extra: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LANSER_")}
    env["LANSER_NO_DAEMON"] = "1"
    env.update(env_extra or {})
    return subprocess.run(
        [sys.executable, "-c", "from lanser.cli.main import main; main()", "-w", str(ws), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )


@pytest.fixture
def recorded(sample: Path, tmp_path: Path) -> tuple[Path, Path, list[dict]]:
    queries = tmp_path / "q.jsonl"
    queries.write_text("".join(json.dumps(q) + "\n" for q in QUERIES))
    trace = tmp_path / "run.jsonl"
    out = lanser(sample, "--trace-file", str(trace), "batch", str(queries))
    bundles = [json.loads(line) for line in out.stdout.splitlines()]
    assert [b["status"] for b in bundles] == ["ok"] * 6 + ["error"]
    return sample, trace, bundles


def test_replay_is_byte_identical_with_no_server_installed(recorded, tmp_path: Path) -> None:
    sample, trace, bundles = recorded
    # Any attempt to start a server would run these and fail.
    broken = tmp_path / "no-servers.json"
    broken.write_text(
        json.dumps(
            {lang: {"name": "absent", "version": "0", "command": ["/nonexistent/server"]} for lang in ("python", "c")}
        )
    )
    other = tmp_path / "elsewhere" / "ws"
    shutil.copytree(sample, other)
    out = lanser(
        other,
        "--json",
        "trace",
        "replay",
        str(trace),
        "--verify",
        env_extra={"LANSER_SERVER_OVERRIDES": str(broken), "PATH": "/nonexistent"},
    )
    assert out.returncode == 0, out.stdout + out.stderr
    report = json.loads(out.stdout)
    assert report["match"] is True
    assert [r["bundleId"] for r in report["replayed"]] == [b["bundleId"] for b in bundles]


def test_replay_against_another_snapshot_is_76(recorded) -> None:
    sample, trace, _ = recorded
    (sample / "pkg" / "shapes.py").write_text((sample / "pkg" / "shapes.py").read_text() + "\n# edited\n")
    out = lanser(sample, "--json", "trace", "replay", str(trace), "--verify")
    assert out.returncode == 76
    assert json.loads(out.stdout)["error"]["code"] == "E/REPLAY_MISMATCH"


def test_tampered_trace_is_detected(recorded, tmp_path: Path) -> None:
    sample, trace, _ = recorded
    lines = trace.read_text().splitlines()
    tampered = []
    done = False
    for line in lines:
        event = json.loads(line)
        msg = event.get("message") or {}
        if (
            not done
            and event["event"] == "frame"
            and event["dir"] == "in"
            and isinstance(msg.get("result"), list)
            and msg["result"]
            and "range" in msg["result"][0]
        ):
            msg["result"][0]["range"]["start"]["character"] += 1  # the server "said" something else
            done = True
        tampered.append(json.dumps(event))
    assert done
    bad = tmp_path / "tampered.jsonl"
    bad.write_text("\n".join(tampered) + "\n")
    out = lanser(sample, "trace", "replay", str(bad))
    assert out.returncode == 76
    assert "DIFF" in out.stdout


def test_trace_list_and_show_filters(recorded) -> None:
    sample, trace, bundles = recorded
    out = lanser(sample, "--json", "trace", "list", str(trace), "--cmd", "references")
    rows = json.loads(out.stdout)
    assert [r["selector"] for r in rows] == ["pkg/shapes.py@L38:C5", "csrc/main.c@L9:C17"]
    out = lanser(sample, "--json", "trace", "list", str(trace), "--status", "error")
    assert [r["exitCode"] for r in json.loads(out.stdout)] == [3]
    out = lanser(sample, "--json", "trace", "show", str(trace), "2")
    assert json.loads(out.stdout)["bundleId"] == bundles[1]["bundleId"]


def test_malformed_trace_is_76(sample: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"event": "header", "workspace": {"snapshot": "x"}}\nnot json\n')
    out = lanser(sample, "--json", "trace", "replay", str(bad))
    assert out.returncode == 76
    assert "bad.jsonl:2" in json.loads(out.stdout)["error"]["message"]


def test_every_trace_event_and_bundle_validates(recorded) -> None:
    from lanser.bundle.schemas import validate

    sample, trace, bundles = recorded
    for line in trace.read_text().splitlines():
        event = json.loads(line)
        assert validate(event, "trace-event") == [], event["event"]
    for b in bundles:
        assert validate(b, "bundle") == []
