"""The study's statistics on small tables whose answers can be checked by hand."""

from __future__ import annotations

import dataclasses
import itertools
import random

import pytest

from lanser.harness.study.analysis import (
    Trajectory,
    analyse,
    auroc,
    auroc_within,
    bootstrap_ci,
    count_warnings,
    lines_changed,
    percentile,
    ranks,
    spearman,
    trajectory_from_result,
)


def test_ranks_average_ties() -> None:
    assert ranks([10, 20, 20, 30]) == [1, 2.5, 2.5, 4]
    assert ranks([3, 1, 2]) == [3, 1, 2]
    assert ranks([5, 5, 5]) == [2, 2, 2]
    assert ranks([]) == []


def test_spearman_textbook_without_ties() -> None:
    # d = (-1, 1, -1, 1, 0), sum d^2 = 4: rho = 1 - 6*4 / (5*(25-1)) = 0.8
    assert spearman([1, 2, 3, 4, 5], [2, 1, 4, 3, 5]) == pytest.approx(0.8)
    assert spearman([1, 2, 3], [10, 20, 30]) == pytest.approx(1.0)
    assert spearman([1, 2, 3], [30, 20, 10]) == pytest.approx(-1.0)
    assert spearman([1, 2, 3], [1, 4, 9]) == pytest.approx(1.0), "only the order counts"


def test_spearman_with_ties_is_pearson_of_average_ranks() -> None:
    # x ranks (1, 2.5, 2.5, 4), y ranks (1, 2, 3, 4): sxy = 4.5, sxx = 4.5, syy = 5 -> 4.5 / sqrt(22.5) = 3/sqrt(10)
    assert spearman([1, 2, 2, 3], [1, 2, 3, 4]) == pytest.approx(3 / 10**0.5)
    # the 1 - 6 sum d^2 formula would give 0.95 here; with ties it is not exact
    assert spearman([1, 2, 2, 3], [1, 2, 3, 4]) != pytest.approx(0.95)


def test_spearman_undefined_cases() -> None:
    assert spearman([1, 1, 1], [1, 2, 3]) is None, "a constant input has no rank correlation"
    assert spearman([1, 2, 3], [7, 7, 7]) is None
    assert spearman([1], [2]) is None, "n = 1"
    assert spearman([], []) is None
    with pytest.raises(ValueError):
        spearman([1, 2], [1])


def test_auroc_hand_made() -> None:
    assert auroc([0.9, 0.8, 0.7, 0.6], [True, True, False, False]) == 1.0
    assert auroc([0.6, 0.7, 0.8, 0.9], [True, True, False, False]) == 0.0
    assert auroc([1, 1, 1, 1], [True, False, True, False]) == 0.5, "all tied: every pair counts one half"
    # pairs (3,2)=1, (3,1)=1, (2,2)=0.5, (2,1)=1 -> 3.5 / 4
    assert auroc([3, 2, 2, 1], [True, True, False, False]) == 0.875


def test_auroc_undefined_without_both_classes() -> None:
    assert auroc([1, 2, 3], [True, True, True]) is None
    assert auroc([1], [False]) is None
    assert auroc([], []) is None


def test_auroc_is_the_mann_whitney_pair_count() -> None:
    rng = random.Random(7)
    for _ in range(50):
        n = rng.randint(2, 15)
        scores = [rng.choice([0, 0.5, 1, 1.5, 2]) for _ in range(n)]  # many ties
        labels = [rng.random() < 0.5 for _ in range(n)]
        pos = [s for s, y in zip(scores, labels, strict=False) if y]
        neg = [s for s, y in zip(scores, labels, strict=False) if not y]
        if not pos or not neg:
            assert auroc(scores, labels) is None
            continue
        brute = sum(1.0 if p > q else 0.5 if p == q else 0.0 for p, q in itertools.product(pos, neg))
        assert auroc(scores, labels) == pytest.approx(brute / (len(pos) * len(neg)))


def test_auroc_within_groups_ignores_pairs_across_groups() -> None:
    scores, labels = [1, 2, 5, 0], [True, False, True, False]
    # across all pairs: (1,2)=0, (1,0)=1, (5,2)=1, (5,0)=1 -> 0.75
    assert auroc(scores, labels) == 0.75
    # within a: (1,2)=0; within b: (5,0)=1 -> 1/2
    assert auroc_within(scores, labels, ["a", "a", "b", "b"]) == 0.5
    assert auroc_within(scores, labels, ["a", "b", "c", "d"]) is None, "no group holds both classes"


def test_percentile_interpolates_like_the_textbook_linear_rule() -> None:
    values = [1.0, 2.0, 3.0, 4.0]
    assert percentile(values, 0) == 1.0
    assert percentile(values, 100) == 4.0
    assert percentile(values, 50) == 2.5
    assert percentile(values, 25) == 1.75
    assert percentile([7.0], 2.5) == 7.0
    with pytest.raises(ValueError):
        percentile([], 50)


def test_bootstrap_is_seeded_and_brackets_the_estimate() -> None:
    data = [2.0, 4.0, 4.0, 5.0, 7.0, 9.0, 1.0, 3.0]

    def mean(idx: list[int]) -> float:
        return sum(data[i] for i in idx) / len(idx)

    a = bootstrap_ci(mean, len(data), resamples=500, seed=3)
    assert a == bootstrap_ci(mean, len(data), resamples=500, seed=3)
    assert a != bootstrap_ci(mean, len(data), resamples=500, seed=4)
    assert a["lo"] < sum(data) / len(data) < a["hi"]
    assert min(data) <= a["lo"] and a["hi"] <= max(data)
    assert a["undefined"] == 0 and a["level"] == 0.95


def test_bootstrap_constant_statistic_and_undefined_statistic() -> None:
    const = bootstrap_ci(lambda idx: 0.25, 5, resamples=100)
    assert (const["lo"], const["hi"]) == (0.25, 0.25)
    never = bootstrap_ci(lambda idx: None, 5, resamples=100)
    assert (never["lo"], never["hi"], never["undefined"]) == (None, None, 100)
    # n = 1: every resample is the one row, Spearman of one point is undefined
    one = bootstrap_ci(lambda idx: spearman([1.0 for _ in idx], [2.0 for _ in idx]), 1, resamples=50)
    assert one["lo"] is None and one["undefined"] == 50


def test_cluster_bootstrap_resamples_whole_groups() -> None:
    sizes: set[int] = set()

    def size(idx: list[int]) -> float:
        sizes.add(len(idx))
        return float(len(idx))

    bootstrap_ci(size, 3, resamples=200, seed=1, groups=["a", "a", "b"])
    assert sizes == {2, 3, 4}, "two draws of groups of sizes 2 and 1: bb, ab, aa"
    sizes.clear()
    bootstrap_ci(size, 3, resamples=50, seed=1)
    assert sizes == {3}


def _traj(task: str, agent: str, rewards: list[float], rate: float, passed: bool) -> Trajectory:
    comps = tuple((r - 0.4, 0.4, 0.0) for r in rewards)
    return Trajectory(
        dataset="d",
        task=task,
        agent=agent,
        key=f"{task}-{agent}",
        outcome="resolved" if passed else "tests_failed",
        rewards=(*rewards, 0.0),
        components=comps,
        compiled=True,
        pass_rate=rate,
        all_pass=passed,
        sanitizer_clean=True,
        patch_applies=True,
        warnings_delta=0.0,
        lines_changed=len(rewards),
    )


def test_analyse_on_a_hand_made_table() -> None:
    ts = [
        _traj("t1", "oracle", [0.9, 0.9], 1.0, True),
        _traj("t1", "corrupt:0", [0.4, -0.1], 0.5, False),
        _traj("t2", "oracle", [0.4], 1.0, True),
        _traj("t2", "noop", [], 0.0, False),
        _traj("t2", "partial:0", [0.4], 0.5, False),
    ]
    out = analyse(ts, resamples=50, seed=0)
    assert (out["n"], out["tasks"], out["passing"]) == (5, 2, 2)
    cum = out["predictors"]["reward_cumulative"]
    # cumulative (1.8, 0.3, 0.4, 0, 0.4); pass (T, F, T, F, F): pairs 1.8 beats all 3, 0.4 beats 0.3 and 0,
    # ties 0.4 -> 5.5 / 6
    assert cum["auroc_all_pass"]["value"] == pytest.approx(5.5 / 6)
    # within t1: 1.8 > 0.3 (1 pair); within t2: 0.4 > 0, 0.4 = 0.4 -> (1 + 1 + 0.5) / 3
    assert cum["auroc_within_task"]["value"] == pytest.approx(2.5 / 3)
    assert cum["spearman_pass_rate"]["value"] == pytest.approx(spearman([1.8, 0.3, 0.4, 0, 0.4], [1, 0.5, 1, 0, 0.5]))
    safety = out["predictors"]["ablation_safety"]
    assert safety["auroc_all_pass"]["value"] == pytest.approx(
        auroc([0.8, 0.8, 0.4, 0, 0.4], [True, False, True, False, False])
    )
    assert out["predictors"]["ablation_ambiguity"]["spearman_pass_rate"]["value"] is None, "constant 0"
    assert out["predictors"]["reward_mean"]["auroc_all_pass"]["value"] is not None


def test_analyse_leaves_out_infrastructure_errors() -> None:
    ok = _traj("t", "oracle", [0.4], 1.0, True)
    infra = dataclasses.replace(ok, outcome="infra_error", key="x")
    out = analyse([ok, infra], resamples=10)
    assert (out["n"], out["excluded_infra_error"]) == (1, 1)
    assert out["predictors"]["reward_cumulative"]["auroc_all_pass"]["value"] is None


def test_trajectory_from_a_store_row() -> None:
    def edit(r: float, diag: float, status: str = "ok") -> dict:
        return {
            "action": "edit",
            "reward": r,
            "result": {
                "status": status,
                "processReward": {
                    "components": {"diag_delta": diag, "safety": 1 if status == "ok" else 0, "ambiguity_penalty": 0},
                    "weights": {"alpha": 0.5, "beta": 0.4, "gamma": 0.1},
                },
            },
        }

    row = {
        "key": "k",
        "task_id": "toy/t",
        "agent": "corrupt:1",
        "verdict": {
            "outcome": "tests_failed",
            "compiled": True,
            "fail_to_pass": {"a": "fail", "b": "pass"},
            "pass_to_pass": {"c": "pass", "d": "pass"},
            "tests_passed": 5,
            "tests_total": 6,
            "sanitizer": {"clean": True, "reports": []},
        },
        "steps": [edit(1.9, 3), edit(-0.1, -1), {"action": "submit", "reward": 0.0}],
        "stages": {"build": {"output": "a.c:1:2: warning: unused x\na.c:3:4: warning: y\nnote: z\n"}},
        "patch": "--- a/a.c\n+++ b/a.c\n@@ -1,2 +1,2 @@\n-x\n+y\n z\n",
    }
    t = trajectory_from_result(row, "toy", start_warnings=3, notes=["fault off_by_one in hunk 1/1"])
    assert t.cumulative == pytest.approx(1.8) and t.mean == pytest.approx(0.9)
    assert t.components == ((1.5, 0.4, 0.0), (-0.5, 0.4, 0.0))
    assert t.pass_rate == 0.75 and t.all_pass is False and t.sanitizer_clean is True
    assert t.warnings_delta == -1.0 and t.lines_changed == 2 and t.patch_applies
    broken = {**row, "verdict": {"outcome": "build_failed", "compiled": False}, "steps": [edit(0.0, 0, "error")]}
    b = trajectory_from_result(broken, "toy", None)
    assert (b.pass_rate, b.all_pass, b.sanitizer_clean, b.patch_applies, b.warnings_delta) == (
        0.0,
        False,
        None,
        False,
        2.0,
    )


def test_warning_and_line_counts() -> None:
    log = "x.c:1:1: warning: a [-Wfoo]\nx.c:2:1: error: b\nIn file included from y.h:\ny.h:3:1: warning: c\n"
    assert count_warnings(log) == 2
    assert count_warnings("") == 0
    assert lines_changed("--- a/x\n+++ b/x\n@@ -1 +1 @@\n-a\n+b\n+c\n") == 3


def test_task_level_intervals_need_enough_tasks() -> None:
    few = [
        _traj(f"t{i}", a, [0.4] if a == "oracle" else [], 1.0 if a == "oracle" else 0.0, a == "oracle")
        for i in range(3)
        for a in ("oracle", "noop")
    ]
    ci = analyse(few, resamples=50)["predictors"]["reward_cumulative"]["auroc_all_pass"]["ci_by_task"]
    assert ci["lo"] is None and "tasks" in ci["why"]
    many = [
        _traj(f"t{i}", a, [0.4] if a == "oracle" else [], 1.0 if a == "oracle" else 0.0, a == "oracle")
        for i in range(10)
        for a in ("oracle", "noop")
    ]
    ci = analyse(many, resamples=50)["predictors"]["reward_cumulative"]["auroc_all_pass"]["ci_by_task"]
    assert (ci["lo"], ci["hi"]) == (1.0, 1.0), "a perfect separation stays perfect in every resample"


def test_remeasured_reward_replaces_the_diagnostics_terms() -> None:
    # recorded: two steps with diagnostics terms 1.5 and 1.0 (sum 2.5); afresh D goes 3 -> 2: a*(3-2) = 0.5
    t = dataclasses.replace(
        _traj("t", "corrupt:0", [1.9, 1.4], 0.0, False), d_start=3.0, d_final=2.0, d_final_last=2.0, d_prevs=(3.0, 2.0)
    )
    assert t.diag_recorded == pytest.approx(2.5) and t.diag_remeasured == pytest.approx(0.5)
    good = dataclasses.replace(
        _traj("t", "oracle", [1.9], 1.0, True), d_start=3.0, d_final=0.0, d_final_last=0.0, d_prevs=(3.0,)
    )
    # D after step 1 is D before step 2 (2), after step 2 the fresh D_final (2): 0.5*1 + 0.4, 0.5*0 + 0.4
    assert t.step_rewards_fixed() == [0.9, 0.4]
    assert _traj("u", "oracle", [0.4], 1.0, True).step_rewards_fixed() is None, "no fresh D_final"
    unmeasured = _traj("u", "oracle", [0.4], 1.0, True)
    out = analyse([t, good, unmeasured], resamples=20)
    fixed = out["predictors"]["reward_remeasured"]
    assert fixed["n"] == 2, "a trajectory without fresh measurements is left out of this predictor only"
    assert out["predictors"]["reward_cumulative"]["n"] == 3
    assert fixed["auroc_all_pass"]["value"] == 1.0  # 0.5 + 0.8 = 1.3 vs 1.5 + 0.4 = 1.9
    assert out["diagnostics_check"] == {
        "measured": 2,
        "start_agrees": 2,
        "sum_agrees": 1,
        "recorded_minus_remeasured_mean": 1.0,
    }


def test_build_study_writes_consistent_files() -> None:
    import json
    import xml.dom.minidom

    from lanser.harness.study.report import build_study

    def row(key: str, agent: str, outcome: str, rewards: list[float], warnings: int) -> dict:
        steps = [
            {
                "action": "edit",
                "reward": r,
                "cumulative": r,
                "result": {
                    "status": "ok",
                    "processReward": {
                        "components": {"diag_delta": (r - 0.4) / 0.5, "d_prev": 1, "safety": 1, "ambiguity_penalty": 0},
                        "weights": {"alpha": 0.5, "beta": 0.4, "gamma": 0.1},
                    },
                },
            }
            for r in rewards
        ]
        passed = "pass" if outcome == "resolved" else "fail"
        return {
            "key": key,
            "task_id": "toy/t",
            "agent": agent,
            "outcome": outcome,
            "patch": "",
            "verdict": {"outcome": outcome, "compiled": True, "fail_to_pass": {"a": passed}},
            "steps": steps + [{"action": "submit", "reward": 0.0}],
            "stages": {"build": {"output": "x.c:1:1: warning: w\n" * warnings}},
        }

    rows = [
        row("k1", "oracle", "resolved", [0.9], 0),
        row("k2", "noop", "tests_failed", [], 2),
        row("k3", "corrupt:0", "tests_failed", [0.4], 3),
    ]
    wanted = [
        {
            "dataset": "toy",
            "task": "toy/t",
            "spec": r["agent"],
            "key": r["key"],
            "notes": ["fault off_by_one in hunk 1/1"] if r["agent"] == "corrupt:0" else [],
        }
        for r in rows
    ]
    meta = {
        "command": "lanser bench study toy",
        "datasets": ["toy"],
        "agents": ["oracle", "noop", "corrupt:0"],
        "seeds": 1,
        "duplicates": 0,
        "resamples": 20,
        "bootstrap_seed": 0,
    }
    files, headline = build_study(rows, wanted, meta, title="T", resamples=20)
    assert sorted(files) == [
        "curves.svg",
        "hard.json",
        "hard.md",
        "predictors.svg",
        "results.json",
        "scatter.svg",
        "summary.md",
    ]
    for name in ("curves.svg", "predictors.svg", "scatter.svg"):
        xml.dom.minidom.parseString(files[name])
    data = json.loads(files["results.json"])
    assert [t["key"] for t in data["trajectories"]] == ["k1", "k2", "k3"]
    assert [t["warnings_delta"] for t in data["trajectories"]] == [-2.0, 0.0, 1.0], "against noop's build log"
    assert headline["auroc"] == data["analysis"]["predictors"]["reward_cumulative"]["auroc_all_pass"]["value"] == 1.0
    assert data["faults"][0]["fault"] == "off_by_one"
    assert "| oracle | 1 | 1 |" in files["summary.md"] and "off_by_one" in files["summary.md"]
    hard = json.loads(files["hard.json"])
    assert hard["rewards"]["recorded"] == "pr-v1" and data["meta"]["reward_recorded"] == "pr-v1"
    assert headline["reward_version"] == "pr-v1"
    assert (
        headline["compile_clean_vs_build_steps"]["diff"]
        == hard["sets"]["pooled"]["strata"]["compile_clean_edited"]["paired"]["reward_v1 - build_more_steps"]["diff"]
    )
    _, v2 = build_study(rows, wanted, meta, title="T", resamples=20, reward_version="pr-v2")
    assert v2["reward_version"] == "pr-v2"
    with pytest.raises(ValueError, match="not in the store"):
        build_study(rows[:2], wanted, meta, title="T", resamples=20)


def test_study_command_agents_and_bad_input() -> None:
    from click.testing import CliRunner

    from lanser.cli.bench_study import _patch_paths, _spread, agent_specs
    from lanser.cli.main import cli

    assert _patch_paths(
        "--- a/x.c\n+++ b/x.c\n@@ -1 +1 @@\n-a\n+b\n--- a/y.h\n+++ b/y.h\t2024\n--- a/z.c\n+++ /dev/null\n"
    ) == ["x.c", "y.h"]
    assert _spread(list(range(10)), 4) == [0, 2, 5, 7] and _spread([1, 2], 5) == [1, 2]
    assert agent_specs("corrupt,noop,oracle", 2) == ["oracle", "noop", "corrupt:0", "corrupt:1"]
    assert agent_specs("shuffle,replay:t.jsonl", 1) == ["shuffle:0", "replay:t.jsonl"]
    result = CliRunner().invoke(cli, ["bench", "study", "datasets/toy-c", "--agents", "oracle,genius"])
    assert result.exit_code == 2 and "genius" in result.stderr
    result = CliRunner().invoke(cli, ["bench", "study", "no/such/dataset"])
    assert result.exit_code == 2 and "does not exist" in result.stderr


def test_step_level_tells_gold_steps_from_fault_steps() -> None:
    from lanser.harness.study.analysis import step_level

    def t(key: str, notes: list[str], rewards: list[float], d_prevs: list[float], d_final: float) -> Trajectory:
        return dataclasses.replace(
            _traj("task", key, rewards, 0.0, False),
            key=key,
            notes=tuple(notes),
            d_prevs=tuple(d_prevs),
            d_start=d_prevs[0],
            d_final=d_final,
            d_final_last=d_final,
        )

    ts = [
        t("a", ["gold 1/2", "gold 2/2"], [0.9, 0.9], [2, 1], 0),  # fixed: 0.9, 0.9
        t("b", ["fault wrong_type in hunk 1/1", "revert hunk 1/1"], [0.9, 0.4], [0, 1], 0),  # fixed: -0.1, 0.9
        t("c", ["fault undeclared_name in hunk 1/1"], [0.4], [0], 1),
    ]  # fixed: -0.1
    out = step_level(ts, resamples=50)
    assert out["by_kind"]["gold"] == {"steps": 2, "mean_recorded": 0.9, "mean_fixed": 0.9}
    assert out["by_kind"]["fault"]["mean_fixed"] == -0.1 and out["by_kind"]["revert"]["mean_fixed"] == 0.9
    # recorded: gold (0.9, 0.9) vs fault (0.9, 0.4): pairs 0.5, 1, 0.5, 1 -> 0.75; fixed: gold above both -> 1
    assert out["auroc_gold_vs_fault_recorded"]["value"] == 0.75
    assert out["auroc_gold_vs_fault_fixed"]["value"] == 1.0
    assert out["auroc_gold_vs_fault_fixed"]["steps"] == 4
    assert out["auroc_gold_vs_fault_fixed"]["within_task"] == 1.0, "all three are one task"


def test_resolved_needs_clean_sanitizers_too() -> None:
    clean = _traj("t", "oracle", [0.4], 1.0, True)
    leaky = dataclasses.replace(_traj("t", "noop", [], 1.0, True), outcome="sanitizer_error")
    failing = _traj("t", "corrupt:0", [-0.1], 0.5, False)
    out = analyse([clean, leaky, failing], resamples=20)
    assert (out["passing"], out["resolved"]) == (2, 1)
    e = out["predictors"]["reward_cumulative"]
    # all tests pass: 0.4 and 0 against -0.1 -> 1.0; resolved: 0.4 against 0 and -0.1 -> 1.0 too
    assert e["auroc_all_pass"]["value"] == 1.0 and e["auroc_resolved"]["value"] == 1.0
    steps = out["predictors"]["baseline_edit_steps"]
    # edit steps (1, 0, 1): all tests pass (T, T, F) -> (0.5 + 0) / 2; resolved (T, F, F) -> (1 + 0.5) / 2
    assert steps["auroc_all_pass"]["value"] == 0.25 and steps["auroc_resolved"]["value"] == 0.75
