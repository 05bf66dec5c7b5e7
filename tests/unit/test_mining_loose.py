"""The miner's loose ends: a build's tail in a "does not build" drop; blobs the clone lacks."""

from __future__ import annotations

import subprocess
from pathlib import Path

from mining_fixture import git

from lanser.harness.datasets.mining import history, port, select, validate
from lanser.harness.grade import grading
from lanser.harness.task.spec import DEFAULT_PROTECTED

ERROR = "src/jv.c:12:3: error: 'jv_foo' undeclared (first use in this function)"


def _failed_build(output: str) -> dict:
    stages = {"build": {"exit_code": 2, "output": output}}
    return {"stages": stages, "verdict": grading.grade(stages, {}), "seconds": 1.0}


def _passed(tests: dict[str, str]) -> dict:
    log = "".join(f"{'PASS' if v == 'pass' else 'FAIL'}: {t}\n" for t, v in tests.items())
    stages = {
        "build": {"exit_code": 0, "output": ""},
        "test": {"exit_code": int("fail" in tests.values()), "output": log},
    }
    return {"stages": stages, "verdict": grading.grade(stages, {}), "seconds": 1.0}


def test_a_gold_that_does_not_build_says_why() -> None:
    """The drop's detail (generation.json) ends with the compiler's error and make's summary."""
    noise = "".join(f"  CC       src/f{i}.lo\n" for i in range(40))
    oracle = _failed_build(noise + ERROR + "\nmake: *** [Makefile:1440: all] Error 2\n")
    judged = validate.judge(_passed({"a": "fail"}), oracle)
    assert judged.why == "gold patch with the hidden tests does not build"
    assert ERROR in judged.detail and judged.detail.endswith("Error 2")
    assert len(judged.detail.splitlines()) == validate.TAIL_LINES
    assert "src/f0.lo" not in judged.detail


def test_hidden_tests_that_do_not_build_without_the_fix_say_why() -> None:
    judged = validate.judge(_failed_build(ERROR + "\n"), _passed({"a": "pass"}))
    assert judged.why == "hidden tests do not build without the fix (they use what it adds)"
    assert judged.detail == ERROR


def test_build_tail_falls_back_to_the_stage_output() -> None:
    run = {"verdict": {"outcome": "build_failed"}, "stages": {"build": {"output": "a\nb\nc\n"}}}
    assert validate.build_tail(run, lines=2) == "b\nc"
    assert validate.build_tail({"verdict": {}, "stages": {}}) == ""


def _drop_object(bare: Path, oid: str) -> None:
    """Remove ``oid`` from ``bare`` (loose objects only: the history is never packed here)."""
    path = bare / "objects" / oid[:2] / oid[2:]
    assert path.is_file()
    path.unlink()


def test_a_blob_the_clone_lacks_is_a_counted_drop_not_a_failure(tmp_path: Path) -> None:
    """A mirror that left out a large file: the commits are read, the candidate that needs the
    file is dropped (port.Dropped, counted by the miner), the others port."""
    repo = tmp_path / "work"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    (repo / "tests").mkdir()
    (repo / "lib.c").write_text("int a;\n")
    (repo / "other.c").write_text("int o;\n")
    (repo / "big.dat").write_text("v1\n")
    (repo / "tests" / "t.c").write_text("t1\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "release")
    git(repo, "tag", "v1")
    (repo / "lib.c").write_text("int a;\nint b;\n")
    (repo / "big.dat").write_text("v2\n")
    (repo / "tests" / "t.c").write_text("t2\n")
    git(repo, "commit", "-qam", "Fix the lookup of b (issue #1)")
    (repo / "other.c").write_text("int c;\n")
    (repo / "tests" / "u.c").write_text("u1\n")
    git(repo, "add", "other.c", "tests/u.c")
    git(repo, "commit", "-qam", "Fix c (issue #2)")
    bare = tmp_path / "up.git"
    subprocess.run(["git", "clone", "-q", "--bare", "--no-local", str(repo), str(bare)], check=True)
    for pack in (bare / "objects" / "pack").glob("*.pack"):  # loose objects, so one can be removed
        moved = pack.with_suffix(".keep-away")
        pack.rename(moved)
        subprocess.run(["git", "--git-dir", str(bare), "unpack-objects", "-q"], stdin=moved.open("rb"), check=True)
        moved.unlink()
        pack.with_suffix(".idx").unlink()
    big_v2 = git(repo, "rev-parse", "HEAD~1:big.dat").strip()
    _drop_object(bare, big_v2)

    commits = history.read_commits(bare, "v1", "main")  # no failure
    assert [c.unreadable for c in commits[0].changes if c.path == "big.dat"] == [True]
    assert not any(c.unreadable for c in commits[1].changes)
    cands, _ = select.candidates(commits, DEFAULT_PROTECTED)
    pinned = tmp_path / "pinned"
    (pinned / "tests").mkdir(parents=True)
    (pinned / "lib.c").write_text("int a;\n")
    (pinned / "big.dat").write_text("v1\n")
    (pinned / "other.c").write_text("int o;\n")
    (pinned / "tests" / "t.c").write_text("t1\n")
    reasons = []
    for cand in cands:
        try:
            port.port(cand, pinned, DEFAULT_PROTECTED)
            reasons.append("ported")
        except port.Dropped as exc:
            reasons.append(f"{exc.reason}: {exc.detail}")
    assert reasons == ["a changed file's content is not in the clone: big.dat", "ported"]
