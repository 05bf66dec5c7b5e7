"""Hostile workspaces point the language servers at host files (helper D, session 6).

lanser's own reads are jailed (tests/integration/test_hostile_reads.py); these
attacks go through the servers instead.  A secret directory beside the
workspace holds a C header and a Python module with a unique token, and the
workspace tries every route a server offers to read it: ``#include`` of an
absolute or climbing path, ``-I`` / ``-isystem`` / ``-include`` / ``--sysroot``
/ response files in compile_commands.json, compile_flags.txt, a ``.clangd``
file, symlinks out; basedpyright's ``extraPaths``, ``stubPath``,
``venvPath``, ``executionEnvironments`` (pyrightconfig.json and pyproject).
No bundle (diagnostics, hover, definition, references, symbols) may carry the
token or a location in the secret directory.  Executables the workspace names
(a compiler in the database, a venv's python) are never run.
"""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.integration

TOKEN = "lanser_host_secret_7f3a9c"

C_SECRET = f"{TOKEN}_type leak_here;\n/** {TOKEN} in a comment */\nint lanser_secret_fn(void);\n"
PY_SECRET = (
    f'"""{TOKEN} module docstring."""\n\n'
    f'SECRET_CONST = "{TOKEN}"\n\n\n'
    f'def secret_fn() -> str:\n    """{TOKEN} function docstring."""\n    return SECRET_CONST\n'
)
#: The workspace file that uses the secret, and the cursor on the use.
C_USE = "int main(void) {{ return lanser_secret_fn(); }}\n"
C_CURSOR = "a.c@L2:C25"
PY_USE = "import secretmod\n\nsecretmod.secret_fn()\n"
PY_CURSORS = ("main.py@L3:C11", "main.py@L1:C8")


@pytest.fixture
def host(tmp_path: Path) -> Path:
    """The host's secrets, outside the workspace: a header, a Python module, a venv, a stub dir."""
    out = tmp_path / "outside"
    (out / "inc").mkdir(parents=True)
    (out / "inc" / "secret.h").write_text(C_SECRET)
    (out / "sysroot" / "usr" / "include").mkdir(parents=True)
    (out / "sysroot" / "usr" / "include" / "secret.h").write_text(C_SECRET)
    (out / "flags.rsp").write_text(f"-I{out / 'inc'}\n")
    (out / "pyhost").mkdir()
    (out / "pyhost" / "secretmod.py").write_text(PY_SECRET)
    (out / "stubs").mkdir()
    (out / "stubs" / "secretmod.pyi").write_text(PY_SECRET)
    site = out / "venvs" / "v" / "lib" / "python3.11" / "site-packages"
    site.mkdir(parents=True)
    (site / "secretmod.py").write_text(PY_SECRET)
    (out / "venvs" / "v" / "pyvenv.cfg").write_text("home = /usr/bin\nversion = 3.11.7\n")
    return out


@pytest.fixture
def ws(tmp_path: Path) -> Path:
    ws = tmp_path / "ws"
    ws.mkdir()
    return ws


def _cdb(ws: Path, *flags: str) -> None:
    entry = {"directory": str(ws), "file": "a.c", "arguments": ["clang", "-std=c99", *flags, "-c", "a.c"]}
    (ws / "compile_commands.json").write_text(json.dumps([entry]))


def _c_source(ws: Path, include: str | None) -> None:
    first = f"#include {include}\n" if include else "/* the database brings the header in */\n"
    (ws / "a.c").write_text(first + C_USE.format())


# Each route writes the workspace's files; the secret directory is ``host``.
C_ROUTES: dict[str, Callable[[Path, Path], None]] = {
    "include-absolute": lambda ws, host: _c_source(ws, f'"{host}/inc/secret.h"'),
    "include-climbing": lambda ws, host: _c_source(ws, '"../outside/inc/secret.h"'),
    "cdb-I": lambda ws, host: (_c_source(ws, '"secret.h"'), _cdb(ws, f"-I{host}/inc")),
    "cdb-I-separate": lambda ws, host: (_c_source(ws, '"secret.h"'), _cdb(ws, "-I", f"{host}/inc")),
    "cdb-isystem": lambda ws, host: (_c_source(ws, "<secret.h>"), _cdb(ws, "-isystem", f"{host}/inc")),
    "cdb-iquote": lambda ws, host: (_c_source(ws, '"secret.h"'), _cdb(ws, f"-iquote{host}/inc")),
    "cdb-include": lambda ws, host: (_c_source(ws, None), _cdb(ws, "-include", f"{host}/inc/secret.h")),
    "cdb-sysroot": lambda ws, host: (_c_source(ws, "<secret.h>"), _cdb(ws, f"--sysroot={host}/sysroot")),
    "cdb-response-file": lambda ws, host: (_c_source(ws, '"secret.h"'), _cdb(ws, f"@{host}/flags.rsp")),
    "cdb-Xclang": lambda ws, host: (
        _c_source(ws, None),
        _cdb(ws, "-Xclang", "-include", "-Xclang", f"{host}/inc/secret.h"),
    ),
    "compile-flags-txt": lambda ws, host: (
        _c_source(ws, '"secret.h"'),
        (ws / "compile_flags.txt").write_text(f"-std=c99\n-I{host}/inc\n"),
    ),
    "dot-clangd": lambda ws, host: (
        _c_source(ws, '"secret.h"'),
        (ws / ".clangd").write_text(f"CompileFlags:\n  Add: [-I{host}/inc]\n"),
    ),
    "symlink-dir": lambda ws, host: (_c_source(ws, '"inc/secret.h"'), (ws / "inc").symlink_to(host / "inc")),
    "symlink-file": lambda ws, host: (
        _c_source(ws, '"secret.h"'),
        (ws / "secret.h").symlink_to(host / "inc" / "secret.h"),
    ),
}


def _pyconfig(ws: Path, config: dict[str, Any]) -> None:
    (ws / "pyrightconfig.json").write_text(json.dumps(config))


PY_ROUTES: dict[str, Callable[[Path, Path], None]] = {
    "extraPaths": lambda ws, host: _pyconfig(ws, {"extraPaths": [str(host / "pyhost")]}),
    "extraPaths-climbing": lambda ws, host: _pyconfig(ws, {"extraPaths": ["../outside/pyhost"]}),
    "pyproject-extraPaths": lambda ws, host: (ws / "pyproject.toml").write_text(
        f'[project]\nname = "x"\nversion = "0"\n\n[tool.basedpyright]\nextraPaths = ["{host / "pyhost"}"]\n'
    ),
    "stubPath": lambda ws, host: _pyconfig(ws, {"stubPath": str(host / "stubs")}),
    "venvPath": lambda ws, host: _pyconfig(ws, {"venvPath": str(host / "venvs"), "venv": "v"}),
    "executionEnvironments": lambda ws, host: _pyconfig(
        ws, {"executionEnvironments": [{"root": ".", "extraPaths": [str(host / "pyhost")]}]}
    ),
    "symlink-module": lambda ws, host: (ws / "secretmod.py").symlink_to(host / "pyhost" / "secretmod.py"),
}


def _paths(data: Any) -> list[str]:
    """Every location path in a bundle (``path`` and ``uri`` values, at any depth)."""
    if isinstance(data, dict):
        own = [v for k, v in data.items() if k in ("path", "uri") and isinstance(v, str)]
        return own + [p for v in data.values() for p in _paths(v)]
    if isinstance(data, list):
        return [p for v in data for p in _paths(v)]
    return []


def _leaks(host: Path, bundles: list[dict[str, Any]]) -> list[str]:
    """The token anywhere, or a location in the secret directory (its name may appear in a message
    quoting the workspace's own text, as in "'<path>' file not found")."""
    found = ["token"] if TOKEN in json.dumps(bundles) else []
    found += [p for p in _paths(bundles) if str(host) in p or "outside" in p]
    return found


def _ask(run_json: Any, ws: Path, *requests: tuple[str, ...]) -> list[dict[str, Any]]:
    bundles = []
    for args in requests:
        _code, out = run_json("-w", str(ws), *args)
        # an answer (or "nothing there"), never a server that could not start in its sandbox
        assert out.get("error", {}).get("code") in (None, "E/NOT_FOUND"), out
        bundles.append(out)
    return bundles


@pytest.mark.parametrize("route", sorted(C_ROUTES))
def test_clangd_never_reads_a_host_file_the_workspace_points_at(
    ws: Path, host: Path, run_json: Any, route: str
) -> None:
    C_ROUTES[route](ws, host)
    bundles = _ask(run_json, ws, ("diag", "a.c"), ("hover", C_CURSOR), ("def", C_CURSOR))
    assert _leaks(host, bundles) == [], bundles


def test_clangd_references_and_symbols_stay_out_of_the_host(ws: Path, host: Path, run_json: Any) -> None:
    C_ROUTES["cdb-I"](ws, host)
    bundles = _ask(run_json, ws, ("refs", C_CURSOR), ("symbols", "--query", "lanser_secret", "--language", "c"))
    assert _leaks(host, bundles) == [], bundles


@pytest.mark.parametrize("route", sorted(PY_ROUTES))
def test_basedpyright_never_reads_a_host_module_the_workspace_points_at(
    ws: Path, host: Path, run_json: Any, route: str
) -> None:
    (ws / "main.py").write_text(PY_USE)
    PY_ROUTES[route](ws, host)
    requests = [("diag", "main.py")] + [(cmd, c) for c in PY_CURSORS for cmd in ("hover", "def")]
    bundles = _ask(run_json, ws, *requests)
    assert _leaks(host, bundles) == [], bundles


def test_basedpyright_references_and_symbols_stay_out_of_the_host(ws: Path, host: Path, run_json: Any) -> None:
    (ws / "main.py").write_text(PY_USE)
    PY_ROUTES["extraPaths"](ws, host)
    bundles = _ask(run_json, ws, ("refs", PY_CURSORS[0]), ("symbols", "--query", "secret_fn", "--language", "python"))
    assert _leaks(host, bundles) == [], bundles


def _tattletale(path: Path, marker: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"#!/bin/sh\ntouch {marker}\nexit 1\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)


def test_no_executable_the_workspace_names_is_run(ws: Path, host: Path, run_json: Any) -> None:
    """A compiler in the database or in ``.clangd``, a venv's python in the config: none runs."""
    marker = host / "ran"
    _tattletale(ws / "tools" / "cc", marker)
    _tattletale(ws / "venvs" / "v" / "bin" / "python", marker)
    _tattletale(ws / ".venv" / "bin" / "python", marker)
    (ws / "venvs" / "v" / "lib" / "python3.11" / "site-packages").mkdir(parents=True)
    (ws / ".venv" / "lib" / "python3.11" / "site-packages").mkdir(parents=True)
    (ws / "a.c").write_text("int f(void) { return 1; }\nint main(void) { return f(); }\n")
    (ws / "compile_commands.json").write_text(
        json.dumps([{"directory": str(ws), "file": "a.c", "command": f"{ws}/tools/cc -c a.c"}])
    )
    (ws / ".clangd").write_text(f"CompileFlags:\n  Compiler: {ws}/tools/cc\n")
    _pyconfig(ws, {"venvPath": "venvs", "venv": "v"})
    (ws / "main.py").write_text("def g() -> int:\n    return 1\n\n\ng()\n")
    _ask(run_json, ws, ("diag", "a.c"), ("def", "a.c@L2:C25"), ("diag", "main.py"), ("def", "main.py@L5:C1"))
    assert not marker.exists()


# -- the sandbox itself, and what happens without it ----------------------------------------------


def test_bundles_say_the_server_ran_in_the_sandbox(ws: Path, run_json: Any) -> None:
    (ws / "a.c").write_text('#include <stdio.h>\nint main(void) { return puts("x"); }\n')
    (ws / "m.py").write_text("import json\nimport rich\n\n_ = json.dumps(rich.print)\n")
    for selector in ("a.c", "m.py"):
        code, out = run_json("-w", str(ws), "diag", selector)
        assert code == 0, out
        assert out["environment"]["host"]["sandbox"] == "bwrap", "bubblewrap must work here (scripts/source-tools)"
        assert out["facts"]["diagnostics"][0]["diagnostics"] == [], out
    # what the servers need outside the workspace is there: system headers, the stdlib, site-packages
    for selector, root in (
        ("a.c@L2:C26", "/usr/include/"),
        ("m.py@L4:C10", "typeshed"),
        ("m.py@L4:C21", "site-packages"),
    ):
        code, out = run_json("-w", str(ws), "def", selector)
        assert code == 0 and out["facts"]["definitions"], out
        assert root in json.dumps(out["facts"]["definitions"]), out


@pytest.fixture
def no_bwrap(monkeypatch: pytest.MonkeyPatch) -> None:
    """This process believes bubblewrap cannot run here (as on a host without it)."""
    from lanser.lsp import process

    monkeypatch.setattr(process, "_PROBED", (None, "bwrap not found (test)"))


def test_without_bwrap_servers_run_unsandboxed_and_bundles_say_so(ws: Path, run_json: Any, no_bwrap: None) -> None:
    (ws / "a.c").write_text("int f(void) { return 1; }\n")
    code, out = run_json("-w", str(ws), "diag", "a.c")
    assert code == 0, out
    assert out["environment"]["host"]["sandbox"] == "none: bwrap not found (test)"


@pytest.mark.parametrize("route", ["extraPaths", "stubPath", "pyproject-extraPaths", "compile-flags-txt"])
def test_without_bwrap_a_config_pointing_outside_is_refused(
    ws: Path, host: Path, run_json: Any, no_bwrap: None, route: str
) -> None:
    (ws / "main.py").write_text(PY_USE)
    (PY_ROUTES if route in PY_ROUTES else C_ROUTES)[route](ws, host)
    code, out = run_json("-w", str(ws), "hover", C_CURSOR if route in C_ROUTES else PY_CURSORS[0])
    assert code == 71, out
    assert out["error"]["code"] == "E/FS_PERMISSIONS" and "cannot be sandboxed" in out["error"]["message"]
    assert TOKEN not in json.dumps(out)


def test_require_refuses_any_server_without_bwrap(
    ws: Path, run_json: Any, no_bwrap: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LANSER_SANDBOX", "require")
    (ws / "a.c").write_text("int f(void) { return 1; }\n")
    code, out = run_json("-w", str(ws), "diag", "a.c")
    assert code == 71, out
    assert "LANSER_SANDBOX=require" in out["error"]["message"]


def test_off_runs_unsandboxed(ws: Path, run_json: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LANSER_SANDBOX", "off")
    (ws / "a.c").write_text("int f(void) { return 1; }\n")
    code, out = run_json("-w", str(ws), "diag", "a.c")
    assert code == 0 and out["environment"]["host"]["sandbox"] == "none: LANSER_SANDBOX=off", out


def _descendants(pid: int) -> set[int]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat_line = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            ppid = int(stat_line.rsplit(")", 1)[1].split()[1])
            children.setdefault(ppid, []).append(int(entry))
    out, todo = set(), [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            out.add(child)
            todo.append(child)
    return out


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@pytest.mark.parametrize("own_pids", [False, True])
def test_a_sandboxed_process_sees_only_what_it_is_given_and_dies_with_its_session(
    ws: Path, host: Path, own_pids: bool
) -> None:
    import asyncio

    from lanser.lsp.process import spawn
    from lanser.lsp.sandbox import Sandbox

    (ws / "own.txt").write_text("mine\n")
    script = (
        f"cat own.txt; cat {host}/inc/secret.h; ls /root /home /work /etc/passwd; touch own.txt; "
        "echo x > /tmp/t && echo tmp-writable; cat /proc/1/environ | tr '\\0' '\\n' | grep -c LANSER; "
        "(exec 3<>/dev/tcp/127.0.0.1/1) 2>/dev/null; echo env=$HOME; sleep 300"
    )

    async def run() -> tuple[str, set[int], int]:
        proc = await spawn(["/bin/bash", "-c", script], cwd=str(ws), sandbox=Sandbox(own_pids=own_pids))
        assert proc.sandbox == "bwrap"
        assert proc.proc.stdout is not None
        lines = []
        while len(lines) < 4:
            lines.append((await asyncio.wait_for(proc.proc.stdout.readline(), 30)).decode())
        await asyncio.sleep(0.2)
        inside = _descendants(proc.pid)
        await proc.close()
        await asyncio.sleep(0.2)
        return "".join(lines), inside, proc.pid

    out, inside, pid = asyncio.run(run())
    assert out.splitlines() == ["mine", "tmp-writable", "0", "env=/tmp"], out
    assert inside, "bwrap runs the command as its child"
    assert not [p for p in inside | {pid} if _alive(p)]


@pytest.mark.parametrize("chosen", ["auto", "off"])
def test_an_unsandboxed_server_gets_none_of_lanser_s_secrets(
    ws: Path, no_bwrap: None, monkeypatch: pytest.MonkeyPatch, chosen: str
) -> None:
    """Where bwrap cannot run (``auto`` falls back) or is switched off, the server still gets a
    minimal environment: a CI runner's tokens in lanser's environment never reach it."""
    import asyncio

    from lanser.lsp.process import spawn
    from lanser.lsp.sandbox import Sandbox

    monkeypatch.setenv("LANSER_SANDBOX", chosen)
    monkeypatch.setenv("GITHUB_TOKEN", TOKEN)
    monkeypatch.setenv("OPENAI_API_KEY", TOKEN)
    monkeypatch.setenv("LD_PRELOAD", "")

    async def run() -> tuple[str | None, dict[str, str]]:
        proc = await spawn(["/usr/bin/env", "-0"], cwd=str(ws), sandbox=Sandbox())
        assert proc.proc.stdout is not None
        raw = await asyncio.wait_for(proc.proc.stdout.read(), 30)
        await proc.close()
        pairs = (item.partition("=") for item in raw.decode().split("\0") if item)
        return proc.sandbox, {k: v for k, _, v in pairs}

    label, env = asyncio.run(run())
    assert label is not None and label.startswith("none: "), label
    assert TOKEN not in json.dumps(env), sorted(env)
    assert not {"GITHUB_TOKEN", "OPENAI_API_KEY", "LD_PRELOAD"} & set(env), sorted(env)
    # What a server needs of the host to run at all is kept: the search path and a home.
    assert env.get("PATH") == os.environ["PATH"] and env.get("HOME") == os.environ["HOME"], env
