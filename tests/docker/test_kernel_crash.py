"""One kernel crash task end to end (issue 25): KASAN on User Mode Linux, graded in kGym's terms.

The dataset's layer (all eight suites under KASAN) is a 20+ minute first build on 2
cores; this test builds the smaller CI layer instead (``crash.ensure_ci_layer``:
DAMON's suite alone, the same debug options, the subsystems DAMON never reaches
turned off; docs/kernel-crash.md, "Cost in CI"), cached under
``~/.cache/lanser-tests/kernel`` beside the plain kernel layer and built under the
layer's lock, so a fresh machine builds it once and never skips.  The task is
``damon/damon_merge_two_regions-uaf`` of ``datasets/kernel-crash-6.1`` with its
oracles cut to the CI layer's cases (``crash.for_layer``): the oracle's patch makes
the crash go away (``crash_fixed`` -> ``resolved``), noop leaves it
(``crash_remains`` -> ``tests_failed``), and both verdicts carry the crash before
and after.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.docker

REPO = Path(__file__).resolve().parents[2]
DATASET = REPO / "datasets" / "kernel-crash-6.1"
CACHE = Path.home() / ".cache" / "lanser-tests"
TASK = "kernel-crash-6.1/damon/damon_merge_two_regions-uaf"  # crash.CI_TASK in the dataset


def bench(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", "from lanser.cli.main import main; main()", "--no-daemon", "--json", "bench", *args],
        capture_output=True,
        text=True,
        timeout=3600,
        cwd=REPO,
    )


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory, base_image: str) -> dict[str, Any]:
    from lanser.harness.datasets.kernel import crash
    from lanser.harness.datasets.kernel.dataset import link_project

    layer = crash.ensure_ci_layer(
        CACHE / "kernel",
        base_image,
        progress=lambda msg: print(f"[kernel crash layer] {msg}", file=sys.stderr, flush=True),
    )
    tasks = [json.loads(line) for line in (DATASET / "tasks.jsonl").read_text().splitlines() if line.strip()]
    task = crash.for_layer(next(t for t in tasks if t["id"] == TASK), layer.baseline)
    data = tmp_path_factory.mktemp("kernel-crash")
    (data / "tasks.jsonl").write_text(json.dumps(task) + "\n")
    link_project(layer, data)
    out = tmp_path_factory.mktemp("kernel-crash-bench")
    results: dict[str, Any] = {"task": task}
    for agent in ("oracle", "noop"):
        proc = bench("run", str(data), "--agent", agent, "--out", str(out), "--run-id", agent)
        assert proc.returncode == 0, proc.stderr[-4000:]
        shown = bench("show", agent, task["id"], "--out", str(out))
        assert shown.returncode == 0, shown.stderr[-4000:]
        (results[agent],) = json.loads(shown.stdout)
    return results


def crash_ci_task() -> str:
    from lanser.harness.datasets.kernel import crash

    return crash.CI_TASK


def test_the_problem_is_the_crash_report_not_the_reproducer(runs: dict[str, Any]) -> None:
    task = runs["task"]
    assert task["oracles"]["crash"]["title"] in task["problem"]
    assert "core-test.h" not in task["problem"] and "KUNIT_" not in task["problem"]
    assert "[<" not in task["problem"] and "Memory state" not in task["problem"], "trimmed as syzbot trims"


def test_the_ci_layer_runs_the_tasks_suite_under_the_crash_options(runs: dict[str, Any]) -> None:
    oracles = runs["task"]["oracles"]
    assert oracles["pass_to_pass"] and all(n.startswith("damon.") for n in oracles["pass_to_pass"])
    assert runs["task"]["id"].endswith(crash_ci_task())


def test_oracle_fixes_the_crash(runs: dict[str, Any]) -> None:
    verdict = runs["oracle"]["verdict"]
    assert verdict["crash"]["outcome"] == "crash_fixed", verdict.get("reason")
    assert verdict["outcome"] == "resolved"
    assert verdict["crash"]["after"] == []
    assert all(v == "pass" for v in verdict["pass_to_pass"].values())


def test_noop_leaves_the_crash(runs: dict[str, Any]) -> None:
    verdict = runs["noop"]["verdict"]
    assert verdict["crash"]["outcome"] == "crash_remains", verdict.get("reason")
    assert verdict["outcome"] == "tests_failed"
    assert runs["task"]["oracles"]["crash"]["title"] in [c["title"] for c in verdict["crash"]["after"]]
