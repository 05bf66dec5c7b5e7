"""An LLM attempt's trajectory: every model call (request and response), every action, the totals.

Events are plain dicts with a ``"event"`` key, appended in order:

- ``start``: task id, model, base URL, the agent's settings (budgets, prices, show_reward)
- ``call``: ``index``, ``request`` (the exact JSON body sent), ``response`` (the JSON body received,
  or null), ``error`` (the raw error when there was one), ``tries`` (failed tries before it),
  ``latency_s``, ``usage`` ({prompt_tokens, completion_tokens}), ``cost``
- ``action``: ``action`` (exactly what ``act()`` returned to the runner), ``tool`` and ``tool_call_id``
  when it came from a tool call, ``internal`` when the agent issued it itself (the layout, a file read)
- ``observation``: what the runner answered (``step``, ``reward``, ``last``)
- ``tool_error``: a call refused before anything ran (``tool``, ``message``)
- ``truncated``: observations shortened to fit the context (``messages``)
- ``end``: ``reason`` and ``totals`` (calls, prompt/completion tokens, cost, latency, wall)

:meth:`Trajectory.write` exports them as JSONL (one event per line, sorted keys)
and the ``action`` events alone as an action list that ``--agent replay:FILE``
re-runs without an endpoint.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

__all__ = ["Trajectory", "load", "replay_actions"]

FORMAT = "lanser-llm-trajectory/1"


class Trajectory:
    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []

    def add(self, event: str, **data: Any) -> dict[str, Any]:
        record = {"event": event, **data}
        if event == "start":
            record["format"] = FORMAT
        self.events.append(record)
        return record

    def actions(self) -> list[dict[str, Any]]:
        return [e["action"] for e in self.events if e["event"] == "action"]

    def write(self, directory: Path, stem: str) -> tuple[Path, Path]:
        """``STEM.jsonl`` (every event) and ``STEM.actions.jsonl`` (for replay:), next to each other;
        a free STEM-N is taken when STEM exists (attempts of one task do not overwrite each other)."""
        directory.mkdir(parents=True, exist_ok=True)
        n, name = 0, stem
        while (directory / f"{name}.jsonl").exists():
            n += 1
            name = f"{stem}-{n}"
        full, actions = directory / f"{name}.jsonl", directory / f"{name}.actions.jsonl"
        full.write_text("".join(json.dumps(e, sort_keys=True, ensure_ascii=False) + "\n" for e in self.events))
        actions.write_text("".join(json.dumps(a, sort_keys=True) + "\n" for a in self.actions()))
        return full, actions


def load(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def replay_actions(path: Path) -> list[dict[str, Any]]:
    """The actions of an exported trajectory (either file of :meth:`Trajectory.write`)."""
    events = load(path)
    if events and "event" in events[0]:
        return [e["action"] for e in events if e.get("event") == "action"]
    return events
