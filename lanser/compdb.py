"""A workspace's compilation database, read as hostile input (pure but for the jailed read).

``compile_commands.json`` comes from the repository.  lanser hands clangd a
copy, and clangd's background index parses every file the copy names: an
entry naming ``/etc/...`` (or a database that is a symlink to a host file)
would have clangd read host files and answer with what it found there.  So
the database is read through the workspace jail, and only well-formed
entries whose file lies inside the workspace are kept.  A database that is
not JSON, not a list or outside the workspace is ignored as a whole (as
clangd ignores one it cannot parse): clangd then falls back to its
defaults, never to an error of lanser's.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lanser.errors import FsPermissions

if TYPE_CHECKING:
    from lanser.workspace import Workspace

__all__ = ["entries"]


def entries(ws: Workspace, cdb: Path) -> list[dict[str, Any]]:
    """The entries of ``cdb`` clangd may see, with ``directory`` made absolute."""
    root = str(ws.root)
    try:
        rel = os.path.relpath(os.path.realpath(cdb), root)
        if rel.startswith(".."):
            return []
        raw = json.loads(ws.read_bytes(rel).decode("utf-8"))
    except (OSError, ValueError, RecursionError, FsPermissions):
        return []
    if not isinstance(raw, list):
        return []
    base = cdb.parent
    out = []
    for entry in raw:
        if not _well_formed(entry):
            continue
        directory = Path(entry.get("directory", "."))
        if not directory.is_absolute():
            directory = (base / directory).resolve()
        file = os.path.realpath(os.path.join(directory, entry["file"]))
        if not (file == root or file.startswith(root.rstrip("/") + "/")):
            continue  # a file outside the workspace: clangd's index must not parse it
        out.append({**entry, "directory": str(directory)})
    return out


def _well_formed(entry: Any) -> bool:
    if not isinstance(entry, dict) or not isinstance(entry.get("file"), str) or "\0" in entry["file"]:
        return False
    directory = entry.get("directory", ".")
    if not isinstance(directory, str) or "\0" in directory:
        return False
    command, arguments = entry.get("command"), entry.get("arguments")
    if command is not None and not isinstance(command, str):
        return False
    if arguments is not None and not (isinstance(arguments, list) and all(isinstance(a, str) for a in arguments)):
        return False
    return command is not None or arguments is not None
