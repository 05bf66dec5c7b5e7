"""The project layer's pure parts: compile databases made host-portable, the paths a setup
created, their gitignore patterns, git blob ids, and the layer key."""

from __future__ import annotations

import json
from pathlib import Path

from lanser.harness.env.project import _generated, layer_key
from lanser.harness.task.worktree import blob_id, exclude_pattern, portable_compile_commands


def test_container_paths_become_relative(tmp_path: Path) -> None:
    (tmp_path / "build").mkdir()
    cdb = tmp_path / "build" / "compile_commands.json"
    cdb.write_text(
        json.dumps(
            [
                {
                    "directory": "/work/build",
                    "file": "/work/src/a.c",
                    "output": "CMakeFiles/a.o",
                    "command": "/usr/bin/cc -I/work/include -isystem '/work/third party' -o CMakeFiles/a.o -c /work/src/a.c",
                },
                {
                    "directory": "/work/build/sub",
                    "file": "../../src/b.c",
                    "arguments": ["cc", "-I/work/include", "-DX=/worker", "-c", "/work/src/b.c"],
                },
                {"directory": "/elsewhere", "file": "/work/x.c", "arguments": ["cc", "/work/x.c"]},
            ]
        )
    )
    assert portable_compile_commands(cdb, tmp_path) is True
    a, b, other = json.loads(cdb.read_text())
    assert a["directory"] == "." and a["file"] == "../src/a.c" and a["output"] == "CMakeFiles/a.o"
    assert a["command"] == "/usr/bin/cc -I../include -isystem '../third party' -o CMakeFiles/a.o -c ../src/a.c"
    assert b["directory"] == "sub" and b["arguments"] == ["cc", "-I../../include", "-DX=/worker", "-c", "../../src/b.c"]
    assert other == {"directory": "/elsewhere", "file": "/work/x.c", "arguments": ["cc", "/work/x.c"]}, (
        "an entry built outside the work area is left alone"
    )
    assert portable_compile_commands(cdb, tmp_path) is False, "idempotent"


def test_relative_database_at_the_root_is_untouched(tmp_path: Path) -> None:
    cdb = tmp_path / "compile_commands.json"
    text = json.dumps([{"directory": ".", "file": "a.c", "arguments": ["cc", "-c", "a.c"]}])
    cdb.write_text(text)
    assert portable_compile_commands(cdb, tmp_path) is False and cdb.read_text() == text


def test_generated_lists_new_directories_once_and_new_files(tmp_path: Path) -> None:
    src, built = tmp_path / "src", tmp_path / "built"
    for root in (src, built):
        (root / "lib").mkdir(parents=True)
        (root / "lib" / "a.c").write_text("x")
    (built / "lib" / "a.o").write_text("o")
    (built / "build" / "deep").mkdir(parents=True)
    (built / "build" / "deep" / "x.o").write_text("o")
    (built / "config.h").write_text("h")
    assert _generated(src, built) == ["/build/", "/config.h", "/lib/a.o"]


def test_exclude_patterns_escape_glob_characters() -> None:
    assert exclude_pattern("/build/") == "/build/"
    assert exclude_pattern("/odd[1]*name#?!") == "/odd\\[1\\]\\*name\\#\\?\\!"


def test_layer_key_changes_with_each_input() -> None:
    base = layer_key("dir:sha256:1", "sha256:img", "make")
    assert base == layer_key("dir:sha256:1", "sha256:img", "make")
    assert (
        len(
            {
                base,
                layer_key("dir:sha256:2", "sha256:img", "make"),
                layer_key("dir:sha256:1", "sha256:x", "make"),
                layer_key("dir:sha256:1", "sha256:img", "make -j2"),
            }
        )
        == 4
    )


def test_blob_id_is_gits() -> None:
    """forget_blobs finds the objects to drop by this id: it must be git's own."""
    import subprocess

    out = subprocess.run(["git", "hash-object", "--stdin"], input=b"int x;\n", capture_output=True, check=True).stdout
    assert blob_id(b"int x;\n") == out.decode().strip()
