"""`lanser reward --trace` replays both rewards (pr-v1 and pr-v2) and names the version each step
recorded; :func:`lanser.reward.reward_for` scores a speculative step under the selected version."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from lanser.reward import process_reward, replay, reward_for
from lanser.reward_v2 import potential, process_reward_v2


def group(path: str, *severities: str) -> dict:
    return {
        "path": path,
        "diagnostics": [{"severity": s, "range": [i, 0, i, 1], "message": "m"} for i, s in enumerate(severities)],
        "counts": {s: severities.count(s) for s in set(severities)},
    }


def trace(tmp_path: Path, *rewards: dict) -> Path:
    events: list[dict] = [{"event": "header", "workspace": {"snapshot": "x"}}]
    for seq, pr in enumerate(rewards, 1):
        events.append({"event": "request", "seq": seq, "request": {"cmd": "check", "selector": None}})
        events.append({"event": "bundle", "seq": seq, "bundle": {"status": "ok", "processReward": pr}})
    path = tmp_path / "run.jsonl"
    path.write_text("".join(json.dumps(e) + "\n" for e in events))
    return path


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", "from lanser.cli.main import main; main()", *args],
        capture_output=True,
        text=True,
        check=False,
    )


V1 = process_reward(3, 1, True, 0.9)
V2 = process_reward_v2(potential([group("a.c", "error", "warning")]), potential([group("a.c", "warning")]), True, 1.0)


def test_replay_recomputes_each_version_from_its_components() -> None:
    assert replay(V1) == V1
    assert replay(V2) == V2
    legacy = {k: v for k, v in V1.items() if k != "version"}  # bundles before pr-v2 named no version
    assert replay(legacy)["r"] == V1["r"]
    with pytest.raises(ValueError, match="unknown reward version"):
        replay({**V1, "version": "pr-v9"})
    with pytest.raises(KeyError):
        replay({**V2, "components": {"phi_prev": 0}})


def test_trace_with_both_versions_is_replayed_and_the_versions_named(tmp_path: Path) -> None:
    path = trace(tmp_path, V1, V2)
    proc = cli("--json", "reward", "--trace", str(path))
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert [s["version"] for s in out["steps"]] == ["pr-v1", "pr-v2"]
    assert [s["r"] for s in out["steps"]] == [V1["r"], V2["r"]] and all(s["consistent"] for s in out["steps"])
    assert out["versions"] == {"pr-v1": 1, "pr-v2": 1}
    text = cli("reward", "--trace", str(path)).stdout
    assert text.splitlines()[0] == "recorded: pr-v1 (1 step), pr-v2 (1 step)"
    assert "Phi -0.525->-0.025" in text and "D 3->1" in text


def test_a_tampered_pr_v2_reward_is_inconsistent(tmp_path: Path) -> None:
    proc = cli("--json", "reward", "--trace", str(trace(tmp_path, {**V2, "r": V2["r"] + 0.1})))
    assert proc.returncode == 76
    assert json.loads(proc.stdout)["steps"][0]["consistent"] is False


def test_an_explicit_version_must_be_the_recorded_one(tmp_path: Path) -> None:
    path = trace(tmp_path, V1)
    assert cli("--json", "reward", "--trace", str(path), "--reward-version", "pr-v1").returncode == 0
    proc = cli("--json", "reward", "--trace", str(path), "--reward-version", "pr-v2")
    assert proc.returncode == 2
    assert "recorded pr-v1, not pr-v2" in proc.stdout + proc.stderr


def test_a_malformed_recorded_reward_is_a_replay_mismatch(tmp_path: Path) -> None:
    proc = cli("--json", "reward", "--trace", str(trace(tmp_path, {"version": "pr-v2", "r": 0})))
    assert proc.returncode != 0 and "malformed" in proc.stdout + proc.stderr


def test_reward_for_scores_a_step_under_the_selected_version() -> None:
    before, after = [group("a.c", "error", "warning", "warning")], [group("a.c", "warning")]
    v1 = reward_for("pr-v1", before, after, True, 1.0)
    assert v1 == process_reward(3, 1, True, 1.0)
    v2 = reward_for("pr-v2", before, after, True, 1.0)
    assert v2["version"] == "pr-v2" and v2["r"] == pytest.approx(0.5 * 1.05)
    # a patch over two languages: the second language's Phi adds to the first's
    both = reward_for("pr-v2", [group("b.py", "error")], [], True, 1.0, previous=v2)
    assert both["components"]["phi_prev"] == pytest.approx(v2["components"]["phi_prev"] - 0.5)
    assert both["r"] == pytest.approx(v2["r"] + 0.5)
    with pytest.raises(ValueError, match="two rewards"):
        reward_for("pr-v1", before, after, True, 1.0, previous=v2)
