"""Writing a mined dataset: tasks.jsonl, generation.json and trajectories/ (deterministic bytes)."""

from __future__ import annotations

import json
from pathlib import Path

from lanser.harness.datasets.mining.miner import Mined

__all__ = ["trajectory_name", "write_dataset"]


def trajectory_name(task_id: str) -> str:
    return task_id.split("/", 1)[-1].replace("/", "__") + ".jsonl"


def write_dataset(out: Path, mined: Mined, *, command: str | None = None) -> None:
    lines = [json.dumps(t.model_dump(mode="json", exclude_defaults=False), sort_keys=True) for t in mined.tasks]
    (out / "tasks.jsonl").write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    if mined.trajectories:
        (out / "trajectories").mkdir(exist_ok=True)
    for task_id, actions in sorted(mined.trajectories.items()):
        text = "".join(json.dumps(a, sort_keys=True) + "\n" for a in actions)
        (out / "trajectories" / trajectory_name(task_id)).write_text(text, encoding="utf-8")
    # Wall times vary from run to run: kept apart from the rest, which the same inputs reproduce.
    timeless = [{k: v for k, v in m.items() if k != "seconds"} for m in mined.meta]
    summary = {**mined.stats, "command": command, "candidates_detail": timeless}
    (out / "generation.json").write_text(json.dumps(summary, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    times = {m["id"]: m["seconds"] for m in mined.meta if "id" in m}
    (out / "timings.json").write_text(json.dumps(times, indent=2, sort_keys=True) + "\n", encoding="utf-8")
