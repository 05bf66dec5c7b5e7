"""`lanser bench` end to end on the toy C dataset: real Docker, real sandbox, real grading."""

from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.docker

REPO = Path(__file__).resolve().parents[2]
TOY = REPO / "datasets" / "toy-c"


def bench(out: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", "from lanser.cli.main import main; main()", "--no-daemon", "--json", "bench", *args],
        capture_output=True,
        text=True,
        timeout=900,
        cwd=REPO,
    )


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory, base_image: str) -> tuple[Path, dict[str, dict]]:
    out = tmp_path_factory.mktemp("bench")
    results = {}
    for run_id, agent, extra in (
        ("oracle", "oracle", ()),
        ("noop", "noop", ()),
        ("replay", "replay:trajectories/reverse-off-by-one.jsonl", ("--task", "toy-c/reverse")),
    ):
        proc = bench(out, "run", str(TOY), "--agent", agent, "--out", str(out), "--run-id", run_id, *extra)
        assert proc.returncode == 0, proc.stderr
        results[run_id] = json.loads(proc.stdout)
    return out, results


def outcomes(out: Path, run_id: str) -> dict[str, dict]:
    proc = bench(out, "show", run_id, "--out", str(out))
    return {r["task"]: r for r in json.loads(proc.stdout)}


def test_oracle_resolves_every_task_with_clean_sanitizers(runs) -> None:
    out, _ = runs
    rows = outcomes(out, "oracle")
    assert {t: r["outcome"] for t, r in rows.items()} == {
        "toy-c/clamp-and-count": "resolved",
        "toy-c/reverse": "resolved",
        "toy-c/count-char": "resolved",
    }
    assert all(r["sanitizer"] == "clean" and r["compiled"] for r in rows.values())


def test_noop_fails_the_tests(runs) -> None:
    out, _ = runs
    assert {r["outcome"] for r in outcomes(out, "noop").values()} == {"tests_failed"}


def test_off_by_one_trajectory_is_caught_by_asan(runs) -> None:
    out, _ = runs
    proc = bench(out, "show", "replay", "toy-c/reverse", "--out", str(out))
    (result,) = json.loads(proc.stdout)
    verdict = result["verdict"]
    assert verdict["compiled"] is True
    assert 0 < verdict["tests_passed"] < verdict["tests_total"]
    (report,) = verdict["sanitizer"]["reports"]
    assert (report["tool"], report["kind"], report["frame"]) == (
        "AddressSanitizer",
        "heap-buffer-overflow",
        "reverse_bytes",
    )
    assert "s[n - i]" in result["patch"]


def test_per_step_rewards_recorded_and_reported(runs) -> None:
    out, _ = runs
    proc = bench(out, "show", "oracle", "toy-c/clamp-and-count", "--out", str(out))
    (result,) = json.loads(proc.stdout)
    edits = [s for s in result["steps"] if s["action"] == "edit"]
    assert len(edits) == 2, "the gold patch has two hunks, applied as two steps"
    assert all(s["reward"] > 0 for s in edits)
    assert all(s["result"]["processReward"]["components"]["safety"] == 1 for s in edits)
    proc = bench(out, "report", "oracle", "--out", str(out))
    html = Path(json.loads(proc.stdout)["html"]).read_text()
    assert "<polyline" in html and "toy-c/clamp-and-count" in html


def test_rerun_resumes_and_regrading_needs_no_docker(runs) -> None:
    out, _ = runs
    proc = bench(out, "run", str(TOY), "--agent", "noop", "--out", str(out), "--run-id", "noop")
    assert proc.returncode == 0 and json.loads(proc.stdout)["results"] == []  # all three done before
    from lanser.harness.grade.grading import grade
    from lanser.harness.task.spec import load_tasks

    oracles = {t.id: t.oracles.model_dump(mode="json") for t in load_tasks(TOY / "tasks.jsonl")}
    db = sqlite3.connect(out / "results.sqlite")
    for task_id, verdict, stages in db.execute("SELECT task_id, verdict, stages FROM results"):
        assert grade(json.loads(stages), oracles[task_id]) == json.loads(verdict)


def test_no_container_is_left(runs) -> None:
    """Only this module's runs are checked: other test sessions may share the engine."""
    import docker

    from lanser.cli.bench import run_label

    out, _ = runs
    client = docker.from_env()
    for run_id in ("oracle", "noop", "replay"):
        label = run_label(run_id, out)
        assert client.containers.list(all=True, filters={"label": f"lanser.run={label}"}) == [], run_id


def test_malformed_task_file_is_a_clear_error(tmp_path: Path) -> None:
    shutil.copytree(TOY / "project", tmp_path / "project")
    (tmp_path / "tasks.jsonl").write_text('{"id": "x", "language": "cobol"}\n')
    proc = bench(tmp_path, "run", str(tmp_path), "--agent", "noop", "--out", str(tmp_path / "o"))
    assert proc.returncode == 2
    assert "tasks.jsonl:1: language" in json.loads(proc.stdout)["error"]["message"]


def test_two_workers_give_the_same_verdicts(runs) -> None:
    out, _ = runs
    proc = bench(
        out,
        "run",
        str(TOY),
        "--agent",
        "oracle",
        "--out",
        str(out / "parallel"),
        "--run-id",
        "oracle",
        "--workers",
        "2",
    )
    assert proc.returncode == 0, proc.stderr
    parallel = {r["task"]: r["outcome"] for r in json.loads(proc.stdout)["results"]}
    assert parallel == {t: r["outcome"] for t, r in outcomes(out, "oracle").items()}


def test_progress_is_plain_lines_when_not_a_terminal(tmp_path: Path, base_image: str) -> None:
    proc = bench(tmp_path, "run", str(TOY), "--agent", "noop", "--task", "toy-c/reverse", "--out", str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    (line,) = [x for x in proc.stderr.splitlines() if x.startswith("[")]
    assert line.startswith("[1/1] toy-c/reverse: tests_failed") and "(0 passed, 1 failed, elapsed" in line
    assert "\r" not in proc.stderr


def _git(cwd: Path, *args: str) -> str:
    env = {
        "GIT_CONFIG_GLOBAL": "/dev/null",
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@t",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@t",
        "PATH": "/usr/bin:/bin",
    }
    return subprocess.run(["git", *args], cwd=cwd, env=env, check=True, capture_output=True, text=True).stdout.strip()


def test_git_source_with_setup_runs_and_a_wrong_pin_stops_the_run_first(
    tmp_path: Path, base_image: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The toy project from a git repository (not the dataset directory), built once by a setup."""
    from lanser.harness.task.sources import ALLOW_FILE_GIT_ENV, fetch_hint

    monkeypatch.setenv(ALLOW_FILE_GIT_ENV, "1")  # a local bare repository (the CLI below inherits it)
    from lanser.harness.task.spec import Source

    repo = tmp_path / "repo"
    shutil.copytree(TOY / "project", repo)
    _git(repo, "init", "-q")
    _git(repo, "add", "-A")
    _git(repo, "commit", "-qm", "toy")
    _git(tmp_path, "clone", "-q", "--bare", str(repo), str(tmp_path / "toy.git"))
    source = Source(kind="git", url=(tmp_path / "toy.git").as_uri(), commit=_git(repo, "rev-parse", "HEAD"))
    pinned = source.model_copy(update={"sha256": fetch_hint(source)}).model_dump(mode="json", exclude_defaults=True)
    (task,) = [json.loads(x) for x in (TOY / "tasks.jsonl").read_text().splitlines() if '"toy-c/reverse"' in x]
    task["source"] = {**pinned, "kind": "git"}
    task["commands"]["setup"] = "make -s"
    dataset = tmp_path / "dataset"
    shutil.copytree(TOY / "trajectories", dataset / "trajectories")
    (dataset / "tasks.jsonl").write_text(json.dumps(task) + "\n")
    proc = bench(tmp_path, "run", str(dataset), "--agent", "oracle", "--out", str(tmp_path / "out"), "--run-id", "git")
    assert proc.returncode == 0, proc.stderr
    (row,) = json.loads(proc.stdout)["results"]
    assert row["outcome"] == "resolved"
    assert "project layer of git:" in proc.stderr
    task["source"]["sha256"] = "0" * 64
    (dataset / "tasks.jsonl").write_text(json.dumps(task) + "\n")
    proc = bench(tmp_path, "run", str(dataset), "--agent", "oracle", "--out", str(tmp_path / "out"), "--run-id", "bad")
    assert proc.returncode == 2
    assert json.loads(proc.stdout)["error"]["details"]["field"] == "source.sha256"


def test_default_relative_out_runs_tasks(tmp_path: Path, base_image: str) -> None:
    """`lanser bench run DATASET --agent oracle` as a new user types it: the default --out is
    relative (.lanser-bench), and every task's start_patch was once refused as outside the jail."""
    shutil.copytree(TOY, tmp_path / "toy-c")
    proc = subprocess.run(
        [sys.executable, "-c", "from lanser.cli.main import main; main()", "--no-daemon", "--json", "bench", "run"]
        + ["toy-c", "--agent", "oracle", "--task", "toy-c/clamp-and-count"],
        capture_output=True,
        text=True,
        timeout=900,
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert (tmp_path / ".lanser-bench").is_dir()
    assert [r["outcome"] for r in json.loads(proc.stdout)["results"]] == ["resolved"], proc.stdout
