"""``bench run --agent llm:MODEL`` end to end on toy-c: the agent on the host talks to a scripted
Chat Completions server on loopback (tests/servers/openai_script.py); the task runs in real Docker."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.servers.openai_script import ScriptServer

pytestmark = pytest.mark.docker

REPO = Path(__file__).resolve().parents[2]
TOY = REPO / "datasets" / "toy-c"
TASK = "toy-c/count-char"


def bench(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", "from lanser.cli.main import main; main()", "--no-daemon", "--json", "bench", *args],
        capture_output=True,
        text=True,
        timeout=900,
        cwd=REPO,
        env={**os.environ, **(env or {})},
    )


def gold(task_id: str) -> str:
    for line in (TOY / "tasks.jsonl").read_text().splitlines():
        task = json.loads(line)
        if task["id"] == task_id:
            return str(task["gold_patch"])
    raise AssertionError(task_id)


def show(out: Path, run_id: str) -> dict[str, Any]:
    proc = bench("show", run_id, TASK, "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    (result,) = json.loads(proc.stdout)
    return dict(result)


def test_llm_agent_resolves_a_task_through_tool_calls_and_its_trajectory_replays(
    tmp_path: Path, base_image: str
) -> None:
    out, trajectories = tmp_path / "out", tmp_path / "traj"
    script = [
        {
            "tool_calls": [{"name": "view", "arguments": {"path": "textops.c", "start": 20, "end": 32}}],
            "usage": {"prompt_tokens": 900, "completion_tokens": 30},
        },
        {
            "tool_calls": [{"name": "edit", "arguments": {"diff": "this is not a diff"}}],
            "usage": {"prompt_tokens": 1100, "completion_tokens": 20},
        },
        {
            "tool_calls": [{"name": "edit", "arguments": {"diff": gold(TASK)}}],
            "usage": {"prompt_tokens": 1300, "completion_tokens": 80},
        },
        {
            "tool_calls": [{"name": "run", "arguments": {"command": "make -s test"}}],
            "usage": {"prompt_tokens": 1500, "completion_tokens": 10},
        },
        {"tool_calls": [{"name": "submit", "arguments": {}}], "usage": {"prompt_tokens": 1700, "completion_tokens": 5}},
    ]
    with ScriptServer(script) as srv:
        proc = bench(
            "run",
            str(TOY),
            "--agent",
            "llm:scripted",
            "--base-url",
            srv.base_url,
            "--task",
            TASK,
            "--out",
            str(out),
            "--run-id",
            "llm",
            "--retries",
            "0",
            "--llm-trajectories",
            str(trajectories),
            env={"LANSER_LLM_PRICES": '{"input": 1.0, "output": 2.0}'},
        )
        assert proc.returncode == 0, proc.stderr
    assert len(srv.requests) == 5
    # the view ran in the sandbox and its numbered lines reached the model
    assert "for (; *s; s++)" in srv.requests[1]["messages"][3]["content"]
    assert "not a unified diff" in srv.requests[2]["messages"][-1]["content"]
    assert "exit code 0" in srv.requests[4]["messages"][-1]["content"]
    result = show(out, "llm")
    assert result["verdict"]["outcome"] == "resolved", result["verdict"]
    assert [s["action"] for s in result["steps"]] == ["run", "run", "edit", "run", "submit"]
    assert result["steps"][2]["reward"] > 0
    usage = result["extra"]["usage"]  # the attempt's accounting is stored with its result, not only in the file
    assert (usage["prompt_tokens"], usage["completion_tokens"], usage["model"]) == (6500, 145, "scripted")
    # and shown: bench show's usage line, the markdown report's per-attempt row (the script's numbers)
    text = subprocess.run(
        [
            sys.executable,
            "-c",
            "from lanser.cli.main import main; main()",
            "--no-daemon",
            "bench",
            "show",
            "llm",
            "--out",
            str(out),
        ],
        capture_output=True,
        text=True,
        cwd=REPO,
        check=True,
    )
    assert "usage toy-c/count-char #1: 5 calls, 6500 prompt + 145 completion tokens, $0.00679," in text.stdout
    md = json.loads(bench("report", "llm", "--out", str(out), "--format", "md").stdout)["text"]
    assert "| toy-c/count-char | llm | 1 | resolved | 5 | 5 | 6500 | 145 | $0.00679 |" in md

    full = trajectories / "toy-c__count-char.jsonl"
    events = [json.loads(line) for line in full.read_text().splitlines()]
    end = events[-1]
    assert end["event"] == "end" and end["reason"] == "submitted"
    assert end["totals"]["prompt_tokens"] == 6500 and end["totals"]["completion_tokens"] == 145
    assert end["totals"]["cost"] == pytest.approx(6500 * 1.0 / 1e6 + 145 * 2.0 / 1e6)
    assert [e["request"] for e in events if e["event"] == "call"] == srv.requests

    # offline: the recorded actions, no endpoint, the same steps, rewards and verdict
    actions = trajectories / "toy-c__count-char.actions.jsonl"
    proc = bench(
        "run",
        str(TOY),
        "--agent",
        f"replay:{actions}",
        "--task",
        TASK,
        "--out",
        str(out),
        "--run-id",
        "llm-replay",
        "--retries",
        "0",
    )
    assert proc.returncode == 0, proc.stderr
    replayed = show(out, "llm-replay")
    assert replayed["verdict"]["outcome"] == "resolved"
    assert [(s["action"], s["reward"]) for s in replayed["steps"]] == [
        (s["action"], s["reward"]) for s in result["steps"]
    ]


def test_an_endpoint_in_a_500_storm_ends_the_attempt_as_infra_error(tmp_path: Path, base_image: str) -> None:
    out = tmp_path / "out"
    with ScriptServer([{"status": 500, "body": {"error": {"message": "storm"}}, "repeat": 100}]) as srv:
        bench(
            "run",
            str(TOY),
            "--agent",
            "llm:scripted",
            "--base-url",
            srv.base_url,
            "--task",
            TASK,
            "--out",
            str(out),
            "--run-id",
            "storm",
            "--retries",
            "0",
            env={"LANSER_LLM_RETRIES": "2", "LANSER_LLM_BACKOFF": "0.01"},
        )
    assert len(srv.requests) == 3  # one call, two retries, then the attempt stops
    result = show(out, "storm")
    assert result["verdict"]["outcome"] == "infra_error"
    assert "failed 3 times" in result["verdict"]["error"] and "HTTP 500" in result["verdict"]["error"]
