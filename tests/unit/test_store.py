"""The results store: what an attempt ran on is kept with it; stores from before that still open."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from lanser.harness.run.store import Store


def test_results_keep_their_environment(tmp_path: Path) -> None:
    store = Store(tmp_path / "r.sqlite")
    env = {"image_id": "sha256:abc", "project_digest": "sha256:def", "node": "node-2"}
    store.put("k1", "run", "t1", "oracle", {"outcome": "resolved"}, [], {}, "", env)
    store.put("k2", "run", "t2", "oracle", {"outcome": "tests_failed"}, [], {}, "")
    got = {r["key"]: r["environment"] for r in Store(tmp_path / "r.sqlite").results("run")}
    assert got == {"k1": env, "k2": {}}


def test_a_store_without_the_environment_column_is_migrated_and_keeps_its_rows(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite"
    db = sqlite3.connect(path)
    db.executescript("""
        CREATE TABLE results (key TEXT PRIMARY KEY, run_id TEXT NOT NULL, task_id TEXT NOT NULL,
            agent TEXT NOT NULL, outcome TEXT NOT NULL, verdict TEXT NOT NULL, steps TEXT NOT NULL,
            stages TEXT NOT NULL, patch TEXT NOT NULL, created REAL NOT NULL);
        INSERT INTO results VALUES ('old', 'run', 't0', 'noop', 'tests_failed', '{"outcome": "tests_failed"}',
            '[]', '{}', '', 0);
    """)
    db.commit()
    db.close()
    store = Store(path)
    assert store.done("old")
    store.put("new", "run", "t1", "noop", {"outcome": "tests_failed"}, [], {}, "", {"image_id": "sha256:1"})
    assert [(r["key"], r["environment"]) for r in store.results("run")] == [
        ("old", {}),
        ("new", {"image_id": "sha256:1"}),
    ]
