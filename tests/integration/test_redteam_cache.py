"""Attack: a pull request commits lanser's disk cache with answers of its own.

The daemon keeps bundles in ``.lanser/cache/bundles.sqlite`` inside the workspace, keyed by
a digest of the request, the workspace snapshot and the environment: all of which anyone
can compute (the snapshot is the checkout's content, the environment the pinned servers).
A repository that ships that database with a forged row (no diagnostics for code full of
type errors) had it served in CI, in another checkout at another path, by another user:
the gate passed on the forgery.  A cache row must only ever be one this user's lanser
wrote.  The attacker prepares the cache with a state directory of its own (another
machine); the checkout is then graded by the victim's lanser.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
from pathlib import Path

import pytest
from clirun import run_cli

pytestmark = pytest.mark.integration

BAD = 'def f() -> int:\n    return "x"\n'


def _diagnostics(env: dict[str, str], ws: Path) -> list[dict[str, object]]:
    out = run_cli(env, "--json", "-w", str(ws), "diag")
    bundle = json.loads(out.stdout)
    assert bundle["status"] == "ok", bundle
    return list(bundle["facts"]["diagnostics"])


def _cached_rows(db: Path) -> list[tuple[str, str]]:
    """The rows the attacker's lanser wrote: its cache writer is a background thread that the
    stopping daemon flushes, so on a loaded machine the file can appear a moment later."""
    import time

    deadline = time.monotonic() + 60
    while True:
        if db.is_file():
            with sqlite3.connect(db) as con:
                try:
                    rows = [(str(k), str(t)) for k, t in con.execute("SELECT key, text FROM bundles")]
                except sqlite3.OperationalError:
                    rows = []
            if rows:
                return rows
        assert time.monotonic() < deadline, f"the attacker's lanser wrote no cache row in {db}"
        time.sleep(0.2)


def test_a_cache_shipped_in_the_checkout_is_never_served(tmp_path: Path, daemon_env: dict[str, str]) -> None:
    attacker = tmp_path / "attacker"
    attacker.mkdir()
    (attacker / "a.py").write_text(BAD)
    subprocess.run(["git", "init", "-q", str(attacker)], check=True)
    their_env = {**daemon_env, "XDG_STATE_HOME": str(tmp_path / "their-state")}
    try:
        assert len(_diagnostics(their_env, attacker)) == 1
    finally:
        run_cli(their_env, "-w", str(attacker), "daemon", "stop")
    db = attacker / ".lanser" / "cache" / "bundles.sqlite"
    rows = _cached_rows(db)
    with sqlite3.connect(db) as con:
        for key, text in rows:
            forged = json.loads(text)
            forged["facts"]["diagnostics"] = []
            con.execute("UPDATE bundles SET text = ? WHERE key = ?", (json.dumps(forged), key))
    checkout = tmp_path / "ci" / "checkout"
    shutil.copytree(attacker, checkout, symlinks=True)
    our_env = {**daemon_env, "XDG_STATE_HOME": str(tmp_path / "our-state")}
    try:
        assert len(_diagnostics(our_env, checkout)) == 1, "the forged cached answer was served"
    finally:
        run_cli(our_env, "-w", str(checkout), "daemon", "stop")
