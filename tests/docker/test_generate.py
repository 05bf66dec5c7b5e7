"""`lanser bench generate oss` end to end: a small C project written for this test
(tests/docker/data/gen-c, a TAP suite, plain and sanitized builds) becomes a
dataset whose every task is validated in the sandbox; the oracle resolves every
task and the noop agent fails every one; the same seed gives the same file."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.docker

REPO = Path(__file__).resolve().parents[2]
DATA = Path(__file__).resolve().parent / "data" / "gen-c"
# bear writes the compilation database (container paths; the project layer makes it
# portable), so lanser's per-step reward sees clangd's diagnostics on the host.
PROFILE = (
    "--files",
    "seq.c",
    "--setup",
    "bear -- make build/run_tests build-asan/run_tests",
    "--build",
    "make build/run_tests",
    "--test",
    "make -s test",
    "--sanitize",
    "make -s sanitize",
)


def lanser(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", "from lanser.cli.main import main; main()", "--no-daemon", "--json", *args],
        capture_output=True,
        text=True,
        timeout=1200,
        cwd=REPO,
    )


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory, base_image: str) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("gen")
    out, cache = root / "gen-c", root / "cache"
    shutil.copytree(DATA, out / "project")
    proc = lanser(
        "bench",
        "generate",
        "oss",
        "project",
        "--out",
        str(out),
        "--cache",
        str(cache),
        "--seed",
        "3",
        "--count",
        "6",
        *PROFILE,
    )
    assert proc.returncode == 0, proc.stderr
    return out, cache


def tasks(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "tasks.jsonl").read_text().splitlines()]


def test_generation_validates_both_kinds_and_counts_what_it_dropped(dataset) -> None:
    out, _ = dataset
    made = tasks(out)
    meta = json.loads((out / "generation.json").read_text())
    kinds = {m["kind"] for m in meta["tasks"]}
    assert len(made) == 6
    assert "implement" in kinds and kinds - {"implement"}, "both implement and repair tasks"
    assert sum(meta["attempted"].values()) == len(made) + sum(meta["dropped"].values())
    assert meta["baseline"]["tests"] == 9 and meta["baseline"]["sanitizer_reports"] == []
    names = {
        "new_is_empty",
        "push_until_full",
        "push_when_full_fails",
        "get_inside",
        "get_past_end",
        "sum",
        "index_of",
        "list_push_length",
        "empty_list_length",
    }
    for task, m in zip(made, meta["tasks"], strict=False):
        assert task["id"] == m["id"] and task["id"].startswith("gen-c/")
        f2p, p2p = set(task["oracles"]["fail_to_pass"]), set(task["oracles"]["pass_to_pass"])
        assert f2p | p2p == names and not f2p & p2p
        assert f2p or m["sanitizer_caught"], "a start state fails a test or a sanitizer"
        assert task["start_patch"].startswith("--- a/seq.c") and task["gold_patch"].startswith("--- a/seq.c")
        if m["kind"] == "implement":
            assert f"`{m['function']}`" in task["problem"] and "TODO: implement" in task["start_patch"]


def test_same_seed_same_dataset(dataset, tmp_path: Path) -> None:
    out, cache = dataset
    again = tmp_path / "gen-c"
    shutil.copytree(DATA, again / "project")
    proc = lanser(
        "bench",
        "generate",
        "oss",
        "project",
        "--out",
        str(again),
        "--cache",
        str(cache),
        "--seed",
        "3",
        "--count",
        "6",
        *PROFILE,
    )
    assert proc.returncode == 0, proc.stderr
    assert (again / "tasks.jsonl").read_text() == (out / "tasks.jsonl").read_text()


def test_oracle_resolves_and_noop_fails_every_generated_task(dataset, tmp_path: Path) -> None:
    out, _ = dataset
    verdicts = {}
    for agent in ("oracle", "noop"):
        proc = lanser("bench", "run", str(out), "--agent", agent, "--out", str(tmp_path / "runs"), "--run-id", agent)
        assert proc.returncode == 0, proc.stderr
        verdicts[agent] = {r["task"]: r["outcome"] for r in json.loads(proc.stdout)["results"]}
    ids = {t["id"] for t in tasks(out)}
    assert verdicts["oracle"] == {i: "resolved" for i in ids}
    assert set(verdicts["noop"]) == ids and "resolved" not in verdicts["noop"].values()
    meta = {m["id"]: m for m in json.loads((out / "generation.json").read_text())["tasks"]}
    for task_id, outcome in verdicts["noop"].items():
        expected = {"tests_failed"} if meta[task_id]["fail_to_pass"] else {"sanitizer_error"}
        assert outcome in expected, (task_id, outcome)
    task_id = sorted(ids)[0]
    proc = lanser("bench", "show", "oracle", task_id, "--out", str(tmp_path / "runs"))
    (result,) = json.loads(proc.stdout)
    edits = [s for s in result["steps"] if s["action"] == "edit"]
    assert edits and all(
        s["reward"] > 0 and s["result"]["processReward"]["components"]["safety"] == 1 for s in edits
    ), "every gold hunk is a safe step with a positive process reward"


def test_bad_profile_is_a_clear_error(tmp_path: Path) -> None:
    proc = lanser("bench", "generate", "oss", "project", "--out", str(tmp_path / "x"))
    assert proc.returncode == 2 and "--files" in proc.stderr
    proc = lanser("bench", "generate", "oss", "project", "--out", str(tmp_path / "x"), "--preset", "nosuch")
    # Under --json the refusal is one JSON error object on stdout (E/BAD_REQUEST, exit 2).
    error = json.loads(proc.stdout)["error"]
    assert proc.returncode == 2 and error["code"] == "E/BAD_REQUEST" and "no preset 'nosuch'" in error["message"]
