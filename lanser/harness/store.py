"""Results in SQLite, keyed by a content hash of what produced them.

key = sha256(task spec, image id, agent, the agent's recipe (its patch, seed
or trajectory file), harness version, reward version): a resumed run skips
what is done; a changed task, agent recipe or measurement is recomputed.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import time
from pathlib import Path
from typing import Any

__all__ = ["HARNESS_VERSION", "Store", "result_key"]

#: Part of every result key: bump it when what an attempt measures changes, so stored results
#: are recomputed rather than mixed with new ones.  h2: C steps' diagnostics are read correctly
#: (before, clangd's clearing publish made every D_now 0), and results record their environment.
HARNESS_VERSION = "h2"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    run_id TEXT PRIMARY KEY, dataset TEXT NOT NULL, agent TEXT NOT NULL, image_id TEXT,
    harness TEXT NOT NULL, started REAL NOT NULL, finished REAL
);
CREATE TABLE IF NOT EXISTS results (
    key TEXT PRIMARY KEY, run_id TEXT NOT NULL, task_id TEXT NOT NULL, agent TEXT NOT NULL,
    outcome TEXT NOT NULL, verdict TEXT NOT NULL, steps TEXT NOT NULL, stages TEXT NOT NULL,
    patch TEXT NOT NULL, created REAL NOT NULL, environment TEXT
);
CREATE INDEX IF NOT EXISTS results_run ON results(run_id, task_id);
"""


def result_key(task_key: str, image_id: str, agent: str, agent_digest: str) -> str:
    """The identity of a task attempt before it runs (the agent's recipe, not its output)."""
    from lanser.reward import VERSION as REWARD_VERSION

    raw = json.dumps([task_key, image_id, agent, agent_digest, HARNESS_VERSION, REWARD_VERSION])
    return hashlib.sha256(raw.encode()).hexdigest()


class Store:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(path)
        self.db.executescript(_SCHEMA)
        columns = {row[1] for row in self.db.execute("PRAGMA table_info(results)")}
        if "environment" not in columns:  # a store written before results recorded what they ran on
            self.db.execute("ALTER TABLE results ADD COLUMN environment TEXT")
            self.db.commit()

    def start_run(self, run_id: str, dataset: str, agent: str, image_id: str) -> None:
        self.db.execute("INSERT OR IGNORE INTO runs VALUES (?,?,?,?,?,?,NULL)",
                        (run_id, dataset, agent, image_id, HARNESS_VERSION, time.time()))
        self.db.commit()

    def finish_run(self, run_id: str) -> None:
        self.db.execute("UPDATE runs SET finished=? WHERE run_id=?", (time.time(), run_id))
        self.db.commit()

    def done(self, key: str) -> bool:
        return self.db.execute("SELECT 1 FROM results WHERE key=?", (key,)).fetchone() is not None

    def put(self, key: str, run_id: str, task_id: str, agent: str, verdict: dict[str, Any],
            steps: list[dict[str, Any]], stages: dict[str, Any], patch: str,
            environment: dict[str, Any] | None = None) -> None:
        """Store one attempt; ``environment`` is what it ran on (image id, project tree digest, node)."""
        self.db.execute("INSERT OR REPLACE INTO results VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                        (key, run_id, task_id, agent, verdict["outcome"], json.dumps(verdict, sort_keys=True),
                         json.dumps(steps, sort_keys=True), json.dumps(stages, sort_keys=True), patch, time.time(),
                         json.dumps(environment or {}, sort_keys=True)))
        self.db.commit()

    def results(self, run_id: str | None = None) -> list[dict[str, Any]]:
        query = "SELECT key, run_id, task_id, agent, outcome, verdict, steps, stages, patch, environment FROM results"
        rows = self.db.execute(query + (" WHERE run_id=?" if run_id else "") + " ORDER BY task_id, agent",
                               (run_id,) if run_id else ()).fetchall()
        return [{"key": r[0], "run_id": r[1], "task_id": r[2], "agent": r[3], "outcome": r[4],
                 "verdict": json.loads(r[5]), "steps": json.loads(r[6]), "stages": json.loads(r[7]), "patch": r[8],
                 "environment": json.loads(r[9] or "{}")}
                for r in rows]

    def runs(self) -> list[dict[str, Any]]:
        rows = self.db.execute("SELECT run_id, dataset, agent, image_id, harness, started, finished FROM runs "
                               "ORDER BY started").fetchall()
        return [dict(zip(("run_id", "dataset", "agent", "image_id", "harness", "started", "finished"), r))
                for r in rows]
