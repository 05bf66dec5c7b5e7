"""Compile-command sanitising (lanser/compdb.py): flags that would have clang read host files or
load code are dropped; the workspace's own and the system's include directories stay."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from lanser.compdb import entries, sanitize_arguments
from lanser.workspace import Workspace

ROOT = "/ws"


def clean(*args: str, directory: str = ROOT) -> list[str]:
    return sanitize_arguments(["cc", *args], ROOT, directory, resolve=os.path.normpath)


@pytest.mark.parametrize(
    "flags",
    [
        ["-I/etc"],
        ["-I", "/etc"],
        ["-I../secret"],
        ["-I", "../../root/.ssh"],
        ["-isystem/home/u"],
        ["-isystem", "/home/u"],
        ["-iquote/var/lib"],
        ["-idirafter", "/opt/x"],
        ["-include", "/etc/passwd"],
        ["-include/etc/passwd"],
        ["-imacros", "/etc/shadow"],
        ["--sysroot=/root"],
        ["--sysroot", "/root"],
        ["-isysroot", "/root"],
        ["-ivfsoverlay", "/tmp/overlay.yaml"],
        ["-include-pch", "/tmp/x.pch"],
        ["-fmodule-map-file=/etc/module.modulemap"],
        ["-fprofile-use=/home/u/prof"],
        ["-fsanitize-ignorelist=/etc/passwd"],
        ["--config=/home/u/clang.cfg"],
        ["--config", "/home/u/clang.cfg"],
        ["-resource-dir", "/home/u/clang"],
        ["--gcc-toolchain=/opt/gcc"],
        ["-B/opt/bin"],
        ["-I=/etc"],
    ],
)
def test_path_flags_outside_the_workspace_and_the_system_are_dropped(flags: list[str]) -> None:
    assert clean("-std=c99", *flags, "-c", "a.c") == ["cc", "-std=c99", "-c", "a.c"]


@pytest.mark.parametrize(
    "flags",
    [
        ["-Iinclude"],
        ["-I", "include"],
        ["-I/ws/include"],
        ["-I."],
        ["-isystem", "/usr/include/glib-2.0"],
        ["-isystem/usr/lib/gcc/x86_64-linux-gnu/12/include"],
        ["-include", "config.h"],
        ["-iquote", "src"],
        ["--sysroot=/ws/sysroot"],
        ["-I/usr/local/include"],
        ["-fmodule-map-file=module.modulemap"],
    ],
)
def test_paths_inside_the_workspace_or_the_system_stay(flags: list[str]) -> None:
    assert clean(*flags, "-c", "a.c") == ["cc", *flags, "-c", "a.c"]


def test_relative_paths_are_taken_from_the_entry_directory() -> None:
    assert clean("-I../include", directory="/ws/build") == ["cc", "-I../include"]
    assert clean("-I../../include", directory="/ws/build") == ["cc"]


@pytest.mark.parametrize(
    "flags",
    [
        ["-Xclang", "-load"],
        ["-Xclang", "-include", "-Xclang", "/etc/passwd"],
        ["-load", "/ws/evil.so"],
        ["-fplugin=/ws/evil.so"],
        ["-fpass-plugin=/ws/evil.so"],
        ["-fplugin-arg-evil-x"],
        ["-Xpreprocessor", "-include/etc/passwd"],
        ["-Wp,-include,/etc/passwd"],
        ["-mllvm", "-some-option"],
        ["@/etc/passwd"],
        ["@flags.rsp"],
    ],
)
def test_code_loading_pass_through_and_response_files_are_always_dropped(flags: list[str]) -> None:
    assert clean("-O2", *flags, "-c", "a.c") == ["cc", "-O2", "-c", "a.c"]


def test_ordinary_flags_and_the_compiler_are_kept() -> None:
    args = ["-std=gnu11", "-DX=1", "-Wall", "-O2", "-fno-strict-aliasing", "-c", "a.c", "-o", "a.o"]
    assert clean(*args) == ["cc", *args]
    assert sanitize_arguments(["/usr/bin/gcc", "-c", "a.c"], ROOT, ROOT) == ["/usr/bin/gcc", "-c", "a.c"]


def test_a_compiler_outside_the_workspace_and_the_system_keeps_only_its_name() -> None:
    out = sanitize_arguments(
        ["/home/u/x-tools/bin/arm-linux-gnueabi-gcc", "-c", "a.c"], ROOT, ROOT, resolve=os.path.normpath
    )
    assert out == ["arm-linux-gnueabi-gcc", "-c", "a.c"]


def test_a_symlink_out_of_the_workspace_is_followed_before_the_check(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    ws = tmp_path / "ws"
    ws.mkdir()
    (ws / "inc").symlink_to(outside)
    (ws / "own").mkdir()
    assert sanitize_arguments(["cc", "-Iinc", "-Iown"], str(ws), str(ws)) == ["cc", "-Iown"]


def test_entries_keep_a_clean_command_as_written_and_rewrite_a_hostile_one(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    ws.mkdir()
    (ws / "a.c").write_text("int x;\n")
    (ws / "b.c").write_text("int y;\n")
    cdb = [
        {"directory": ".", "file": "a.c", "command": "cc -Iinclude -c a.c"},
        {"directory": ".", "file": "b.c", "command": f"cc -I{tmp_path} -include /etc/passwd -c b.c"},
        {"directory": ".", "file": "a.c", "command": "cc 'unbalanced -c a.c"},
    ]
    (ws / "compile_commands.json").write_text(json.dumps(cdb))
    got = entries(Workspace(ws), ws / "compile_commands.json")
    assert [e.get("command") for e in got] == ["cc -Iinclude -c a.c", None]
    assert got[1]["arguments"] == ["cc", "-c", "b.c"]
