"""lanser.edits.apply under faults: SIGKILL at every step, a full disk, a file changed under our feet.

Real processes and real file systems, no language server: a ChangeSet is
planned from a hand-written WorkspaceEdit over a temporary workspace, then
applied by a child process that kills itself (``LANSER_APPLY_CRASH_AFTER``)
after k replacements, for every k.  Recovery, in-process or by the CLI,
must put every byte and permission bit back.  The ENOSPC tests mount a
256 KiB tmpfs (they run as root); a failed mount fails them.
"""

from __future__ import annotations

import errno
import json
import os
import re
import signal
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from lanser.edits import guards
from lanser.edits.apply import apply_changes, journal_root, recover
from lanser.edits.plan import ChangeSet, FileChange, plan_workspace_edit, uri_path
from lanser.errors import ApplyConflict, FsPermissions

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
TMP_NAME = re.compile(r"^\..+\.lanser-tmp-.+$")


def E(l1: int, c1: int, l2: int, c2: int, text: str) -> dict[str, Any]:  # noqa: N802 - reads like a literal
    return {"range": {"start": {"line": l1, "character": c1}, "end": {"line": l2, "character": c2}}, "newText": text}


# --------------------------------------------------------------------------
# the workspace and its edit

#: path -> (bytes, mode)
ORIGINAL: dict[str, tuple[bytes, int]] = {
    "src/app.py": (b"from lib.util import area\nfrom lib.helpers import fmt\n\nprint(fmt(area(2)))\n", 0o644),
    "src/tool.sh": (b"#!/bin/sh\n# area of a square\necho area $1\n", 0o755),
    "lib/util.py": ('def area(r):\n    """\u00c1rea \U0001f4d0"""\n    return r * r\n'.encode(), 0o644),
    "lib/helpers.py": (b"def fmt(x):\n    return f'{x:.2f}'\n", 0o640),
    "lib/legacy.py": (b"LEGACY = True\n", 0o600),
    "README.txt": (b"untouched\n", 0o644),
}


def _uri(ws: Path, rel: str) -> str:
    return (ws / rel).as_uri()


def _edit(ws: Path) -> dict[str, Any]:
    """Rename ``area`` to ``surface`` across files, plus a create, a rename (with an edit) and a delete."""
    return {
        "documentChanges": [
            {"textDocument": {"uri": _uri(ws, "lib/util.py"), "version": 1}, "edits": [E(0, 4, 0, 8, "surface")]},
            {
                "textDocument": {"uri": _uri(ws, "src/app.py"), "version": 1},
                "edits": [E(3, 10, 3, 14, "surface"), E(0, 21, 0, 25, "surface"), E(1, 9, 1, 16, "helpers_v2")],
            },
            {
                "textDocument": {"uri": _uri(ws, "src/tool.sh"), "version": 1},
                "edits": [E(2, 5, 2, 9, "surface"), E(1, 2, 1, 6, "surface"), E(0, 9, 0, 9, "\nset -e")],
            },
            {"kind": "create", "uri": _uri(ws, "src/generated.py")},
            {
                "textDocument": {"uri": _uri(ws, "src/generated.py"), "version": None},
                "edits": [E(0, 0, 0, 0, "from lib.util import surface\n\nALL = [surface]\n")],
            },
            {"kind": "rename", "oldUri": _uri(ws, "lib/helpers.py"), "newUri": _uri(ws, "lib/helpers_v2.py")},
            {
                "textDocument": {"uri": _uri(ws, "lib/helpers_v2.py"), "version": None},
                "edits": [E(1, 16, 1, 19, ".3f")],
            },
            {"kind": "delete", "uri": _uri(ws, "lib/legacy.py")},
        ]
    }


#: What the edit makes of the workspace (path -> bytes); files not named are gone.
EXPECTED_NEW: dict[str, bytes] = {
    "src/app.py": b"from lib.util import surface\nfrom lib.helpers_v2 import fmt\n\nprint(fmt(surface(2)))\n",
    "src/tool.sh": b"#!/bin/sh\nset -e\n# surface of a square\necho surface $1\n",
    "lib/util.py": ('def surface(r):\n    """\u00c1rea \U0001f4d0"""\n    return r * r\n'.encode()),
    "lib/helpers_v2.py": b"def fmt(x):\n    return f'{x:.3f}'\n",
    "src/generated.py": b"from lib.util import surface\n\nALL = [surface]\n",
    "README.txt": b"untouched\n",
}

#: Replacements apply_changes makes for this edit: 3 edits + 1 create + 1 delete + a rename (2).
N_STEPS = 7


def _make_ws(root: Path) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    ws = root.resolve()
    for rel, (data, mode) in ORIGINAL.items():
        p = ws / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)
        os.chmod(p, mode)
    return ws


def _plan(ws: Path, edit: dict[str, Any]) -> ChangeSet:
    def read(rel: str) -> bytes | None:
        p = ws / rel
        return p.read_bytes() if p.is_file() else None

    changes = plan_workspace_edit(edit, "utf-16", lambda uri: guards.jail_rel(ws, uri_path(uri)), read)
    guards.check_jail(ws, changes)
    return changes


def _steps(cs: ChangeSet) -> list[tuple[str, bytes | None, bytes | None]]:
    """The replacements in the documented order: per change, a rename being (old gone, new written)."""
    out: list[tuple[str, bytes | None, bytes | None]] = []
    for c in cs.changes:
        if c.op == "rename":
            assert c.new_path is not None
            out += [(c.path, c.old, None), (c.new_path, None, c.new)]
        else:
            out.append((c.path, c.old, c.new))
    return out


def _snapshot(ws: Path) -> dict[str, tuple[bytes, int]]:
    """Every regular file of the workspace but lanser's own state, with its permission bits."""
    out = {}
    for p in sorted(ws.rglob("*")):
        rel = p.relative_to(ws).as_posix()
        if rel.startswith(".lanser/") or rel == ".lanser" or not p.is_file():
            continue
        out[rel] = (p.read_bytes(), stat.S_IMODE(p.lstat().st_mode))
    return out


def _contents(ws: Path) -> dict[str, bytes]:
    return {rel: data for rel, (data, _) in _snapshot(ws).items()}


def _temp_files(ws: Path) -> list[str]:
    return sorted(p.relative_to(ws).as_posix() for p in ws.rglob("*") if TMP_NAME.match(p.name))


def _transactions(ws: Path) -> list[Path]:
    jroot = journal_root(ws)
    return sorted(jroot.iterdir()) if jroot.exists() else []


def _assert_original(ws: Path) -> None:
    assert _snapshot(ws) == ORIGINAL, "the workspace is not exactly its original bytes and modes"
    assert _temp_files(ws) == [], "temporary files were left behind"
    assert _transactions(ws) == [], "the journal is not empty"


def _assert_new(ws: Path) -> None:
    assert _contents(ws) == EXPECTED_NEW
    assert stat.S_IMODE((ws / "src" / "tool.sh").stat().st_mode) == 0o755
    assert _temp_files(ws) == []
    assert _transactions(ws) == []


_CHILD = """
import pickle, sys
from pathlib import Path
from lanser.edits.apply import apply_changes
out = apply_changes(Path(sys.argv[1]), pickle.loads(Path(sys.argv[2]).read_bytes()))
print(out["transaction"])
"""


def _apply_in_child(
    ws: Path, cs: ChangeSet, tmp_path: Path, crash_after: int | None
) -> subprocess.CompletedProcess[str]:
    import pickle

    blob = tmp_path / "changes.pickle"  # outside the workspace
    blob.write_bytes(pickle.dumps(cs))
    env = {k: v for k, v in os.environ.items() if k != "LANSER_APPLY_CRASH_AFTER"}
    if crash_after is not None:
        env["LANSER_APPLY_CRASH_AFTER"] = str(crash_after)
    return subprocess.run(
        [sys.executable, "-c", _CHILD, str(ws), str(blob)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture(autouse=True)
def state_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """lanser's per-user state (journals, locks) for this test only; children inherit it."""
    home = tmp_path / "state"
    monkeypatch.setenv("XDG_STATE_HOME", str(home))
    return home


@pytest.fixture
def ws(tmp_path: Path) -> Path:
    return _make_ws(tmp_path / "ws")


@pytest.fixture
def changes(ws: Path) -> ChangeSet:
    cs = _plan(ws, _edit(ws))
    assert sorted((c.op, c.path) for c in cs.changes) == [
        ("create", "src/generated.py"),
        ("delete", "lib/legacy.py"),
        ("edit", "lib/util.py"),
        ("edit", "src/app.py"),
        ("edit", "src/tool.sh"),
        ("rename", "lib/helpers.py"),
    ]
    assert len(_steps(cs)) == N_STEPS
    return cs


def _crash(ws: Path, cs: ChangeSet, tmp_path: Path, k: int) -> Path:
    """Run the apply in a child killed after k replacements; check the half-applied state; return the journal."""
    proc = _apply_in_child(ws, cs, tmp_path, k)
    assert proc.returncode == -signal.SIGKILL, f"the child was not killed (exit {proc.returncode}): {proc.stderr}"
    # the journal of an unfinished transaction is there
    (tx,) = _transactions(ws)
    assert (tx / "plan.json").is_file() and not (tx / "done").exists()
    plan = json.loads((tx / "plan.json").read_text())
    assert [e["path"] for e in plan["files"]] == [rel for rel, _, _ in _steps(cs)]
    # exactly the first k replacements were made
    expected = {rel: data for rel, (data, _) in ORIGINAL.items()}
    for rel, _, after in _steps(cs)[:k]:
        if after is None:
            expected.pop(rel)
        else:
            expected[rel] = after
    assert _contents(ws) == expected
    assert _contents(ws) != {rel: data for rel, (data, _) in ORIGINAL.items()}, "nothing was written"
    assert stat.S_IMODE((ws / "src" / "tool.sh").stat().st_mode) == 0o755
    return tx


# --------------------------------------------------------------------------
# success


def test_apply_without_crash_writes_everything_and_leaves_no_journal(
    ws: Path, changes: ChangeSet, tmp_path: Path
) -> None:
    proc = _apply_in_child(ws, changes, tmp_path, None)
    assert proc.returncode == 0, proc.stderr
    assert re.fullmatch(r"\d{8}T\d{6}-[0-9a-f]{8}\n", proc.stdout)
    _assert_new(ws)
    # modes of the files edited in place are kept; lanser's journal is not in the workspace
    snap = _snapshot(ws)
    assert snap["src/app.py"][1] == 0o644 and snap["lib/util.py"][1] == 0o644
    assert not (ws / ".lanser").exists()
    # nothing to recover afterwards
    assert recover(ws) == []
    _assert_new(ws)


def test_apply_in_process_returns_what_it_wrote(ws: Path, changes: ChangeSet) -> None:
    out = apply_changes(ws, changes)
    assert out["files"] == [rel for rel, _, _ in _steps(changes)]
    _assert_new(ws)


def test_crash_limit_beyond_the_last_step_does_not_crash(ws: Path, changes: ChangeSet, tmp_path: Path) -> None:
    proc = _apply_in_child(ws, changes, tmp_path, N_STEPS + 1)
    assert proc.returncode == 0, proc.stderr
    _assert_new(ws)


# --------------------------------------------------------------------------
# SIGKILL after every replacement, then recovery


@pytest.mark.parametrize("k", range(1, N_STEPS + 1))
def test_sigkill_after_k_replacements_then_recover(ws: Path, changes: ChangeSet, tmp_path: Path, k: int) -> None:
    tx = _crash(ws, changes, tmp_path, k)
    assert recover(ws) == [tx.name]
    _assert_original(ws)
    assert not (ws / "src" / "generated.py").exists()
    assert (ws / "lib" / "legacy.py").read_bytes() == ORIGINAL["lib/legacy.py"][0]
    assert (ws / "lib" / "helpers.py").exists() and not (ws / "lib" / "helpers_v2.py").exists()
    # recovery is idempotent, and the workspace takes the same edit again afterwards
    assert recover(ws) == []
    _assert_original(ws)
    apply_changes(ws, _plan(ws, _edit(ws)))
    _assert_new(ws)


def test_next_apply_recovers_first(ws: Path, changes: ChangeSet, tmp_path: Path) -> None:
    """apply_changes runs recovery itself: the half-applied transaction is undone before the new one."""
    _crash(ws, changes, tmp_path, 4)
    apply_changes(ws, changes)
    _assert_new(ws)


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "LANSER_APPLY_CRASH_AFTER"}
    env["LANSER_NO_DAEMON"] = "1"
    return subprocess.run(
        [sys.executable, "-c", "from lanser.cli.main import main; main()", *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_cli_recover_after_sigkill(ws: Path, changes: ChangeSet, tmp_path: Path) -> None:
    tx = _crash(ws, changes, tmp_path, 3)
    proc = _cli("--json", "-w", str(ws), "recover")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == {"recovered": [tx.name]}
    _assert_original(ws)
    proc = _cli("-w", str(ws), "recover")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "nothing to recover"


def test_cli_recover_examples_of_its_help_work(ws: Path, changes: ChangeSet, tmp_path: Path) -> None:
    """Every example of `lanser recover --help`, run on a crashed workspace, recovers it."""
    import shlex

    examples = [
        shlex.split(line.strip())
        for line in _cli("recover", "--help").stdout.splitlines()
        if line.strip().startswith("lanser ") and " recover" in line
    ]
    assert examples, "`lanser recover --help` shows no example"
    for example in examples:
        assert "-w" in example, f"the example {example} names no workspace"
        argv = [str(ws) if prev == "-w" else arg for prev, arg in zip(["", *example], example, strict=False)][1:]
        tx = _crash(ws, changes, tmp_path, 5)
        proc = _cli(*argv)
        assert proc.returncode == 0, (
            f"the help's example `{shlex.join(example)}` failed (exit {proc.returncode}): {proc.stderr.strip()}"
        )
        assert "rolled back 1" in proc.stdout
        assert not (journal_root(ws) / tx.name).exists()
        _assert_original(ws)


# --------------------------------------------------------------------------
# modes


def test_renamed_file_keeps_its_mode(ws: Path) -> None:
    script = ws / "src" / "tool.sh"
    cs = _plan(
        ws,
        {
            "documentChanges": [
                {"kind": "rename", "oldUri": _uri(ws, "src/tool.sh"), "newUri": _uri(ws, "src/tool2.sh")}
            ]
        },
    )
    assert stat.S_IMODE(script.stat().st_mode) == 0o755
    apply_changes(ws, cs)
    moved = ws / "src" / "tool2.sh"
    assert moved.read_bytes() == ORIGINAL["src/tool.sh"][0]
    assert stat.S_IMODE(moved.stat().st_mode) == 0o755, (
        f"the renamed executable lost its mode: {oct(stat.S_IMODE(moved.stat().st_mode))}"
    )


# --------------------------------------------------------------------------
# the disk changed between planning and applying


def _touch_edited(ws: Path) -> None:
    (ws / "src" / "app.py").write_bytes(b"# someone else's edit\n")


def _create_the_created(ws: Path) -> None:
    (ws / "src" / "generated.py").write_bytes(b"# got here first\n")


def _remove_the_deleted(ws: Path) -> None:
    (ws / "lib" / "legacy.py").unlink()


def _occupy_the_rename_target(ws: Path) -> None:
    (ws / "lib" / "helpers_v2.py").write_bytes(b"# squatter\n")


def _touch_the_last(ws: Path) -> None:
    (ws / "src" / "tool.sh").write_bytes(b"#!/bin/sh\necho changed\n")


@pytest.mark.parametrize(
    "mutate", [_touch_edited, _create_the_created, _remove_the_deleted, _occupy_the_rename_target, _touch_the_last]
)
def test_file_changed_after_planning_is_a_conflict_and_nothing_is_written(
    ws: Path, changes: ChangeSet, mutate: Any
) -> None:
    mutate(ws)
    before = _snapshot(ws)
    with pytest.raises(ApplyConflict) as info:
        apply_changes(ws, changes)
    assert info.value.code == "E/APPLY_CONFLICT" and info.value.exit_code == 70
    assert info.value.details.get("path") in {rel for rel, _, _ in _steps(changes)}
    assert _snapshot(ws) == before
    assert _temp_files(ws) == []
    assert not (ws / ".lanser").exists(), "the refused apply wrote lanser state (a journal)"


# --------------------------------------------------------------------------
# ENOSPC on a small tmpfs


@pytest.fixture
def small_fs(tmp_path: Path) -> Iterator[Path]:
    mnt = tmp_path / "small"
    mnt.mkdir()
    try:
        proc = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "size=256k,mode=0755", "tmpfs", str(mnt)],
            capture_output=True,
            text=True,
            timeout=60,
        )
    except OSError as exc:
        pytest.fail(f"cannot run mount to create a 256k tmpfs for the ENOSPC tests: {exc}")
    if proc.returncode != 0:
        pytest.fail(
            f"cannot mount a 256k tmpfs at {mnt} for the ENOSPC tests (they need root and "
            f"mount -t tmpfs; exit {proc.returncode}): {proc.stderr.strip()}"
        )
    try:
        yield mnt
    finally:
        if subprocess.run(["umount", str(mnt)], capture_output=True, timeout=60).returncode != 0:
            subprocess.run(["umount", "-l", str(mnt)], capture_output=True, timeout=60)


def _free_blocks(path: Path) -> tuple[int, int]:
    st = os.statvfs(path)
    return st.f_bavail, st.f_frsize


def _leave_free(mnt: Path, blocks: int) -> None:
    """Fill the file system with a ballast file until exactly ``blocks`` blocks are free."""
    avail, bsize = _free_blocks(mnt)
    assert avail > blocks, f"the tmpfs has only {avail} free blocks, fewer than the {blocks} to leave"
    with open(mnt / "ballast", "wb") as fh:
        fh.write(b"\0" * ((avail - blocks) * bsize))
        fh.flush()
        os.fsync(fh.fileno())
    assert _free_blocks(mnt)[0] == blocks


SMALL = {"a.txt": b"alpha\n", "b.txt": b"beta\n", "c.txt": b"gamma\n"}
BIG = b"".join(b"line %05d of the big replacement text\n" % i for i in range(2400))  # ~96 KiB


def _space_changes() -> ChangeSet:
    """a small edit, then one that needs ~24 blocks, then another small one."""
    return ChangeSet(
        [
            FileChange("a.txt", "edit", SMALL["a.txt"], b"ALPHA\n"),
            FileChange("b.txt", "edit", SMALL["b.txt"], BIG),
            FileChange("c.txt", "edit", SMALL["c.txt"], b"GAMMA\n"),
        ]
    )


def _space_ws(mnt: Path) -> Path:
    """The workspace on the small file system, and lanser's state (the journal) on it too."""
    os.environ["XDG_STATE_HOME"] = str(mnt / "state")  # the autouse fixture restores it
    ws = mnt / "ws"
    ws.mkdir()
    for rel, data in SMALL.items():
        (ws / rel).write_bytes(data)
    return ws


def _journal_blocks(cs: ChangeSet, bsize: int) -> int:
    """Blocks lanser's journal takes: old and new copies, plan.json, and one to spare."""
    blocks = lambda n: -(-n // bsize)  # noqa: E731
    total = sum(blocks(len(c.old or b"")) + blocks(len(c.new or b"")) for c in cs.changes)
    return total + 2


def test_enospc_while_writing_files_rolls_back(small_fs: Path) -> None:
    ws = _space_ws(small_fs)
    cs = _space_changes()
    _, bsize = _free_blocks(small_fs)
    journal = _journal_blocks(cs, bsize)
    big = -(-len(BIG) // bsize)
    assert big >= 20
    # the journal fits with room for the small writes, the big file does not
    _leave_free(small_fs, journal + big // 2)
    with pytest.raises((ApplyConflict, FsPermissions)) as info:
        apply_changes(ws, cs)
    assert info.value.details.get("path") == "b.txt", f"failed elsewhere than writing b.txt: {info.value}"
    assert isinstance(info.value.__cause__, OSError) and info.value.__cause__.errno == errno.ENOSPC
    assert {rel: (ws / rel).read_bytes() for rel in SMALL} == SMALL
    assert sorted(p.name for p in ws.iterdir()) == ["a.txt", "b.txt", "c.txt"]
    assert _temp_files(ws) == []
    assert _transactions(ws) == []
    # the space is given back: the same edit fits once the ballast is gone
    (small_fs / "ballast").unlink()
    apply_changes(ws, cs)
    assert (ws / "b.txt").read_bytes() == BIG and (ws / "a.txt").read_bytes() == b"ALPHA\n"


def test_enospc_while_journalling_touches_no_file(small_fs: Path) -> None:
    ws = _space_ws(small_fs)
    cs = _space_changes()
    _, bsize = _free_blocks(small_fs)
    # room for a few small journal copies, not for the big one
    _leave_free(small_fs, 10)
    assert _journal_blocks(cs, bsize) > 10
    problems = []
    try:
        apply_changes(ws, cs)
    except (ApplyConflict, FsPermissions) as exc:
        if not (isinstance(exc.__cause__, OSError) and exc.__cause__.errno == errno.ENOSPC):
            problems.append(f"the error does not come from ENOSPC: {exc!r} (cause {exc.__cause__!r})")
    except OSError as exc:
        problems.append(
            f"a raw {type(exc).__name__} escaped apply_changes instead of E/APPLY_CONFLICT or E/FS_PERMISSIONS: {exc!r}"
        )
    else:
        problems.append("apply_changes succeeded on a full disk")
    if {rel: (ws / rel).read_bytes() for rel in SMALL} != SMALL:
        problems.append("a workspace file was changed")
    if _transactions(ws):
        leftover = sorted(str(p.relative_to(journal_root(ws))) for p in journal_root(ws).rglob("*"))
        problems.append(f"the failed transaction's journal was left behind: {leftover}")
    if _temp_files(ws):
        problems.append(f"temporary files were left behind: {_temp_files(ws)}")
    assert not problems, "\n".join(problems)
