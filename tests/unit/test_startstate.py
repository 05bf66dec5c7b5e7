"""What reset deletes when it cannot rebuild a start state: compiled files git does not track."""

from __future__ import annotations

import os
from pathlib import Path

from lanser.harness.run.startstate import compiled_outputs, scrub

ELF = b"\x7fELF\x02\x01\x01" + b"\0" * 57
AR = b"!<arch>\nmotto.o/        "


def make(tree: Path, files: dict[str, bytes]) -> None:
    for rel, data in files.items():
        (tree / rel).parent.mkdir(parents=True, exist_ok=True)
        (tree / rel).write_bytes(data)


def test_compiled_untracked_files_are_found_by_content_not_name(tmp_path: Path) -> None:
    make(
        tmp_path,
        {
            "build/motto.c.o": ELF,
            "build/libmotto.a": AR,
            "build/run_tests": ELF,  # no suffix: a linked test binary
            "build/thin.a": b"!<thin>\n",
            "build/m.bc": b"BC\xc0\xde\x35\x14",
            "build/pch.h.gch": b"gpch013",
            "build/CMakeCache.txt": b"CMAKE_C_COMPILER:FILEPATH=/usr/bin/cc\n",
            "build/empty": b"",
            "src/motto.c": b"int motto(void) { return 0; }\n",
            "vendor/prebuilt.o": ELF,  # tracked: the project's own file, not an output
            ".git/objects/ab/cdef": ELF,  # git's own files are never walked
        },
    )
    tracked = frozenset({"src/motto.c", "vendor/prebuilt.o"})
    assert compiled_outputs(tmp_path, tracked) == [
        "build/libmotto.a",
        "build/m.bc",
        "build/motto.c.o",
        "build/pch.h.gch",
        "build/run_tests",
        "build/thin.a",
    ]
    assert len(compiled_outputs(tmp_path, tracked, first=True)) == 1


def test_scrub_deletes_them_and_keeps_text_links_and_tracked_files(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    make(outside, {"secret.o": ELF})
    tree = tmp_path / "tree"
    make(tree, {"build/a.o": ELF, "build/notes.txt": b"text\n", "lib/vendor.a": AR})
    (tree / "build" / "link.o").symlink_to(outside / "secret.o")  # never followed, never deleted through
    os.mkfifo(tree / "build" / "pipe")  # opening it must not block
    assert scrub(tree, frozenset({"lib/vendor.a"})) == 1
    assert not (tree / "build" / "a.o").exists()
    assert (tree / "build" / "notes.txt").is_file() and (tree / "lib" / "vendor.a").is_file()
    assert (tree / "build" / "link.o").is_symlink() and (outside / "secret.o").read_bytes() == ELF
    assert compiled_outputs(tree, frozenset({"lib/vendor.a"})) == []
