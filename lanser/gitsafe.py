"""git as lanser runs it in a workspace: with configuration the repository cannot extend.

A repository's ``.git/config`` names programs git runs: ``core.fsmonitor`` on
status and ls-files, hooks on commit-like commands, and the drivers that
``.gitattributes`` selects: ``filter.<name>.clean``/``smudge``/``process`` on
add and status, ``merge.<name>.driver`` on a 3-way apply, ``diff.<name>.textconv``
and ``command``.  Where a workspace is an agent's work area or a checkout
someone else prepared, that file is hostile, so every git lanser starts in a
workspace overrides those settings on its command line (which outranks any
config file): the fixed ones in :data:`OVERRIDES`, and each driver a
configuration file other than the user's own global or system one defines
(:func:`driver_overrides`, read with ``git config``, which runs nothing).  It
takes no optional locks (a status never rewrites the index, so files keep
their owner), and inherits no ``GIT_*`` variable that would point it at
another repository.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

__all__ = ["ENV_DROP", "OVERRIDES", "SAFE_ARGS", "config_args", "driver_overrides", "env", "run"]

#: Settings every git lanser starts over files it does not own takes over the repository's own:
#: nothing git would execute (fsmonitor, hooks), no untracked cache written back.
OVERRIDES: tuple[tuple[str, str], ...] = (
    ("core.fsmonitor", "false"),
    ("core.untrackedCache", "false"),
    ("core.hooksPath", "/dev/null"),
)


def config_args(pairs: tuple[tuple[str, str], ...] = OVERRIDES) -> tuple[str, ...]:
    """``-c key=value`` for each pair: the command line outranks every config file."""
    return tuple(arg for key, value in pairs for arg in ("-c", f"{key}={value}"))


#: What every workspace git call starts with: the overrides, and no optional locks.
SAFE_ARGS: tuple[str, ...] = (*config_args(), "--no-optional-locks")

#: Variables that would redirect git to another repository, index or config: never passed on.
ENV_DROP = (
    "GIT_DIR",
    "GIT_WORK_TREE",
    "GIT_INDEX_FILE",
    "GIT_OBJECT_DIRECTORY",
    "GIT_CEILING_DIRECTORIES",
    "GIT_CONFIG",
    "GIT_CONFIG_PARAMETERS",
)


def env() -> dict[str, str]:
    """The process environment without variables that redirect git, with optional locks off."""
    out = {k: v for k, v in os.environ.items() if k not in ENV_DROP}
    out["GIT_OPTIONAL_LOCKS"] = "0"
    return out


#: Configuration keys naming a program that ``.gitattributes`` makes git run.
_DRIVER_KEYS = r"^(filter|merge|diff)\..+\.(clean|smudge|process|driver|textconv|command)$"


def _own_config_files() -> set[str]:
    """The configuration files the user (not a repository) controls: global and system."""
    home = Path.home()
    xdg = os.environ.get("XDG_CONFIG_HOME") or str(home / ".config")
    files = {str(home / ".gitconfig"), str(Path(xdg) / "git" / "config"), "/etc/gitconfig"}
    for var in ("GIT_CONFIG_GLOBAL", "GIT_CONFIG_SYSTEM"):
        if os.environ.get(var):
            files.add(os.environ[var])
    return {os.path.realpath(f) for f in files}


def driver_overrides(root: Path) -> tuple[str, ...]:
    """``-c key=`` (and ``filter.<name>.required=false``) for each attribute driver that a
    configuration file other than the user's global or system one defines.

    An empty command is no command: git then stores, diffs and merges the bytes as they
    are (a merge that needed the driver fails, which lanser reports as a conflict).
    The user's own drivers (git-lfs in ``~/.gitconfig``, say) keep working.
    """
    try:
        proc = subprocess.run(
            ["git", *SAFE_ARGS, "config", "--null", "--show-origin", "--get-regexp", _DRIVER_KEYS],
            cwd=root,
            env=env(),
            capture_output=True,
            timeout=30,
            stdin=subprocess.DEVNULL,
        )
    except (OSError, subprocess.SubprocessError):
        return ()
    fields = proc.stdout.split(b"\0")
    own = _own_config_files()
    pairs: dict[str, None] = {}
    for origin, entry in zip(fields[0::2], fields[1::2], strict=False):
        where = origin.decode("utf-8", "surrogateescape")
        if where.startswith("file:") and os.path.realpath(where[5:]) in own:
            continue
        key = entry.split(b"\n", 1)[0].decode("utf-8", "surrogateescape")
        pairs[f"{key}="] = None
        if key.startswith("filter."):
            pairs[f"{key.rsplit('.', 1)[0]}.required=false"] = None
    return tuple(arg for pair in pairs for arg in ("-c", pair))


def run(root: Path, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[bytes]:
    """``git SAFE_ARGS args`` in ``root``, the repository's attribute drivers neutralised;
    OSError / SubprocessError are the caller's to translate."""
    return subprocess.run(
        ["git", *SAFE_ARGS, *driver_overrides(root), *args],
        cwd=root,
        env=env(),
        capture_output=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )
