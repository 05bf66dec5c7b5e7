"""The hard study (issue 24): paired task-clustered differences, strata, the offline pr-v2, step credit.

Hand-made trajectories whose answers can be checked by hand.  The bug class it pins: a headline
AUROC reported alone, with no paired comparison against the baseline that beats it (build + steps).
"""

from __future__ import annotations

import json
from pathlib import Path

from lanser.harness.study.analysis import Trajectory
from lanser.harness.study.stats import (
    HARD_PREDICTORS,
    failure_kind,
    hard_markdown,
    hard_study,
    load_trajectories,
    paired,
    step_credit,
    strata,
)


def traj(
    task: str,
    agent: str,
    *,
    passed: bool,
    compiled: bool = True,
    steps: int = 1,
    notes: tuple[str, ...] = (),
    diag: float = 0.0,
    d_start: float | None = None,
    d_final: float | None = None,
) -> Trajectory:
    comps = tuple((diag if i == 0 else 0.0, 0.4, 0.0) for i in range(steps))
    return Trajectory(
        dataset="d",
        task=task,
        agent=agent,
        key=f"{task}-{agent}",
        outcome="resolved" if passed else "tests_failed",
        rewards=tuple(c[0] + c[1] for c in comps) + (0.0,),
        components=comps,
        compiled=compiled,
        pass_rate=1.0 if passed else 0.0,
        all_pass=passed,
        sanitizer_clean=None,
        patch_applies=True,
        warnings_delta=0.0,
        lines_changed=1,
        notes=notes or ("gold 1/1",) * steps,
        d_start=d_start,
        d_final=d_final,
        d_prevs=tuple(0.0 for _ in range(steps)),
    )


def test_paired_difference_and_its_cluster_interval() -> None:
    # a ranks perfectly (1.0); b is constant (0.5): difference 0.5 in every resample that has both classes
    label = [True, False] * 6
    a = [1.0, 0.0] * 6
    b = [0.0] * 12
    task = [f"t{i // 2}" for i in range(12)]
    p = paired(a, b, label, task, resamples=200)
    assert (p["a"], p["b"], p["diff"]) == (1.0, 0.5, 0.5)
    assert p["ci"]["lo"] == p["ci"]["hi"] == 0.5 and p["above_zero"] and p["tasks"] == 6 and p["few_tasks"]
    same = paired(a, a, label, task, resamples=200)
    assert same["diff"] == 0 and not same["above_zero"]


def test_paired_interval_resamples_tasks_not_trajectories() -> None:
    """Two tasks: one where a wins, one where it loses.  Resampling tasks, the interval spans both signs."""
    label = [True, False, True, False] * 5
    a = [1, 0, 0, 1] * 5
    b = [0.5] * 20
    task = [f"t{(i // 2) % 10}" for i in range(20)]
    p = paired([float(x) for x in a], b, label, task, resamples=400)
    assert p["diff"] == 0 and p["ci"]["lo"] < 0 < p["ci"]["hi"]


def test_strata_and_failure_kinds() -> None:
    ts = [
        traj("a", "oracle", passed=True),
        traj("a", "noop", passed=False, steps=0),
        traj("a", "corrupt:0", passed=False, compiled=False, notes=("fault undeclared_name in hunk 1/1",)),
        traj("a", "corrupt:1", passed=False, notes=("fault off_by_one in hunk 1/1",)),
        traj("a", "partial:0", passed=False, notes=("gold 1/1 cut short",)),
    ]
    assert [failure_kind(t) for t in ts[1:]] == ["noop", "undeclared_name", "off_by_one", "cut_short"]
    s = strata(ts)
    assert s["all"] == [0, 1, 2, 3, 4]
    assert s["compile_clean"] == [0, 1, 3, 4]
    assert s["compile_clean_edited"] == [0, 3, 4], "noop edits nothing; the build failure is out"
    assert s["fault:off_by_one"] == [0, 3] and s["fault:noop"] == [0, 1]


def test_offline_v2_is_the_telescoped_potential_and_ignores_step_count() -> None:
    """Severity-blind pr-v2 sums to a*(D_start - D_final): the shuffle's extra steps earn nothing."""
    v2 = HARD_PREDICTORS["reward_v2_blind"][0]
    v1 = HARD_PREDICTORS["reward_v1"][0]
    clean = traj("a", "oracle", passed=True, steps=1, d_start=4, d_final=2)
    detour = traj("a", "shuffle:0", passed=True, steps=3, d_start=4, d_final=2)
    assert v2(clean) == v2(detour) == 1.0
    assert v1(detour) > v1(clean)
    no_fresh = traj("a", "oracle", passed=True, steps=2, diag=-1.5)
    assert v2(no_fresh) == -1.5, "without a fresh measurement: the recorded diagnostics terms"


def test_build_plus_steps_baselines_order() -> None:
    more, fewer = HARD_PREDICTORS["build_more_steps"][0], HARD_PREDICTORS["build_fewer_steps"][0]
    long, short, broken = (
        traj("a", "x", passed=True, steps=3),
        traj("a", "y", passed=True),
        traj("a", "z", passed=False, compiled=False, steps=1),
    )
    assert more(long) > more(short) > more(broken)
    assert fewer(short) > fewer(long) > fewer(broken)


def test_step_credit_and_first_error() -> None:
    bad = Trajectory(
        dataset="d",
        task="a",
        agent="corrupt:0",
        key="k",
        outcome="tests_failed",
        rewards=(0.4, -0.6, 0.0),
        components=((0.0, 0.4, 0.0), (-1.0, 0.4, 0.0)),
        compiled=True,
        pass_rate=0.0,
        all_pass=False,
        sanitizer_clean=None,
        patch_applies=True,
        warnings_delta=0.0,
        lines_changed=2,
        notes=("gold 1/2", "fault wrong_type in hunk 2/2"),
        d_prevs=(0.0, 0.0),
    )
    sc = step_credit([bad], resamples=50)
    assert sc["steps"] == 2 and sc["gold_vs_fault"]["reward_v1"] == 1.0 == sc["gold_vs_fault"]["reward_v2_blind"]
    assert sc["first_error_accuracy"]["reward_v1"] == {"trajectories": 1, "hits": 1, "accuracy": 1.0}


def test_hard_study_round_trip_through_results_json(tmp_path: Path) -> None:
    ts = [traj(f"t{i}", "oracle", passed=True, steps=2, d_start=1, d_final=0) for i in range(4)] + [
        traj(f"t{i}", "corrupt:0", passed=False, notes=("fault comparison in hunk 1/1",), d_start=1, d_final=1)
        for i in range(4)
    ]
    path = tmp_path / "results.json"
    path.write_text(json.dumps({"trajectories": [t.to_dict() for t in ts]}))
    back = load_trajectories(path)
    assert back == ts
    result = hard_study({"x": back}, resamples=50)
    e = result["sets"]["x"]["strata"]["compile_clean_edited"]
    assert e["auroc"]["reward_v2_blind"] == 1.0 and e["auroc"]["build"] == 0.5
    assert e["paired"]["reward_v2_blind - build"]["diff"] == 0.5
    md = hard_markdown(result)
    assert "Pre-registered bar" in md and "compile_clean_edited" in md


def test_rescored_v2_joins_only_sets_it_covers() -> None:
    ts = [traj(f"t{i}", "oracle", passed=True, steps=2, d_start=1, d_final=1) for i in range(3)] + [
        traj(f"t{i}", "corrupt:0", passed=False, notes=("fault comparison in hunk 1/1",), d_start=1, d_final=1)
        for i in range(3)
    ]
    rescored = {
        t.key: {
            "reward_v2": 0.5 if t.all_pass else -0.5,
            "rewards_v2": [0.5 if t.all_pass else -0.5] + [0.0] * (len(t.components) - 1),
        }
        for t in ts
    }
    result = hard_study({"x": ts}, resamples=50, rescored=rescored)
    e = result["sets"]["x"]["strata"]["all"]
    assert e["auroc"]["reward_v2"] == 1.0 and e["auroc"]["reward_v2_blind"] == 0.5
    assert e["paired"]["reward_v2 - reward_v2_blind"]["diff"] == 0.5
    assert result["sets"]["x"]["step_credit"]["first_error_accuracy"]["reward_v2"]["hits"] == 3
    partial = dict(list(rescored.items())[:-1])
    assert (
        "reward_v2" not in hard_study({"x": ts}, resamples=20, rescored=partial)["sets"]["x"]["strata"]["all"]["auroc"]
    )


def test_human_trajectories_are_material_of_their_own() -> None:
    """Recorded (``replay:``) trajectories stay out of the synthetic sets and their pool (the bar's
    material), are pooled with them only in ``pooled_with_human``, and get their own rows: rewards per
    step, the same task's oracle, and the rank of their pr-v2 sum among that task's trajectories."""
    synthetic = [traj(f"t{i}", "oracle", passed=True, d_start=1, d_final=0) for i in range(3)] + [
        traj(f"t{i}", "corrupt:0", passed=False, notes=("fault comparison in hunk 1/1",), d_start=1, d_final=1)
        for i in range(3)
    ]
    human = traj("t0", "replay:t0.jsonl", passed=True, steps=2, notes=("upstream a", "upstream b"))
    rescored = {
        t.key: {"reward_v2": 1.0 if t.all_pass else 0.0, "rewards_v2": [0.0] * len(t.components)} for t in synthetic
    }
    rescored[human.key] = {"reward_v2": 0.5, "rewards_v2": [-0.5, 1.0]}
    result = hard_study({"syn": synthetic, "hum": [human]}, resamples=50, rescored=rescored)
    assert set(result["sets"]) == {"syn", "pooled", "pooled_with_human"}
    assert result["sets"]["pooled"]["strata"]["all"]["n"] == 6
    assert result["sets"]["pooled_with_human"]["strata"]["all"]["n"] == 7
    (row,) = result["human"]
    assert row["agent"] == "replay:t0.jsonl" and row["edit_steps"] == 2
    assert row["rewards_v2"] == [-0.5, 1.0] and row["oracle_reward_v2"] == 1.0
    # below t0's oracle (1.0), above its corrupt trajectory (0.0)
    assert row["v2_vs_synthetic"] == {"higher": 1, "tied": 0, "lower": 1}
    md = hard_markdown(result)
    assert "## Human trajectories" in md and "-0.500, +1.000 (+0.500)" in md and "| 1 / 0 / 1 |" in md
