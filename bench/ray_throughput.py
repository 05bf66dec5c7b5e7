"""Benchmark-run throughput: the local executor and a Ray cluster, 1 and 2 workers, side by side.

One dataset, four placements, measured in the same run:
- local, 1 worker (the baseline: tasks one after another in the driver);
- local, 2 workers (a process pool);
- Ray, 1 worker (a local cluster, token authentication on, of one node with 1 CPU and ``docker: 1``);
- Ray, 2 workers (the same cluster after a second such node joins).

The dataset is datasets/toy-c with its three tasks copied ``--copies`` times
under new ids (so no result is reused), solved by the oracle agent: every
attempt really starts clangd, applies the gold patch step by step and
builds, tests and sanitizes in the sandbox.  Each placement is a whole
``lanser bench run`` process into a fresh results directory; throughput is
tasks per minute of its wall time (Python start, image check and, for Ray,
connecting to the cluster included).  The cluster's start-up is reported
apart, since a real cluster is started once for many runs.

Usage: .venv/bin/python bench/ray_throughput.py [--copies N] [--repeat N]   (about 2 min per repeat)
No timing is asserted anywhere; this prints medians and ratios against local/1,
and writes every sample to bench/results/ray_throughput-<time>.json.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]


def make_dataset(root: Path, copies: int) -> int:
    """toy-c with every task ``copies`` times under new ids; returns the number of tasks."""
    shutil.copytree(REPO / "datasets" / "toy-c", root)
    lines = (root / "tasks.jsonl").read_text().splitlines()
    out = []
    for copy in range(copies):
        for line in lines:
            task = json.loads(line)
            task["id"] = f"{task['id']}-{copy + 1}"
            out.append(json.dumps(task, sort_keys=True))
    (root / "tasks.jsonl").write_text("\n".join(out) + "\n")
    return len(out)


def first_line(dataset: Path) -> str:
    return (dataset / "tasks.jsonl").read_text().splitlines()[0]


def run(
    dataset: Path, out: Path, run_id: str, *extra: str, env: dict[str, str] | None = None
) -> tuple[float, list[dict[str, Any]]]:
    started = time.monotonic()
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
            run_id,
            *extra,
        ],
        capture_output=True,
        text=True,
        cwd=REPO,
        env={**os.environ, "NO_COLOR": "1", **(env or {})},
    )
    took = time.monotonic() - started
    if proc.returncode != 0:
        raise SystemExit(f"{run_id} failed ({proc.returncode}):\n{proc.stderr[-4000:]}")
    return took, json.loads(proc.stdout)["results"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--copies", type=int, default=4, help="copies of the three toy-c tasks (default 4: 12 tasks)")
    parser.add_argument("--repeat", type=int, default=3, help="runs per placement; the median is shown")
    args = parser.parse_args()

    from lanser.harness.env.images import bootstrap_base
    from lanser.harness.run.ray_local import LocalRayCluster

    bootstrap_base()  # built once before anything is timed
    scratch = Path(tempfile.mkdtemp(prefix="lanser-ray-bench-"))
    dataset = scratch / "toy-c-x"
    n = make_dataset(dataset, args.copies)
    samples: dict[str, list[float]] = {}
    outcomes: dict[str, list[str]] = {}
    busy: dict[str, list[float]] = {}  # task seconds / wall seconds: how many slots were kept busy
    task_s: dict[str, list[float]] = {}

    def measure(name: str, r: int, *extra: str, env: dict[str, str] | None = None) -> None:
        took, results = run(dataset, scratch / f"{name.replace('/', '-')}-{r}", f"bench-{r}", *extra, env=env)
        if len(results) != n:
            raise SystemExit(f"{name}: {len(results)} results, not {n}")
        samples.setdefault(name, []).append(took)
        busy.setdefault(name, []).append(sum(x["seconds"] for x in results) / took)
        task_s.setdefault(name, []).extend(x["seconds"] for x in results)
        outcomes[name] = sorted(f"{x['task']} {x['outcome']}" for x in results)
        print(f"{name} #{r + 1}: {took:.1f} s for {n} tasks", file=sys.stderr, flush=True)

    # Untimed warm-up (page cache, clangd's first start), then the placements round-robin, so a
    # change of the machine's load spreads over all of them; a fresh cluster each round.
    run(dataset, scratch / "warm-up", "warm-up", "--task", f"{json.loads(first_line(dataset))['id']}")
    start_s: list[list[float]] = []
    leftovers: list[int] = []
    try:
        for r in range(args.repeat):
            measure("local/1", r)
            measure("local/2", r, "--workers", "2")
            cluster = LocalRayCluster(1, cpus=1, resources={"docker": 1})
            try:
                cluster.start()
                measure("ray/1", r, "--executor", "ray", "--ray-address", cluster.address, env=cluster.client_env())
                cluster.add_node()
                measure("ray/2", r, "--executor", "ray", "--ray-address", cluster.address, env=cluster.client_env())
                start_s.append(list(cluster.started_s))
            finally:
                leftovers += cluster.stop()
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    if leftovers:
        print(f"warning: {len(leftovers)} cluster process(es) ignored SIGTERM and were killed", file=sys.stderr)
    same = all(o == outcomes["local/1"] for o in outcomes.values())

    base = statistics.median(samples["local/1"])
    print(f"\n{n} tasks (toy-c x {args.copies}, oracle agent), {os.cpu_count()} CPUs, median of {args.repeat}")
    print(f"{'placement':<10} {'wall s':>8} {'tasks/min':>10} {'vs local/1':>11} {'task s':>7} {'busy':>5}")
    for name, xs in samples.items():
        wall = statistics.median(xs)
        print(
            f"{name:<10} {wall:>8.1f} {n / wall * 60:>10.1f} {base / wall:>10.2f}x "
            f"{statistics.median(task_s[name]):>7.2f} {statistics.median(busy[name]):>5.2f}"
        )
    print("task s: median seconds of one task's attempt; busy: task seconds / wall seconds (slots kept busy)")
    head, node = statistics.median(s[0] for s in start_s), statistics.median(s[1] for s in start_s)
    print(
        f"ray start (median): head {head:.1f} s, second node {node:.1f} s; "
        f"same outcomes everywhere: {'yes' if same else 'NO'}"
    )

    out = REPO / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"ray_throughput-{time.strftime('%Y%m%dT%H%M%S')}.json"
    path.write_text(
        json.dumps(
            {
                "tasks": n,
                "copies": args.copies,
                "repeat": args.repeat,
                "cpus": os.cpu_count(),
                "wall_s": samples,
                "busy": busy,
                "task_s": task_s,
                "ray_start_s": start_s,
                "same_outcomes": same,
            },
            indent=2,
        )
        + "\n"
    )
    print(f"\nresults: {path}")


if __name__ == "__main__":
    main()
