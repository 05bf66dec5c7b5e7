"""``--subdir``: upstream keeps the library in a directory of its repository (expat's ``expat/``)
while the pinned source is that directory's content.  Paths under ``DIR/`` map to the source's
root, changes outside it are left out of the split and the port, and ``--with-predecessors``
blames the upstream paths.  A fixture history made here with real git, read through a bare clone
as the miner reads an upstream clone; without ``--subdir`` nothing changes."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner
from mining_fixture import DETACH_LIB, EMPTY_TEST, commit_edits, git, invoke_history

from lanser.cli.main import cli
from lanser.harness.datasets.mining import history, miner, port, predecessors, select
from lanser.harness.task.spec import DEFAULT_PROTECTED

LIB, TEST = DETACH_LIB, EMPTY_TEST


@pytest.fixture(scope="module")
def upstream(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, dict[str, str]]:
    """Upstream: ``lib/`` (the library, its tests) beside a top-level CI script and test
    driver; the pinned source: ``lib/``'s content at the release."""
    root = tmp_path_factory.mktemp("subdir")
    repo, pinned = root / "work", root / "pinned"
    for where in (repo / "lib", pinned):
        (where / "tests").mkdir(parents=True)
        (where / "x.c").write_text(LIB)
        (where / "tests" / "t.c").write_text(TEST)
    (repo / "tests").mkdir()
    (repo / "tests" / "driver.c").write_text(TEST)
    (repo / "ci.c").write_text("int ci;\n")
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "Release 1.0")
    git(repo, "tag", "v1.0")
    ids = {
        "outside": commit_edits(
            repo,
            "Fix the CI driver",
            {"ci.c": ("int ci;", "int ci = 1;"), "tests/driver.c": ("return 0;", "return 1;")},
        ),
        "check": commit_edits(
            repo, "Check for NULL in detach", {"lib/x.c": ("parent == 0 || item == 0", "parent == 0 || *parent == 0")}
        ),
        "fix": commit_edits(
            repo,
            "detach: fix the check for an item at the head",
            {
                "lib/x.c": ("parent == 0 || *parent == 0", "parent == 0 || item == 0 || item == parent"),
                "lib/tests/t.c": ("return 0;", "return detach_test();"),
                "ci.c": ("int ci = 1;", "int ci = 2;"),
                "tests/driver.c": ("return 1;", "return 2;"),
            },
        ),
    }
    bare = root / "upstream.git"
    subprocess.run(["git", "clone", "-q", "--bare", str(repo), str(bare)], check=True)
    return bare, pinned, ids


def test_in_subdir_maps_paths_and_leaves_the_rest_out(upstream: tuple[Path, Path, dict[str, str]]) -> None:
    bare, _, ids = upstream
    commits = history.read_commits(bare, "v1.0", "main")
    assert [c.path for c in commits[-1].changes] == ["ci.c", "lib/tests/t.c", "lib/x.c", "tests/driver.c"]
    mapped = history.in_subdir(commits, "lib")
    assert [c.sha for c in mapped] == [c.sha for c in commits]  # every commit kept, counted
    assert [[ch.path for ch in c.changes] for c in mapped] == [[], ["x.c"], ["tests/t.c", "x.c"]]
    assert mapped[2].changes[1].new == commits[-1].changes[2].new
    assert history.in_subdir(commits, "lib/") == mapped
    assert history.in_subdir(commits, "li") == [c.__class__(c.sha, c.message, ()) for c in commits]


@pytest.mark.parametrize("bad", ["", "/", "/lib", "../lib", "lib/../x", "./lib", "a//b"])
def test_a_subdir_outside_the_repository_or_empty_is_refused(bad: str) -> None:
    with pytest.raises(ValueError, match="--subdir"):
        history.check_subdir(bad)


def test_the_fix_ports_onto_the_subdirectory_content(upstream: tuple[Path, Path, dict[str, str]]) -> None:
    """With the subdir the fix (and the commit it builds on) ports onto the pinned source: the
    patches name the source's own paths; the top-level test driver and CI file are in neither.
    Without it the same commits change files the pinned source lacks."""
    bare, pinned, ids = upstream
    commits = history.read_commits(bare, "v1.0", "main")
    plain, _ = select.candidates(commits, DEFAULT_PROTECTED)
    assert ids["outside"][:12] in [c.id for c in plain]  # the whole repository: a fix with a test
    with pytest.raises(port.Dropped, match="edits a file the pinned source lacks"):
        port.port(next(c for c in plain if c.id == ids["fix"][:12]), pinned, DEFAULT_PROTECTED)

    mapped = history.in_subdir(commits, "lib")
    cands, skipped = select.candidates(mapped, DEFAULT_PROTECTED)
    assert [c.id for c in cands] == [ids["fix"][:12]]
    assert skipped == {"message does not say it fixes a bug": 1}  # "check"; "outside" changes nothing in lib/
    with pytest.raises(port.Dropped, match="source change does not apply"):
        port.port(cands[0], pinned, DEFAULT_PROTECTED)
    with pytest.raises(Exception, match="no such path|exists on disk|fatal"):
        predecessors.widen_all(cands, pinned, bare, mapped, DEFAULT_PROTECTED)  # blames "x.c": not upstream's
    (wide,) = predecessors.widen_all(cands, pinned, bare, mapped, DEFAULT_PROTECTED, subdir="lib")
    assert [c.sha for c in wide.commits] == [ids["check"], ids["fix"]]
    ported = port.port(wide, pinned, DEFAULT_PROTECTED)
    assert ported.source_files == ["x.c"] and ported.test_files == ["tests/t.c"]
    assert ported.gold_patch.startswith("diff --git a/x.c b/x.c\n--- a/x.c\n+++ b/x.c\n")
    assert "+\tif (parent == 0 || item == 0 || item == parent)" in ported.gold_patch
    assert "ci" not in ported.gold_patch + ported.test_patch and "driver" not in ported.test_patch


def test_cli_passes_subdir_through_and_the_miner_checks_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real_mine = miner.mine
    result, got = invoke_history(tmp_path, monkeypatch, "--subdir", "expat")
    assert result.exit_code == 0 and got["subdir"] == "expat"
    result, got = invoke_history(tmp_path, monkeypatch)
    assert result.exit_code == 0 and got["subdir"] is None
    # The real miner (the base image still stubbed): it refuses a directory that climbs out first.
    monkeypatch.setattr(miner, "mine", real_mine)
    args = ["--no-daemon", "bench", "generate", "history", str(tmp_path), "--since", "a", "--until", "b"]
    args += ["--source", "pinned", "--preset", "cjson", "--out", str(tmp_path / "out"), "--subdir", "../expat"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 2 and "--subdir" in result.output
