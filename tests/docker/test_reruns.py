"""Reruns, attempts, --force and resuming with the real engine: `lanser bench run` on toy-c.

Each run here is one toy-c task (a few seconds an attempt).  The store is read
through `bench show` / `bench report` as a user would, and directly where the
test needs what the CLI does not print.
"""

from __future__ import annotations

import json
import shutil
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.docker

REPO = Path(__file__).resolve().parents[2]
TOY = REPO / "datasets" / "toy-c"
TASK = "toy-c/reverse"

#: A stochastic agent in miniature: it fixes the task on odd seeds (LANSER_SEED, set per attempt
#: by the harness) and gives up on even ones.
SEEDED_AGENT = """
import json, os, sys
gold = open(sys.argv[1]).read()
seed = int(os.environ["LANSER_SEED"])
plan = ([{"type": "edit", "patch": gold}] if seed % 2 else []) + [{"type": "submit"}]
for line in sys.stdin:
    print(json.dumps(plan.pop(0) if plan else {"type": "submit"}), flush=True)
"""


def bench(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", "from lanser.cli.main import main; main()", "--no-daemon", "--json", "bench", *args],
        capture_output=True,
        text=True,
        timeout=900,
        cwd=REPO,
    )


def run(out: Path, run_id: str, agent: str, *extra: str, dataset: Path = TOY) -> dict:
    proc = bench("run", str(dataset), "--agent", agent, "--task", TASK, "--out", str(out), "--run-id", run_id, *extra)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def rows(out: Path, run_id: str) -> list[tuple]:
    db = sqlite3.connect(out / "results.sqlite")
    got = db.execute(
        "SELECT attempt, outcome, reused_from, created FROM results WHERE run_id=? ORDER BY attempt", (run_id,)
    ).fetchall()
    db.close()
    return got


def test_a_new_run_id_stores_its_rows_and_force_runs_again(tmp_path: Path, base_image: str) -> None:
    """Regression: a second run into the same --out with a new --run-id stored nothing
    ({"results": []}, exit 0), then `bench show` of it failed and `bench report` was empty."""
    out = tmp_path / "out"
    first = run(out, "first", "noop")
    assert (first["ran"], first["reused"]) == (1, 0)
    second = run(out, "second", "noop")
    assert (second["ran"], second["reused"], second["skipped"]) == (0, 1, 0)
    assert second["results"] == [
        {
            "task": TASK,
            "attempt": 0,
            "outcome": "tests_failed",
            "reward": first["results"][0]["reward"],
            "seconds": first["results"][0]["seconds"],
            "reused_from": "first",
        }
    ]
    shown = bench("show", "second", "--out", str(out))
    assert shown.returncode == 0, shown.stderr
    assert [(r["task"], r["outcome"], r["reused_from"]) for r in json.loads(shown.stdout)] == [
        (TASK, "tests_failed", "first")
    ]
    report = bench("report", "first", "second", "--out", str(out), "--format", "json")
    assert report.returncode == 0, report.stderr
    summaries = json.loads(report.stdout)["summaries"]
    assert [(s["run_id"], s["attempts"], s["reused"]) for s in summaries] == [("first", 1, 0), ("second", 1, 1)]
    # --force runs the attempt again for this run; the run that reused the old one keeps its row.
    before = rows(out, "first")
    forced = run(out, "first", "noop", "--force")
    assert (forced["ran"], forced["reused"], forced["skipped"]) == (1, 0, 0)
    after = rows(out, "first")
    assert len(after) == 1 and after[0][3] > before[0][3] and after[0][1:3] == ("tests_failed", None)
    assert rows(out, "second")[0][:3] == (0, "tests_failed", "first")
    # The same run id again: resumed, nothing to do.
    again = run(out, "first", "noop")
    assert (again["ran"], again["reused"], again["skipped"], again["results"]) == (0, 0, 1, [])


def test_attempts_are_seeded_and_the_summary_has_pass_at_k(tmp_path: Path, base_image: str) -> None:
    (gold,) = [json.loads(x)["gold_patch"] for x in (TOY / "tasks.jsonl").read_text().splitlines() if f'"{TASK}"' in x]
    (tmp_path / "gold.diff").write_text(gold)
    (tmp_path / "agent.py").write_text(SEEDED_AGENT)
    agent = f"cmd:{sys.executable} {tmp_path / 'agent.py'} {tmp_path / 'gold.diff'}"
    out = tmp_path / "out"
    done = run(out, "k3", agent, "--attempts", "3")
    assert [(r["attempt"], r["outcome"]) for r in done["results"]] == [
        (0, "tests_failed"),
        (1, "resolved"),
        (2, "tests_failed"),
    ]
    summary = done["summary"]
    assert (summary["tasks"], summary["attempts"], summary["resolved"], summary["k"]) == (1, 3, 1, 3)
    assert summary["pass_at"] == pytest.approx({"1": 1 / 3, "2": 2 / 3, "3": 1.0})
    assert [r[:2] for r in rows(out, "k3")] == [(0, "tests_failed"), (1, "resolved"), (2, "tests_failed")]
    # A new run id of the same attempts reuses all three and has the same pass@k.
    again = run(out, "k3-again", agent, "--attempts", "3")
    assert (again["ran"], again["reused"]) == (0, 3)
    assert again["summary"]["pass_at"] == summary["pass_at"]
    # In a process pool each worker makes its attempt's agent from its seeded spec: the same verdicts.
    pool = run(out, "k3-pool", agent, "--attempts", "3", "--workers", "2", "--force")
    assert pool["ran"] == 3
    assert [(r["attempt"], r["outcome"]) for r in pool["results"]] == [
        (0, "tests_failed"),
        (1, "resolved"),
        (2, "tests_failed"),
    ]
    md = bench("report", "k3", "k3-again", "--out", str(out), "--format", "md")
    assert md.returncode == 0, md.stderr
    assert "pass@3 1.000" in md.stdout and "tests_failed 6/8, resolved 8/8, tests_failed 6/8" in md.stdout


def test_an_interrupted_run_with_attempts_resumes(
    tmp_path: Path, base_image: str, docker_client, interrupt_when
) -> None:
    data = tmp_path / "toy-c"
    shutil.copytree(TOY, data)
    (data / "slow.jsonl").write_text(
        json.dumps({"type": "run", "command": "sleep 3"}) + "\n" + json.dumps({"type": "submit"}) + "\n"
    )
    out = tmp_path / "out"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from lanser.cli.main import main; main()",
            "--no-daemon",
            "--json",
            "bench",
            "run",
            str(data),
            "--agent",
            "replay:slow.jsonl",
            "--task",
            TASK,
            "--out",
            str(out),
            "--run-id",
            "int",
            "--attempts",
            "3",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=REPO,
    )

    def stored() -> int:
        if not (out / "results.sqlite").exists():
            return 0
        db = sqlite3.connect(out / "results.sqlite", timeout=30)
        try:
            return int(db.execute("SELECT count(*) FROM results WHERE run_id='int'").fetchone()[0])
        except sqlite3.OperationalError:  # the table is not made yet
            return 0
        finally:
            db.close()

    # Interrupted once the first attempt is stored and before the last one is.
    _, stderr = interrupt_when(
        proc, lambda: stored() >= 1, lambda: proc.send_signal(signal.SIGTERM), "no attempt was stored"
    )
    assert proc.returncode == 73, stderr
    assert "rerun with --run-id int --attempts 3 to resume" in stderr
    kept = stored()
    assert 1 <= kept < 3
    resumed = run(out, "int", "replay:slow.jsonl", "--attempts", "3", dataset=data)
    assert resumed["skipped"] == kept and resumed["ran"] == 3 - kept
    assert [r[:2] for r in rows(out, "int")] == [(0, "tests_failed"), (1, "tests_failed"), (2, "tests_failed")]
    from lanser.cli.bench import run_label

    label = f"lanser.run={run_label('int', out)}"
    assert docker_client.containers.list(all=True, filters={"label": label}) == []
