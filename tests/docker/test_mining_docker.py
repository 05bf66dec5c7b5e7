"""`lanser bench generate history` end to end, and one real mined task, with the real grader.

The fixture history (tests/unit/mining_fixture.py: a tiny C project whose
``make test`` prints ``PASS:``/``FAIL:`` lines) is mined into a dataset: the
issue-#3 series validates (its hidden tests fail on the pinned source and pass
with the gold patch), the fix whose context the pinned source changed is
dropped with its reason, the series' human trajectory replays to resolved, and
a second run writes the same bytes.  Then one representative task of
datasets/json-c-real (a real upstream fix, ported onto Debian's json-c 0.16)
is graded: oracle resolved, noop not, the hidden test never in the agent's tree.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "unit"))
from mining_fixture import SANITIZE, build_history  # noqa: E402

pytestmark = pytest.mark.docker

REPO = Path(__file__).resolve().parents[2]
REAL = REPO / "datasets" / "json-c-real"
#: The representative real task: upstream's fix of json_parse_uint64 (a '-' behind a tab slipped past
#: the negative check), whose test change adds a case to tests/test_parse_int64.c and its expected output.
REAL_TASK = "json-c-real/510d68bd3574"


def lanser(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", "from lanser.cli.main import main; main()", "--no-daemon", "--json", *args],
        capture_output=True,
        text=True,
        timeout=3600,
        cwd=REPO,
    )


def mine(root: Path, out: Path, cache: Path) -> subprocess.CompletedProcess[str]:
    bare, pinned, ids = build_history(root)
    shutil.copytree(pinned, out / "pinned")
    return lanser(
        "bench",
        "generate",
        "history",
        str(bare),
        "--since",
        "v1.0",
        "--until",
        ids["conflict"],
        "--source",
        "pinned",
        "--out",
        str(out),
        "--project",
        "fixture",
        "--cache",
        str(cache),
        "--build",
        "make -s tests/t",
        "--test",
        "make -s test",
        "--sanitize",
        SANITIZE,
        "--test-log",
        "plain",
    )


@pytest.fixture(scope="module")
def mined(tmp_path_factory: pytest.TempPathFactory, base_image: str) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("history")
    out, cache = root / "out", root / "cache"
    proc = mine(root / "a", out, cache)
    assert proc.returncode == 0, proc.stderr
    return out, cache


def test_series_validates_and_drops_are_counted(mined: tuple[Path, Path]) -> None:
    out, _ = mined
    (task,) = [json.loads(line) for line in (out / "tasks.jsonl").read_text().splitlines()]
    assert (task["oracles"]["fail_to_pass"], task["oracles"]["pass_to_pass"]) == (["clamp", "sum"], ["twice"])
    assert "tests/t.c" in task["test_patch"] and "tests/t.c" not in task["gold_patch"]
    assert "Hidden tests" in task["problem"] and "instead of" not in task["problem"]
    gen = json.loads((out / "generation.json").read_text())
    assert gen["candidates"] == 2 and gen["validated"] == 1 and gen["series"] == 1
    assert gen["passed_over"] == {"message does not say it fixes a bug": 1, "no test change": 1}
    assert gen["dropped"] == {"source change does not apply to the pinned source (merge conflicts, fuzz 2 fails)": 1}
    (entry,) = [m for m in gen["candidates_detail"] if "id" in m]
    assert entry["trajectory"] == {"steps": 2, "replayed": "resolved"}
    steps = [
        json.loads(line)
        for line in (out / "trajectories" / (task["id"].split("/")[1] + ".jsonl")).read_text().splitlines()
    ]
    assert [s["type"] for s in steps] == ["edit", "edit", "submit"]


def test_same_inputs_same_dataset(mined: tuple[Path, Path], tmp_path: Path) -> None:
    """The same history (built again: fixed dates, the same commit ids) and pinned source give
    the same bytes: tasks, trajectories, generation record."""
    out, cache = mined
    again = tmp_path / "out"
    proc = mine(tmp_path / "b", again, cache)
    assert proc.returncode == 0, proc.stderr
    assert (again / "tasks.jsonl").read_bytes() == (out / "tasks.jsonl").read_bytes()
    records = [json.loads((o / "generation.json").read_text()) for o in (out, again)]
    assert [{k: v for k, v in r.items() if k != "command"} for r in records][0] == {
        k: v for k, v in records[1].items() if k != "command"
    }  # the command names the --out directory
    assert sorted(p.name for p in (again / "trajectories").iterdir()) == sorted(
        p.name for p in (out / "trajectories").iterdir()
    )


def test_grader_confirms_the_mined_fixture_task(mined: tuple[Path, Path], tmp_path: Path) -> None:
    out, _ = mined
    outcomes = {}
    for agent in ("oracle", "noop"):
        proc = lanser("bench", "run", str(out), "--agent", agent, "--out", str(tmp_path / "runs"), "--run-id", agent)
        assert proc.returncode == 0, proc.stderr
        (result,) = json.loads(proc.stdout)["results"]
        outcomes[agent] = result["outcome"]
    assert outcomes == {"oracle": "resolved", "noop": "tests_failed"}


def test_hidden_tests_are_never_in_the_agents_tree_and_cannot_be_tampered_with(
    mined: tuple[Path, Path], tmp_path: Path
) -> None:
    """An agent that reads the test file sees the pinned one (no clamp case), and one that rewrites
    every FAIL into PASS there is still graded on the hidden tests: its edit of a protected file
    is dropped and the grader applies test_patch to the fresh tree."""
    out, _ = mined
    steps = tmp_path / "tamper.jsonl"
    steps.write_text(
        json.dumps({"type": "run", "command": "cat tests/t.c; sed -i 's/FAIL/PASS/g' tests/t.c"})
        + "\n"
        + json.dumps({"type": "submit"})
        + "\n"
    )
    proc = lanser(
        "bench", "run", str(out), "--agent", f"replay:{steps}", "--out", str(tmp_path / "runs"), "--run-id", "tamper"
    )
    assert proc.returncode == 0, proc.stderr
    (result,) = json.loads(proc.stdout)["results"]
    assert result["outcome"] == "tests_failed"
    proc = lanser("bench", "show", "tamper", result["task"], "--out", str(tmp_path / "runs"))
    (shown,) = json.loads(proc.stdout)
    seen = shown["steps"][0]["result"]["output"]
    assert "twice" in seen and "clamp" not in seen, "the agent saw the hidden test"
    assert any("tests/t.c" in note for note in shown["verdict"]["notes"])


def test_one_real_task_oracle_resolves_noop_does_not(tmp_path: Path, base_image: str) -> None:
    """A real upstream fix with its hidden tests: the grader applies the tests, the agent never sees them."""
    tasks = {json.loads(line)["id"]: json.loads(line) for line in (REAL / "tasks.jsonl").read_text().splitlines()}
    task = tasks[REAL_TASK]
    assert task["oracles"]["fail_to_pass"] == ["test_parse_int64"] and "tests/test_parse_int64.c" in task["test_patch"]
    outcomes = {}
    for agent in ("oracle", "noop"):
        proc = lanser(
            "bench",
            "run",
            str(REAL),
            "--task",
            REAL_TASK,
            "--agent",
            agent,
            "--out",
            str(tmp_path / "runs"),
            "--run-id",
            agent,
        )
        assert proc.returncode == 0, proc.stderr
        (result,) = json.loads(proc.stdout)["results"]
        outcomes[agent] = result["outcome"]
    assert outcomes["oracle"] == "resolved" and outcomes["noop"] != "resolved"
