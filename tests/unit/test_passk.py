"""pass@k (the unbiased estimator), the per-agent summary, attempt keys, seeded samples and the
store's ownership of rows: pure, or the real SQLite store on a temporary file."""

from __future__ import annotations

import itertools
from fractions import Fraction
from math import comb
from pathlib import Path
from typing import Any

import pytest

from lanser.harness.report.passk import pass_at_k, summarize
from lanser.harness.run.driver import sample_agent_spec
from lanser.harness.run.store import Store, result_key


def brute_force(n: int, c: int, k: int) -> Fraction:
    """pass@k by definition: the share of k-subsets of n attempts (c resolved) holding a resolved one."""
    attempts = [True] * c + [False] * (n - c)
    subsets = list(itertools.combinations(range(n), k))
    return Fraction(sum(any(attempts[i] for i in s) for s in subsets), len(subsets))


@pytest.mark.parametrize("n", range(1, 8))
def test_pass_at_k_is_the_chance_that_k_drawn_attempts_hold_a_resolved_one(n: int) -> None:
    for c in range(n + 1):
        for k in range(1, n + 1):
            assert pass_at_k(n, c, k) == pytest.approx(float(brute_force(n, c, k)), abs=1e-12), (n, c, k)


def test_pass_at_k_known_values() -> None:
    assert pass_at_k(3, 1, 1) == pytest.approx(1 / 3)
    assert pass_at_k(3, 1, 3) == 1.0
    assert pass_at_k(10, 0, 5) == 0.0
    assert pass_at_k(10, 10, 1) == 1.0
    assert pass_at_k(5, 2, 2) == pytest.approx(1 - comb(3, 2) / comb(5, 2))  # 0.7
    # Large n: exact integer binomials, no overflow, no cancellation to a wrong 0 or 1.
    assert pass_at_k(200, 1, 1) == pytest.approx(0.005)
    assert 0 < pass_at_k(1000, 3, 10) < 1


@pytest.mark.parametrize("n,c,k", [(0, 0, 1), (3, 4, 1), (3, -1, 1), (3, 1, 0), (3, 1, 4)])
def test_pass_at_k_refuses_what_it_does_not_define(n: int, c: int, k: int) -> None:
    with pytest.raises(ValueError):
        pass_at_k(n, c, k)


def row(
    task: str,
    outcome: str,
    attempt: int = 0,
    *,
    run: str = "r",
    agent: str = "a",
    rewards: tuple[float, ...] = (),
    seconds: float | None = 2.0,
    reused: str | None = None,
) -> dict[str, Any]:
    return {
        "run_id": run,
        "agent": agent,
        "task_id": task,
        "attempt": attempt,
        "outcome": outcome,
        "steps": [{"reward": r} for r in rewards],
        "stages": {},
        "seconds": seconds,
        "reused_from": reused,
    }


def test_summary_pass_at_1_and_k_average_over_tasks_and_leave_out_infrastructure_failures() -> None:
    rows = [
        row("t1", "resolved", 0, rewards=(0.5, 0.25)),
        row("t1", "tests_failed", 1),
        row("t1", "resolved", 2),
        row("t2", "tests_failed", 0),
        row("t2", "tests_failed", 1),
        row("t2", "sanitizer_error", 2),
        row("t3", "resolved", 0, reused="old"),
        row("t3", "infra_error", 1, seconds=None),
        row("t3", "resolved", 2),
    ]
    (s,) = summarize(rows)
    assert (s.tasks, s.attempts, s.graded, s.resolved, s.infra_errors, s.reused) == (3, 9, 8, 4, 1, 1)
    assert s.resolve_rate == pytest.approx(4 / 8)
    # t1: n=3 c=2, t2: n=3 c=0, t3: n=2 c=2 (the infra error is not graded): pass@3 is not
    # given, a mean over t1 and t2 alone would not be over the same tasks as pass@1.
    assert s.k == 2 and set(s.pass_at) == {1, 2} and s.pass_tasks == {1: 3, 2: 3}
    assert s.pass_at[1] == pytest.approx((2 / 3 + 0 + 1) / 3)
    assert s.pass_at[2] == pytest.approx((1 + 0 + 1) / 3)
    assert s.mean_reward == pytest.approx(0.75 / 8)
    assert s.seconds == pytest.approx(16.0)
    assert s.outcomes == {"resolved": 4, "tests_failed": 3, "sanitizer_error": 1, "infra_error": 1}
    assert s.to_dict()["pass_at"] == {"1": s.pass_at[1], "2": s.pass_at[2]}
    (lost,) = summarize([row("t1", "infra_error"), row("t2", "resolved")])
    assert (lost.k, lost.pass_at, lost.pass_tasks, lost.tasks) == (1, {1: 1.0}, {1: 1}, 2)


def test_summary_is_per_run_and_agent() -> None:
    rows = [
        row("t1", "resolved", run="r1", agent="oracle"),
        row("t1", "tests_failed", run="r2", agent="noop"),
        row("t2", "tests_failed", run="r2", agent="noop"),
    ]
    got = {(s.run_id, s.agent): (s.tasks, s.pass_at) for s in summarize(rows)}
    assert got == {("r1", "oracle"): (1, {1: 1.0}), ("r2", "noop"): (2, {1: 0.0})}


def test_attempts_and_grading_rules_are_part_of_the_key(monkeypatch: pytest.MonkeyPatch) -> None:
    """Regression: a key without the grader's version let a run reuse verdicts of the old rules."""
    import lanser.harness.run.store as store

    keys = [result_key("task", "img", "noop", "d", i) for i in range(3)]
    assert keys[0] == result_key("task", "img", "noop", "d") and len(set(keys)) == 3
    monkeypatch.setattr(store, "GRADING_VERSION", "g-next")
    assert result_key("task", "img", "noop", "d") != keys[0]


def test_samples_of_seeded_agents_take_their_own_seed_and_commands_are_told_their_attempt() -> None:
    assert [sample_agent_spec("partial:3", i) for i in range(3)] == [None, "partial:4", "partial:5"]
    assert [sample_agent_spec("shuffle", i) for i in range(2)] == [None, "shuffle:1"]
    assert sample_agent_spec("cmd:python3 a.py --x", 2) == "cmd:env LANSER_ATTEMPT=2 LANSER_SEED=2 python3 a.py --x"
    assert {sample_agent_spec(spec, 4) for spec in ("oracle", "noop", "replay:x.jsonl", None)} == {None}


def test_a_run_owns_its_rows_and_says_where_a_reused_one_came_from(tmp_path: Path) -> None:
    """Regression: rows were keyed by attempt alone, so a second run (a new run id) of the same
    attempts stored nothing and `bench show` of it found no results."""
    store = Store(tmp_path / "r.sqlite")
    store.put(
        "k",
        "first",
        "t1",
        "noop",
        {"outcome": "tests_failed"},
        [{"reward": 0.5}],
        {},
        "",
        {"image_id": "i"},
        attempt=1,
        seconds=3.5,
        extra={"evidence": {"failed_tests": ["x"]}},
    )
    source = store.cached("k")
    assert source is not None and source["run_id"] == "first"
    again = store.reuse("second", source)
    assert (again["run_id"], again["reused_from"], again["attempt"], again["seconds"]) == ("second", "first", 1, 3.5)
    third = store.reuse("third", again)  # reused from a reuse: still names the run that ran it
    assert third["reused_from"] == "first"
    assert [r["run_id"] for r in store.results()] == ["first", "second", "third"]
    assert store.results("second")[0]["extra"] == {"evidence": {"failed_tests": ["x"]}}
    assert store.done("k", "second") and not store.done("k", "fourth")
    # An infrastructure failure is never what a cache answers.
    store.put("bad", "first", "t2", "noop", {"outcome": "infra_error", "error": "x"}, [], {}, "")
    assert store.cached("bad") is None and store.get("first", "bad") is not None
