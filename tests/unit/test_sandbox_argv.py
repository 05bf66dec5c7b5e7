"""The language servers' sandbox (lanser/lsp/sandbox.py): argv, modes, and what each server's spec lets it see."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from lanser.errors import BadRequest
from lanser.lsp import registry
from lanser.lsp.sandbox import Sandbox, bwrap_argv, mode, server_env, unusable

LINKS = {"/bin": "usr/bin", "/lib": "usr/lib", "/lib64": "usr/lib64", "/sbin": "usr/sbin"}
PRESENT = {"/usr", "/etc/ld.so.cache", *LINKS}


def argv(sandbox: Sandbox, cwd: str = "/tmp/t/ws") -> list[str]:
    return bwrap_argv(
        "/usr/bin/bwrap", ["srv", "--stdio"], cwd=cwd, sandbox=sandbox, lexists=PRESENT.__contains__, readlink=LINKS.get
    )


def mounts(args: list[str]) -> dict[str, str]:
    """destination -> how it is mounted."""
    out = {}
    for i, a in enumerate(args):
        if a in ("--ro-bind", "--bind"):
            out[args[i + 2]] = a
        elif a == "--symlink":
            out[args[i + 2]] = "symlink:" + args[i + 1]
        elif a in ("--tmpfs", "--proc", "--dev"):
            out[args[i + 1]] = a
    return out


def test_the_server_sees_the_workspace_read_only_the_system_and_nothing_else() -> None:
    args = argv(Sandbox(read_only=("/opt/srv",), writable=("/root/.cache/lanser/clangd/k",)))
    assert args[0] == "/usr/bin/bwrap" and args[-3:] == ["--", "srv", "--stdio"]
    assert mounts(args) == {
        "/dev": "--dev",
        "/tmp": "--tmpfs",
        "/usr": "--ro-bind",
        "/etc/ld.so.cache": "--ro-bind",
        "/bin": "symlink:usr/bin",
        "/lib": "symlink:usr/lib",
        "/lib64": "symlink:usr/lib64",
        "/sbin": "symlink:usr/sbin",
        "/opt/srv": "--ro-bind",
        "/tmp/t/ws": "--ro-bind",
        "/root/.cache/lanser/clangd/k": "--bind",
    }
    for flag in ("--unshare-net", "--unshare-ipc", "--unshare-user-try", "--die-with-parent", "--new-session"):
        assert flag in args
    assert "/proc" not in args and "--unshare-pid" not in args
    own = argv(Sandbox(own_pids=True))
    assert mounts(own)["/proc"] == "--proc" and "--unshare-pid" in own
    assert args[args.index("--cap-drop") + 1] == "ALL"
    assert args[args.index("--chdir") + 1] == "/tmp/t/ws"
    # the private /tmp comes before the workspace bound under it, or it would hide it
    assert args.index("--tmpfs") < args.index("/tmp/t/ws")


def test_parents_are_mounted_before_children_and_system_paths_are_not_bound_twice() -> None:
    args = argv(Sandbox(read_only=("/a/b/c", "/a", "/usr/lib/x", "relative"), writable=("/a/b/w",)), cwd="/a/b")
    binds = [(args[i + 1], a) for i, a in enumerate(args) if a in ("--ro-bind", "--bind")]
    assert binds == [
        ("/usr", "--ro-bind"),
        ("/etc/ld.so.cache", "--ro-bind"),
        ("/a", "--ro-bind"),
        ("/a/b/w", "--bind"),
    ]


def test_the_environment_is_lanser_free() -> None:
    env = server_env()
    assert set(env) == {"PATH", "HOME", "TMPDIR", "LANG"} and env["HOME"] == "/tmp"


def test_modes() -> None:
    assert mode({}) == "auto"
    assert mode({"LANSER_SANDBOX": "Require"}) == "require"
    assert mode({"LANSER_SANDBOX": "off"}) == "off"
    with pytest.raises(BadRequest):
        mode({"LANSER_SANDBOX": "maybe"})


def test_unusable_says_why() -> None:
    assert unusable(0, "", "/usr/bin/bwrap") is None
    assert unusable(None, "", None) == "bwrap not found (install bubblewrap)"
    why = unusable(1, "bwrap: No permissions to creating new namespace\nmore\n", "/usr/bin/bwrap")
    assert why == "bwrap does not work here: bwrap: No permissions to creating new namespace"


def test_real_servers_are_sandboxed_with_their_install_and_fakes_are_not() -> None:
    clangd = registry.server_for_language("c", check_pin=False)
    box = clangd.sandbox()
    assert box is not None and box.writable == () and box.own_pids
    assert Path(clangd.command[0]).is_relative_to(box.read_only[0])
    assert not any(a.startswith("--query-driver") for a in clangd.command)
    with_db = dataclasses.replace(clangd, command=(*clangd.command, "--compile-commands-dir=/c/d"))
    box = with_db.sandbox()
    assert box is not None and box.writable == ("/c/d",)
    py = registry.server_for_language("python", check_pin=False)
    box = py.sandbox()
    assert box is not None and not box.own_pids
    for path in py.command[:2]:
        assert any(Path(path).is_relative_to(d) for d in box.read_only), path
    assert dataclasses.replace(py, overridden=True).sandbox() is None


def test_an_interpreter_named_with_python_is_visible_to_basedpyright(tmp_path: Path) -> None:
    base = tmp_path / "opt" / "py3.12"
    (base / "bin").mkdir(parents=True)
    (base / "bin" / "python3.12").write_text("")
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    (venv / "bin" / "python").symlink_to(base / "bin" / "python3.12")
    py = registry.server_for_language("python", check_pin=False)
    stdlib = str(base / "lib" / "python3.12")
    (base / "lib" / "python3.12").mkdir(parents=True)
    missing = str(tmp_path / "no-such-site-packages")
    seen = registry.seeing_interpreter(py, str(venv / "bin" / "python"), str(venv), stdlib, missing, "")
    box = seen.sandbox()
    real = str(base / "bin" / "python3.12")
    assert box is not None and box.read_only[-4:] == (str(base), real, str(venv), stdlib)
    # a path that does not exist is not bound: bwrap would refuse to start the server
    assert missing not in box.read_only
    gone = registry.seeing_interpreter(py, "/nonexistent-python").sandbox()
    assert gone is not None and "/nonexistent-python" not in gone.read_only
    # a wrapper script in ~/bin: its file, not all of ~
    home = tmp_path / "home"
    (home / "bin").mkdir(parents=True)
    (home / "bin" / "python").write_text("#!/bin/sh\n")
    box = registry.seeing_interpreter(py, str(home / "bin" / "python"), "/usr/lib/python3.11").sandbox()
    assert box is not None and str(home) not in box.read_only and str(home / "bin" / "python") in box.read_only
    clangd = registry.server_for_language("c", check_pin=False)
    assert registry.seeing_interpreter(clangd, str(venv / "bin" / "python")) is clangd
