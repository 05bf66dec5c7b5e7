"""What a daemon's records say about a mutating request (issue 17, finding 5).

Real files in a temporary workspace and state directory; the records are
read back as the next daemon reads them.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from lanser.daemon import paths
from lanser.daemon.outcomes import Outcomes, valid_id
from lanser.errors import FsPermissions

RID = "0123456789abcdef0123456789abcdef"


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture
def ws(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    root = tmp_path / "ws"
    root.mkdir()
    (root / "a.py").write_bytes(b"old a\n")
    (root / "b.py").write_bytes(b"old b\n")
    return root


def plan(root: Path) -> list[tuple[str, str | None, str | None]]:
    return [
        ("a.py", sha(b"old a\n"), sha(b"new a\n")),
        ("b.py", sha(b"old b\n"), None),
        ("c.py", None, sha(b"new c\n")),
    ]


def test_records_live_in_the_users_state_directory_not_the_workspace(ws: Path, tmp_path: Path) -> None:
    log = Outcomes(ws)
    log.committing(RID, ws, plan(ws))
    assert log.dir.is_relative_to(tmp_path / "state" / "lanser" / "requests")
    assert not any(p.name.endswith(".json") for p in ws.rglob("*"))
    assert oct(log.dir.stat().st_mode & 0o777) == "0o700"
    assert oct((log.dir / f"{RID}.json").stat().st_mode & 0o777) == "0o600"


def test_no_record_means_never_reached_the_commit_point(ws: Path) -> None:
    assert Outcomes(ws).outcome(RID)["state"] == "not-committed"


def test_an_answered_request_gives_its_bundle(ws: Path) -> None:
    log = Outcomes(ws)
    log.committing(RID, ws, plan(ws))
    log.answered(RID, '{"status":"ok"}')
    assert Outcomes(ws).outcome(RID) == {"state": "answered", "bundle": '{"status":"ok"}'}


def test_committing_is_judged_by_the_files_on_disk(ws: Path) -> None:
    log = Outcomes(ws)
    log.committing(RID, ws, plan(ws))
    assert log.outcome(RID)["state"] == "not-committed"  # every file as before
    (ws / "a.py").write_bytes(b"new a\n")
    (ws / "b.py").unlink()
    (ws / "c.py").write_bytes(b"new c\n")
    assert log.outcome(RID) == {"state": "committed", "paths": ["a.py", "b.py", "c.py"]}
    (ws / "a.py").write_bytes(b"someone else's\n")
    assert log.outcome(RID)["state"] == "unknown"


@pytest.mark.parametrize("bad", ["../outside.py", "/etc/passwd", "link/a.py", ""])
def test_a_record_naming_a_path_outside_the_workspace_is_never_read(ws: Path, tmp_path: Path, bad: str) -> None:
    """Regression guard: the judgement reads files; a record must not make it read outside the jail."""
    (tmp_path / "outside.py").write_bytes(b"old a\n")
    (ws / "link").symlink_to(tmp_path)
    (tmp_path / "a.py").write_bytes(b"old a\n")
    log = Outcomes(ws)
    log.committing(RID, ws, [(bad, sha(b"old a\n"), sha(b"new a\n"))])
    assert log.outcome(RID)["state"] == "unknown"


def test_a_damaged_or_foreign_record_is_unknown(ws: Path, tmp_path: Path) -> None:
    log = Outcomes(ws)
    (log.dir / f"{RID}.json").write_text("{not json")
    assert log.outcome(RID)["state"] == "unknown"
    (log.dir / f"{RID}.json").write_text(
        json.dumps({"id": RID, "workspace": "/elsewhere", "state": "answered", "bundle": "{}"})
    )
    assert log.outcome(RID)["state"] == "unknown"


def test_a_record_that_cannot_be_written_refuses_the_write(ws: Path) -> None:
    log = Outcomes(ws)
    (log.dir / f"{RID}.json").mkdir()  # the record's place is taken: the rename into it fails
    with pytest.raises(FsPermissions, match="nothing was written"):
        log.committing(RID, ws, plan(ws))
    assert sorted(p.name for p in log.dir.iterdir()) == [f"{RID}.json"]  # no temporary file left


def test_a_symlinked_state_directory_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "state").mkdir()
    (tmp_path / "state" / "lanser").symlink_to(tmp_path / "elsewhere")
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    with pytest.raises(PermissionError):
        paths.state_dir()


def test_request_ids_are_what_clients_draw() -> None:
    assert valid_id(RID) == RID
    for bad in (None, 1, "../x", RID.upper(), RID + "0", RID[:-1] + "/"):
        assert valid_id(bad) is None


def test_without_a_state_directory_reads_go_on_and_writes_are_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A daemon in a place with no usable state directory still starts (reads need none); an edit
    through it is refused before anything is written, and an outcome is unknown, not guessed."""
    (tmp_path / "state").write_text("a file where a directory should be")
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    (tmp_path / "ws").mkdir()
    log = Outcomes(tmp_path / "ws")
    with pytest.raises(FsPermissions, match="nothing was written"):
        log.committing(RID, tmp_path / "ws", [])
    assert log.outcome(RID)["state"] == "unknown"
