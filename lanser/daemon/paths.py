"""Where a workspace's daemon lives; standard library only (client path)."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from typing import TYPE_CHECKING

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

#: Environment that changes what a daemon answers; part of its identity.
_KEY_ENV = ("LANSER_SERVER_OVERRIDES", "XDG_CACHE_HOME", "XDG_STATE_HOME")


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
        "lanser": version,
        "build": _code_fingerprint(),
        "pins": pins.PINS,
        "env": {k: os.environ.get(k) for k in _KEY_ENV},
    }
    return sha256(json.dumps(ident, sort_keys=True).encode()).hexdigest()[:20]


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
