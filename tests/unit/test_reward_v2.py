"""Reward v2 (pr-v2): potential-based, so a trajectory's sum telescopes; severity-weighted; selectable.

The bug it pins (issue 24): under pr-v1 a trajectory that adds a fault and reverts it scores one
safe step's beta more than the clean fix, and a step that adds an error while removing two
warnings is paid.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lanser.errors import BadRequest
from lanser.reward import VERSION, process_reward, reward_between, selected_version
from lanser.reward_v2 import PotentialWeights, changed_lines, potential, process_reward_v2


def group(path: str, *diags: tuple[str, int]) -> dict:
    return {
        "path": path,
        "diagnostics": [{"severity": s, "range": [line, 0, line, 1], "message": "m"} for s, line in diags],
        "counts": {s: sum(1 for d in diags if d[0] == s) for s in {d[0] for d in diags}},
    }


def rewards(states: list[list[dict]], changed: list[dict[str, set[int]] | None] | None = None) -> list[float]:
    phis = [potential(s, None if changed is None else changed[i]) for i, s in enumerate(states)]
    return [process_reward_v2(a, b, True, 1.0)["r"] for a, b in zip(phis, phis[1:], strict=False)]


diag = st.tuples(st.sampled_from(["error", "warning", "information", "hint"]), st.integers(0, 40))
state = st.lists(
    st.builds(lambda p, ds: group(p, *ds), st.sampled_from(["a.c", "b.c", "m.py"]), st.lists(diag, max_size=8)),
    max_size=3,
)
changes = st.dictionaries(st.sampled_from(["a.c", "b.c", "m.py"]), st.sets(st.integers(0, 40), max_size=10))


@given(st.lists(state, min_size=1, max_size=8), st.lists(changes, min_size=8, max_size=8))
def test_sum_telescopes_to_end_minus_start(states: list[list[dict]], chg: list[dict[str, set[int]]]) -> None:
    """Whatever the path, the rewards add up to Phi(s_T) - Phi(s_0), exactly at the reward's 1e-6 grid."""
    rs = rewards(states, chg[: len(states)])
    end_minus_start = potential(states[-1], chg[len(states) - 1]) - potential(states[0], chg[0])
    assert round(sum(rs), 6) == round(end_minus_start, 6)


@given(state, state, state)
def test_fault_then_revert_scores_exactly_the_clean_path(
    start: list[dict], gold: list[dict], fault: list[dict]
) -> None:
    """pr-v1 pays beta per safe step, so start -> fault -> gold beat start -> gold by 0.4; pr-v2 ties."""
    clean = rewards([start, gold])
    detour = rewards([start, fault, gold])
    assert round(sum(detour), 6) == round(sum(clean), 6)
    v1_clean = process_reward(1, 1, True, 1.0)["r"]
    v1_detour = process_reward(1, 3, True, 1.0)["r"] + process_reward(3, 1, True, 1.0)["r"]
    assert v1_detour > v1_clean  # the flaw pr-v2 removes


def test_errors_dominate_warnings() -> None:
    """One error added while two warnings go: pr-v1 pays it (D 2 -> 1), pr-v2 penalises it."""
    before = [group("a.c", ("warning", 1), ("warning", 2))]
    after = [group("a.c", ("error", 3))]
    assert process_reward(2, 1, True, 1.0)["r"] > 0
    assert rewards([before, after])[0] < 0
    # twenty warnings weigh one error
    assert potential([group("a.c", *[("warning", i) for i in range(20)])]) == potential([group("a.c", ("error", 0))])
    assert potential([group("a.c", ("hint", 1), ("information", 2))]) == 0


def test_changed_lines_weigh_more_and_counts_only_groups_work() -> None:
    g = [group("a.c", ("error", 5))]
    assert potential(g, {"a.c": {5}}) == 2 * potential(g, {"a.c": {6}}) == 2 * potential(g)
    assert potential(g, {"b.c": {5}}) == potential(g)
    assert potential([{"path": "a.c", "counts": {"error": 2, "warning": 4}}]) == -0.5 * (2 + 0.2)
    assert potential(g, paths=["b.c"]) == 0


def test_changed_lines_diff() -> None:
    assert changed_lines("a\nb\nc\n", "a\nB\nc\nd\n") == {1, 3}
    assert changed_lines("a\n", "a\n") == set()


def test_block_records_version_and_does_not_pay_safety() -> None:
    pr = process_reward_v2(-1.5, -0.5, False, 0.62)
    assert pr["version"] == "pr-v2" and pr["r"] == 1
    assert pr["components"] == {"phi_prev": -1.5, "phi_now": -0.5, "safety": 0, "alpha_conf": 0.62}
    assert process_reward_v2(-1.0, -1.0, True, 1.0)["r"] == 0
    with pytest.raises(ValueError):
        process_reward_v2(0, 0, True, 1.5)
    with pytest.raises(ValueError):
        PotentialWeights(error=-1)


def test_version_selection(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LANSER_REWARD", raising=False)
    assert selected_version() == VERSION == "pr-v1"
    monkeypatch.setenv("LANSER_REWARD", "pr-v2")
    assert selected_version() == "pr-v2" and selected_version("pr-v1") == "pr-v1"
    with pytest.raises(BadRequest):
        selected_version("pr-v9")


def bundle(*groups: dict, status: str = "ok") -> dict:
    return {"status": status, "facts": {"diagnostics": list(groups)}}


def test_reward_between_both_versions() -> None:
    """pr-v1 from two bundles is unchanged (the same block as before v2 existed); pr-v2 is selectable."""
    before = bundle(group("a.c", ("warning", 1), ("warning", 2)))
    after = bundle(group("a.c", ("error", 3)))
    v1 = reward_between(before, after)
    assert v1 == process_reward(2, 1, True, 1.0) and v1["r"] == 0.9
    v2 = reward_between(before, after, version="pr-v2")
    assert v2["version"] == "pr-v2" and v2["r"] == -0.45
    with pytest.raises(BadRequest):
        reward_between(before, after, version="nope")


def test_cli_reward_version_option_and_env(tmp_path: Path) -> None:
    b, a = tmp_path / "b.json", tmp_path / "a.json"
    b.write_text(json.dumps(bundle(group("a.c", ("warning", 1), ("warning", 2)))))
    a.write_text(json.dumps(bundle(group("a.c", ("error", 3)))))

    def run(*args: str, env: dict[str, str] | None = None) -> dict:
        import os

        proc = subprocess.run(
            [
                sys.executable,
                "-c",
                "from lanser.cli.main import main; main()",
                "--json",
                "reward",
                *args,
                str(b),
                str(a),
            ],
            capture_output=True,
            text=True,
            env={**os.environ, **(env or {})},
        )
        assert proc.returncode == 0, proc.stderr
        out: dict = json.loads(proc.stdout)
        return out

    assert run(env={"LANSER_REWARD": ""})["version"] == "pr-v1"
    assert run("--reward-version", "pr-v2")["r"] == -0.45
    assert run(env={"LANSER_REWARD": "pr-v2"})["version"] == "pr-v2"
