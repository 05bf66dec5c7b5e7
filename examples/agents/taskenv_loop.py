#!/usr/bin/env python3
"""lanser's ``TaskEnv`` as an RL environment: ``reset()``, ``step(action)`` -> (observation, reward,
done, info), and the graded verdict as the terminal reward (docs/agent-protocol.md, "In process").

    python examples/agents/taskenv_loop.py datasets/toy-c toy-c/count-char --episodes 2 --seed 0

The policy here is a stand-in for a learner: epsilon-greedy between the next hunk of the task's
gold patch (an ``edit``: its step reward is lanser's process reward for that edit) and a probe
(a ``lanser`` diagnostics request or a test ``run``: reward 0).  After the gold hunks it submits;
``grade()`` then builds and tests the agent's work in a clean room, and a resolved task adds
``--terminal`` to the last step's reward.  Each step prints one JSON line (the transition), each
episode one more (its return and outcome), so a training loop can read them.  Needs Docker and
the harness's base image (``lanser bench images bootstrap``).
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
from pathlib import Path
from typing import Any

from lanser.harness.env.images import bootstrap_base, image_digest
from lanser.harness.run.agents import split_hunks
from lanser.harness.run.runner import TaskEnv
from lanser.harness.task.spec import load_tasks


def policy(obs: dict[str, Any], hunks: list[str], rng: random.Random, epsilon: float) -> dict[str, Any]:
    """Explore (a probe) with probability ``epsilon``, else exploit (the next gold hunk); submit at the end."""
    if not hunks:
        return {"type": "submit"}
    if rng.random() < epsilon:
        return rng.choice(
            [
                {"type": "lanser", "request": {"cmd": "diagnostics", "args": {}}},
                {"type": "run", "command": "make -s test 2>&1 | tail -n 5"},
            ]
        )
    return {"type": "edit", "patch": hunks.pop(0)}


def returns(rewards: list[float], gamma: float) -> list[float]:
    """Discounted returns G_t = r_t + gamma * G_{t+1}."""
    out, g = [], 0.0
    for r in reversed(rewards):
        g = r + gamma * g
        out.append(round(g, 9))
    return out[::-1]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("dataset", type=Path)
    parser.add_argument("task")
    parser.add_argument("--episodes", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--epsilon", type=float, default=0.3)
    parser.add_argument("--gamma", type=float, default=0.99)
    parser.add_argument("--terminal", type=float, default=1.0, help="reward added when the task is resolved")
    args = parser.parse_args(argv)
    task = next((t for t in load_tasks(args.dataset / "tasks.jsonl") if t.id == args.task), None)
    if task is None:
        parser.error(f"no task {args.task!r} in {args.dataset}")
    image = bootstrap_base()
    rng = random.Random(args.seed)
    with tempfile.TemporaryDirectory(prefix="taskenv-") as workroot:
        env = TaskEnv(
            task,
            args.dataset,
            image,
            Path(workroot),
            image_id=image_digest(image),
            labels={"lanser.run": "taskenv-example"},
        )
        try:
            for episode in range(args.episodes):
                obs = env.reset()  # a fresh work area: the task's start state
                hunks = split_hunks(task.gold_patch)
                rewards: list[float] = []
                done = False
                while not done:
                    action = policy(obs, hunks, rng, args.epsilon)
                    obs, reward, done, info = env.step(action)
                    rewards.append(reward)
                    print(
                        json.dumps(
                            {
                                "episode": episode,
                                "step": info["step"],
                                "action": action["type"],
                                "reward": reward,
                                "done": done,
                                "seconds": info["seconds"],
                            }
                        ),
                        flush=True,
                    )
                verdict, _stages, _patch = env.grade()
                resolved = verdict["outcome"] == "resolved"
                rewards[-1] += args.terminal if resolved else 0.0
                print(
                    json.dumps(
                        {
                            "episode": episode,
                            "outcome": verdict["outcome"],
                            "steps": len(rewards),
                            "return": returns(rewards, args.gamma)[0],
                            "process_reward": round(env.total, 9),
                        }
                    ),
                    flush=True,
                )
        finally:
            env.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
