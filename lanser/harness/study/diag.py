"""Diagnostics of a trajectory's start and final states, measured afresh (IO: a language server).

The recorded reward's diagnostics term is ``a * sum_t (D_{t-1} - D_t)``,
which telescopes to ``a * (D_start - D_final)`` when every step measures D
correctly.  Measuring D_start and D_final again, each in a fresh server on
a fresh copy of the state, gives that sum independently of the step-wise
speculative evaluation, so the study can check the recorded term against
it and score the reward as it should have been.  Results are cached by
(task, final patch) in a JSON file beside the store.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

from lanser.harness.task.spec import TaskSpec

__all__ = ["REMEASURE_VERSION", "remeasure"]

REMEASURE_VERSION = "remeasure-v2"


def _count(root: Path, paths: list[str]) -> dict[str, float]:
    from lanser.client import Client
    from lanser.reward import count_diagnostics

    with Client(root, daemon=False, timeout=120.0, cache=False) as lanser:  # one server session for every file
        counts: dict[str, float] = {}
        for rel in paths:
            result = lanser.diagnostics(rel)
            if not result.ok:
                raise RuntimeError(f"diagnostics of {rel} failed: {result.data.get('error')}")
            counts[rel] = count_diagnostics(result.facts.get("diagnostics") or [], [rel])
        return counts


def _materialise(tree: Path, dest: Path, patches: list[str]) -> list[str]:
    """A copy of ``tree`` with ``patches`` applied; returns the files the last one touches."""
    from lanser.edits.apply import apply_changes
    from lanser.edits.guards import check_jail
    from lanser.edits.patch import parse_patch
    from lanser.harness.grade.cleanroom import read_inside

    shutil.rmtree(dest, ignore_errors=True)
    dest.parent.mkdir(parents=True, exist_ok=True)
    # cp -a, as the harness copies a project layer: links stay links (even dangling ones)
    proc = subprocess.run(["cp", "-a", "--reflink=auto", str(tree), str(dest)], capture_output=True, text=True)
    if proc.returncode != 0:
        raise OSError(f"cannot copy {tree}: {proc.stderr.strip()[:300]}")
    shutil.rmtree(dest / ".git", ignore_errors=True)
    shutil.rmtree(dest / ".cache", ignore_errors=True)
    touched: list[str] = []
    for patch in patches:
        if not patch.strip():
            continue
        # A stored patch is an agent's: read and written through the jail (no path out, no link followed).
        changes = parse_patch(patch, lambda rel: read_inside(dest, rel, cap=1 << 30))
        check_jail(dest, changes)
        apply_changes(dest, changes)
        touched = sorted({c.new_path or c.path for c in changes.changes})
    shutil.rmtree(dest / ".lanser", ignore_errors=True)
    return touched


def remeasure(
    task: TaskSpec, tree: Path, final_patch: str, workroot: Path, cache: dict[str, Any] | None = None
) -> dict[str, Any]:
    """``{"d_start", "d_final", "paths", "final_by_path"}``: D over the files the final patch
    touches, in the starting state and in the final state, each from a fresh server (0, 0 for
    an empty patch), and the final D of each of those files.

    ``tree`` is the task's project tree before its start patch (what the
    harness copies into the work area).
    """
    key = hashlib.sha256(json.dumps([REMEASURE_VERSION, task.key(), final_patch]).encode()).hexdigest()
    if cache is not None and key in cache:
        return dict(cache[key])
    if not final_patch.strip():
        result: dict[str, Any] = {"d_start": 0.0, "d_final": 0.0, "paths": [], "final_by_path": {}}
    else:
        start = [task.start_patch] if task.start_patch else []
        workroot.mkdir(parents=True, exist_ok=True)
        workroot = Path(tempfile.mkdtemp(prefix="remeasure-", dir=workroot))  # studies may run side by side
        probe = workroot / "start"
        paths = _materialise(tree, probe, start + [final_patch])
        _materialise(tree, probe, start)
        d_start = _count(probe, [p for p in paths if (probe / p).is_file()])
        final = workroot / "final"
        _materialise(tree, final, start + [final_patch])
        d_final = _count(final, [p for p in paths if (final / p).is_file()])
        shutil.rmtree(workroot, ignore_errors=True)
        result = {
            "d_start": sum(d_start.values()),
            "d_final": sum(d_final.values()),
            "paths": paths,
            "final_by_path": d_final,
        }
    if cache is not None:
        cache[key] = result
    return result
