"""One kernel task end to end: Debian's Linux 6.1, KUnit on User Mode Linux, in the sandbox.

The slow part is the project layer (the first UML KUnit build, about 3-5
minutes on 2 cores); it is cached under ``~/.cache/lanser-tests/kernel``
(keyed by package, kunitconfig, image id and recipe), so only the first run
on a machine pays for it.  The task is the first ``cmdline`` task of
``datasets/kernel-6.1``: the oracle resolves it (incremental rebuild, boot,
KTAP graded per case), noop leaves its KUnit cases failing, and the oracle's
edit step has a process reward computed by clangd on the kernel file through
the layer's compilation database.  KASAN is not part of this test (its own
first build takes minutes more).
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
DATASET = REPO / "datasets" / "kernel-6.1"
CACHE = Path.home() / ".cache" / "lanser-tests"


def bench(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", "from lanser.cli.main import main; main()", "--no-daemon", "--json", "bench", *args],
        capture_output=True,
        text=True,
        timeout=1800,
        cwd=REPO,
    )


@pytest.fixture(scope="module")
def kernel_task(tmp_path_factory: pytest.TempPathFactory, base_image: str) -> tuple[Path, dict[str, Any]]:
    from lanser.harness.datasets.kernel.dataset import link_project
    from lanser.harness.datasets.kernel.layer import ensure_layer

    layer = ensure_layer(
        CACHE / "kernel", base_image, progress=lambda msg: print(f"[kernel layer] {msg}", file=sys.stderr, flush=True)
    )
    tasks = [json.loads(line) for line in (DATASET / "tasks.jsonl").read_text().splitlines() if line.strip()]
    task = next(t for t in tasks if t["id"].split("/")[1] == "cmdline")
    data = tmp_path_factory.mktemp("kernel")
    (data / "tasks.jsonl").write_text(json.dumps(task) + "\n")
    link_project(layer, data)
    return data, task


@pytest.fixture(scope="module")
def runs(kernel_task: tuple[Path, dict[str, Any]], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    data, task = kernel_task
    out = tmp_path_factory.mktemp("kernel-bench")
    results = {}
    for agent in ("oracle", "noop"):
        proc = bench("run", str(data), "--agent", agent, "--out", str(out), "--run-id", agent)
        assert proc.returncode == 0, proc.stderr[-4000:]
        shown = bench("show", agent, task["id"], "--out", str(out))
        assert shown.returncode == 0, shown.stderr[-4000:]
        (results[agent],) = json.loads(shown.stdout)
    return results


def test_the_layer_builds_kunit_and_a_portable_compile_database(kernel_task: tuple[Path, dict[str, Any]]) -> None:
    data, _ = kernel_task
    tree = data / "project"
    entries = json.loads((tree / "compile_commands.json").read_text())
    assert entries and all(not e["directory"].startswith("/") for e in entries)
    assert any(e["file"] == "../lib/cmdline.c" for e in entries)
    assert (tree / ".kunit" / "linux").is_file(), "the UML kernel is built once, in the layer"
    # Trimmed to what the build reads: the GPU drivers keep their Kconfig and Makefiles, no code.
    assert (tree / "drivers" / "gpu" / "Makefile").is_file()
    assert not any((tree / "drivers" / "gpu").rglob("*.c"))


def test_oracle_resolves_the_kernel_task_from_ktap(runs: dict[str, Any], kernel_task: tuple[Path, dict]) -> None:
    _, task = kernel_task
    verdict = runs["oracle"]["verdict"]
    assert verdict["outcome"] == "resolved", verdict
    assert set(verdict["fail_to_pass"]) == set(task["oracles"]["fail_to_pass"])
    assert all(v == "pass" for v in verdict["fail_to_pass"].values())
    cases = len(task["oracles"]["fail_to_pass"]) + len(task["oracles"]["pass_to_pass"])
    assert verdict["tests_total"] > cases  # every case of every suite ran, graded per case (and per suite)
    # The canary (a cmdline case made to fail, under a name drawn for this grading) failed, read apart.
    assert verdict["canary"]["result"] == "fail" and verdict["canary"]["test"].startswith("cmdline.")
    assert verdict["canary"]["test"] not in verdict["tests"]


def test_noop_leaves_kunit_cases_failing(runs: dict[str, Any]) -> None:
    verdict = runs["noop"]["verdict"]
    assert verdict["outcome"] == "tests_failed"
    assert any(v != "pass" for v in verdict["fail_to_pass"].values())


def test_the_edit_step_is_rewarded_by_clangd_on_kernel_code(runs: dict[str, Any]) -> None:
    edits = [s for s in runs["oracle"]["steps"] if s["action"] == "edit"]
    assert edits
    for step in edits:
        pr = step["result"]["processReward"]
        assert step["result"]["status"] == "ok", step["result"]
        assert pr["components"]["safety"] == 1
        # Flags clangd rejects (gcc-only options) would show up as errors here.
        assert pr["components"]["d_now"] == 0, pr


def test_the_start_state_is_rebuilt_so_no_object_holds_the_original_code(runs: dict[str, Any]) -> None:
    """The layer's .kunit was compiled before the start patch emptied get_option(): reset rebuilds
    it (incrementally, with the task's build), or the agent could disassemble the answer."""
    for agent in ("oracle", "noop"):
        start = runs[agent]["environment"]["start_build"]
        assert start["command"] == "build" and start["exit_code"] == 0 and start["scrubbed"] == 0, start
