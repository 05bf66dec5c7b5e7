"""The ``cmd:`` agent's side of the JSON-lines protocol (docs/agent-protocol.md), against real
child processes: what the runner gets back for every way an agent program can misbehave."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from lanser.harness.run.agents import CommandAgent, make_agent

OBS = {"task": {"id": "toy/t", "problem": "p", "language": "c"}, "step": 0, "last": None, "reward": 0.0}


def agent_of(tmp_path: Path, body: str, **kw: Any) -> CommandAgent:
    script = tmp_path / "agent.py"
    script.write_text("import json, sys, time\n" + body)
    agent = CommandAgent(f"{sys.executable} {script}", **kw)
    agent.reset(None, OBS)
    return agent


def test_one_observation_per_line_in_one_action_per_line_out(tmp_path: Path) -> None:
    agent = agent_of(
        tmp_path,
        "for line in sys.stdin:\n"
        "    obs = json.loads(line)\n"
        "    print(json.dumps({'type': 'run', 'command': 'echo %d' % obs['step']}), flush=True)\n",
    )
    try:
        assert agent.act(OBS) == {"type": "run", "command": "echo 0"}
        assert agent.act({**OBS, "step": 1}) == {"type": "run", "command": "echo 1"}
    finally:
        agent.close()
    assert agent.proc is None


def test_a_line_that_is_not_a_json_object_is_an_invalid_action(tmp_path: Path) -> None:
    agent = agent_of(
        tmp_path,
        "sys.stdin.readline(); print('hello', flush=True)\nsys.stdin.readline(); print('[1, 2]', flush=True)\n",
    )
    try:
        assert agent.act(OBS) == {"type": "invalid", "raw": "hello\n"}
        assert agent.act(OBS) == {"type": "invalid", "raw": "[1, 2]\n"}
    finally:
        agent.close()


def test_an_agent_that_exits_submits(tmp_path: Path) -> None:
    agent = agent_of(tmp_path, "sys.exit(0)\n")
    try:
        assert agent.act(OBS) == {"type": "submit", "note": "agent process ended"}
    finally:
        agent.close()


def test_an_agent_that_never_answers_submits_after_its_timeout(tmp_path: Path) -> None:
    """Regression: CommandAgent's timeout was never used; an agent that read its observation and then
    hung (or answered without a newline) blocked the runner's readline, and the run, forever."""
    agent = agent_of(
        tmp_path,
        "sys.stdin.readline(); sys.stdout.write('{\"type\": '); sys.stdout.flush()\ntime.sleep(600)\n",
        timeout=0.5,
    )
    try:
        action = agent.act(OBS)
        assert action["type"] == "submit" and "did not answer within 0.5 s" in action["note"]
    finally:
        agent.close()
    assert agent.proc is None


def test_an_endless_line_is_cut_and_refused_not_buffered_without_bound(tmp_path: Path) -> None:
    """A hostile agent writing one line without end: the runner reads at most MAX_LINE bytes of it."""
    agent = agent_of(tmp_path, "sys.stdin.readline()\nwhile True:\n    sys.stdout.write('x' * 65536)\n", timeout=30.0)
    try:
        action = agent.act(OBS)
        assert action["type"] == "submit" and "longer than" in action["note"]
    finally:
        agent.close()


def test_the_timeout_comes_from_the_environment(monkeypatch: Any) -> None:
    monkeypatch.setenv("LANSER_CMD_TIMEOUT", "12.5")
    agent = make_agent("cmd:true")
    assert isinstance(agent, CommandAgent) and agent.timeout == 12.5
    monkeypatch.setenv("LANSER_CMD_TIMEOUT", "soon")
    try:
        make_agent("cmd:true")
    except Exception as exc:  # BadRequest, exit 2
        assert "LANSER_CMD_TIMEOUT" in str(exc)
    else:
        raise AssertionError("a non-number timeout was accepted")


def test_observations_are_sent_as_single_lines(tmp_path: Path) -> None:
    """A problem statement with newlines still travels as one line (JSON escapes it)."""
    log = tmp_path / "seen.jsonl"
    agent = agent_of(
        tmp_path,
        f"line = sys.stdin.readline(); open({str(log)!r}, 'w').write(line)\n"
        "print(json.dumps({'type': 'submit'}), flush=True)\n",
    )
    try:
        assert agent.act({**OBS, "task": {**OBS["task"], "problem": "two\nlines"}}) == {"type": "submit"}
    finally:
        agent.close()
    (line,) = log.read_text().splitlines()
    assert json.loads(line)["task"]["problem"] == "two\nlines"
