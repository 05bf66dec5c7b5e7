"""The history miner on a fixture history of its own: a tiny C project with a Makefile test.

Real git (a repository made here, read through a bare clone as the miner reads
an upstream clone) and real ``git merge-file``/``patch``; no Docker (the
sandbox's validation is in tests/docker/test_mining_docker.py).
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from lanser.harness import cleanroom
from lanser.harness.mining import history, port, select
from lanser.harness.task import DEFAULT_PROTECTED

LIB_V1 = """#include "lib.h"

/* the sum of the first n values */
int sum(const int *v, int n)
{
\tint s = 0;
\tfor (int i = 0; i <= n; i++)
\t\ts += v[i];
\treturn s;
}

int clamp(int x, int lo, int hi)
{
\tif (x < lo)
\t\treturn lo;
\treturn x;
}

int twice(int x)
{
\treturn x + x;
}
"""

TEST_V1 = """#include <stdio.h>
#include "../lib.h"

int main(void)
{
\tint v[] = {1, 2, 3};
\tprintf("%s: sum\\n", sum(v, 2) == 3 ? "PASS" : "FAIL");
\treturn 0;
}
"""

MAKEFILE = "test: tests/t\n\t./tests/t\ntests/t: lib.c tests/t.c\n\tcc -o $@ lib.c tests/t.c\n"


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", "-c", "commit.gpgsign=false", *args],
                          cwd=repo, check=True, capture_output=True, text=True).stdout


def _commit(repo: Path, message: str, files: dict[str, str]) -> str:
    for rel, text in files.items():
        (repo / rel).parent.mkdir(parents=True, exist_ok=True)
        (repo / rel).write_text(text)
    _git(repo, "add", "-A")
    _git(repo, "commit", "-qm", message)
    return _git(repo, "rev-parse", "HEAD").strip()


@pytest.fixture(scope="module")
def upstream(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, dict[str, str]]:
    """(bare clone of the upstream history, the pinned source tree, commit ids by name)."""
    root = tmp_path_factory.mktemp("mining")
    repo = root / "work"
    repo.mkdir()
    _git(repo, "init", "-q", "-b", "main")
    ids = {"release": _commit(repo, "Release 1.0", {"lib.c": LIB_V1, "lib.h": "int sum(const int *v, int n);\n",
                                                   "tests/t.c": TEST_V1, "Makefile": MAKEFILE, "README": "lib\n"})}
    _git(repo, "tag", "v1.0")
    lib2 = LIB_V1.replace("i <= n", "i < n")
    ids["fix"] = _commit(repo, "Fix off-by-one read past the end in sum (issue #3)\n\nBy using < instead of <=.",
                         {"lib.c": lib2, "tests/t.c": TEST_V1.replace("sum(v, 2) == 3", "sum(v, 3) == 6")})
    ids["docs"] = _commit(repo, "Fix a typo in the README", {"README": "the lib\n"})
    ids["refactor"] = _commit(repo, "Tidy sum", {"lib.c": lib2.replace("int s = 0;", "int s = 0; /* total */"),
                                                 "tests/t.c": (repo / "tests/t.c").read_text().replace(
                                                     "#include <stdio.h>", "#include <stdio.h> /* io */")})
    ids["notest"] = _commit(repo, "Fix a crash in twice", {"lib.c": (repo / "lib.c").read_text().replace(
        "return x + x;", "return 2 * x;")})
    lib3 = (repo / "lib.c").read_text().replace("\treturn x;\n}\n\nint twice", "\tif (x > hi)\n\t\treturn hi;\n"
                                                "\treturn x;\n}\n\nint twice")
    ids["followup"] = _commit(repo, "Issue #3: clamp forgot the upper bound",
                              {"lib.c": lib3, "tests/t.c": (repo / "tests/t.c").read_text().replace(
                                  "\treturn 0;", '\tprintf("%s: clamp\\n", clamp(9, 0, 5) == 5 ? "PASS" : "FAIL");'
                                  "\n\treturn 0;")})
    ids["conflict"] = _commit(repo, "Fix the overflow in twice", {
        "lib.c": lib3.replace("return 2 * x;", "return x > 1000 ? 0 : 2 * x;"),
        "tests/t.c": (repo / "tests/t.c").read_text().replace("\treturn 0;", "\tputs(\"PASS: big\");\n\treturn 0;")})
    bare = root / "upstream.git"
    subprocess.run(["git", "clone", "-q", "--bare", str(repo), str(bare)], check=True)
    # The pinned source: the release, plus a distribution's own change where the last fix lands.
    pinned = root / "pinned"
    pinned.mkdir()
    for rel in ("lib.c", "lib.h", "tests/t.c", "Makefile", "README"):
        (pinned / rel).parent.mkdir(parents=True, exist_ok=True)
        text = _git(repo, "show", f"v1.0:{rel}")
        (pinned / rel).write_text(text.replace("return x + x;", "return x << 1;") if rel == "lib.c" else text)
    return bare, pinned, ids


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
    commit = history.Commit("a" * 40, "Fix a leak", (history.Change("lib.c", b"a\n", b"b\n", "100644", "100644"),
                                                     link))
    (tmp_path / "lib.c").write_text("a\n")
    with pytest.raises(port.Dropped, match="link, a mode or a new executable"):
        port.port(select.Candidate((commit,)), tmp_path, DEFAULT_PROTECTED)
