"""basedpyright's path settings in a workspace's configuration, checked against the workspace.

basedpyright reads ``pyrightconfig.json`` (or ``[tool.basedpyright]`` /
``[tool.pyright]`` in ``pyproject.toml``) itself, so lanser cannot rewrite
what it finds there; a hostile workspace can name host directories in
``extraPaths``, ``stubPath``, ``venvPath``, ``typeshedPath``, ``include`` or an
execution environment, and hover / definition then show host files.  In the
sandbox those directories do not exist.  Where the server runs unsandboxed,
:func:`escapes` lists such settings and lanser refuses to start it
(lanser.lsp.process).  Pure but for reading the two files and resolving
symlinks.
"""

from __future__ import annotations

import json
import os
import re
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

__all__ = ["PATH_KEYS", "config_escapes", "escapes"]

#: Settings whose value is a directory (or a list of them) basedpyright reads from.
PATH_KEYS: tuple[str, ...] = ("extraPaths", "stubPath", "venvPath", "typeshedPath", "include")
#: Largest configuration file read.
_MAX = 1 << 20
_STRING = re.compile(r'"((?:[^"\\]|\\.)*)"')


def _inside(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip("/") + "/")


def _outside(values: list[Any], root: str, base: str, resolve: Callable[[str], str]) -> list[str]:
    return [
        v
        for v in values
        if isinstance(v, str) and not _inside(resolve(os.path.join(base, os.path.expanduser(v))), root)
    ]


def config_escapes(
    config: dict[str, Any], root: str, *, base: str | None = None, resolve: Callable[[str], str] = os.path.realpath
) -> list[str]:
    """``key=value`` for each path setting of ``config`` that leads outside ``root`` (relative paths
    are taken from ``base``, the configuration file's directory, by default ``root``)."""
    base = base or root
    out: list[str] = []

    def check(key: str, value: Any) -> None:
        out.extend(f"{key}={v}" for v in _outside(value if isinstance(value, list) else [value], root, base, resolve))

    for key in PATH_KEYS:
        if key in config:
            check(key, config[key])
    envs = config.get("executionEnvironments")
    for i, env in enumerate(envs if isinstance(envs, list) else []):
        if isinstance(env, dict):
            for key in ("root", "extraPaths"):
                if key in env:
                    check(f"executionEnvironments[{i}].{key}", env[key])
    return out


def _jsonc(text: str) -> dict[str, Any] | None:
    """pyrightconfig.json is JSON with comments and trailing commas; None when it does not parse."""
    text = re.sub(r'("(?:[^"\\]|\\.)*")|//[^\n]*|/\*.*?\*/', lambda m: m.group(1) or "", text, flags=re.S)
    text = re.sub(r",(\s*[}\]])", r"\1", text)
    try:
        data = json.loads(text)
    except (ValueError, RecursionError):
        return None
    return data if isinstance(data, dict) else {}


def escapes(root: str, *, resolve: Callable[[str], str] = os.path.realpath) -> list[str]:
    """The path settings of the workspace at ``root`` that lead outside it, from either file.

    A configuration that cannot be parsed is judged by every string in it that names a path:
    basedpyright's reader is more lenient than lanser's, so what it might find counts.
    """
    out: list[str] = []
    cfg = Path(root) / "pyrightconfig.json"
    try:
        text = cfg.read_bytes()[:_MAX].decode("utf-8", "replace") if cfg.is_file() else None
    except OSError:
        text = None
    if text is not None:
        data = _jsonc(text)
        if data is not None:
            out += config_escapes(data, root, resolve=resolve)
        else:
            strings = [s for s in _STRING.findall(text) if "/" in s or s.startswith(("~", ".."))]
            out += [f"pyrightconfig.json (unparsed): {v}" for v in _outside(strings, root, root, resolve)]
    pyproject = Path(root) / "pyproject.toml"
    try:
        tool = tomllib.loads(pyproject.read_bytes()[:_MAX].decode("utf-8", "replace")).get("tool", {})
    except (OSError, tomllib.TOMLDecodeError, RecursionError):
        tool = {}
    for section in ("basedpyright", "pyright"):
        data = tool.get(section) if isinstance(tool, dict) else None
        if isinstance(data, dict):
            out += [f"[tool.{section}] {e}" for e in config_escapes(data, root, resolve=resolve)]
    return out
