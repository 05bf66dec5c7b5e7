"""Issue 17, findings 2, 3, 8, 9 and 12 (journal): a hostile repository, through the real CLI.

Each test runs ``lanser`` as a subprocess (real basedpyright, real git) on
a committed repository an attacker prepared, with a sentinel directory
outside the workspace that must stay exactly as it was, and lanser's
per-user state in a private ``XDG_STATE_HOME``.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from lanser.edits.apply import journal_root
from lanser.state import workspace_state

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
TX = "20260101T000000-0123abcd"
MOD = "def area(r: int) -> int:\n    return r * r\n"
USE = "from m import area\n\nprint(area(2))\n"
GIT_ENV = {
    "GIT_CONFIG_GLOBAL": os.devnull,
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_AUTHOR_NAME": "t",
    "GIT_AUTHOR_EMAIL": "t@t.invalid",
    "GIT_COMMITTER_NAME": "t",
    "GIT_COMMITTER_EMAIL": "t@t.invalid",
}


def git(root: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=root, env={**os.environ, **GIT_ENV}, check=True, capture_output=True, text=True, timeout=120
    ).stdout


def tree(d: Path) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for p in sorted(d.rglob("*")):
        rel = p.relative_to(d).as_posix()
        if p.is_symlink():
            out[rel] = ("link", os.readlink(p))
        elif p.is_file():
            out[rel] = (p.read_bytes(), p.stat().st_mode)
        else:
            out[rel] = "dir"
    return out


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    e = {k: v for k, v in os.environ.items() if not k.startswith("LANSER_APPLY_")}
    e["XDG_STATE_HOME"] = str(tmp_path / "state")
    e["LANSER_NO_DAEMON"] = "1"
    return e


@pytest.fixture
def sentinel(tmp_path: Path) -> Path:
    d = tmp_path / "outside"
    d.mkdir()
    (d / "victim.txt").write_bytes(b"precious\n")
    return d


@pytest.fixture
def repo(tmp_path: Path, sentinel: Path) -> Path:
    """A committed repository: m.py defines area, use.py and more.py use it."""
    root = tmp_path / "repo"
    root.mkdir()
    (root / "m.py").write_text(MOD)
    (root / "use.py").write_text(USE)
    (root / "more.py").write_text(USE.replace("2", "3"))
    (root / "other.py").write_text("def width() -> int:\n    return 1\n")
    git(root, "init", "-q", "-b", "main")
    git(root, "add", "-A")
    git(root, "commit", "-qm", "init")
    return root.resolve()


def lanser(env: dict[str, str], root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", "from lanser.cli.main import main; main()", "-w", str(root), *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def one_json(proc: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    assert proc.stdout.count("\n") == 1, f"not one JSON object on stdout: {proc.stdout!r} {proc.stderr}"
    out: dict[str, Any] = json.loads(proc.stdout)
    return out


def test_a_committed_journal_writes_and_deletes_nothing(repo: Path, sentinel: Path, env: dict[str, str]) -> None:
    """Finding 2: a repository with .lanser/journal/T/plan.json naming /abs/x (old content
    0.old, mode 0755) and ../victim.txt (new: false) made `lanser --json symbols m.py` write
    /abs/x and delete ../victim.txt on a clone."""
    tdir = repo / ".lanser" / "journal" / TX
    (tdir / "files").mkdir(parents=True)
    (tdir / "files" / "0.old").write_bytes(b"#!/bin/sh\necho pwned\n")
    (tdir / "plan.json").write_text(
        json.dumps(
            {
                "tx": TX,
                "files": [
                    {"path": str(sentinel / "x"), "old": True, "new": True, "mode": 0o755},
                    {"path": "../outside/victim.txt", "old": False, "new": True, "mode": None},
                ],
            }
        )
    )
    git(repo, "add", "-f", ".lanser")
    git(repo, "commit", "-qm", "a journal")
    before = tree(sentinel)

    proc = lanser(env, repo, "--json", "symbols", "m.py")
    assert proc.returncode == 0, proc.stderr
    assert tree(sentinel) == before, "a command acted on the repository's journal"
    proc = lanser(env, repo, "--json", "recover")
    assert proc.returncode == 0, proc.stderr
    assert one_json(proc) == {"recovered": [], "ignored": [".lanser/journal"]}
    proc = lanser(env, repo, "--json", "rename", "py://m#area", "surface", "--apply")
    assert proc.returncode == 0, proc.stderr
    assert tree(sentinel) == before
    assert (repo / "use.py").read_text() == USE.replace("area", "surface")
    assert (tdir / "plan.json").exists(), "the repository's own file was removed"


def test_a_truncated_journal_is_reported_not_a_crash(
    repo: Path, env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Finding 12: a truncated journal plan.json was E/INTERNAL and broke every command in the workspace."""
    monkeypatch.setenv("XDG_STATE_HOME", env["XDG_STATE_HOME"])
    assert workspace_state(repo, create=True) is not None
    tdir = journal_root(repo) / TX
    (tdir / "files").mkdir(mode=0o700, parents=True)
    os.chmod(journal_root(repo), 0o700)
    os.chmod(tdir, 0o700)
    (tdir / "plan.json").write_bytes(b'{"version": 2, "tx": "' + TX.encode() + b'", "root": "')
    proc = lanser(env, repo, "--json", "symbols", "m.py")
    assert proc.returncode == 0, proc.stderr
    assert "left alone" in proc.stderr and "not valid JSON" in proc.stderr
    proc = lanser(env, repo, "--json", "recover")
    out = one_json(proc)
    assert proc.returncode == 71 and out["error"]["code"] == "E/FS_PERMISSIONS", out
    assert out["error"]["details"]["rejected"][0]["transaction"] == TX
    assert (tdir / "plan.json").exists()
    proc = lanser(env, repo, "recover")
    assert proc.returncode == 71 and "E/FS_PERMISSIONS" in proc.stderr


def test_a_lanser_symlink_moves_no_write(repo: Path, sentinel: Path, env: dict[str, str]) -> None:
    """Finding 8: a `.lanser` symlink moved lanser's own writes (cache, journal, .gitignore) outside."""
    (repo / ".lanser").symlink_to(sentinel)
    git(repo, "add", ".lanser")
    git(repo, "commit", "-qm", "a link")
    before = tree(sentinel)
    proc = lanser(env, repo, "--json", "def", "use.py@L3:C7")
    assert proc.returncode == 0, proc.stderr
    assert tree(sentinel) == before, "lanser wrote through the .lanser symlink"
    assert proc.stderr.count(".lanser is a symlink") == 1, proc.stderr
    proc = lanser(env, repo, "--json", "rename", "py://m#area", "surface", "--apply")
    assert proc.returncode == 0, proc.stderr
    assert (repo / "m.py").read_text() == MOD.replace("area", "surface")
    assert tree(sentinel) == before, "lanser wrote through the .lanser symlink"
    assert (repo / ".lanser").is_symlink()


def test_an_untracked_file_is_not_rewritten_without_allow_dirty(repo: Path, env: dict[str, str]) -> None:
    """Finding 9: rename --apply without --allow-dirty rewrote untracked files (modified tracked
    files were refused).  An ignored file the edit would touch is refused too."""
    (repo / "new.py").write_text(USE)  # untracked, not ignored
    before = tree(repo)
    proc = lanser(env, repo, "--json", "rename", "py://m#area", "surface", "--apply")
    out = one_json(proc)
    assert proc.returncode == 71 and out["error"]["code"] == "E/FS_PERMISSIONS", out
    assert out["error"]["details"]["dirty"] == ["new.py"]
    assert tree(repo) == before

    (repo / ".gitignore").write_text("gen_*.py\n")
    git(repo, "add", ".gitignore")
    git(repo, "commit", "-qm", "ignore")
    (repo / "new.py").rename(repo / "gen_use.py")  # ignored, and present
    before = tree(repo)
    proc = lanser(env, repo, "--json", "rename", "py://m#area", "surface", "--apply")
    out = one_json(proc)
    assert proc.returncode == 71 and out["error"]["details"]["dirty"] == ["gen_use.py"], out
    assert tree(repo) == before

    proc = lanser(env, repo, "--json", "rename", "py://m#area", "surface", "--apply", "--allow-dirty")
    assert proc.returncode == 0, proc.stderr
    assert (repo / "gen_use.py").read_text() == USE.replace("area", "surface")


@pytest.fixture
def paused_rename(repo: Path, env: dict[str, str]) -> Iterator[subprocess.Popen[str]]:
    """`rename --apply` stopped (SIGSTOP, by LANSER_APPLY_STOP_AFTER=1) after its first file."""
    proc = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from lanser.cli.main import main; main()",
            "-w",
            str(repo),
            "--json",
            "rename",
            "py://m#area",
            "surface",
            "--apply",
        ],
        cwd=REPO,
        env={**env, "LANSER_APPLY_STOP_AFTER": "1"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        _, status = os.waitpid(proc.pid, os.WUNTRACED)
        assert os.WIFSTOPPED(status), f"the applier ended instead of pausing (status {status})"
        yield proc
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGCONT)
            proc.communicate(timeout=300)


def test_recover_during_an_apply_does_not_tear_the_tree(
    repo: Path, env: dict[str, str], paused_rename: subprocess.Popen[str]
) -> None:
    """Finding 3: with the applier paused after its first file, `lanser recover` rolled it back,
    the applier resumed and exited 0 "applied", leaving one file old and the others new."""
    new = {
        "m.py": MOD.replace("area", "surface"),
        "use.py": USE.replace("area", "surface"),
        "more.py": USE.replace("2", "3").replace("area", "surface"),
    }
    half = {name: (repo / name).read_text() for name in new}
    assert sum(half[n] == new[n] for n in new) == 1, "the applier did not stop after exactly one file"

    proc = lanser(env, repo, "--json", "recover")
    out = one_json(proc)
    assert proc.returncode == 70 and out["error"]["code"] == "E/APPLY_CONFLICT", out
    proc = lanser(env, repo, "--json", "symbols", "m.py")  # a reader opening the workspace
    assert proc.returncode == 0, proc.stderr
    assert {name: (repo / name).read_text() for name in new} == half, "the apply in progress was rolled back"

    os.kill(paused_rename.pid, signal.SIGCONT)
    stdout, stderr = paused_rename.communicate(timeout=300)
    assert paused_rename.returncode == 0, stderr
    assert json.loads(stdout)["edits"]["applied"] is True
    assert {name: (repo / name).read_text() for name in new} == new
    proc = lanser(env, repo, "--json", "recover")
    assert proc.returncode == 0 and one_json(proc) == {"recovered": []}


def test_a_second_apply_waits_for_the_first(
    repo: Path, env: dict[str, str], paused_rename: subprocess.Popen[str]
) -> None:
    """One writer at a time: a second apply during the first either waits and then finds its plan
    stale, or gives up with E/APPLY_CONFLICT; it never interleaves its writes with the first's."""
    proc = lanser(
        {**env, "LANSER_LOCK_WAIT_S": "0"},
        repo,
        "--json",
        "rename",
        "py://other#width",
        "extent",
        "--apply",
        "--allow-dirty",
    )
    out = one_json(proc)
    assert proc.returncode == 70 and out["error"]["code"] == "E/APPLY_CONFLICT", out
    assert "another lanser process" in out["error"]["message"]
    assert "extent" not in (repo / "other.py").read_text()


def test_the_daemons_cache_does_not_follow_a_lanser_symlink(
    repo: Path, sentinel: Path, env: dict[str, str], daemon_env: dict[str, str]
) -> None:
    """Finding 8, in the default mode: the daemon keeps its bundle cache on disk under
    .lanser/cache; a .lanser symlink sent that database outside the workspace."""
    (repo / ".lanser").symlink_to(sentinel)
    denv = {**daemon_env, "XDG_STATE_HOME": env["XDG_STATE_HOME"]}
    before = tree(sentinel)
    try:
        for _ in range(2):  # a miss, then a hit
            proc = lanser(denv, repo, "--json", "def", "use.py@L3:C7")
            assert proc.returncode == 0, proc.stderr
            assert one_json(proc)["facts"]["definitions"][0]["path"] == "m.py"
    finally:
        assert lanser(denv, repo, "daemon", "stop").returncode == 0  # flushes the cache
    assert tree(sentinel) == before, "the daemon wrote its cache through the .lanser symlink"


def test_commit_runs_none_of_the_repositorys_hooks(repo: Path, sentinel: Path, env: dict[str, str]) -> None:
    """A hostile repository's hooks ran on the host: ``rename --apply --commit`` committed through
    GitPython's ``index.commit``, which runs ``.git/hooks/pre-commit`` and ``commit-msg`` itself
    (whatever ``core.hooksPath`` says).  The commit is made; no hook, in .git/hooks or in a
    ``core.hooksPath`` the repository sets, runs."""
    for hooks in (repo / ".git" / "hooks", repo / ".githooks"):
        hooks.mkdir(exist_ok=True)
        for name in ("pre-commit", "prepare-commit-msg", "commit-msg", "post-commit", "post-index-change"):
            hook = hooks / name
            hook.write_text(f"#!/bin/sh\necho ran > '{sentinel}/{hooks.name}-{name}'\n")
            hook.chmod(0o755)
    (repo / ".git" / "config").write_text(
        (repo / ".git" / "config").read_text() + f"[core]\n\thooksPath = {repo / '.githooks'}\n"
    )
    git(repo, "-c", "core.hooksPath=/dev/null", "add", ".githooks")
    git(repo, "-c", "core.hooksPath=/dev/null", "commit", "-qm", "hooks")
    before = git(repo, "rev-parse", "HEAD").strip()
    proc = lanser({**env, **GIT_ENV}, repo, "--json", "rename", "py://m#area", "surface", "--apply", "--commit")
    out = one_json(proc)
    assert out["status"] == "ok", out
    assert sorted(p.name for p in sentinel.iterdir()) == ["victim.txt"], "a repository hook ran"
    assert git(repo, "rev-parse", "HEAD~1").strip() == before
    assert out["edits"]["commit"] == git(repo, "rev-parse", "HEAD").strip()
    assert git(repo, "status", "--porcelain").strip() == ""
    assert "surface" in (repo / "use.py").read_text()


@pytest.mark.parametrize("via_git", [False, True], ids=["transaction", "git-apply-3way"])
def test_attribute_drivers_of_the_repository_do_not_run(
    repo: Path, sentinel: Path, env: dict[str, str], via_git: bool
) -> None:
    """A hostile repository's ``.gitattributes`` selects drivers its ``.git/config`` defines: a clean
    filter ran on lanser's ``git add`` (``--commit``) and on the dirty check's ``git status`` (a file
    whose stat changed is hashed through it), a merge driver on ``git apply --3way``.  None runs; the
    rename is applied and committed with the bytes as they are."""
    (repo / ".gitattributes").write_text("*.py filter=evil merge=evil diff=evil\n")
    git(repo, "add", ".gitattributes")
    git(repo, "commit", "-qm", "attributes")
    evil = f"sh -c 'echo ran >> {sentinel}/driver; cat'"
    with (repo / ".git" / "config").open("a") as fh:
        fh.write(
            f'[filter "evil"]\n\tclean = {evil}\n\tsmudge = {evil}\n\tprocess = {evil}\n'
            f'[merge "evil"]\n\tdriver = {evil}\n[diff "evil"]\n\ttextconv = {evil}\n\tcommand = {evil}\n'
        )
    for name in ("m.py", "use.py", "more.py"):
        os.utime(repo / name, (1, 1))  # stat no longer matches the index: status must look at the content
    extra = ("--via-git",) if via_git else ()
    proc = lanser({**env, **GIT_ENV}, repo, "--json", "rename", "py://m#area", "surface", "--apply", "--commit", *extra)
    out = one_json(proc)
    assert out["status"] == "ok", out.get("error")
    assert sorted(p.name for p in sentinel.iterdir()) == ["victim.txt"], "a repository driver ran"
    assert git(repo, "show", "HEAD:use.py") == USE.replace("area", "surface")


def test_a_committed_virtualenv_runs_nothing_and_still_resolves(
    repo: Path, sentinel: Path, env: dict[str, str]
) -> None:
    """A workspace's ``.venv/bin/python`` was run on the host: lanser executed it to learn its
    version and paths, and handed it to basedpyright as ``python.pythonPath``, which runs it too; a
    real interpreter would still have run the venv's ``.pth`` lines at start-up.  A pull request can
    commit all of that.  Now nothing of the workspace's venv is executed: lanser's own interpreter
    is the server's, and the venv's site-packages are given to it as search paths, found by
    directory (inside the workspace, no symlink out), so imports from the venv still resolve."""
    venv = repo / ".venv"
    (venv / "bin").mkdir(parents=True)
    python = venv / "bin" / "python"
    python.write_text(f"#!/bin/sh\necho ran >> '{sentinel}/python'\nexec python3 \"$@\"\n")
    python.chmod(0o755)
    (venv / "pyvenv.cfg").write_text("home = /usr/bin\nversion = 3.11.2\n")
    site = venv / "lib" / "python3.11" / "site-packages"
    (site / "venvpkg").mkdir(parents=True)
    (site / "venvpkg" / "__init__.py").write_text("def helper() -> int:\n    return 1\n")
    (site / "evil.pth").write_text(f"import os; open('{sentinel}/pth', 'w').write('ran')\n")
    (repo / "app.py").write_text("from venvpkg import helper\n\nvalue = helper()\n")
    defn = one_json(lanser(env, repo, "--json", "def", "app.py@L3:C9"))
    assert defn["status"] == "ok", defn.get("error")
    assert [loc["path"] for loc in defn["facts"]["definitions"]] == ["site-packages:venvpkg/__init__.py"]
    diag = one_json(lanser(env, repo, "--json", "diag", "app.py"))
    assert diag["status"] == "ok", diag.get("error")
    assert not [d for g in diag["facts"]["diagnostics"] for d in g["diagnostics"] if "venvpkg" in d["message"]]
    assert sorted(p.name for p in sentinel.iterdir()) == ["victim.txt"], "the workspace's python ran"
