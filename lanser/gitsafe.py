"""git as lanser runs it in a workspace: with configuration the repository cannot extend.

A repository's ``.git/config`` names programs git runs: ``core.fsmonitor`` on
status and ls-files, hooks on commit-like commands.  Where a workspace is an
agent's work area or a checkout someone else prepared, that file is hostile,
so every git lanser starts in a workspace overrides those settings on its
command line (which outranks any config file), takes no optional locks (a
status never rewrites the index, so files keep their owner), and inherits no
``GIT_*`` variable that would point it at another repository.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

__all__ = ["OVERRIDES", "SAFE_ARGS", "config_args", "env", "run"]

#: Settings every git lanser starts over files it does not own takes over the repository's own:
#: nothing git would execute (fsmonitor, hooks), no untracked cache written back.
OVERRIDES: tuple[tuple[str, str], ...] = (("core.fsmonitor", "false"), ("core.untrackedCache", "false"),
                                          ("core.hooksPath", "/dev/null"))


def config_args(pairs: tuple[tuple[str, str], ...] = OVERRIDES) -> tuple[str, ...]:
    """``-c key=value`` for each pair: the command line outranks every config file."""
    return tuple(arg for key, value in pairs for arg in ("-c", f"{key}={value}"))


#: What every workspace git call starts with: the overrides, and no optional locks.
SAFE_ARGS: tuple[str, ...] = (*config_args(), "--no-optional-locks")

_ENV_DROP = ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "GIT_OBJECT_DIRECTORY", "GIT_CEILING_DIRECTORIES",
             "GIT_CONFIG", "GIT_CONFIG_PARAMETERS")


def env() -> dict[str, str]:
    """The process environment without variables that redirect git, with optional locks off."""
    out = {k: v for k, v in os.environ.items() if k not in _ENV_DROP}
    out["GIT_OPTIONAL_LOCKS"] = "0"
    return out


def run(root: Path, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[bytes]:
    """``git SAFE_ARGS args`` in ``root``; OSError / SubprocessError are the caller's to translate."""
    return subprocess.run(["git", *SAFE_ARGS, *args], cwd=root, env=env(), capture_output=True, timeout=timeout,
                          stdin=subprocess.DEVNULL)
