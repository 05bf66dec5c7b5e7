"""Task sources as data: the Source model, its short forms, the task-file errors, tree digests,
and the deb-src entries mirrored from an apt configuration.  No network, no Docker."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

import pytest
from pydantic import ValidationError

from lanser.errors import BadRequest
from lanser.harness.task.sources import deb_src_lines, materialize
from lanser.harness.task.spec import Source, load_tasks, tree_digest

SHA = "ab" * 32
TASK = {
    "id": "t/1",
    "language": "c",
    "commands": {"build": "make", "test": "make test"},
    "problem": "p",
    "gold_patch": "",
}


@pytest.mark.parametrize(
    ("text", "fields"),
    [
        ("debian:zlib=1:1.2.13.dfsg-1", {"kind": "debian", "package": "zlib", "version": "1:1.2.13.dfsg-1"}),
        ("pypi:six==1.16.0", {"kind": "pypi", "name": "six", "version": "1.16.0"}),
        ("git:file:///srv/x.git@" + "a" * 40, {"kind": "git", "url": "file:///srv/x.git", "commit": "a" * 40}),
        ("dir:project", {"kind": "dir", "path": "project"}),
    ],
)
def test_short_forms_parse_and_format_back(text: str, fields: dict[str, str]) -> None:
    source = Source.parse(text)
    assert source.model_dump(include=set(fields)) == fields
    assert source.spec() == text


@pytest.mark.parametrize("text", ["zlib", "debian:zlib", "pypi:six=1.0", "git:url-without-commit", "svn:x"])
def test_bad_short_forms_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match="debian:PACKAGE=VERSION|pypi:NAME==VERSION|git:URL@COMMIT"):
        Source.parse(text)


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"kind": "debian", "package": "zlib"}, "needs version"),
        ({"kind": "git", "url": "file:///x"}, "needs commit"),
        ({"kind": "git", "url": "file:///x", "commit": "abc"}, "commit"),
        ({"kind": "pypi", "name": "six", "version": "1", "path": "x"}, "takes no path"),
        ({"kind": "dir", "path": "../elsewhere"}, "without '..'"),
        ({"kind": "dir", "path": "/abs"}, "relative"),
        ({"kind": "dir", "path": "p", "sha256": "xyz"}, "64 hex digits"),
    ],
)
def test_each_kind_needs_its_fields(raw: dict[str, str], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        Source.model_validate(raw)


def test_sha256_prefix_and_case_are_normalised() -> None:
    assert Source(kind="dir", path="p", sha256="sha256:" + SHA.upper()).sha256 == SHA


def write_tasks(tmp_path: Path, *sources: dict[str, object]) -> Path:
    lines = [json.dumps({**TASK, "id": f"t/{i}", "source": s}) for i, s in enumerate(sources)]
    (tmp_path / "tasks.jsonl").write_text("\n".join(lines) + "\n")
    return tmp_path / "tasks.jsonl"


def test_remote_source_without_sha256_is_refused_with_line_field_and_hint(tmp_path: Path) -> None:
    path = write_tasks(
        tmp_path,
        {"kind": "pypi", "name": "six", "version": "1.16.0", "sha256": SHA},
        {"kind": "debian", "package": "zlib", "version": "1:1.2.13.dfsg-1"},
    )
    with pytest.raises(BadRequest) as err:
        load_tasks(path)
    assert err.value.details == {"line": 2, "field": "source"}
    assert "lanser bench source fetch debian:zlib=1:1.2.13.dfsg-1" in err.value.message


def test_remote_sources_load_without_fetching(tmp_path: Path) -> None:
    path = write_tasks(tmp_path, {"kind": "git", "url": "file:///nowhere.git", "commit": "b" * 40, "sha256": SHA})
    (task,) = load_tasks(path)
    assert task.source.remote and task.source.sha256 == SHA


def test_dir_source_digest_is_checked_once_per_tree(tmp_path: Path) -> None:
    (tmp_path / "project").mkdir()
    (tmp_path / "project" / "a.c").write_text("int a;\n")
    good = tree_digest(tmp_path / "project")
    path = write_tasks(tmp_path, *[{"kind": "dir", "path": "project", "sha256": good}] * 3)
    assert len(load_tasks(path)) == 3
    path = write_tasks(tmp_path, {"kind": "dir", "path": "project", "sha256": SHA})
    with pytest.raises(BadRequest, match="tasks.jsonl:1: source.sha256"):
        load_tasks(path)


def test_tree_digest_sees_content_names_modes_and_links_not_times(tmp_path: Path) -> None:
    root = tmp_path / "t"
    (root / "sub").mkdir(parents=True)
    (root / "sub" / "f").write_text("x")
    (root / "link").symlink_to("sub")
    first = tree_digest(root)
    os.utime(root / "sub" / "f", (0, 0))
    assert tree_digest(root) == first
    (root / "sub" / "f").chmod(0o755)
    assert tree_digest(root) != first
    (root / "sub" / "f").chmod(0o644)
    (root / "link").unlink()
    (root / "link").symlink_to("elsewhere")
    assert tree_digest(root) != first


def test_tree_digest_length_prefixes_so_contents_cannot_forge_entries(tmp_path: Path) -> None:
    one, two = tmp_path / "one", tmp_path / "two"
    one.mkdir()
    two.mkdir()
    (one / "a").write_bytes(b"x\0Fb\0y")  # the old encoding of {a: x, b: y} inside a's content
    (two / "a").write_bytes(b"x")
    (two / "b").write_bytes(b"y")
    assert tree_digest(one) != tree_digest(two)


def _digest_as(uid: int, root: Path) -> str:
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        try:
            os.close(read)
            os.setgid(uid)
            os.setuid(uid)
            os.write(write, tree_digest(root).encode())
        finally:
            os._exit(0)
    os.close(write)
    with os.fdopen(read) as f:
        out = f.read()
    os.waitpid(pid, 0)
    return out


@pytest.mark.skipif(os.geteuid() != 0, reason="reads the tree as another user")
def test_tree_digest_takes_the_exec_bit_from_the_mode_not_the_caller(tmp_path: Path) -> None:
    root = Path(tempfile.mkdtemp(dir="/tmp"))
    try:
        root.chmod(0o755)
        (root / "run").write_text("#!/bin/sh\n")
        (root / "run").chmod(0o744)  # executable for its owner (root) only
        mine = tree_digest(root)
        assert _digest_as(65534, root) == mine, "nobody sees the same digest as the owner"
        (root / "run").chmod(0o644)
        assert tree_digest(root) != mine
    finally:
        shutil.rmtree(root)


def test_materialize_dir_checks_the_digest(tmp_path: Path) -> None:
    (tmp_path / "p").mkdir()
    (tmp_path / "p" / "x").write_text("1")
    source = Source(kind="dir", path="p", sha256=tree_digest(tmp_path / "p"))
    assert materialize(source, tmp_path, cache=tmp_path / "cache") == (tmp_path / "p").resolve()
    with pytest.raises(BadRequest, match="source.sha256") as err:
        materialize(source.model_copy(update={"sha256": SHA}), tmp_path, cache=tmp_path / "cache")
    assert err.value.details["expected"] == SHA
    with pytest.raises(BadRequest, match="source.path"):
        materialize(Source(kind="dir", path="missing"), tmp_path)


def test_materialize_remote_without_sha256_names_the_field() -> None:
    with pytest.raises(BadRequest, match="source.sha256: .*lanser bench source fetch pypi:six==1.16.0"):
        materialize(Source.parse("pypi:six==1.16.0"), Path("."))


def test_deb_src_lines_mirror_the_release_entries(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LANSER_DEBIAN_MIRROR", raising=False)
    (tmp_path / "sources.list.d").mkdir()
    (tmp_path / "sources.list.d" / "debian.sources").write_text(
        "Types: deb\nURIs: http://mirror.example/debian\nSuites: bookworm bookworm-updates\nComponents: main\n"
        "Signed-By: /usr/share/keyrings/k.gpg\n\n"
        "Types: deb\nURIs: http://mirror.example/debian-security\nSuites: bookworm-security\nComponents: main\n"
    )
    (tmp_path / "sources.list").write_text(
        "deb [arch=amd64] http://other.example/apt stable main\ndeb http://old.example/debian bullseye main\n"
    )
    assert deb_src_lines(tmp_path) == [
        "deb-src [signed-by=/usr/share/keyrings/k.gpg] http://mirror.example/debian bookworm main",
        "deb-src [signed-by=/usr/share/keyrings/k.gpg] http://mirror.example/debian bookworm-updates main",
        "deb-src http://mirror.example/debian-security bookworm-security main",
    ]
