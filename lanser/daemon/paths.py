"""Where a workspace's daemon lives; standard library only (client path)."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from typing import TYPE_CHECKING

from lanser import gitsafe

if TYPE_CHECKING:
    from hashlib import sha256
else:
    try:  # CPython's own SHA-256: importing hashlib loads OpenSSL, 2 ms of every CLI call
        from _sha256 import sha256  # CPython <= 3.11
    except ImportError:
        try:
            from _sha2 import sha256  # CPython >= 3.12
        except ImportError:
            from hashlib import sha256

__all__ = ["daemon_key", "runtime_dir", "socket_path", "lock_path", "log_path", "requests_dir", "state_dir"]

#: Environment that changes what a daemon answers; part of its identity.  A daemon runs with
#: the environment it was started in, so a call made under another value of any of these must
#: reach another daemon.  lanser's options that the CLI reads (LANSER_FORMAT, LANSER_TIMEOUT,
#: LANSER_INDEX_IO, LANSER_PYTHON: the ``python`` argument) travel with each request instead.
_KEY_ENV = (
    # lanser's settings read where the daemon runs.
    "LANSER_SANDBOX",  # what a server sees, and the bundles' environment.host.sandbox
    "LANSER_REWARD",  # the reward version of a live check or rename
    "LANSER_SERVER_OVERRIDES",  # which servers run (the file's own identity is keyed too)
    "LANSER_LOCK_WAIT_S",  # how long an apply waits for the workspace lock before refusing
    "LANSER_DEBUG",  # an internal error raises instead of becoming the request's answer
    "LANSER_APPLY_CRASH_AFTER",  # fault injection in an apply (tests)
    "LANSER_APPLY_STOP_AFTER",
    "LANSER_DAEMON_PAUSE",  # a request held at a stage (tests)
    # Where lanser keeps caches and state, and the user configuration git (and an unsandboxed
    # clangd) reads.
    "HOME",
    "XDG_CACHE_HOME",
    "XDG_STATE_HOME",
    "XDG_CONFIG_HOME",
    "EMAIL",  # git's committer identity when user.email is unset (rename --commit)
    # What an unsandboxed server (LANSER_SANDBOX=off, or auto without bwrap) inherits and reads;
    # also the analysed interpreter's search paths, which the daemon asks that interpreter for.
    "CLANGD_FLAGS",
    "CPATH",
    "C_INCLUDE_PATH",
    "CPLUS_INCLUDE_PATH",
    "OBJC_INCLUDE_PATH",
    "PYTHONPATH",
    "PYTHONHOME",
    "PYTHONUSERBASE",
    "PYTHONNOUSERSITE",
    "PYTHONSAFEPATH",
    "NODE_OPTIONS",
    "NODE_PATH",
)

#: Programs the daemon runs from PATH: bwrap (none turns the sandbox off under ``auto``) and git.
#: Where they resolve is keyed, not PATH itself, which activating a virtualenv changes.
_KEY_TOOLS = ("bwrap", "git")


def runtime_dir() -> Path:
    """An owner-only directory for sockets and locks (unix socket paths must stay short)."""
    base = os.environ.get("XDG_RUNTIME_DIR")
    return _own_dir(Path(base) / "lanser" if base else Path("/tmp") / f"lanser-{os.getuid()}")


def _own_dir(root: Path) -> Path:
    """``root``, created if needed: a real directory (no symlink), this user's, mode 0700."""
    root.mkdir(mode=0o700, parents=True, exist_ok=True)
    st = root.lstat()
    if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.getuid():
        raise PermissionError(f"{root} is not a directory owned by this user")
    if stat.S_IMODE(st.st_mode) & 0o077:
        os.chmod(root, 0o700)
    return root


def state_dir() -> Path:
    """lanser's per-user state (``$XDG_STATE_HOME/lanser``, else ``~/.local/state/lanser``).

    Never inside a workspace: a workspace is written by whoever wrote the
    repository, and what lanser keeps here decides what it reports as done.
    """
    base = os.environ.get("XDG_STATE_HOME")
    root = Path(base) if base and os.path.isabs(base) else Path.home() / ".local" / "state"
    return _own_dir(root / "lanser")


def requests_dir(workspace: str) -> Path:
    """Where the daemons of ``workspace`` record the mutating requests they committed."""
    ident = sha256(os.fsencode(os.path.realpath(workspace))).hexdigest()[:20]
    return _own_dir(_own_dir(state_dir() / "requests") / ident)


def daemon_key(workspace: str, python: str | None, version: str) -> str:
    """One daemon per (workspace, lanser and server pins, interpreter, environment)."""
    from lanser.lsp import pins

    ident = {
        "workspace": os.path.realpath(workspace),
        "python": python,
        # A relative or bare --python (``python3``) is found from the caller's directory or PATH.
        "python-at": _interpreter_at(python),
        "lanser": version,
        "build": _code_fingerprint(),
        "pins": pins.PINS,
        "env": _key_env(),
    }
    return sha256(json.dumps(ident, sort_keys=True).encode()).hexdigest()[:20]


def _key_env() -> dict[str, object]:
    """The part of the environment a daemon's answers depend on (see :data:`_KEY_ENV`)."""
    env = os.environ
    out: dict[str, object] = {k: env.get(k) for k in _KEY_ENV}
    out.update((k, v) for k, v in env.items() if k.startswith("GIT_") and k not in gitsafe.ENV_DROP)
    overrides = env.get("LANSER_SERVER_OVERRIDES")
    if overrides:
        out["overrides-file"] = _file_identity(overrides)
    path = env.get("PATH", os.defpath)
    out["tools"] = {name: _realpath(_which(name, path)) for name in _KEY_TOOLS}
    return out


def _interpreter_at(python: str | None) -> str | None:
    """Where ``python`` is, as the daemon started from here would find it: its absolute path,
    not its real one (a virtualenv's ``bin/python`` links to the base interpreter)."""
    if python is None:
        return None
    if os.sep in python:
        return os.path.abspath(python)
    return _which(python, os.environ.get("PATH", os.defpath))


def _realpath(path: str | None) -> str | None:
    return os.path.realpath(path) if path is not None else None


def _file_identity(path: str) -> list[int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return [st.st_ino, st.st_size, st.st_mtime_ns]


def _which(name: str, path: str) -> str | None:
    """Where ``name`` resolves on ``path``, as the daemon's ``shutil.which`` would find it
    (shutil is not imported on the client's hot path)."""
    for directory in path.split(os.pathsep):
        candidate = os.path.join(directory or os.curdir, name)
        if os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return os.path.abspath(candidate)
    return None


def _code_fingerprint() -> str:
    """(path, size, mtime) of lanser's own source files: a daemon started by other code (a
    checkout moved on, an upgrade that kept the version string) is another daemon.  About 100
    ``stat`` calls, a fraction of a millisecond."""
    root = Path(__file__).resolve().parents[1]
    h = sha256()
    stack = [str(root)]
    while stack:
        with os.scandir(stack.pop()) as entries:
            for entry in sorted(entries, key=lambda e: e.name):
                if entry.is_dir(follow_symlinks=False) and entry.name != "__pycache__":
                    stack.append(entry.path)
                elif entry.name.endswith((".py", ".json")):
                    st = entry.stat()
                    h.update(f"{entry.path}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return h.hexdigest()[:16]


def socket_path(key: str) -> Path:
    return runtime_dir() / f"{key}.sock"


def lock_path(key: str) -> Path:
    return runtime_dir() / f"{key}.lock"


def log_path(key: str) -> Path:
    return runtime_dir() / f"{key}.log"
