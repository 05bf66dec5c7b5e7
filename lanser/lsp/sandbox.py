"""Language servers in a bubblewrap sandbox: they see the workspace, not the host.

A workspace is hostile, and the servers read what it points them at
(``#include "/etc/..."``, ``-I`` flags, a ``.clangd`` file, pyright's
``extraPaths``, symlinks out): whatever they read can come back in a
diagnostic's note or a hover.  So each server runs under ``bwrap`` with its
own mount namespace holding only

- the workspace, read-only, at its own path (servers only read it; lanser writes);
- the directories a :class:`Sandbox` names: the server's install directory
  and the interpreter basedpyright asks for search paths, read-only; clangd's
  compilation-database copy (its index lands beside it), writable;
- the system: ``/usr`` and the ``/lib*``, ``/bin``, ``/sbin`` links, the
  dynamic loader's cache, read-only.  System headers under ``/usr/include`` are
  not secrets and C code needs them; ``/etc``, ``/root``, ``/home``, ``/var``,
  ``/work`` and the rest of ``/tmp`` are absent;
- a private ``/tmp`` (the server's ``HOME``) and a minimal ``/dev``; ``/proc`` of
  its own pid namespace for clangd, none for basedpyright (see ``own_pids``);
  no network (a namespace with loopback only), no capabilities, a new
  session, killed with its parent.

The server's environment is a fixed minimal one, not lanser's (``/proc/self/environ``
is readable from inside, and CI tokens live in the environment).  Unsandboxed
(``auto`` without bwrap, or ``off``) it is lanser's cut to what a server needs of the
host (:data:`HOST_KEEP`: the search path, home, locale, temporary and XDG directories).

``LANSER_SANDBOX`` chooses: ``auto`` (default) sandboxes when bwrap works
here and otherwise runs the server unsandboxed, saying so in every bundle
(``environment.host.sandbox``: ``bwrap`` or ``none: <why>``), unless the
workspace's own server configuration points outside it (pyright's path
settings, compile_flags.txt): that is refused (E/FS_PERMISSIONS);
``require`` refuses to start any server without the sandbox; ``off`` never
sandboxes (and checks nothing).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from lanser.errors import BadRequest, FsPermissions

__all__ = [
    "MODE_ENV",
    "SYSTEM_READ_ONLY",
    "Sandbox",
    "bwrap_argv",
    "host_env",
    "mode",
    "server_env",
    "unusable",
]

#: Environment variable choosing the sandbox mode: auto, require or off.
MODE_ENV = "LANSER_SANDBOX"
MODES = ("auto", "require", "off")

#: System paths a server may read: binaries, shared libraries, the loader's cache, system headers.
SYSTEM_READ_ONLY: tuple[str, ...] = (
    "/usr",
    "/bin",
    "/sbin",
    "/lib",
    "/lib32",
    "/lib64",
    "/libx32",
    "/etc/ld.so.cache",
    "/etc/ld.so.conf",
    "/etc/ld.so.conf.d",
)

#: The server's environment inside the sandbox (nothing of lanser's own).
_ENV = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": "/tmp", "TMPDIR": "/tmp", "LANG": "C.UTF-8"}


@dataclass(frozen=True)
class Sandbox:
    """What a server may see besides the workspace and the system."""

    read_only: tuple[str, ...] = ()
    writable: tuple[str, ...] = ()
    #: A pid namespace of its own, with its /proc (clangd finds its resource directory through
    #: /proc/self/exe).  Without one no /proc is mounted, so the host's processes (their
    #: environment, their root directory) are out of reach all the same: basedpyright watches
    #: lanser's pid (initialize's processId) and exits when a pid namespace hides it.
    own_pids: bool = False
    #: Settings of the workspace at the given root that point the server outside it (read by the
    #: server itself, so lanser cannot rewrite them): checked when the sandbox cannot be had.
    escapes: Callable[[str], list[str]] | None = field(default=None, compare=False)


def mode(environ: dict[str, str] | None = None) -> str:
    value = (environ if environ is not None else os.environ).get(MODE_ENV, "auto").strip().lower() or "auto"
    if value not in MODES:
        raise BadRequest(f"{MODE_ENV}={value!r}: expected one of " + ", ".join(MODES))
    return value


def server_env() -> dict[str, str]:
    return dict(_ENV)


#: What an unsandboxed server keeps of lanser's environment: nothing that could be a credential
#: (tokens, keys) or change how a program loads (LD_PRELOAD, NODE_OPTIONS, CLANGD_FLAGS).
HOST_KEEP: frozenset[str] = frozenset(
    {"PATH", "HOME", "LANG", "LANGUAGE", "LC_ALL", "LC_CTYPE", "TZ", "TMPDIR"}
    | {"XDG_CACHE_HOME", "XDG_CONFIG_HOME", "XDG_RUNTIME_DIR"}
)


def host_env(environ: dict[str, str] | None = None) -> dict[str, str]:
    """An unsandboxed server's environment: ``environ`` (lanser's) cut to :data:`HOST_KEEP`."""
    source = os.environ if environ is None else environ
    return {k: v for k, v in source.items() if k in HOST_KEEP}


def _covered(path: str, by: Iterable[str]) -> bool:
    return any(path == b or path.startswith(b.rstrip("/") + "/") for b in by)


def bwrap_argv(
    bwrap: str,
    argv: list[str],
    *,
    cwd: str,
    sandbox: Sandbox,
    lexists: Callable[[str], bool] = os.path.lexists,
    readlink: Callable[[str], str | None] | None = None,
) -> list[str]:
    """``argv`` wrapped in ``bwrap``, seeing ``cwd`` (the workspace) read-only and what ``sandbox`` names.

    Pure but for the two file-system probes, which tests replace: system paths
    that do not exist here are left out, and system paths that are symbolic links
    (``/lib`` -> ``usr/lib`` on merged-/usr systems) are recreated as the same links.
    """
    link = readlink or _readlink
    out = [
        bwrap,
        # Namespaces of its own; pids only when asked (see Sandbox.own_pids).
        "--unshare-user-try",
        "--unshare-ipc",
        "--unshare-net",
        "--unshare-uts",
        "--unshare-cgroup-try",
        "--die-with-parent",
        "--new-session",
        "--cap-drop",
        "ALL",
        *(["--unshare-pid", "--proc", "/proc"] if sandbox.own_pids else []),
        "--dev",
        "/dev",
        "--tmpfs",
        "/tmp",
    ]
    for path in SYSTEM_READ_ONLY:
        if not lexists(path):
            continue
        target = link(path)
        if target is not None:
            out += ["--symlink", target, path]
        else:
            out += ["--ro-bind", path, path]
    system = [p for p in SYSTEM_READ_ONLY if lexists(p)]
    binds: dict[str, str] = {}
    for path in (*sandbox.read_only, cwd):
        if path and os.path.isabs(path) and not _covered(path, system):
            binds.setdefault(os.path.normpath(path), "--ro-bind")
    for path in sandbox.writable:
        if path and os.path.isabs(path):
            binds[os.path.normpath(path)] = "--bind"
    # A parent before its children, so that a child's mount is not hidden under its parent's; a
    # child mounted as its parent is already left out.
    done: list[tuple[str, str]] = []
    for path in sorted(binds, key=lambda p: (p.count("/"), p)):
        how = binds[path]
        parent = max((d for d in done if _covered(path, [d[0]])), key=lambda d: len(d[0]), default=None)
        if parent is not None and parent[1] == how:
            continue
        done.append((path, how))
        out += [how, path, path]
    out += ["--chdir", cwd, "--", *argv]
    return out


def _readlink(path: str) -> str | None:
    return os.readlink(path) if os.path.islink(path) else None


def probe_argv(bwrap: str) -> list[str]:
    """A trivial command in a sandbox like the servers': does bwrap work here?"""
    return bwrap_argv(bwrap, ["true"], cwd="/usr", sandbox=Sandbox())


def unusable(returncode: int | None, stderr: str, found: str | None) -> str | None:
    """Why the sandbox cannot be used here, from the probe's outcome, or None when it can."""
    if found is None:
        return "bwrap not found (install bubblewrap)"
    if returncode != 0:
        first = stderr.strip().splitlines()[0] if stderr.strip() else f"exit {returncode}"
        return f"bwrap does not work here: {first}"
    return None


def which_bwrap() -> str | None:
    return shutil.which("bwrap")


def refuse(reason: str) -> FsPermissions:
    return FsPermissions(
        f"{MODE_ENV}=require and the language server cannot be sandboxed: {reason}",
        sandbox=reason,
    )


def refuse_escapes(reason: str, escapes: list[str]) -> FsPermissions:
    return FsPermissions(
        "the workspace configures the language server to read outside it ("
        + "; ".join(escapes[:5])
        + f") and the server cannot be sandboxed here: {reason}",
        sandbox=reason,
        settings=escapes[:20],
    )
