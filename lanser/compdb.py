"""A workspace's compilation database, read as hostile input (pure but for the jailed read).

``compile_commands.json`` comes from the repository.  lanser hands clangd a
copy, and clangd's background index parses every file the copy names: an
entry naming ``/etc/...`` (or a database that is a symlink to a host file)
would have clangd read host files and answer with what it found there.  So
the database is read through the workspace jail, and only well-formed
entries whose file lies inside the workspace are kept.  A database that is
not JSON, not a list or outside the workspace is ignored as a whole (as
clangd ignores one it cannot parse): clangd then falls back to its
defaults, never to an error of lanser's.

Each kept entry's arguments are sanitised too (:func:`sanitize_arguments`):
flags that make clang read a file or directory (``-I``, ``-isystem``,
``-include``, ``--sysroot``, ``-ivfsoverlay``, ...) are dropped when the path
lies outside the workspace and the system include directories; flags that
load code or pass arguments past the driver (``-Xclang``, ``-load``,
``-fplugin``, ``-Xpreprocessor``, ``-Wp,``, ``-mllvm``) and response files
(``@file``) are always dropped.  This is defence in depth: the language
servers run in a sandbox that does not hold the host's files
(lanser.lsp.sandbox), and it also covers a host where the sandbox cannot run.
"""

from __future__ import annotations

import json
import os
import shlex
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lanser.errors import FsPermissions

if TYPE_CHECKING:
    from lanser.workspace import Workspace

__all__ = ["SYSTEM_INCLUDE_DIRS", "entries", "flags_escapes", "sanitize_arguments"]


def entries(ws: Workspace, cdb: Path) -> list[dict[str, Any]]:
    """The entries of ``cdb`` clangd may see, with ``directory`` made absolute."""
    root = str(ws.root)
    try:
        rel = os.path.relpath(os.path.realpath(cdb), root)
        if rel.startswith(".."):
            return []
        raw = json.loads(ws.read_bytes(rel).decode("utf-8"))
    except (OSError, ValueError, RecursionError, FsPermissions):
        return []
    if not isinstance(raw, list):
        return []
    base = cdb.parent
    out = []
    for entry in raw:
        if not _well_formed(entry):
            continue
        directory = Path(entry.get("directory", "."))
        if not directory.is_absolute():
            directory = (base / directory).resolve()
        file = os.path.realpath(os.path.join(directory, entry["file"]))
        if not (file == root or file.startswith(root.rstrip("/") + "/")):
            continue  # a file outside the workspace: clangd's index must not parse it
        clean = _sanitized({**entry, "directory": str(directory)}, root)
        if clean is not None:
            out.append(clean)
    return out


#: Directories outside the workspace whose headers a compile command may name: not secrets, and
#: C code needs them (libc's, the compiler's).
SYSTEM_INCLUDE_DIRS: tuple[str, ...] = ("/usr/include", "/usr/local/include", "/usr/lib/gcc", "/usr/lib/clang")

#: Flags whose value is a path clang reads, written either joined (``-I/x``) or as the next argument.
_PATH_FLAGS: tuple[str, ...] = (
    "-I",
    "-F",
    "-B",
    "-isystem",
    "-isystem-after",
    "-iquote",
    "-idirafter",
    "-include",
    "-imacros",
    "-isysroot",
    "-iprefix",
    "-iwithprefix",
    "-iwithprefixbefore",
    "-iwithsysroot",
    "-iframework",
    "-iframeworkwithsysroot",
    "-cxx-isystem",
    "-ivfsoverlay",
    "-include-pch",
    "-resource-dir",
    "--sysroot",
    "--gcc-toolchain",
    "--gcc-install-dir",
    "--config",
    "--include-directory",
    "--include-directory-after",
    "--include-prefix",
    "--include",
    "--imacros",
    "--system-header-prefix",
)
#: Flags spelled ``-flag=path`` only.
_PATH_EQ_FLAGS: tuple[str, ...] = (
    "-fmodule-map-file=",
    "-fmodule-file=",
    "-fmodules-cache-path=",
    "-fprebuilt-module-path=",
    "-fprofile-use=",
    "-fprofile-instr-use=",
    "-fprofile-sample-use=",
    "-fprofile-list=",
    "-fsanitize-ignorelist=",
    "-fsanitize-blacklist=",
    "-fsanitize-coverage-allowlist=",
    "-fsanitize-coverage-ignorelist=",
    "-fxray-attr-list=",
    "-fxray-always-instrument=",
    "-fxray-never-instrument=",
    "-fcrash-diagnostics-dir=",
)
#: Flags dropped with the argument after them, whatever it says: code loading and arguments passed past the driver.
_DROP_WITH_NEXT = frozenset({"-Xclang", "-load", "-plugin", "-Xpreprocessor", "-mllvm", "-add-plugin"})
#: Prefixes of single arguments always dropped.
_DROP_PREFIXES: tuple[str, ...] = ("-fplugin=", "-fpass-plugin=", "-fplugin-arg-", "-Wp,", "-Xclang=", "@")
#: Where a compiler named by absolute path may live (clangd never runs it: lanser passes no
#: --query-driver, but the driver looks for GCC's headers next to it).
_COMPILER_DIRS: tuple[str, ...] = ("/usr/", "/bin/")


def _inside(path: str, dirs: tuple[str, ...]) -> bool:
    return any(path == d or path.startswith(d.rstrip("/") + "/") for d in dirs)


def sanitize_arguments(
    args: list[str],
    root: str,
    directory: str,
    *,
    resolve: Callable[[str], str] = os.path.realpath,
    system: tuple[str, ...] = SYSTEM_INCLUDE_DIRS,
) -> list[str]:
    """``args`` (a compile command, argv[0] first) without what would have clang read outside
    ``root`` and ``system``, or load code; paths are taken relative to ``directory`` and
    ``resolve``d (symlinks followed) before the check."""
    allowed = (root, *system)

    def ok(value: str) -> bool:
        if not value or "\0" in value:
            return False
        if value.startswith("="):  # -I=dir: relative to the sysroot, which is itself checked
            value = value[1:]
        return _inside(resolve(os.path.join(directory, value)), allowed)

    out: list[str] = []
    if args:
        compiler = args[0]
        if (
            os.path.isabs(compiler)
            and not _inside(resolve(compiler), (root,))
            and not compiler.startswith(_COMPILER_DIRS)
        ):
            compiler = os.path.basename(compiler)  # the name still says the target (arm-linux-gnueabi-gcc)
        out.append(compiler)
    i = 1
    while i < len(args):
        arg = args[i]
        i += 1
        if arg in _DROP_WITH_NEXT:
            i += 1
            continue
        if arg.startswith(_DROP_PREFIXES):
            continue
        flag = next((f for f in _PATH_EQ_FLAGS if arg.startswith(f)), None)
        if flag is not None:
            if ok(arg[len(flag) :]):
                out.append(arg)
            continue
        if arg in _PATH_FLAGS:  # the path is the next argument
            value = args[i] if i < len(args) else ""
            i += 1
            if ok(value):
                out += [arg, value]
            continue
        flag = next((f for f in sorted(_PATH_FLAGS, key=len, reverse=True) if arg.startswith(f)), None)
        if flag is not None and flag.startswith("--") and not arg.startswith(flag + "="):
            flag = None  # --includefoo is not --include=foo
        if flag is not None:
            value = arg[len(flag) :]
            if value.startswith("=") and flag.startswith("--"):
                value = value[1:]
            if ok(value):
                out.append(arg)
            continue
        out.append(arg)
    return out


def flags_escapes(root: str) -> list[str]:
    """The flags of the workspace's ``compile_flags.txt`` (which clangd reads itself) that
    :func:`sanitize_arguments` would drop: paths outside the workspace, code loading."""
    path = os.path.join(root, "compile_flags.txt")
    try:
        with open(path, "rb") as f:
            lines = f.read(1 << 20).decode("utf-8", "replace").splitlines()
    except OSError:
        return []
    flags = [line.strip() for line in lines if line.strip()]
    kept = sanitize_arguments(["cc", *flags], root, root)[1:]
    dropped = list(flags)
    for flag in kept:
        dropped.remove(flag)
    return [f"compile_flags.txt: {f}" for f in dropped]


def _sanitized(entry: dict[str, Any], root: str) -> dict[str, Any] | None:
    """``entry`` with its arguments sanitised: unchanged (``command`` kept as written) when nothing
    was dropped, None when its command does not split into arguments."""
    args = entry.get("arguments")
    if args is None:
        try:
            args = shlex.split(entry["command"])
        except ValueError:
            return None
    clean = sanitize_arguments(list(args), root, entry["directory"])
    if clean == args:
        return entry
    out = {k: v for k, v in entry.items() if k != "command"}
    out["arguments"] = clean
    return out


def _well_formed(entry: Any) -> bool:
    if not isinstance(entry, dict) or not isinstance(entry.get("file"), str) or "\0" in entry["file"]:
        return False
    directory = entry.get("directory", ".")
    if not isinstance(directory, str) or "\0" in directory:
        return False
    command, arguments = entry.get("command"), entry.get("arguments")
    if command is not None and not isinstance(command, str):
        return False
    if arguments is not None and not (isinstance(arguments, list) and all(isinstance(a, str) for a in arguments)):
        return False
    return command is not None or arguments is not None
