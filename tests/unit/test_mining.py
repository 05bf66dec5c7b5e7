"""The history miner on a fixture history of its own: a tiny C project with a Makefile test.

Real git (a repository made here, read through a bare clone as the miner reads
an upstream clone) and real ``git merge-file``/``patch``; no Docker (the
sandbox's validation is in tests/docker/test_mining_docker.py).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from mining_fixture import build_history

from lanser.harness.datasets.mining import history, port, select
from lanser.harness.grade import cleanroom
from lanser.harness.task.spec import DEFAULT_PROTECTED


@pytest.fixture(scope="module")
def upstream(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, dict[str, str]]:
    return build_history(tmp_path_factory.mktemp("mining"))


def test_candidates_split_and_passed_over(upstream: tuple[Path, Path, dict[str, str]]) -> None:
    """Fixes that change source and tests are candidates, one issue's commits one series;
    the rest are counted by reason, and a README-only commit is not counted at all."""
    bare, _, ids = upstream
    commits = history.read_commits(bare, "v1.0", ids["conflict"])
    assert [c.sha for c in commits] == [ids[k] for k in ("fix", "docs", "refactor", "notest", "followup", "conflict")]
    cands, skipped = select.candidates(commits)
    assert [[c.sha for c in cand.commits] for cand in cands] == [[ids["fix"], ids["followup"]], [ids["conflict"]]]
    assert cands[0].issue == "#3" and cands[1].issue is None
    assert dict(skipped) == {"message does not say it fixes a bug": 1, "no test change": 1}
    assert [c.path for c in cands[0].files("source")] == ["lib.c", "lib.c"]
    assert [c.path for c in cands[0].files("test")] == ["tests/t.c", "tests/t.c"]
    assert select.kind_of("Makefile") == "test" and select.kind_of("README") == "doc"


def test_port_series_and_conflict(upstream: tuple[Path, Path, dict[str, str]], tmp_path: Path) -> None:
    """The series is ported commit by commit onto the pinned source (which differs from the
    release where the distribution patched it): one gold patch, one hidden test patch, and
    one trajectory step per commit; the fix whose context the distribution changed is dropped."""
    bare, pinned, ids = upstream
    cands, _ = select.candidates(history.read_commits(bare, "v1.0", ids["conflict"]))
    ported = port.port(cands[0], pinned, DEFAULT_PROTECTED)
    assert ported.source_files == ["lib.c"] and ported.test_files == ["tests/t.c"]
    assert "-\tfor (int i = 0; i <= n; i++)\n+\tfor (int i = 0; i < n; i++)\n" in ported.gold_patch
    assert "+\tif (x > hi)\n" in ported.gold_patch
    copy = tmp_path / "copy"
    shutil.copytree(pinned, copy)
    cleanroom.apply_start_patch(copy, ported.gold_patch, "gold_patch")
    cleanroom.apply_start_patch(copy, ported.test_patch, "test_patch")
    lib = (copy / "lib.c").read_text()
    assert "i < n;" in lib and "if (x > hi)" in lib and "return x << 1;" in lib  # the distribution's line kept
    assert "clamp(9, 0, 5)" in ported.test_patch and "lib.c" not in ported.test_patch
    assert [sha for sha, _ in ported.steps] == [ids["fix"], ids["followup"]]
    assert ported.hunks == 2
    with pytest.raises(port.Dropped) as info:
        port.port(cands[1], pinned, DEFAULT_PROTECTED)
    assert info.value.reason.startswith("source change does not apply") and info.value.detail == "lib.c"


def test_mining_is_deterministic(upstream: tuple[Path, Path, dict[str, str]]) -> None:
    """The same range and pinned source give the same patches, byte for byte."""
    bare, pinned, ids = upstream
    runs = []
    for _ in range(2):
        cands, skipped = select.candidates(history.read_commits(bare, "v1.0", ids["conflict"]))
        p = port.port(cands[0], pinned, DEFAULT_PROTECTED)
        runs.append((p.gold_patch, p.test_patch, p.steps, dict(skipped)))
    assert runs[0] == runs[1]


def test_statement_leaves_out_the_solution(upstream: tuple[Path, Path, dict[str, str]]) -> None:
    """The problem statement keeps each subject line up to where it says how, never the body."""
    bare, _, ids = upstream
    cands, _ = select.candidates(history.read_commits(bare, "v1.0", ids["conflict"]))
    text = select.statement(cands[0], ["sum"], [], {"build": "make", "test": "make test", "sanitize": None})
    assert "Fix off-by-one read past the end in sum (issue #3)" in text and "instead of" not in text
    assert "Issue #3: clamp forgot the upper bound" in text and "Upstream issue: #3." in text
    assert "must pass: sum." in text


def test_changes_a_patch_cannot_carry_are_dropped(tmp_path: Path) -> None:
    """A new executable or a link (json-c's new tests are symlinks to one script) is dropped,
    not written as a plain file that the test runner could not execute."""
    change = history.Change("tests/new.test", None, b"#!/bin/sh\n", "000000", "100755")
    link = history.Change("tests/x.test", None, b"test_basic.test", "000000", "120000")
    assert change.special and link.special
    commit = history.Commit("a" * 40, "Fix a leak", (history.Change("lib.c", b"a\n", b"b\n", "100644", "100644"), link))
    (tmp_path / "lib.c").write_text("a\n")
    with pytest.raises(port.Dropped, match="link, a mode or a new executable"):
        port.port(select.Candidate((commit,)), tmp_path, DEFAULT_PROTECTED)


def _run(tests: dict[str, str], *, build: int = 0, sanitize: str | None = None) -> dict[str, object]:
    """A run as the runner records it: stage records, and the verdict the grader gives them with no oracles."""
    from lanser.harness.grade import grading

    lines = "".join(f"{'PASS' if v == 'pass' else 'FAIL'}: {t}\n" for t, v in tests.items())
    stages: dict[str, dict[str, object]] = {"build": {"exit_code": build, "output": ""}}
    if build == 0:
        stages["test"] = {
            "exit_code": 0 if "fail" not in tests.values() else 1,
            "output": lines,
            "test_log": {"format": "plain"},
        }
        stages["sanitize"] = {"exit_code": 1 if sanitize else 0, "output": sanitize or ""}
    return {"stages": stages, "verdict": grading.grade(stages, {}), "seconds": 1.0}


UBSAN = "lib.c:7:9: runtime error: signed integer overflow: 2147483647 + 1 cannot be represented in type 'int'\n"


def test_judge_names_oracles_from_both_runs() -> None:
    """fail_to_pass: passes with the fix only; pass_to_pass: passes in both; a test failing in
    both (a suite the image cannot run, jq's onigtest without oniguruma) is in neither and does
    not drop the candidate."""
    from lanser.harness.datasets.mining.validate import judge

    j = judge(_run({"a": "fail", "b": "pass", "onig": "fail"}), _run({"a": "pass", "b": "pass", "onig": "fail"}))
    assert (j.why, j.fail_to_pass, j.pass_to_pass) == (None, ["a"], ["b"])


@pytest.mark.parametrize(
    ("noop", "oracle", "why"),
    [
        (_run({"a": "pass", "b": "pass"}), _run({"a": "pass", "b": "fail"}), "tests fail with the gold patch"),
        (_run({"a": "pass"}), _run({"a": "pass"}), "hidden tests pass without the fix"),
        (_run({"a": "fail", "b": "pass"}), _run({"a": "fail", "b": "pass"}), "hidden tests fail with the fix too"),
        (_run({}, build=2), _run({"a": "pass"}), "hidden tests do not build without the fix (they use what it adds)"),
        (_run({"a": "fail"}), _run({}, build=2), "gold patch with the hidden tests does not build"),
        (_run({"a": "fail"}), _run({"a": "pass"}, sanitize=UBSAN), "gold patch graded sanitizer_error"),
    ],
)
def test_judge_drop_reasons(noop: dict, oracle: dict, why: str) -> None:
    from lanser.harness.datasets.mining.validate import judge

    assert judge(noop, oracle).why == why


def test_judge_keeps_a_sanitizer_caught_bug() -> None:
    """No test fails on the pinned source, but the sanitized tests report: a valid task whose
    statement quotes the report (json-c's INT64_MIN negation)."""
    from lanser.harness.datasets.mining.validate import judge

    j = judge(_run({"a": "pass"}, sanitize=UBSAN), _run({"a": "pass"}))
    assert j.why is None and j.fail_to_pass == [] and j.pass_to_pass == ["a"]
    assert j.sanitizer and "signed integer overflow" in j.sanitizer[0]
