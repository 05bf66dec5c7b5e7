"""Test helpers for workspaces that are git repositories (one copy for the integration tests)."""

from __future__ import annotations

import subprocess
from pathlib import Path


def git(ws: Path, *args: str) -> str:
    """git in ``ws`` with a fixed identity; stdout, raising on failure."""
    return subprocess.run(
        ["git", "-c", "user.name=lanser-test", "-c", "user.email=test@lanser", *args],
        cwd=ws,
        check=True,
        capture_output=True,
        text=True,
    ).stdout


def commit_all(ws: Path) -> Path:
    """Make ``ws`` a repository whose one commit holds every file in it."""
    git(ws, "init", "-q")
    git(ws, "add", "-A")
    git(ws, "commit", "-qm", "init")
    return ws


def snapshot(ws: Path) -> dict[str, bytes]:
    """Every file's bytes by workspace-relative path, git's and lanser's own state left out."""
    return {
        p.relative_to(ws).as_posix(): p.read_bytes()
        for p in ws.rglob("*")
        if p.is_file() and ".git" not in p.parts and ".lanser" not in p.parts
    }
