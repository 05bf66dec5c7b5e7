"""Validation in the sandbox, exactly as the grader grades: the real runner, noop and oracle.

A candidate task (gold and hidden tests, no oracles yet) is run twice with
:func:`lanser.harness.run.runner.run_task`: ``noop`` (the pinned source plus the
hidden tests) and ``oracle`` (plus the gold patch), through the clean room.
The tests each run read give the oracles; the stored stage records are then
re-graded with those oracles (:func:`lanser.harness.grade.grading.grade`, a pure
function of the stages), so the dataset's verdicts are the grader's.
Results are cached by task key and agent: the same inputs give the same
tasks, and a re-run is quick.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path
from typing import Any

from lanser.harness.errors import InfrastructureError
from lanser.harness.task.spec import TaskSpec

__all__ = ["TAIL_LINES", "Judged", "build_tail", "evaluate", "judge", "regrade"]


def evaluate(
    task: TaskSpec, dataset_dir: Path, agent: str, image: str, cache: Path, actions: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    """``{verdict, stages, seconds}`` of one attempt (cached; an infrastructure failure is raised, never cached).

    A timeout is returned but neither cached nor read from the cache: on a loaded machine a
    suite that takes a minute can pass its wall limit, and a cached timeout would drop the
    candidate on every later run (the same inputs must give the same tasks)."""
    from lanser.harness.run.agents import _Scripted, make_agent
    from lanser.harness.run.runner import run_task

    tag = agent if actions is None else f"{agent}-{_digest(actions)}"
    path = cache / "runs" / f"{task.key()}-{tag}.json"
    if path.is_file():
        cached: dict[str, Any] = json.loads(path.read_text())
        if cached["verdict"].get("outcome") != "timeout":
            return cached
    workroot = Path(tempfile.mkdtemp(prefix="mine-", dir=_mkdir(cache / "work")))
    try:
        the_agent = make_agent(agent) if actions is None else _Scripted(agent, actions)
        result = run_task(task, dataset_dir, the_agent, image, workroot, labels={"lanser.mining": "1"})
    finally:
        shutil.rmtree(workroot, ignore_errors=True)
    if result["verdict"].get("outcome") == "infra_error":
        raise InfrastructureError(f"{task.id} ({agent}): {result['verdict'].get('error')}", stage="mining")
    out = {"verdict": result["verdict"], "stages": result["stages"], "seconds": result["seconds"]}
    if result["verdict"].get("outcome") == "timeout":
        return out
    _mkdir(path.parent)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(out, sort_keys=True))
    tmp.replace(path)
    return out


def _digest(actions: list[dict[str, Any]]) -> str:
    import hashlib

    return hashlib.sha256(json.dumps(actions, sort_keys=True).encode()).hexdigest()[:16]


def _mkdir(p: Path) -> Path:
    p.mkdir(parents=True, exist_ok=True)
    return p


class Judged:
    """What the two runs say: the oracles, or why the candidate is dropped.

    ``fail_to_pass``: tests that pass with the fix and not without it; ``pass_to_pass``: tests
    that pass in both.  A test that fails in both (a suite the image cannot run) is in neither,
    so it is never held against anyone.  The runs are then re-graded under these oracles
    (:func:`regrade`): the oracle must be resolved (sanitizers included), the noop must not."""

    def __init__(self, noop: dict[str, Any], oracle: dict[str, Any]) -> None:
        from lanser.harness.task.spec import Oracles

        self.why: str | None = None
        self.detail = ""
        self.fail_to_pass: list[str] = []
        self.pass_to_pass: list[str] = []
        self.sanitizer: list[str] = []
        gold, base = oracle["verdict"], noop["verdict"]
        gold_tests: dict[str, str] = gold.get("tests") or {}
        base_tests: dict[str, str] = base.get("tests") or {}
        broken = sorted(t for t, v in base_tests.items() if v == "pass" and gold_tests.get(t) != "pass")
        if gold["outcome"] == "build_failed":
            self.why, self.detail = "gold patch with the hidden tests does not build", build_tail(oracle)
        elif gold["outcome"] == "timeout":
            self.why = "gold patch times out"
        elif base["outcome"] == "build_failed":
            self.why = "hidden tests do not build without the fix (they use what it adds)"
            self.detail = build_tail(noop)
        elif base["outcome"] == "timeout":
            self.why = "pinned source times out on the hidden tests"
        elif broken:
            self.why, self.detail = "tests fail with the gold patch", ", ".join(broken)
        else:
            self.fail_to_pass = sorted(t for t, v in gold_tests.items() if v == "pass" and base_tests.get(t) != "pass")
            self.pass_to_pass = sorted(t for t, v in gold_tests.items() if v == "pass" and base_tests.get(t) == "pass")
            oracles = Oracles(fail_to_pass=tuple(self.fail_to_pass), pass_to_pass=tuple(self.pass_to_pass))
            with_gold, without = _grade(oracle, oracles), _grade(noop, oracles)
            if with_gold["outcome"] != "resolved":
                self.why, self.detail = f"gold patch graded {with_gold['outcome']}", with_gold.get("reason", "")
            elif without["outcome"] == "resolved":
                both = sorted(t for t, v in gold_tests.items() if v != "pass")
                self.why = "hidden tests fail with the fix too" if both else "hidden tests pass without the fix"
                self.detail = ", ".join(both)
            elif not self.fail_to_pass:
                self.sanitizer = sorted(
                    {r.get("summary", "") for r in (without.get("sanitizer") or {}).get("reports", [])}
                ) or [without.get("reason", "")]


#: The last lines of a failed build kept in a drop's ``detail`` (generation.json): enough for the
#: compiler's error and make's summary, short enough for a file meant to be read.
TAIL_LINES = 12


def build_tail(run: dict[str, Any], lines: int = TAIL_LINES) -> str:
    """The last ``lines`` lines of ``run``'s failed build (the grader's evidence, else the build
    stage's output): why a candidate "does not build", in generation.json."""
    evidence = run["verdict"].get("evidence") or {}
    stage = (run.get("stages") or {}).get("build") or {}
    text = str(evidence.get("build_tail") or stage.get("output") or "")
    return "\n".join(text.rstrip().splitlines()[-lines:])


def judge(noop: dict[str, Any], oracle: dict[str, Any]) -> Judged:
    return Judged(noop, oracle)


def _grade(run: dict[str, Any], oracles: Any) -> dict[str, Any]:
    from lanser.harness.grade import grading

    data = oracles.model_dump(mode="json")
    return grading.grade(run["stages"], data, baseline_sanitizer=data["known_sanitizer_reports"])


def regrade(run: dict[str, Any], task: TaskSpec) -> dict[str, Any]:
    """The verdict the grader gives ``run``'s stages under ``task``'s oracles."""
    return _grade(run, task.oracles)
