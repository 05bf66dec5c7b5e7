"""Results in SQLite: each run owns its rows; attempts are found again by a content key.

key = sha256(task spec, image id, agent, the agent's recipe (its patch, seed
or trajectory file), attempt index, harness, reward and grading versions): the
identity of one attempt before it runs.  A row is (run id, key): a run owns
its rows, so a second run with a new run id stores its own rows even when
it reuses an attempt another run made (the row says ``reused_from``: the
run that ran it), and ``bench show`` of either run works.  A run resumed
under its own id skips the attempts it already has.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import time
from pathlib import Path
from typing import Any

__all__ = ["GRADING_VERSION", "HARNESS_VERSION", "Store", "result_key"]

#: Part of every result key: bump it when what an attempt measures changes, so stored results
#: are recomputed rather than mixed with new ones.  h2: C steps' diagnostics are read correctly
#: (before, clangd's clearing publish made every D_now 0), and results record their environment.
HARNESS_VERSION = "h2"
#: Part of every result key, not of project layers (a new grader needs no layer rebuilt): bump it
#: when the grader's rules change, so that no run reuses a verdict of the old rules.
#: g2: clean-room grading, declared test log formats, stage exit statuses count (issue 18).
GRADING_VERSION = "g2"

_RUNS = """
CREATE TABLE IF NOT EXISTS runs (
    run_id TEXT PRIMARY KEY, dataset TEXT NOT NULL, agent TEXT NOT NULL, image_id TEXT,
    harness TEXT NOT NULL, started REAL NOT NULL, finished REAL
);
"""
# One row per (run, attempt).  ``reused_from``: the run that ran the attempt when this run took
# it from the store instead of running it again (NULL: this run ran it).
_RESULTS = """
CREATE TABLE IF NOT EXISTS results (
    run_id TEXT NOT NULL, key TEXT NOT NULL, task_id TEXT NOT NULL, agent TEXT NOT NULL,
    attempt INTEGER NOT NULL DEFAULT 0, outcome TEXT NOT NULL, verdict TEXT NOT NULL, steps TEXT NOT NULL,
    stages TEXT NOT NULL, patch TEXT NOT NULL, created REAL NOT NULL, environment TEXT, seconds REAL,
    reused_from TEXT, extra TEXT, PRIMARY KEY (run_id, key)
);
CREATE INDEX IF NOT EXISTS results_key ON results(key, created);
"""
_COLUMNS = (
    "run_id",
    "key",
    "task_id",
    "agent",
    "attempt",
    "outcome",
    "verdict",
    "steps",
    "stages",
    "patch",
    "created",
    "environment",
    "seconds",
    "reused_from",
    "extra",
)


def result_key(task_key: str, image_id: str, agent: str, agent_digest: str, attempt: int = 0) -> str:
    """The identity of a task attempt before it runs (the agent's recipe, not its output).

    ``attempt`` counts from 0; attempt 0 has no index in its key."""
    from lanser.reward import VERSION as REWARD_VERSION

    parts: list[Any] = [
        task_key,
        image_id,
        agent,
        agent_digest,
        HARNESS_VERSION,
        REWARD_VERSION,
        {"grading": GRADING_VERSION},
    ]
    if attempt:
        parts.append({"attempt": attempt})
    return hashlib.sha256(json.dumps(parts).encode()).hexdigest()


def _migrate(db: sqlite3.Connection) -> None:
    """Stores written before runs owned their rows (one row per key, the run that ran it)."""
    columns = {row[1] for row in db.execute("PRAGMA table_info(results)")}
    if not columns or "reused_from" in columns:
        return
    environment = "environment" if "environment" in columns else "NULL"
    with db:
        db.execute("ALTER TABLE results RENAME TO results_v1")
        db.executescript(_RESULTS.replace("IF NOT EXISTS ", ""))
        db.execute(
            f"INSERT INTO results (run_id, key, task_id, agent, attempt, outcome, verdict, steps, stages, "
            f"patch, created, environment) SELECT run_id, key, task_id, agent, 0, outcome, verdict, steps, "
            f"stages, patch, created, {environment} FROM results_v1"
        )
        db.execute("DROP TABLE results_v1")


class Store:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(path)
        self.db.execute("DROP INDEX IF EXISTS results_run")  # the old (run_id, task_id) index
        _migrate(self.db)
        self.db.executescript(_RUNS + _RESULTS)
        self.db.commit()

    def start_run(self, run_id: str, dataset: str, agent: str, image_id: str) -> None:
        self.db.execute(
            "INSERT OR IGNORE INTO runs VALUES (?,?,?,?,?,?,NULL)",
            (run_id, dataset, agent, image_id, HARNESS_VERSION, time.time()),
        )
        self.db.commit()

    def finish_run(self, run_id: str) -> None:
        self.db.execute("UPDATE runs SET finished=? WHERE run_id=?", (time.time(), run_id))
        self.db.commit()

    def done(self, key: str, run_id: str | None = None) -> bool:
        """Whether an attempt with ``key`` is stored (by ``run_id``, when given)."""
        query, args = "SELECT 1 FROM results WHERE key=?", [key]
        if run_id is not None:
            query, args = query + " AND run_id=?", [key, run_id]
        return self.db.execute(query, args).fetchone() is not None

    def get(self, run_id: str, key: str) -> dict[str, Any] | None:
        """Run ``run_id``'s row of attempt ``key``, or None."""
        row = self.db.execute(
            f"SELECT {', '.join(_COLUMNS)} FROM results WHERE run_id=? AND key=?", (run_id, key)
        ).fetchone()
        return _row(row) if row else None

    def cached(self, key: str) -> dict[str, Any] | None:
        """The newest stored attempt ``key`` that says something about the agent (not an
        infrastructure failure), from any run, or None."""
        row = self.db.execute(
            f"SELECT {', '.join(_COLUMNS)} FROM results WHERE key=? AND outcome != 'infra_error' "
            "ORDER BY created DESC LIMIT 1",
            (key,),
        ).fetchone()
        return _row(row) if row else None

    def put(
        self,
        key: str,
        run_id: str,
        task_id: str,
        agent: str,
        verdict: dict[str, Any],
        steps: list[dict[str, Any]],
        stages: dict[str, Any],
        patch: str,
        environment: dict[str, Any] | None = None,
        *,
        attempt: int = 0,
        seconds: float | None = None,
        reused_from: str | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        """Store one attempt as run ``run_id``'s (replacing that run's row of ``key``);
        ``environment`` is what it ran on (image id, project tree digest, node), ``extra`` what
        else the attempt's result carried (the evidence behind its verdict, say)."""
        self.db.execute(
            f"INSERT OR REPLACE INTO results ({', '.join(_COLUMNS)}) VALUES ({','.join('?' * 15)})",
            (
                run_id,
                key,
                task_id,
                agent,
                attempt,
                verdict["outcome"],
                json.dumps(verdict, sort_keys=True),
                json.dumps(steps, sort_keys=True),
                json.dumps(stages, sort_keys=True),
                patch,
                time.time(),
                json.dumps(environment or {}, sort_keys=True),
                seconds,
                reused_from,
                json.dumps(extra or {}, sort_keys=True),
            ),
        )
        self.db.commit()

    def reuse(self, run_id: str, source: dict[str, Any]) -> dict[str, Any]:
        """Record ``source`` (a row of another run, from :meth:`cached`) as run ``run_id``'s too,
        naming the run that ran it; returns the new row."""
        origin = source.get("reused_from") or source["run_id"]
        self.put(
            source["key"],
            run_id,
            source["task_id"],
            source["agent"],
            source["verdict"],
            source["steps"],
            source["stages"],
            source["patch"],
            source["environment"],
            attempt=source["attempt"],
            seconds=source["seconds"],
            reused_from=origin,
            extra=source["extra"],
        )
        row = self.get(run_id, source["key"])
        assert row is not None
        return row

    def results(self, run_id: str | None = None) -> list[dict[str, Any]]:
        query = f"SELECT {', '.join(_COLUMNS)} FROM results"
        rows = self.db.execute(
            query + (" WHERE run_id=?" if run_id else "") + " ORDER BY task_id, agent, attempt, created",
            (run_id,) if run_id else (),
        ).fetchall()
        return [_row(r) for r in rows]

    def runs(self) -> list[dict[str, Any]]:
        rows = self.db.execute(
            "SELECT run_id, dataset, agent, image_id, harness, started, finished FROM runs ORDER BY started"
        ).fetchall()
        return [
            dict(zip(("run_id", "dataset", "agent", "image_id", "harness", "started", "finished"), r, strict=False))
            for r in rows
        ]


def _row(r: tuple[Any, ...]) -> dict[str, Any]:
    row = dict(zip(_COLUMNS, r, strict=False))
    for name in ("verdict", "steps", "stages"):
        row[name] = json.loads(row[name])
    row["environment"] = json.loads(row["environment"] or "{}")
    row["extra"] = json.loads(row["extra"] or "{}")
    del row["created"]
    return row
