"""Agents: an observation in, an action out.

Actions: ``{"type": "edit", "patch": DIFF}``, ``{"type": "lanser", "request":
REQUEST}``, ``{"type": "run", "command": SHELL}``, ``{"type": "submit"}``.
Built-ins: ``oracle`` (the gold patch, one hunk per step), ``noop``,
``replay:FILE`` (a recorded JSONL action list); ``cmd:COMMAND`` runs any
program speaking JSON lines (one observation per line on its stdin, one
action per line on its stdout).  ``partial[:SEED]``, ``corrupt[:SEED]`` and
``shuffle[:SEED]`` are synthetic trajectories made from the gold patch
(:mod:`lanser.harness.study.synthetic`), deterministic for a seed.  ``llm:MODEL``
asks a model behind an OpenAI-compatible endpoint (:mod:`lanser.harness.run.llm`).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import select
import shlex
import subprocess
import time
from pathlib import Path
from typing import Any, Protocol

from lanser.errors import BadRequest

__all__ = ["Agent", "make_agent", "split_hunks"]


class Agent(Protocol):
    name: str

    def digest(self) -> str: ...
    def reset(self, task: Any, observation: dict[str, Any]) -> None: ...
    def act(self, observation: dict[str, Any]) -> dict[str, Any]: ...
    def close(self) -> None: ...


def split_hunks(patch: str) -> list[str]:
    """A unified diff as single-hunk diffs, in order (each with its file header)."""
    out: list[str] = []
    header: list[str] = []
    hunk: list[str] = []
    for line in patch.splitlines(keepends=True):
        if line.startswith("--- "):
            if hunk:
                out.append("".join(header + hunk))
                hunk = []
            header = [line]
        elif line.startswith("+++ ") and len(header) == 1:
            header.append(line)
        elif line.startswith("@@"):
            if hunk:
                out.append("".join(header + hunk))
            hunk = [line]
        elif hunk:
            hunk.append(line)
    if hunk:
        out.append("".join(header + hunk))
    return out


class _Scripted:
    def __init__(self, name: str, actions: list[dict[str, Any]] | None = None) -> None:
        self.name = name
        self._fixed = actions
        self._queue: list[dict[str, Any]] = []

    def digest(self) -> str:
        return hashlib.sha256(json.dumps([self.name, self._fixed], sort_keys=True).encode()).hexdigest()

    def plan(self, task: Any) -> list[dict[str, Any]]:
        return list(self._fixed or [])

    def reset(self, task: Any, observation: dict[str, Any]) -> None:
        self._queue = self.plan(task)

    def act(self, observation: dict[str, Any]) -> dict[str, Any]:
        return self._queue.pop(0) if self._queue else {"type": "submit"}

    def close(self) -> None:
        pass


class OracleAgent(_Scripted):
    def __init__(self) -> None:
        super().__init__("oracle")

    def plan(self, task: Any) -> list[dict[str, Any]]:
        hunks = split_hunks(task.gold_patch)
        return [{"type": "edit", "patch": h, "note": f"gold {i}/{len(hunks)}"} for i, h in enumerate(hunks, 1)] + [
            {"type": "submit"}
        ]


class CommandAgent:
    """Any program speaking JSON lines: observation in on stdin, action out on stdout
    (docs/agent-protocol.md).  The program is hostile: an answer must come within ``timeout``
    seconds and be at most :data:`MAX_LINE` bytes, else the episode ends with a submit."""

    #: The longest action line read from an agent program (a diff of a few MB fits).
    MAX_LINE = 8 * 1024 * 1024

    def __init__(self, command: str, timeout: float = 300.0) -> None:
        self.name = f"cmd:{command}"
        self.command = command
        self.timeout = timeout
        self.proc: subprocess.Popen[bytes] | None = None
        self._buffer = b""

    def digest(self) -> str:
        return hashlib.sha256(self.name.encode()).hexdigest()

    def reset(self, task: Any, observation: dict[str, Any]) -> None:
        self.close()
        self._buffer = b""
        self.proc = subprocess.Popen(shlex.split(self.command), stdin=subprocess.PIPE, stdout=subprocess.PIPE)

    def act(self, observation: dict[str, Any]) -> dict[str, Any]:
        assert self.proc is not None and self.proc.stdin is not None and self.proc.stdout is not None
        try:
            self.proc.stdin.write(json.dumps(observation).encode() + b"\n")
            self.proc.stdin.flush()
        except (BrokenPipeError, OSError):
            return {"type": "submit", "note": "agent process ended"}
        line = self._read_line(time.monotonic() + self.timeout)
        if isinstance(line, str):  # why there is no line
            self.close()
            return {"type": "submit", "note": line}
        try:
            action = json.loads(line)
        except ValueError:
            return {"type": "invalid", "raw": line[:200].decode("utf-8", "replace")}
        return action if isinstance(action, dict) else {"type": "invalid", "raw": line[:200].decode("utf-8", "replace")}

    def _read_line(self, deadline: float) -> bytes | str:
        """The next line of the program's stdout, or why there is none (it ended, it is too slow, too long).
        Read with select() on the raw pipe, never a blocking readline: the program may never finish its line."""
        assert self.proc is not None and self.proc.stdout is not None
        fd = self.proc.stdout.fileno()
        chunks, size, newline = [self._buffer], len(self._buffer), b"\n" in self._buffer
        while not newline:
            if size > self.MAX_LINE:
                return f"agent answer longer than {self.MAX_LINE} bytes without a newline"
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                return f"agent did not answer within {self.timeout:g} s"
            chunk = os.read(fd, 1 << 16)
            if not chunk:
                return "agent process ended"
            chunks.append(chunk)
            size, newline = size + len(chunk), b"\n" in chunk
        line, _, self._buffer = b"".join(chunks).partition(b"\n")
        return line + b"\n"

    def close(self) -> None:
        if self.proc is not None:
            if self.proc.poll() is None:
                self.proc.kill()
            self.proc.wait()
            for pipe in (self.proc.stdin, self.proc.stdout):
                if pipe is not None:
                    try:
                        pipe.close()
                    except OSError:
                        pass
        self.proc = None


def command_timeout(env: Any = None) -> float:
    """Seconds a ``cmd:`` agent has for each answer: ``LANSER_CMD_TIMEOUT``, default 300."""
    raw = (os.environ if env is None else env).get("LANSER_CMD_TIMEOUT") or "300"
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not 0 < value < float("inf"):
        raise BadRequest(
            f"LANSER_CMD_TIMEOUT={raw[:40]!r} is not a positive number of seconds", field="LANSER_CMD_TIMEOUT"
        )
    return value


def make_agent(spec: str, base: Path | None = None) -> Agent:
    if spec == "oracle":
        return OracleAgent()
    if spec == "noop":
        return _Scripted("noop", [{"type": "submit"}])
    if spec.startswith("replay:"):
        path = Path(spec[len("replay:") :])
        if not path.is_absolute() and base is not None and not path.exists():
            path = base / path
        try:
            actions = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
        except (OSError, ValueError) as exc:
            raise BadRequest(f"cannot read the trajectory {path}: {exc}") from None
        return _Scripted(f"replay:{path.name}", actions)
    if spec.startswith("cmd:"):
        return CommandAgent(spec[len("cmd:") :], timeout=command_timeout())
    if spec.startswith("llm:"):  # a model behind a Chat Completions endpoint (docs/llm-agent.md)
        from lanser.harness.run.llm.agent import make_llm_agent

        return make_llm_agent(spec)
    kind, _, seed = spec.partition(":")
    if kind in ("partial", "corrupt", "shuffle"):
        from lanser.harness.study.synthetic import TrajectoryAgent

        if not re.fullmatch(r"\d{0,9}", seed):
            raise BadRequest(
                f"agent {spec!r}: the seed must be a non-negative integer ({kind}:3)", field="agent", hint=spec[:80]
            )
        return TrajectoryAgent(kind, int(seed or 0))
    raise BadRequest(
        f"unknown agent {spec!r}: oracle, noop, partial[:SEED], corrupt[:SEED], shuffle[:SEED], "
        "replay:FILE, cmd:COMMAND or llm:MODEL",
        field="agent",
        hint=re.sub(r"\s+", " ", spec)[:80],
    )
