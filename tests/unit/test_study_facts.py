"""The extra facts for compile-clean faults (issue 24): checking calls read from C text, the deltas of
a trajectory's facts, what fires, and how a candidate potential component is selected and scored."""

from __future__ import annotations

from lanser.harness.study.analysis import Trajectory
from lanser.harness.study.facts import checking_calls, deltas, firing
from lanser.harness.study.factscore import score_facts, select

C_START = """
int load(struct buf *b, const char *p)
{
    if (p == NULL || !is_valid(p))
        return -1;
    while (more(b) && fits(b, strlen(p)))
        grow(b);
    assert(b_ok(b));
    return copy(b, p);
}
"""


def test_checking_calls_are_the_calls_in_conditions_and_asserts() -> None:
    calls = checking_calls(C_START)
    assert calls == {"is_valid": 1, "more": 1, "fits": 1, "strlen": 1, "b_ok": 1}
    assert "copy" not in calls and "grow" not in calls  # called, but not as a check
    dropped = C_START.replace(" || !is_valid(p)", "")
    assert checking_calls(dropped)["is_valid"] == 0


def state(base: list, ext: list, calls: dict) -> dict:
    return {"base": base, "ext": ext, "calls": calls}


def test_deltas_separate_tidy_extra_warnings_and_lost_checks() -> None:
    w = ["a.c", 3, "warning", "clang", "-Wunused-variable", "unused variable 'x'"]
    start = state([w], [w], {"is_valid": 2, "fits": 1})
    final = state(
        [w],
        [
            w,  # in both measurements: the project's own flags already report it
            ["a.c", 7, "warning", "clang", "-Wsign-compare", "comparison of integers of different signs"],
            ["a.c", 9, "warning", "clang-tidy", "bugprone-branch-clone", "repeated branch body"],
        ],
        {"is_valid": 1, "fits": 1, "other": 4},
    )
    facts = {"states": {"s": start, "f": final}, "trajectories": {"k": {"start": "s", "final": "f", "paths": ["a.c"]}}}
    assert deltas(facts, "k") == {"w:-Wsign-compare": 1.0, "tidy:bugprone-branch-clone": 1.0, "ref": 1.0}
    assert deltas(facts, "missing") is None
    # a fact that goes away is a negative delta, and does not count as firing
    back = {**facts, "trajectories": {"k": {"start": "f", "final": "s", "paths": ["a.c"]}}}
    # (and the four calls to ``other`` it loses are lost checks)
    assert deltas(back, "k") == {"w:-Wsign-compare": -1.0, "tidy:bugprone-branch-clone": -1.0, "ref": 4.0}
    assert firing([(True, deltas(back, "k") or {}), (False, deltas(facts, "k") or {})]) == {
        "ref": {"pass": 1, "fail": 1},
        "tidy:bugprone-branch-clone": {"pass": 0, "fail": 1},
        "w:-Wsign-compare": {"pass": 0, "fail": 1},
    }


def traj(key: str, task: str, passed: bool, steps: int = 1) -> Trajectory:
    return Trajectory(
        dataset="d",
        task=task,
        agent="oracle" if passed else "corrupt:0",
        key=key,
        outcome="resolved" if passed else "failed",
        rewards=(0.0,) * steps,
        components=((0.0, 0.4, 0.0),) * steps,
        compiled=True,
        pass_rate=1.0 if passed else 0.0,
        all_pass=passed,
        sanitizer_clean=True,
        patch_applies=True,
        warnings_delta=0.0,
        lines_changed=1,
    )


def test_a_check_that_fires_only_on_failures_is_selected_and_lifts_the_auroc() -> None:
    clean = state([], [], {})
    tidy = state([], [["a.c", 1, "warning", "clang-tidy", "bugprone-x", "m"]], {})
    noisy = state([], [["a.c", 1, "warning", "clang-tidy", "cert-y", "m"]], {})
    states = {"clean": clean, "tidy": tidy, "noisy": noisy}
    ts, trajs = [], {}
    for i in range(12):
        task = f"t{i}"
        ts += [traj(f"p{i}", task, True), traj(f"f{i}", task, False)]
        trajs[f"p{i}"] = {"start": "clean", "final": "noisy" if i % 2 else "clean", "paths": ["a.c"]}
        trajs[f"f{i}"] = {"start": "clean", "final": "tidy", "paths": ["a.c"]}
    rescored = {t.key: {"reward_v2": 0.0} for t in ts}  # pr-v2 alone cannot tell them apart
    facts = {"states": states, "trajectories": trajs}
    rows = [(t, deltas(facts, t.key) or {}, 0.0) for t in ts]
    assert select(rows) == ["tidy:bugprone-x"]  # cert-y fired on passes only
    out = score_facts({"d": (ts, facts, rescored)}, ["d"], resamples=50)
    e = out["sets"]["d"]
    assert e["auroc"]["reward_v2"] == 0.5
    assert e["auroc"]["tidy_sel"] == 1.0
    assert e["auroc"]["tidy_all"] < 1.0  # the check that also fires on passes costs
    assert e["paired"]["tidy_sel - reward_v2"]["diff"] == 0.5
