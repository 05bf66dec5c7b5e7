#!/usr/bin/env python3
"""A minimal lanser benchmark agent speaking the ``cmd:`` JSON-lines protocol (docs/agent-protocol.md).

Copy it and replace ``policy()``.  lanser starts the program once per attempt, writes one
observation per line on its stdin and reads one action per line from its stdout; anything on
stderr goes to lanser's stderr (use it for logs: stdout is the protocol).

    lanser bench run datasets/toy-c --agent 'cmd:python3 examples/agents/json_lines_agent.py'
    lanser bench run datasets/toy-c --task toy-c/count-char \\
        --agent 'cmd:python3 examples/agents/json_lines_agent.py --patch fix.diff --transcript t.jsonl'

What this one does, to show every kind of action: list the repository (``run``), ask lanser
for the symbols of the first C or Python file (``lanser``), apply ``--patch`` if it was given
(``edit``, whose result carries the process reward), run ``make -s test`` when there is a
Makefile (``run``), then ``submit``.  ``--transcript FILE`` appends every observation and
action it exchanged, one JSON object a line.  Standard library only.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any


class Memory:
    """What the policy keeps between steps (a real agent keeps its model's context here)."""

    def __init__(self, patch: str | None) -> None:
        self.patch = patch
        self.files: list[str] = []
        self.plan = ["list", "symbols", "edit", "test", "submit"]


def policy(obs: dict[str, Any], memory: Memory) -> dict[str, Any]:
    """One action for one observation.  ``obs["last"]`` is the result of the previous action (None at
    the first step), ``obs["reward"]`` the process reward summed so far."""
    last = obs.get("last") or {}
    if memory.files == [] and "output" in last:  # the answer to "list"
        memory.files = [f for f in str(last["output"]).splitlines() if f]
    while memory.plan:
        step = memory.plan.pop(0)
        if step == "list":
            # the sandbox image has no git: list with find
            return {"type": "run", "command": "find . -type f -not -path './.git/*' | sed 's|^./||' | sort"}
        if step == "symbols":
            sources = [f for f in memory.files if f.endswith((".c", ".py"))]
            source = next((f for f in sources if not f.startswith("tests/")), sources[0] if sources else None)
            if source is None:
                continue
            # the symbols of one file: its selector is the path (other commands take 'c://file.c#name')
            return {"type": "lanser", "request": {"cmd": "symbols", "selector": source, "args": {}}}
        if step == "edit":
            if memory.patch is None:
                continue
            return {"type": "edit", "patch": memory.patch}
        if step == "test":
            if "Makefile" not in memory.files:
                continue
            return {"type": "run", "command": "make -s test 2>&1 | tail -n 20"}
        break
    return {"type": "submit"}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--patch", help="a unified diff to apply as the edit step")
    parser.add_argument("--transcript", help="append every observation and action here (JSONL)")
    args = parser.parse_args(argv)
    patch = None
    if args.patch:
        with open(args.patch, encoding="utf-8") as f:
            patch = f.read()
    memory = Memory(patch)
    for line in sys.stdin:  # one observation per line, until lanser closes stdin (or kills us after submit)
        obs = json.loads(line)
        action = policy(obs, memory)
        if args.transcript:
            with open(args.transcript, "a", encoding="utf-8") as f:
                f.write(json.dumps({"observation": obs, "action": action}, sort_keys=True) + "\n")
        print(f"step {obs.get('step')}: reward so far {obs.get('reward')}, sending {action['type']}", file=sys.stderr)
        sys.stdout.write(json.dumps(action) + "\n")
        sys.stdout.flush()  # the runner waits for the whole line: always flush
        if action["type"] == "submit":
            break
    return 0


if __name__ == "__main__":
    sys.exit(main())
