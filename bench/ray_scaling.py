"""A scaling curve of the Ray executor: the same task set on 1, 2, 4 ... simulated nodes on this machine.

For each node count a fresh local cluster (token authentication on, every
node 1 CPU and ``docker: 1``, the image depot set) runs one ``lanser bench
run --executor ray`` of datasets/toy-c copied ``--copies`` times under new
ids, solved by the oracle agent (clangd started, gold patch applied, build,
tests and sanitizers in the sandbox).  Reported per node count: wall time,
throughput (tasks per minute), ``busy`` (attempt seconds over wall seconds:
slots kept busy) and, as medians over the attempts, where an attempt's time
goes:

- ``queue``: waiting for a free slot (the driver submits every attempt at once;
  an attempt waits while its node's slot runs an earlier one): not overhead;
- ``sched``: from its slot being free (or its submit, if later) to the task
  starting in a Ray worker (Ray's scheduling, a worker process, the arguments);
- ``image``: making the run's image available on the node (found by id, or
  loaded from the depot);
- ``layer``: the task's project layer loaded from the depot before the attempt, or
  published there after it (0 without a setup);
- ``reset``: the work area made (layer copy, start patch, git), before the agent;
- ``warm``: the first lanser step (starts clangd and indexes: lanser's warm-up);
- ``steps``: the other agent steps;
- ``grade``: the clean room and the build / test / sanitize containers, of
  which ``ctr`` is container start and stop (a ``true`` container timed
  ``--probes`` times before the runs, times the stage containers);
- ``ray``: the rest of the attempt on the worker (agent made, image check of
  the task function, result sent back).

Simulated nodes share this machine's cores and its one Docker engine: more
nodes than cores add queueing, not capacity (see bench/RAY.md).

Usage: .venv/bin/python bench/ray_scaling.py [--nodes 1,2,4] [--copies 4]
       .venv/bin/python bench/ray_scaling.py --nodes 1 --dataset datasets/oss-json-c --tasks 3   (real tasks)
Writes every attempt's numbers to bench/results/ray_scaling-<time>.json.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "bench"))

from ray_throughput import make_dataset  # noqa: E402 - the same task set as the throughput benchmark

COLUMNS = ("queue", "sched", "image", "layer", "reset", "warm", "steps", "grade", "ctr", "ray")


def container_start_s(image: str, probes: int) -> float:
    """Median seconds of a ``true`` container in the sandbox: what each stage pays to start and stop one."""
    from lanser.harness.env import sandbox

    took = []
    with tempfile.TemporaryDirectory(prefix="lanser-ctr-") as work:
        for _ in range(probes):
            took.append(sandbox.run(image, "true", Path(work)).duration_s)
    return statistics.median(took)


def add_queueing(rows: list[dict[str, Any]]) -> None:
    """Split each attempt's submit-to-start time into waiting for its node's slot and the rest
    (one slot per node: ``docker: 1``)."""
    by_node: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        placement = row["extra"].get("placement") or {}
        by_node.setdefault(str(placement.get("node")), []).append(placement)
    for placements in by_node.values():
        placements.sort(key=lambda p: float(p.get("started_at", 0.0)))
        free = 0.0
        for p in placements:
            submitted, started = float(p.get("submitted_at", 0.0)), float(p.get("started_at", 0.0))
            ready = max(submitted, free)
            p["queue_s"], p["sched_s"] = max(ready - submitted, 0.0), max(started - ready, 0.0)
            free = float(p.get("ended_at", started))


def breakdown(row: dict[str, Any], ctr_s: float) -> dict[str, float]:
    steps = row["steps"]
    stages = row["stages"]
    placement = row["extra"].get("placement") or {}
    stage_s = sum(float(s.get("seconds") or 0.0) for s in stages.values() if isinstance(s, dict))
    containers = sum(
        1 for name, s in stages.items() if name != "clean_room" and isinstance(s, dict) and "exit_code" in s
    )
    first_lanser = next((float(s["seconds"]) for s in steps if s.get("action") in ("edit", "lanser")), 0.0)
    step_s = sum(float(s.get("seconds") or 0.0) for s in steps)
    attempt_s = float(placement.get("ended_at", 0.0)) - float(placement.get("started_at", 0.0))
    task_s = float(row["seconds"])
    image_s = float(placement.get("image_s") or 0.0)
    layer_s = float(placement.get("layer_s") or 0.0) + float(placement.get("layer_publish_s") or 0.0)
    return {
        "queue": float(placement.get("queue_s") or 0.0),
        "sched": float(placement.get("sched_s") or 0.0),
        "image": image_s,
        "layer": layer_s,
        "reset": max(task_s - step_s - stage_s, 0.0),
        "warm": first_lanser,
        "steps": step_s - first_lanser,
        "grade": stage_s,
        "ctr": containers * ctr_s,
        "ray": max(attempt_s - task_s - image_s - layer_s, 0.0),
        "task": task_s,
        "attempt": attempt_s,
    }


def stored_rows(out: Path) -> list[dict[str, Any]]:
    db = sqlite3.connect(out / "results.sqlite")
    try:
        rows = db.execute("SELECT task_id, seconds, steps, stages, extra FROM results").fetchall()
    finally:
        db.close()
    return [
        {"task": t, "seconds": s, "steps": json.loads(st), "stages": json.loads(sg), "extra": json.loads(x or "{}")}
        for t, s, st, sg, x in rows
    ]


def run_on(nodes: int, dataset: Path, out: Path, depot: Path, n: int) -> dict[str, Any]:
    from lanser.harness.run.ray_local import LocalRayCluster

    cluster = LocalRayCluster(nodes, cpus=1, resources={"docker": 1})
    load_before = os.getloadavg()[0]
    try:
        cluster.start()
        started, launched_at = time.monotonic(), time.time()
        proc = subprocess.run(
            [
                sys.executable,
                "-c",
                "from lanser.cli.main import main; main()",
                "--no-daemon",
                "--json",
                "bench",
                "run",
                str(dataset),
                "--agent",
                "oracle",
                "--out",
                str(out),
                "--run-id",
                f"scale-{nodes}",
                "--executor",
                "ray",
                "--ray-address",
                cluster.address,
            ],
            capture_output=True,
            text=True,
            cwd=REPO,
            env={**os.environ, "NO_COLOR": "1", "LANSER_IMAGE_DEPOT": str(depot), **cluster.client_env()},
        )
        wall = time.monotonic() - started
    finally:
        leftovers = cluster.stop()
    if proc.returncode != 0:
        raise SystemExit(f"{nodes} nodes failed ({proc.returncode}):\n{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}")
    results = json.loads(proc.stdout)["results"]
    if len(results) != n:
        raise SystemExit(f"{nodes} nodes: {len(results)} results, not {n}")
    return {
        "nodes": nodes,
        "wall_s": wall,
        "launched_at": launched_at,
        "start_s": cluster.started_s,
        "outcomes": sorted(r["outcome"] for r in results),
        "load_before": load_before,
        "load_after": os.getloadavg()[0],
        "leftovers": leftovers,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--nodes", default="1,2,4", help="node counts, comma-separated (default 1,2,4)")
    parser.add_argument("--copies", type=int, default=4, help="copies of the three toy-c tasks (default 4: 12 tasks)")
    parser.add_argument("--probes", type=int, default=5, help="container start probes (default 5)")
    parser.add_argument(
        "--dataset", type=Path, help="another dataset instead of toy-c copies (its first --tasks tasks)"
    )
    parser.add_argument("--tasks", type=int, default=3, help="with --dataset: how many of its tasks (default 3)")
    args = parser.parse_args()
    counts = [int(x) for x in args.nodes.split(",")]

    from lanser.harness.env.depot import publish
    from lanser.harness.env.images import bootstrap_base

    image = bootstrap_base()  # built once before anything is timed
    ctr_s = container_start_s(image, args.probes)
    scratch = Path(tempfile.mkdtemp(prefix="lanser-ray-scale-"))
    publish(image, scratch / "depot")  # once, before anything is timed (the driver of each run finds it there)
    samples: list[dict[str, Any]] = []
    try:
        if args.dataset:
            dataset = scratch / args.dataset.name
            shutil.copytree(args.dataset, dataset)
            lines = (dataset / "tasks.jsonl").read_text().splitlines()[: args.tasks]
            (dataset / "tasks.jsonl").write_text("\n".join(lines) + "\n")
            n, what = len(lines), f"{args.dataset.name}, first {len(lines)}"
        else:
            dataset = scratch / "toy-c-x"
            n, what = make_dataset(dataset, args.copies), f"toy-c x {args.copies}"
        for nodes in counts:
            out = scratch / f"out-{nodes}"
            sample = run_on(nodes, dataset, out, scratch / "depot", n)
            rows = stored_rows(out)
            add_queueing(rows)
            parts = [breakdown(row, ctr_s) for row in rows]
            sample["attempts"] = parts
            sample["busy"] = sum(p["attempt"] for p in parts) / sample["wall_s"]
            # The run's own start: Python, lanser, the image check, connecting and the token probe.
            sample["first_s"] = min(float(r["extra"]["placement"]["started_at"]) for r in rows) - sample["launched_at"]
            samples.append(sample)
            print(f"{nodes} node(s): {sample['wall_s']:.1f} s for {n} tasks", file=sys.stderr, flush=True)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)

    print(
        f"\n{n} tasks ({what}, oracle agent), {os.cpu_count()} CPUs, nodes of 1 CPU and docker: 1; "
        f"container start+stop {ctr_s:.2f} s"
    )
    print(
        f"{'nodes':>5} {'wall s':>7} {'tasks/min':>9} {'busy':>5} {'first':>6} "
        + " ".join(f"{c:>6}" for c in COLUMNS)
        + f" {'load':>9}"
    )
    for sample in samples:
        med = {c: statistics.median(p[c] for p in sample["attempts"]) for c in COLUMNS}
        print(
            f"{sample['nodes']:>5} {sample['wall_s']:>7.1f} {n / sample['wall_s'] * 60:>9.1f} {sample['busy']:>5.2f} "
            f"{sample['first_s']:>6.2f} "
            + " ".join(f"{med[c]:>6.2f}" for c in COLUMNS)
            + f" {sample['load_before']:>4.1f}-{sample['load_after']:<4.1f}"
        )
    print(
        "first: seconds from launching the run to its first attempt starting; then per-attempt medians in seconds;"
        " load: the machine's 1-minute load average before and after the run"
    )
    same = len({tuple(s["outcomes"]) for s in samples}) == 1
    starts = ", ".join(f"{s['nodes']}: " + "+".join(f"{x:.1f}" for x in s["start_s"]) for s in samples)
    print(f"cluster start (s, per node): {starts}; same outcomes everywhere: {'yes' if same else 'NO'}")
    results = REPO / "bench" / "results"
    results.mkdir(parents=True, exist_ok=True)
    path = results / f"ray_scaling-{time.strftime('%Y%m%dT%H%M%S')}.json"
    path.write_text(
        json.dumps(
            {"tasks": n, "copies": args.copies, "cpus": os.cpu_count(), "container_s": ctr_s, "samples": samples},
            indent=1,
        )
        + "\n"
    )
    print(f"\nresults: {path}")


if __name__ == "__main__":
    main()
