"""The example agents under examples/agents/ run as a user would run them (docs/agent-protocol.md):
the JSON-lines agent through ``lanser bench run --agent cmd:...`` on toy-c, and the TaskEnv loop as
a script; real Docker, real clangd, real grading."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from lanser.harness.task.spec import DEFAULT_PROTECTED

pytestmark = pytest.mark.docker

REPO = Path(__file__).resolve().parents[2]
TOY = REPO / "datasets" / "toy-c"
TASK = "toy-c/count-char"
EXAMPLES = REPO / "examples" / "agents"


def lanser(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", "from lanser.cli.main import main; main()", "--no-daemon", *args],
        capture_output=True,
        text=True,
        timeout=900,
        cwd=REPO,
        env=os.environ.copy(),
    )


def gold(task_id: str) -> str:
    for line in (TOY / "tasks.jsonl").read_text().splitlines():
        task = json.loads(line)
        if task["id"] == task_id:
            return str(task["gold_patch"])
    raise AssertionError(task_id)


def test_the_json_lines_example_agent_resolves_a_toy_task_through_bench_run(tmp_path: Path, base_image: str) -> None:
    patch, transcript, out = tmp_path / "fix.diff", tmp_path / "t.jsonl", tmp_path / "out"
    patch.write_text(gold(TASK))
    agent = f"cmd:{sys.executable} {EXAMPLES / 'json_lines_agent.py'} --patch {patch} --transcript {transcript}"
    proc = lanser(
        "--json",
        "bench",
        "run",
        str(TOY),
        "--agent",
        agent,
        "--task",
        TASK,
        "--out",
        str(out),
        "--run-id",
        "example",
        "--retries",
        "0",
    )
    assert proc.returncode == 0, proc.stderr
    assert "step 0: reward so far 0.0, sending run" in proc.stderr  # the agent's stderr is the user's log
    shown = lanser("--json", "bench", "show", "example", TASK, "--out", str(out))
    (result,) = json.loads(shown.stdout)
    assert result["verdict"]["outcome"] == "resolved", result["verdict"]
    assert [s["action"] for s in result["steps"]] == ["run", "lanser", "edit", "run", "submit"]
    exchanged: list[dict[str, Any]] = [json.loads(line) for line in transcript.read_text().splitlines()]
    seen = [e["observation"] for e in exchanged]
    # what the protocol page documents: the first observation, then each action's result as `last`
    assert seen[0] == {
        "task": {
            "id": TASK,
            "language": "c",
            "problem": seen[0]["task"]["problem"],
            "max_steps": 50,
            "protected": list(DEFAULT_PROTECTED),
        },
        "step": 0,
        "last": None,
        "reward": 0.0,
    }
    assert seen[1]["last"]["exitCode"] == 0 and "textops.c" in seen[1]["last"]["output"].split()
    bundle = seen[2]["last"]["bundle"]
    assert bundle["status"] == "ok" and "count_char" in {s["name"] for s in bundle["facts"]["symbols"]}
    assert seen[3]["last"]["status"] == "ok" and seen[3]["last"]["processReward"]["r"] > 0
    assert seen[3]["reward"] == seen[3]["last"]["processReward"]["r"]
    assert "ok 7 - count_some" in seen[4]["last"]["output"]
    assert [e["action"]["type"] for e in exchanged] == ["run", "lanser", "edit", "run", "submit"]


def test_the_taskenv_loop_example_steps_rewards_and_grades(base_image: str) -> None:
    proc = subprocess.run(
        [
            sys.executable,
            str(EXAMPLES / "taskenv_loop.py"),
            str(TOY),
            TASK,
            "--episodes",
            "2",
            "--seed",
            "1",
            "--epsilon",
            "0.5",
        ],
        capture_output=True,
        text=True,
        timeout=900,
        cwd=REPO,
    )
    assert proc.returncode == 0, proc.stderr
    lines = [json.loads(line) for line in proc.stdout.splitlines()]
    transitions = [x for x in lines if "action" in x]
    episodes = [x for x in lines if "outcome" in x]
    assert [e["outcome"] for e in episodes] == ["resolved", "resolved"]
    for number, episode in enumerate(episodes):
        steps = [t for t in transitions if t["episode"] == number]
        assert [t["step"] for t in steps] == list(range(1, len(steps) + 1))  # reset() starts the count again
        assert steps[-1]["action"] == "submit" and steps[-1]["done"]
        edits = [t for t in steps if t["action"] == "edit"]
        assert len(edits) == 1 and edits[0]["reward"] > 0  # count-char's gold patch is one hunk
        assert all(t["reward"] == 0 for t in steps if t["action"] != "edit")
        assert episode["process_reward"] == pytest.approx(edits[0]["reward"])
        # the return discounts the edit's reward and the terminal reward at the last step
        gamma, k = 0.99, steps.index(edits[0])
        assert episode["return"] == pytest.approx(gamma**k * edits[0]["reward"] + gamma ** (len(steps) - 1) * 1.0)
    # epsilon 0.5 with seed 1 explores: some episode probes before it edits
    assert any(t["action"] in ("lanser", "run") for t in transitions)
