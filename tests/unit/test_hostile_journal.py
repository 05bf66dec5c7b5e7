"""Issue 17, findings 2, 3, 8 and 12 (journal part): the edit journal, the workspace lock and
lanser's own paths against a hostile workspace, at the file level (real files, no server).

A workspace's bytes are an attacker's: a planted ``.lanser/journal``, a
journal in lanser's state directory that someone else could have written,
a truncated plan, a ``.lanser`` symlink.  None of them may make lanser
write, delete or read anything; each is reported, never acted on.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from lanser.cache import BundleCache
from lanser.edits import guards
from lanser.edits.apply import apply_changes, journal_root, recover, recover_report
from lanser.edits.journal import JournalRejected, parse_plan, sha256
from lanser.edits.lock import WorkspaceLock
from lanser.edits.plan import ChangeSet, FileChange
from lanser.errors import ApplyConflict, FsPermissions
from lanser.state import workspace_state
from lanser.workspace import Workspace

TX = "20260101T000000-0123abcd"


@pytest.fixture(autouse=True)
def state_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "state"
    monkeypatch.setenv("XDG_STATE_HOME", str(home))
    return home


@pytest.fixture
def sentinel(tmp_path: Path) -> Path:
    """A directory outside the workspace with a victim file; nothing may change in it."""
    d = tmp_path / "outside"
    d.mkdir()
    (d / "victim.txt").write_bytes(b"precious\n")
    return d


@pytest.fixture
def ws(tmp_path: Path) -> Path:
    root = tmp_path / "ws"
    root.mkdir()
    (root / "m.py").write_bytes(b"def f():\n    return 1\n")
    return root.resolve()


def _tree(d: Path) -> dict[str, bytes | str]:
    out: dict[str, bytes | str] = {}
    for p in sorted(d.rglob("*")):
        rel = p.relative_to(d).as_posix()
        out[rel] = f"-> {os.readlink(p)}" if p.is_symlink() else (p.read_bytes() if p.is_file() else "dir")
    return out


def _plan_bytes(root: Path, files: list[dict[str, object]], tx: str = TX) -> bytes:
    return json.dumps({"version": 2, "tx": tx, "root": str(root), "files": files}).encode()


def _journal(
    root: Path, files: list[dict[str, object]], olds: dict[int, bytes], *, tx: str = TX, plan: bytes | None = None
) -> Path:
    """A journal in lanser's own state directory, as a crashed apply would leave it."""
    state = workspace_state(root, create=True)
    assert state is not None
    (state / "journal").mkdir(mode=0o700, exist_ok=True)
    tdir = state / "journal" / tx
    (tdir / "files").mkdir(mode=0o700, parents=True)
    os.chmod(tdir, 0o700)
    for i, data in olds.items():
        (tdir / "files" / f"{i}.old").write_bytes(data)
    (tdir / "plan.json").write_bytes(plan if plan is not None else _plan_bytes(root, files))
    return tdir


# --------------------------------------------------------------------------
# parse_plan: only exactly lanser's shape


GOOD = {"path": "m.py", "old": "a" * 64, "new": "b" * 64, "mode": 0o644}


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"{",
        b'{"version": 2, "tx": "' + TX.encode() + b'", "files": [',  # truncated
        b"\xff\xfe",
        b"[]",
        b"null",
        b'"x"' * 2,
        b"[" * 100_000 + b"]" * 100_000,  # deep nesting
    ],
)
def test_parse_plan_rejects_what_is_not_json_or_not_a_plan(data: bytes) -> None:
    """Finding 12: a truncated journal plan.json was E/INTERNAL and broke every command."""
    with pytest.raises(JournalRejected) as info:
        parse_plan(data, tx=TX, root="/w")
    assert info.value.code == "E/FS_PERMISSIONS" and info.value.exit_code == 71


@pytest.mark.parametrize(
    "entry",
    [
        {**GOOD, "path": "/abs/x"},
        {**GOOD, "path": "../victim.txt"},
        {**GOOD, "path": "a/../../x"},
        {**GOOD, "path": "./m.py"},
        {**GOOD, "path": "a//b"},
        {**GOOD, "path": ".git/config"},
        {**GOOD, "path": ".lanser/cache/x"},
        {**GOOD, "path": "a\0b"},
        {**GOOD, "path": ""},
        {**GOOD, "path": 3},
        {**GOOD, "old": "zz"},
        {**GOOD, "new": True},
        {**GOOD, "old": None, "new": None},
        {**GOOD, "mode": -1},
        {**GOOD, "mode": 0o10000},
        {**GOOD, "mode": True},
        {**GOOD, "mode": "755"},
        {**GOOD, "extra": 1},
        {"path": "m.py", "old": "a" * 64, "new": None},
    ],
)
def test_parse_plan_rejects_bad_entries(entry: dict[str, object]) -> None:
    with pytest.raises(JournalRejected):
        parse_plan(_plan_bytes(Path("/w"), [entry]), tx=TX, root="/w")


def test_parse_plan_rejects_another_transaction_workspace_version_or_a_duplicate() -> None:
    with pytest.raises(JournalRejected):
        parse_plan(_plan_bytes(Path("/w"), [GOOD], tx="20260101T000000-ffffffff"), tx=TX, root="/w")
    with pytest.raises(JournalRejected):
        parse_plan(_plan_bytes(Path("/elsewhere"), [GOOD]), tx=TX, root="/w")
    with pytest.raises(JournalRejected):
        parse_plan(json.dumps({"tx": TX, "root": "/w", "files": [GOOD]}).encode(), tx=TX, root="/w")
    with pytest.raises(JournalRejected):
        parse_plan(_plan_bytes(Path("/w"), [GOOD, GOOD]), tx=TX, root="/w")
    plan = parse_plan(_plan_bytes(Path("/w"), [GOOD]), tx=TX, root="/w")
    assert [(e.path, e.mode) for e in plan.entries] == [("m.py", 0o644)]


# --------------------------------------------------------------------------
# a journal planted in the workspace (finding 2)


def _plant_in_tree(ws: Path, sentinel: Path) -> None:
    """The attack of finding 2, in the journal format lanser used to read from the workspace."""
    tdir = ws / ".lanser" / "journal" / TX
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


def test_a_journal_in_the_workspace_is_never_acted_on(ws: Path, sentinel: Path) -> None:
    """Finding 2: a committed .lanser/journal/T/plan.json wrote /abs/x and deleted ../victim.txt."""
    _plant_in_tree(ws, sentinel)
    before, planted = _tree(sentinel), _tree(ws)
    assert recover(ws) == []
    report = recover_report(ws)
    assert report.undone == [] and report.rejected == [] and report.ignored == [".lanser/journal"]
    assert _tree(sentinel) == before and _tree(ws) == planted
    # an apply in that workspace does not read it either
    apply_changes(ws, ChangeSet([FileChange("m.py", "edit", b"def f():\n    return 1\n", b"def g():\n    return 1\n")]))
    assert _tree(sentinel) == before
    assert (ws / ".lanser" / "journal" / TX / "plan.json").exists()


def test_the_journal_lives_outside_the_workspace_and_is_private(ws: Path, state_home: Path) -> None:
    jroot = journal_root(ws)
    assert state_home in jroot.parents and ws not in jroot.parents
    apply_changes(ws, ChangeSet([FileChange("m.py", "edit", b"def f():\n    return 1\n", b"X = 1\n")]))
    assert not (ws / ".lanser").exists()
    for d in (state_home / "lanser", jroot.parent, jroot):
        st = d.lstat()
        assert stat.S_ISDIR(st.st_mode) and stat.S_IMODE(st.st_mode) == 0o700 and st.st_uid == os.geteuid()


# --------------------------------------------------------------------------
# a journal in the state directory that fails a check


def _victim_entry(ws: Path) -> list[dict[str, object]]:
    return [{"path": "m.py", "old": sha256(b"OLD\n"), "new": sha256((ws / "m.py").read_bytes()), "mode": 0o644}]


def _assert_rejected(ws: Path, sentinel: Path, tdir: Path, needle: str) -> None:
    before_ws, before_out = (ws / "m.py").read_bytes(), _tree(sentinel)
    report = recover_report(ws)
    assert report.undone == []
    assert len(report.rejected) == 1 and needle in report.rejected[0]["message"], report.rejected
    assert (ws / "m.py").read_bytes() == before_ws and _tree(sentinel) == before_out
    assert tdir.exists() or tdir.is_symlink(), "a rejected journal was deleted"
    assert recover(ws) == []  # the implicit recovery only warns


def test_paths_outside_the_jail_are_refused(ws: Path, sentinel: Path) -> None:
    for path in ["../outside/victim.txt", str(sentinel / "victim.txt")]:
        entry = {"path": path, "old": sha256(b"x"), "new": None, "mode": None}
        tdir = _journal(ws, [], {0: b"x"}, plan=_plan_bytes(ws, [entry]))
        _assert_rejected(ws, sentinel, tdir, "workspace-relative")
        shutil.rmtree(tdir)


def test_a_path_through_a_symlinked_directory_is_refused(ws: Path, sentinel: Path) -> None:
    (ws / "link").symlink_to(sentinel)
    tdir = _journal(
        ws,
        [{"path": "link/victim.txt", "old": sha256(b"evil\n"), "new": sha256(b"precious\n"), "mode": 0o644}],
        {0: b"evil\n"},
    )
    _assert_rejected(ws, sentinel, tdir, "symlink")


def test_a_file_changed_since_the_transaction_is_not_rolled_back(ws: Path, sentinel: Path) -> None:
    tdir = _journal(
        ws, [{"path": "m.py", "old": sha256(b"OLD\n"), "new": sha256(b"NEW\n"), "mode": 0o644}], {0: b"OLD\n"}
    )
    _assert_rejected(ws, sentinel, tdir, "neither as before nor as after")


def test_a_copy_that_does_not_match_its_hash_is_refused(ws: Path, sentinel: Path) -> None:
    tdir = _journal(ws, _victim_entry(ws), {0: b"NOT THE OLD BYTES\n"})
    _assert_rejected(ws, sentinel, tdir, "does not match")


def test_a_copy_that_is_a_symlink_is_not_followed(ws: Path, sentinel: Path) -> None:
    tdir = _journal(
        ws,
        [{"path": "m.py", "old": sha256(b"precious\n"), "new": sha256((ws / "m.py").read_bytes()), "mode": 0o644}],
        {},
    )
    (tdir / "files" / "0.old").symlink_to(sentinel / "victim.txt")
    _assert_rejected(ws, sentinel, tdir, "cannot be opened")


def test_a_journal_open_to_others_is_refused(ws: Path, sentinel: Path) -> None:
    tdir = _journal(ws, _victim_entry(ws), {0: b"OLD\n"})
    os.chmod(tdir, 0o755)
    _assert_rejected(ws, sentinel, tdir, "open to other users")


def test_a_plan_writable_by_others_is_refused(ws: Path, sentinel: Path) -> None:
    tdir = _journal(ws, _victim_entry(ws), {0: b"OLD\n"})
    os.chmod(tdir / "plan.json", 0o666)
    _assert_rejected(ws, sentinel, tdir, "not this user's own")


@pytest.mark.skipif(os.geteuid() != 0, reason="giving a file to another uid needs root")
def test_a_journal_of_another_user_is_refused(ws: Path, sentinel: Path) -> None:
    tdir = _journal(ws, _victim_entry(ws), {0: b"OLD\n"})
    os.chown(tdir, 1234, 1234)
    _assert_rejected(ws, sentinel, tdir, "belongs to uid 1234")


def test_a_symlinked_transaction_directory_is_refused(ws: Path, sentinel: Path, tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    real = _journal(ws, _victim_entry(ws), {0: b"OLD\n"})
    os.rename(real, elsewhere)
    real.symlink_to(elsewhere)
    _assert_rejected(ws, sentinel, real, "symlink")


def test_a_truncated_plan_is_reported_and_the_workspace_still_works(ws: Path, sentinel: Path) -> None:
    """Finding 12: a truncated plan.json broke every later command in the workspace (E/INTERNAL)."""
    good = _plan_bytes(ws, _victim_entry(ws))
    tdir = _journal(ws, [], {0: b"OLD\n"}, plan=good[: len(good) // 2])
    _assert_rejected(ws, sentinel, tdir, "not valid JSON")
    # the next apply reports it and goes on
    apply_changes(ws, ChangeSet([FileChange("m.py", "edit", (ws / "m.py").read_bytes(), b"Y = 2\n")]))
    assert (ws / "m.py").read_bytes() == b"Y = 2\n"


@pytest.mark.skipif(os.geteuid() != 0, reason="giving a directory to another uid needs root")
def test_a_state_directory_of_another_user_refuses_the_apply(ws: Path, state_home: Path) -> None:
    (state_home / "lanser").mkdir(parents=True, mode=0o700)
    os.chown(state_home / "lanser", 1234, 1234)
    with pytest.raises(FsPermissions) as info:
        apply_changes(ws, ChangeSet([FileChange("m.py", "edit", (ws / "m.py").read_bytes(), b"Z\n")]))
    assert "belongs to uid 1234" in info.value.message
    assert (ws / "m.py").read_bytes() == b"def f():\n    return 1\n"


def test_a_good_journal_is_still_recovered(ws: Path) -> None:
    """The checks refuse the hostile, not the honest: a journal as apply writes it is rolled back."""
    new = (ws / "m.py").read_bytes()
    _journal(
        ws,
        [
            {"path": "m.py", "old": sha256(b"OLD\n"), "new": sha256(new), "mode": 0o640},
            {"path": "pkg/created.py", "old": None, "new": sha256(b"C\n"), "mode": None},
        ],
        {0: b"OLD\n"},
    )
    (ws / "pkg").mkdir()
    (ws / "pkg" / "created.py").write_bytes(b"C\n")
    assert recover(ws) == [TX]
    assert (ws / "m.py").read_bytes() == b"OLD\n" and stat.S_IMODE((ws / "m.py").stat().st_mode) == 0o640
    assert not (ws / "pkg" / "created.py").exists()
    assert list(journal_root(ws).iterdir()) == []


# --------------------------------------------------------------------------
# the lock (finding 3)


def test_recovery_skips_while_another_process_holds_the_lock(ws: Path) -> None:
    """Finding 3: recovery rolled back an apply in progress.  A transaction journal is present
    and the lock is held by another process: nothing is rolled back, ``busy`` says why."""
    new = (ws / "m.py").read_bytes()
    tdir = _journal(ws, [{"path": "m.py", "old": sha256(b"OLD\n"), "new": sha256(new), "mode": 0o644}], {0: b"OLD\n"})
    state = workspace_state(ws, create=False)
    assert state is not None
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            (
                "import fcntl, os, sys; fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT, 0o600); "
                "fcntl.flock(fd, fcntl.LOCK_EX); print('held', flush=True); sys.stdin.read()"
            ),
            str(state / "lock"),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "held\n"
        report = recover_report(ws)
        assert report.busy and report.undone == [] and report.rejected == []
        assert recover(ws) == [] and (ws / "m.py").read_bytes() == new and tdir.exists()
        with pytest.raises(ApplyConflict) as info:
            WorkspaceLock(state).acquire(wait_s=0)
        assert info.value.exit_code == 70
    finally:
        assert holder.stdin is not None
        holder.stdin.close()
        holder.wait(timeout=60)
    assert recover(ws) == [TX] and (ws / "m.py").read_bytes() == b"OLD\n"


def test_the_lock_file_is_not_followed(ws: Path, sentinel: Path) -> None:
    state = workspace_state(ws, create=True)
    assert state is not None
    (state / "lock").symlink_to(sentinel / "victim.txt")
    with pytest.raises(FsPermissions):
        WorkspaceLock(state).acquire(wait_s=0)
    assert (sentinel / "victim.txt").read_bytes() == b"precious\n"


# --------------------------------------------------------------------------
# .lanser symlinks (finding 8)


@pytest.mark.parametrize("link", [".lanser", ".lanser/versions", ".lanser/cache"])
def test_a_lanser_symlink_redirects_no_write(
    ws: Path, sentinel: Path, link: str, capfd: pytest.CaptureFixture[str]
) -> None:
    """Finding 8: a `.lanser` symlink moved lanser's cache, journal and .gitignore outside."""
    target = ws / link
    target.parent.mkdir(parents=True, exist_ok=True)
    target.symlink_to(sentinel)
    before = _tree(sentinel)
    w = Workspace(ws)
    w.remember_version(b"some content\n")
    if link != ".lanser/cache":
        assert w.find_version(sha256(b"some content\n")[:12]) is None
    cache = BundleCache(ws / ".lanser" / "cache")
    cache.put("k", {"a": 1})
    cache.close()
    assert cache.get_text("k") is not None  # still served from memory
    apply_changes(ws, ChangeSet([FileChange("m.py", "edit", (ws / "m.py").read_bytes(), b"W = 1\n")]))
    assert _tree(sentinel) == before, "lanser wrote through a symlink"
    err = capfd.readouterr().err
    assert "is a symlink" in err and err.count("lanser: warning:") <= 2


def test_a_planted_gitignore_symlink_and_db_symlinks_are_not_followed(ws: Path, sentinel: Path) -> None:
    (ws / ".lanser" / "cache").mkdir(parents=True)
    (ws / ".lanser" / ".gitignore").symlink_to(sentinel / "victim.txt")
    (ws / ".lanser" / "cache" / "bundles.sqlite-wal").symlink_to(sentinel / "wal")
    before = _tree(sentinel)
    Workspace(ws).remember_version(b"v\n")
    cache = BundleCache(ws / ".lanser" / "cache")
    cache.put("k", {"a": 1})
    cache.close()
    assert _tree(sentinel) == before
    assert not (ws / ".lanser" / "cache" / "bundles.sqlite").exists()


def test_a_planted_version_must_hash_to_its_name(ws: Path, sentinel: Path) -> None:
    versions = ws / ".lanser" / "versions"
    versions.mkdir(parents=True)
    (versions / ("ab" * 32)).write_bytes(b"not what the name says\n")
    (versions / ("cd" * 32)).symlink_to(sentinel / "victim.txt")
    good = b"real\n"
    (versions / sha256(good)).write_bytes(good)
    w = Workspace(ws)
    assert w.find_version("abab") is None and w.find_version("cdcd") is None
    assert w.find_version(sha256(good)[:10]) == good


def test_the_case_probe_does_not_write_through_a_symlink(ws: Path, sentinel: Path) -> None:
    for name in [".lanser-case-probe", f".lanser-case-probe-{os.getpid()}"]:
        (ws / name).symlink_to(sentinel / "victim.txt")
    cs = ChangeSet([FileChange("m.py", "rename", b"", b"", new_path="M.py")])
    guards.check_case_rename(ws, cs)  # Linux: case-sensitive, no refusal
    assert (sentinel / "victim.txt").read_bytes() == b"precious\n"


# --------------------------------------------------------------------------
# the dirty guard (finding 9) and lanser's own git calls


def _repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    root.mkdir()
    (root / "a.py").write_bytes(b"A = 1\n")
    (root / ".gitignore").write_bytes(b"gen_*\n")
    env = {**os.environ, "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1"}
    for args in (["init", "-q"], ["add", "-A"], ["-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "i"]):
        subprocess.run(["git", *args], cwd=root, env=env, check=True, capture_output=True)
    return root


def test_dirty_files_counts_untracked_and_ignored_files_the_edit_touches(tmp_path: Path) -> None:
    """Finding 9: rename --apply rewrote untracked files without --allow-dirty."""
    root = _repo(tmp_path)
    (root / "new.py").write_bytes(b"N = 1\n")
    (root / "gen_x.py").write_bytes(b"G = 1\n")
    (root / "sub").mkdir()
    (root / "sub" / "deep.py").write_bytes(b"D = 1\n")
    assert guards.dirty_files(root) == []  # untracked files alone do not make the tree dirty
    assert guards.dirty_files(root, ["a.py"]) == []
    assert guards.dirty_files(root, ["a.py", "new.py", "gen_x.py", "sub/deep.py", "created.py"]) == [
        "gen_x.py",
        "new.py",
        "sub/deep.py",
    ]  # a file still to be created is not dirty
    (root / "a.py").write_bytes(b"A = 2\n")
    assert guards.dirty_files(root, ["new.py"]) == ["a.py", "new.py"]


def test_dirty_files_does_not_run_the_repositorys_fsmonitor(tmp_path: Path) -> None:
    """A repository's core.fsmonitor is a command git runs on status; lanser's calls disable it."""
    root = _repo(tmp_path)
    ran = tmp_path / "FSMONITOR_RAN"
    hook = tmp_path / "hook.sh"
    hook.write_text(f"#!/bin/sh\ntouch {ran}\n")
    hook.chmod(0o755)
    subprocess.run(["git", "config", "core.fsmonitor", str(hook)], cwd=root, check=True)
    subprocess.run(["git", "status", "--porcelain"], cwd=root, capture_output=True)
    assert ran.exists(), "this git does not run core.fsmonitor: the test proves nothing"
    ran.unlink()
    (root / "a.py").write_bytes(b"A = 3\n")
    assert guards.dirty_files(root, ["a.py"]) == ["a.py"]
    assert not ran.exists(), "dirty_files ran the repository's fsmonitor command"


def test_workspace_listing_and_git_apply_do_not_run_the_repositorys_fsmonitor(tmp_path: Path) -> None:
    """Issue 17, finding 1's lanser half: the workspace lists its files with ``git ls-files``,
    which ran the repository's ``core.fsmonitor`` command (a program named in .git/config);
    ``--via-git`` ran ``git apply`` with the repository's config too."""
    from lanser.edits.plan import ChangeSet, FileChange
    from lanser.edits.write import _apply_via_git
    from lanser.workspace import Workspace

    root = _repo(tmp_path)
    ran = tmp_path / "FSMONITOR_RAN"
    hook = tmp_path / "hook.sh"
    hook.write_text(f"#!/bin/sh\ntouch {ran}\n")
    hook.chmod(0o755)
    subprocess.run(["git", "config", "core.fsmonitor", str(hook)], cwd=root, check=True)
    subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=root, capture_output=True)
    assert ran.exists(), "this git does not run core.fsmonitor on ls-files: the test proves nothing"
    ran.unlink()
    assert Workspace(root).files((".py",)) == ["a.py"]
    assert not ran.exists(), "the workspace listing ran the repository's fsmonitor command"
    _apply_via_git(root, ChangeSet(changes=[FileChange("a.py", "edit", (root / "a.py").read_bytes(), b"A = 9\n")]))
    assert (root / "a.py").read_bytes() == b"A = 9\n"
    assert not ran.exists(), "git apply ran the repository's fsmonitor command"
