"""Harness overhead per task, beside the build and test time it wraps.

Measured side by side in one run, on the toy C dataset:
- container round trip: `sandbox.run(image, "true")` (create, start, wait, logs, remove);
- the same command with plain `docker run --rm` (the baseline: what any harness pays);
- per task with the oracle agent: reset (copy, start patch, git), lanser warm-up (first
  speculative check, which starts clangd), each later edit step, and the build / test /
  sanitize stages (their seconds are the project's, not the harness's).

Usage: .venv/bin/python bench/harness_overhead.py [--repeat N]
No timing is asserted anywhere; this prints medians and ratios.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def median_ms(xs: list[float]) -> float:
    return round(statistics.median(xs) * 1000, 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()

    from lanser.harness.env import sandbox
    from lanser.harness.env.images import bootstrap_base
    from lanser.harness.run.agents import make_agent
    from lanser.harness.run.runner import TaskEnv
    from lanser.harness.task.spec import load_tasks

    image = bootstrap_base()
    work = Path(tempfile.mkdtemp(prefix="lanser-overhead-"))
    ours, plain = [], []
    for _ in range(args.repeat):
        t = time.monotonic()
        sandbox.run(image, "true", work, limits=sandbox.Limits(wall_s=30), labels={"lanser.run": "overhead"})
        ours.append(time.monotonic() - t)
        t = time.monotonic()
        subprocess.run(["docker", "run", "--rm", "--network", "none", image, "true"], check=True, capture_output=True)
        plain.append(time.monotonic() - t)
    print(
        f"container round trip: lanser sandbox {median_ms(ours)} ms, plain docker run {median_ms(plain)} ms, "
        f"ratio {statistics.median(ours) / statistics.median(plain):.2f}x (n={args.repeat})"
    )

    dataset = REPO / "datasets" / "toy-c"
    rows = []
    for task in load_tasks(dataset / "tasks.jsonl"):
        for _ in range(args.repeat):
            env = TaskEnv(task, dataset, image, work / "tasks", labels={"lanser.run": "overhead"})
            agent = make_agent("oracle")
            t = time.monotonic()
            obs = env.reset()
            reset_s = time.monotonic() - t
            agent.reset(task, obs)
            steps = []
            done = False
            while not done:
                t = time.monotonic()
                obs, _, done, record = env.step(agent.act(obs))
                steps.append((record["action"], time.monotonic() - t))
            t = time.monotonic()
            verdict, stages, _ = env.grade()
            grade_s = time.monotonic() - t
            env.loop.close()
            edits = [s for a, s in steps if a == "edit"]
            rows.append(
                {
                    "task": task.id,
                    "outcome": verdict["outcome"],
                    "reset": reset_s,
                    "first_edit": edits[0] if edits else 0.0,
                    "later_edits": edits[1:],
                    "stages": {k: v.get("seconds", 0.0) for k, v in stages.items()},
                    "grade": grade_s,
                }
            )
    print(
        f"\n{'task':<24} {'reset':>8} {'1st edit (lanser warm-up)':>26} {'later edit':>11} "
        f"{'build':>7} {'test':>7} {'sanitize':>9} {'grade total':>12}"
    )
    for task_id in sorted({r["task"] for r in rows}):
        rs = [r for r in rows if r["task"] == task_id]
        later = [x for r in rs for x in r["later_edits"]]
        print(
            f"{task_id:<24} {median_ms([r['reset'] for r in rs]):>7}ms {median_ms([r['first_edit'] for r in rs]):>25}ms "
            f"{(str(median_ms(later)) + 'ms') if later else '-':>11} "
            + " ".join(
                f"{median_ms([r['stages'].get(s, 0.0) for r in rs]):>7}ms" for s in ("build", "test", "sanitize")
            )
            + f" {median_ms([r['grade'] for r in rs]):>10}ms"
        )
    out = REPO / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"harness_overhead-{time.strftime('%Y%m%dT%H%M%S')}.json"
    path.write_text(
        json.dumps(
            {"sandbox_ms": [x * 1000 for x in ours], "docker_run_ms": [x * 1000 for x in plain], "tasks": rows},
            indent=1,
            default=str,
        )
    )
    print(f"\nresults: {path}")


if __name__ == "__main__":
    main()
