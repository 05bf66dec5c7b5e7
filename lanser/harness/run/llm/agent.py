"""``llm:MODEL``: an agent whose actions come from a model behind a Chat Completions endpoint.

The runner's protocol is unchanged (an observation in, one action out): each
tool call the model makes becomes one runner action (:mod:`.tools`), and the
runner's answer goes back to the model as that call's result.  The agent adds
actions of its own, recorded as ``internal``: the repository layout first
(for the task prompt) and a file read before a ``replace`` (the diff needs
the file's text).  Budgets (model calls, tokens, cost, wall time) end the
episode with a submit; an endpoint that stays down raises
:class:`~lanser.harness.errors.InfrastructureError` (the attempt is
``infra_error``, not the model's failure).  docs/llm-agent.md documents the
prompts, the tools, the budgets and the trajectory format.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from lanser.errors import BadRequest
from lanser.harness.errors import InfrastructureError
from lanser.harness.run.llm.client import ChatClient, ChatError, ContextOverflow, EndpointDown
from lanser.harness.run.llm.tools import (
    SELECTORS,
    ToolError,
    cat_command,
    parse_text_action,
    replace_to_diff,
    to_action,
    tool_schemas,
)
from lanser.harness.run.llm.trajectory import Trajectory

__all__ = ["LLMAgent", "LLMConfig", "SYSTEM_PROMPT", "config_from_env", "cost_of", "task_prompt", "truncate_history"]

PROMPT_VERSION = 4  # 3: assistant content a string ("" for none); 4: long replies truncated after observations
TRUNCATED = "[lanser: this observation was removed to fit the model's context window]"
LAYOUT_COMMAND = (
    "(git ls-files 2>/dev/null || find . -type f -not -path './.git/*' | sed 's|^./||') | sort | head -n 300"
)

SYSTEM_PROMPT = (
    """You are a software engineer fixing a task in a code repository, working through tools.
Each turn, call exactly one tool. Tools:
- lanser code intelligence: definition, references, hover, symbols, diagnostics, locate, prepare_rename, rename,
  code_actions, check_patch (they take selectors, below);
- view (a file or a line range, with line numbers), edit (a unified diff), replace (exact search/replace in one
  file), run (a shell command in the sandboxed repository: build, tests; no network), submit (when done).
An edit is checked before it is written; its result says whether it applied and which diagnostics it added or
removed. Keep edits small; build and run the tests before you submit.
If you cannot call tools, answer with one JSON object in a ```json block:
{"tool": "NAME", "arguments": {...}}

"""
    + SELECTORS
)


def task_prompt(task: Any, layout: str) -> str:
    commands = task.commands
    protected = getattr(task, "protected_globs", ())
    return (
        f"Task {task.id} ({task.language}).\n\nProblem:\n{task.problem}\n\n"
        f"Repository files (first 300):\n{layout.strip() or '(none listed)'}\n\n"
        f"Build: {commands.build}\nTest: {commands.test}\n"
        + (f"Sanitizers: {commands.sanitize}\n" if commands.sanitize else "")
        + (
            f"Protected (edits to these paths are refused, and the grader keeps none): {' '.join(protected)}\n"
            if protected
            else ""
        )
        + "\nFix the problem so that the build and the tests pass, then call submit."
    )


@dataclass
class LLMConfig:
    model: str
    base_url: str
    api_key: str | None = field(default=None, repr=False)
    max_steps: int = 30  # model calls
    max_tokens: int = 1_000_000  # prompt + completion, summed over calls
    max_cost: float | None = None
    wall_s: float = 1800.0
    show_reward: bool = True
    prices: dict[str, float] = field(default_factory=dict)  # {"input": $/Mtok, "output": $/Mtok}
    temperature: float = 0.0
    max_response_tokens: int | None = None
    tool_choice: str | None = None  # "auto", "required" or "none"; unset: not sent (the API's default is auto)
    timeout_s: float = 120.0
    retries: int = 4
    backoff_s: float = 1.0
    observation_chars: int = 12_000
    context_chars: int = 400_000  # history kept under this many characters, oldest observations first to go
    trajectory_dir: Path | None = None

    def public(self) -> dict[str, Any]:
        """The settings recorded with a trajectory (never the key)."""
        out = asdict(self)
        out.pop("api_key")
        out["trajectory_dir"] = str(self.trajectory_dir) if self.trajectory_dir else None
        return out


def _num(env: Mapping[str, str], name: str, default: float | None, kind: type = float) -> Any:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = kind(raw)
    except ValueError:
        raise BadRequest(f"{name}={raw[:40]!r} is not a number", field=name) from None
    if value < 0:
        raise BadRequest(f"{name} must not be negative", field=name)
    return value


def _prices(raw: str | None, model: str) -> dict[str, float]:
    if not raw:
        return {}
    try:
        text = Path(raw).read_text() if not raw.lstrip().startswith("{") else raw
        table = json.loads(text)
    except (OSError, ValueError) as exc:
        raise BadRequest(
            f"LANSER_LLM_PRICES: not a JSON price table or file: {exc}", field="LANSER_LLM_PRICES"
        ) from None
    entry = table.get(model, table) if isinstance(table, dict) else None
    if not isinstance(entry, dict) or not all(isinstance(entry.get(k, 0), (int, float)) for k in ("input", "output")):
        raise BadRequest(
            'LANSER_LLM_PRICES: expected {"input": USD per million tokens, "output": ...} or a table of them by model',
            field="LANSER_LLM_PRICES",
        )
    return {"input": float(entry.get("input", 0)), "output": float(entry.get("output", 0))}


def config_from_env(model: str, env: Mapping[str, str] | None = None) -> LLMConfig:
    """The agent's settings from ``LANSER_LLM_*`` variables (``lanser bench run --llm-*`` sets them)."""
    env = os.environ if env is None else env
    if not model:
        raise BadRequest("llm:MODEL needs a model name (llm:qwen2.5-coder-7b)", field="agent")
    base = env.get("LANSER_LLM_BASE_URL", "")
    if not base.startswith(("http://", "https://")):
        raise BadRequest(
            "the llm agent needs the endpoint: --llm-base-url or LANSER_LLM_BASE_URL (http://127.0.0.1:8000/v1)",
            field="LANSER_LLM_BASE_URL",
        )
    key_env = env.get("LANSER_LLM_API_KEY_ENV") or "LANSER_LLM_API_KEY"
    trajectories = env.get("LANSER_LLM_TRAJECTORY_DIR")
    max_cost = _num(env, "LANSER_LLM_MAX_COST", None)
    max_response = _num(env, "LANSER_LLM_MAX_RESPONSE_TOKENS", None, int)
    tool_choice = env.get("LANSER_LLM_TOOL_CHOICE") or None
    if tool_choice not in (None, "auto", "required", "none"):
        raise BadRequest(
            f"LANSER_LLM_TOOL_CHOICE={tool_choice[:40]!r}: auto, required or none", field="LANSER_LLM_TOOL_CHOICE"
        )
    return LLMConfig(
        model=model,
        base_url=base,
        api_key=env.get(key_env) or None,
        max_steps=_num(env, "LANSER_LLM_MAX_STEPS", 30, int),
        max_tokens=_num(env, "LANSER_LLM_MAX_TOKENS", 1_000_000, int),
        max_cost=max_cost,
        wall_s=_num(env, "LANSER_LLM_WALL_S", 1800.0),
        show_reward=env.get("LANSER_LLM_SHOW_REWARD", "1").lower() not in ("0", "false", "no", "off"),
        prices=_prices(env.get("LANSER_LLM_PRICES"), model),
        temperature=_num(env, "LANSER_LLM_TEMPERATURE", 0.0),
        max_response_tokens=max_response,
        tool_choice=tool_choice,
        timeout_s=_num(env, "LANSER_LLM_TIMEOUT", 120.0),
        retries=_num(env, "LANSER_LLM_RETRIES", 4, int),
        backoff_s=_num(env, "LANSER_LLM_BACKOFF", 1.0),
        trajectory_dir=Path(trajectories) if trajectories else None,
    )


def cost_of(usage: Mapping[str, Any], prices: Mapping[str, float]) -> float:
    """USD for one call: prompt tokens at ``input``, completion tokens at ``output`` (per million)."""
    return round(
        int(usage.get("prompt_tokens") or 0) * prices.get("input", 0.0) / 1e6
        + int(usage.get("completion_tokens") or 0) * prices.get("output", 0.0) / 1e6,
        9,
    )


def _observation_messages(messages: list[dict[str, Any]]) -> list[int]:
    """Indexes of the messages that hold observations (tool results and the agent's later user notes),
    oldest first; the system prompt and the task prompt are never truncated."""
    return [i for i, m in enumerate(messages) if i >= 2 and m["role"] in ("tool", "user") and m["content"] != TRUNCATED]


#: A part of a model's reply (its text, a tool call's arguments) longer than this may be truncated.
_LONG_REPLY = 200


def _long_replies(messages: list[dict[str, Any]]) -> list[int]:
    """Indexes of the model's replies with a part over :data:`_LONG_REPLY` characters, oldest first."""

    def long(m: dict[str, Any]) -> bool:
        raw = m.get("tool_calls")
        calls: list[Any] = raw if isinstance(raw, list) else []
        return len(str(m.get("content") or "")) > _LONG_REPLY or any(
            len(str((c.get("function") or {}).get("arguments") or "")) > _LONG_REPLY for c in calls
        )

    return [i for i, m in enumerate(messages) if i >= 2 and m["role"] == "assistant" and long(m)]


def _cut_reply(message: dict[str, Any]) -> dict[str, Any]:
    """A reply with its long parts replaced by the marker; a tool call keeps its id and name, and its
    arguments stay a JSON object (some servers' templates parse them)."""
    out = dict(message)
    if len(str(out.get("content") or "")) > _LONG_REPLY:
        out["content"] = TRUNCATED
    if isinstance(out.get("tool_calls"), list):
        out["tool_calls"] = [
            {**c, "function": {**c["function"], "arguments": json.dumps({"lanser": TRUNCATED})}}
            if isinstance(c.get("function"), dict) and len(str(c["function"].get("arguments") or "")) > _LONG_REPLY
            else c
            for c in out["tool_calls"]
        ]
    return out


def truncate_history(messages: list[dict[str, Any]], limit_chars: int | None = None) -> int:
    """Replace the oldest observations by :data:`TRUNCATED`, then (none left) the long parts of the
    model's oldest replies: one when ``limit_chars`` is None (after a context-length error), else as
    many as needed for the history to fit ``limit_chars``.  Returns how many were replaced; the
    message structure (roles, tool_call_ids) stays, so the API accepts it."""
    done = 0

    def size() -> int:
        return sum(len(json.dumps(m)) for m in messages)

    observations = _observation_messages(messages)
    for i in observations + _long_replies(messages):
        if limit_chars is not None and size() <= limit_chars:
            break
        messages[i] = {**messages[i], "content": TRUNCATED} if i in observations else _cut_reply(messages[i])
        done += 1
        if limit_chars is None:
            break
    return done


def _count(value: Any) -> int:
    """A token count from the endpoint's ``usage`` (hostile: anything but a non-negative integer is 0)."""
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else 0


def _strip_rewards(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _strip_rewards(v) for k, v in value.items() if k not in ("processReward", "reward")}
    if isinstance(value, list):
        return [_strip_rewards(v) for v in value]
    return value


def _bounded(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    half = limit // 2
    return f"{text[:half]}\n[lanser: {len(text) - limit} characters cut]\n{text[-half:]}"


class LLMAgent:
    def __init__(self, config: LLMConfig, client: ChatClient | None = None) -> None:
        self.config = config
        self.name = f"llm:{config.model}"
        self.client = client or ChatClient(
            config.base_url,
            config.api_key,
            timeout=config.timeout_s,
            retries=config.retries,
            backoff_base=config.backoff_s,
        )
        self.trajectory = Trajectory()
        self.messages: list[dict[str, Any]] = []
        self.written: tuple[Path, Path] | None = None
        self._task: Any = None
        self._awaiting: tuple[Any, ...] | None = None
        self._calls_queue: list[tuple[str | None, str, Any]] = []
        self._ended = False
        self._started = 0.0
        self.totals = self._zero()

    @staticmethod
    def _zero() -> dict[str, Any]:
        return {
            "calls": 0,
            "prompt_tokens": 0,
            "completion_tokens": 0,
            "cost": 0.0,
            "latency_s": 0.0,
            "tool_errors": 0,
            "truncated": 0,
        }

    def digest(self) -> str:
        settings = {k: v for k, v in self.config.public().items() if k not in ("base_url", "trajectory_dir")}
        return hashlib.sha256(json.dumps([self.name, PROMPT_VERSION, settings], sort_keys=True).encode()).hexdigest()

    # -- the runner's protocol ------------------------------------------------

    def reset(self, task: Any, observation: dict[str, Any]) -> None:
        self._task = task
        self.trajectory = Trajectory()
        self.trajectory.add(
            "start",
            task_id=task.id,
            model=self.config.model,
            base_url=self.config.base_url,
            settings=self.config.public(),
            prompt_version=PROMPT_VERSION,
        )
        self.messages, self._calls_queue, self._ended, self.written = [], [], False, None
        self.totals = self._zero()
        self._started = time.monotonic()
        self._awaiting = ("layout",)

    def act(self, observation: dict[str, Any]) -> dict[str, Any]:
        self.trajectory.add(
            "observation", step=observation.get("step"), reward=observation.get("reward"), last=observation.get("last")
        )
        awaiting, self._awaiting = self._awaiting, None
        if awaiting == ("layout",) and observation.get("last") is None:
            self._awaiting = ("layout-result",)
            return self._emit({"type": "run", "command": LAYOUT_COMMAND}, internal="layout")
        last = observation.get("last") or {}
        if awaiting == ("layout-result",):
            layout = str(last.get("output", "")) if last.get("exitCode") == 0 else ""
            self.messages = [
                {"role": "system", "content": SYSTEM_PROMPT},
                {"role": "user", "content": task_prompt(self._task, layout)},
            ]
        elif awaiting and awaiting[0] == "read":
            _, call_id, tool, pending = awaiting
            try:
                if last.get("exitCode") != 0:
                    raise ToolError(f"cannot read {pending['path']}: {str(last.get('output', ''))[-500:]}")
                if len(str(last.get("output", ""))) >= 8000:
                    raise ToolError(f"{pending['path']} is too long for replace; use edit with a unified diff")
                diff = replace_to_diff(pending["path"], str(last["output"]), pending["search"], pending["replace"])
            except ToolError as exc:
                self._tool_error(call_id, tool, str(exc))
            else:
                self._awaiting = ("tool", call_id, tool)
                return self._emit({"type": "edit", "patch": diff}, tool=tool, call_id=call_id)
        elif awaiting and awaiting[0] == "tool":
            _, call_id, tool = awaiting
            self._answer(call_id, tool, self._render(last, observation))
        return self._next_action()

    def usage(self) -> dict[str, Any]:
        """The last attempt's totals (calls, tokens, cost, latency, tool errors, truncations); still there
        after close(), for the runner to store with the result."""
        return {**self.totals, "model": self.config.model}

    def close(self) -> None:
        if self._task is None:
            return
        if not self._ended:
            self._end("closed by the runner")
        if self.config.trajectory_dir is not None and self.written is None:
            self.written = self.trajectory.write(self.config.trajectory_dir, self._task.slug)
        self._task = None

    # -- the loop ---------------------------------------------------------------

    def _next_action(self) -> dict[str, Any]:
        while True:
            if self._calls_queue:
                call_id, tool, raw_args = self._calls_queue.pop(0)
                try:
                    args = json.loads(raw_args) if isinstance(raw_args, str) else raw_args
                    if args is None:
                        args = {}
                    action = to_action(tool, args)
                except ValueError as exc:  # json.JSONDecodeError included
                    self._tool_error(call_id, tool, f"the arguments are not valid JSON ({exc}); send a JSON object")
                    continue
                except ToolError as exc:
                    self._tool_error(call_id, tool, str(exc))
                    continue
                if action["type"] == "replace":
                    self._awaiting = ("read", call_id, tool, action)
                    return self._emit({"type": "run", "command": cat_command(action["path"])}, internal="read")
                if action["type"] == "submit":
                    for later_id, later_tool, _ in self._calls_queue:
                        self._answer(later_id, later_tool, "not run: submit ended the episode")
                    self._calls_queue = []
                    self._emit(action, tool=tool, call_id=call_id)
                    self._end("submitted")
                    return action
                self._awaiting = ("tool", call_id, tool)
                return self._emit(action, tool=tool, call_id=call_id)
            over = self._over_budget()
            if over:
                return self._give_up(over, over)
            message = self._call()
            if message is None:
                return self._give_up("context overflow", "context overflow: nothing left to truncate")
            raw_calls = message.get("tool_calls")
            calls = [c for c in raw_calls if isinstance(c, dict)] if isinstance(raw_calls, list) else []
            # content as a string, "" for none: a tool-call reply's null content is valid API, but some servers
            # (llama-cpp-python's) refuse it when it comes back in the history
            content = message.get("content")
            assistant: dict[str, Any] = {"role": "assistant", "content": content if isinstance(content, str) else ""}
            if calls:
                assistant["tool_calls"] = calls
            self.messages.append(assistant)
            for call in calls:
                fn: dict[str, Any] = call["function"] if isinstance(call.get("function"), dict) else {}
                self._calls_queue.append(
                    (str(call.get("id") or ""), str(fn.get("name") or ""), fn.get("arguments") or "{}")
                )
            if not calls:
                parsed = parse_text_action(str(message.get("content") or ""))
                if parsed is None:
                    self.messages.append(
                        {
                            "role": "user",
                            "content": "No tool call found. Call exactly one tool, "
                            'or answer with a ```json block {"tool": NAME, "arguments": {...}}.',
                        }
                    )
                    self.totals["tool_errors"] += 1
                    continue
                self._calls_queue.append((None, parsed[0], parsed[1]))

    def _call(self) -> dict[str, Any] | None:
        """One model call (after shrinking the history to its budget); None when the context overflows
        with nothing left to truncate."""
        while True:
            cut = truncate_history(self.messages, self.config.context_chars)
            if cut:
                self.totals["truncated"] += cut
                self.trajectory.add("truncated", messages=cut, why="history over context_chars")
            payload: dict[str, Any] = {
                "model": self.config.model,
                "messages": self.messages,
                "tools": tool_schemas(),
                "temperature": self.config.temperature,
            }
            if self.config.max_response_tokens:
                payload["max_tokens"] = self.config.max_response_tokens
            if self.config.tool_choice:
                payload["tool_choice"] = self.config.tool_choice
            index = self.totals["calls"]
            request = json.loads(json.dumps(payload))  # a snapshot: the history changes after the call
            try:
                reply = self.client.complete(payload)
            except ContextOverflow as exc:
                self.trajectory.add(
                    "call",
                    index=index,
                    request=request,
                    response=None,
                    error=exc.raw,
                    status=exc.status,
                    tries=[],
                    latency_s=0.0,
                    usage=None,
                    cost=0.0,
                )
                if not truncate_history(self.messages):
                    return None
                self.totals["truncated"] += 1
                self.trajectory.add("truncated", messages=1, why="context_length_exceeded")
                continue
            except EndpointDown as exc:
                self.trajectory.add(
                    "call",
                    index=index,
                    request=request,
                    response=None,
                    error=exc.raw,
                    status=exc.status,
                    tries=exc.tries,
                    latency_s=0.0,
                    usage=None,
                    cost=0.0,
                )
                self._end(f"endpoint down: {exc}")
                raise InfrastructureError(str(exc), stage="llm", log_tail=exc.raw[-2000:]) from None
            except ChatError as exc:
                self.trajectory.add(
                    "call",
                    index=index,
                    request=request,
                    response=None,
                    error=exc.raw,
                    status=exc.status,
                    tries=[],
                    latency_s=0.0,
                    usage=None,
                    cost=0.0,
                )
                self._end(f"endpoint error: {exc}")
                raise InfrastructureError(f"{exc}: {exc.raw[:300]}", stage="llm", log_tail=exc.raw[-2000:]) from None
            raw_usage = reply.body.get("usage")
            usage: dict[str, Any] = raw_usage if isinstance(raw_usage, dict) else {}
            tokens = {
                "prompt_tokens": _count(usage.get("prompt_tokens")),
                "completion_tokens": _count(usage.get("completion_tokens")),
            }
            cost = cost_of(tokens, self.config.prices)
            self.totals["calls"] += 1
            self.totals["prompt_tokens"] += tokens["prompt_tokens"]
            self.totals["completion_tokens"] += tokens["completion_tokens"]
            self.totals["cost"] = round(self.totals["cost"] + cost, 9)
            self.totals["latency_s"] = round(self.totals["latency_s"] + reply.latency_s, 6)
            self.trajectory.add(
                "call",
                index=index,
                request=request,
                response=reply.body,
                error=None,
                tries=reply.tries,
                latency_s=round(reply.latency_s, 6),
                usage=tokens,
                cost=cost,
                usage_reported=bool(usage),
            )
            choice = (reply.body.get("choices") or [{}])[0]
            message = choice.get("message") if isinstance(choice, dict) else None
            return message if isinstance(message, dict) else {"content": ""}

    def _over_budget(self) -> str | None:
        t, c = self.totals, self.config
        if t["calls"] >= c.max_steps:
            return f"budget: {c.max_steps} model calls"
        if t["prompt_tokens"] + t["completion_tokens"] >= c.max_tokens:
            return f"budget: {c.max_tokens} tokens"
        if c.max_cost is not None and t["cost"] >= c.max_cost:
            return f"budget: {c.max_cost} USD"
        if time.monotonic() - self._started >= c.wall_s:
            return f"budget: {c.wall_s} s wall time"
        return None

    # -- messages -----------------------------------------------------------------

    def _render(self, last: dict[str, Any], observation: dict[str, Any]) -> str:
        shown = last if self.config.show_reward else _strip_rewards(last)
        if "exitCode" in shown:
            text = (
                f"exit code {shown['exitCode']}"
                + (" (timed out)" if shown.get("timedOut") else "")
                + f"\n{shown.get('output', '')}"
            )
        else:
            text = json.dumps(shown, sort_keys=True, ensure_ascii=False)
        if self.config.show_reward:
            text += f"\n[process reward so far: {observation.get('reward')}]"
        return _bounded(text, self.config.observation_chars)

    def _answer(self, call_id: str | None, tool: str, text: str) -> None:
        if call_id is None:  # a plain-text action: its result is a user message
            self.messages.append({"role": "user", "content": f"Result of {tool}:\n{text}"})
        else:
            self.messages.append({"role": "tool", "tool_call_id": call_id, "content": text})

    def _tool_error(self, call_id: str | None, tool: str, message: str) -> None:
        self.totals["tool_errors"] += 1
        self.trajectory.add("tool_error", tool=tool, tool_call_id=call_id, message=message)
        self._answer(call_id, tool, f"error: {message}")

    def _emit(
        self,
        action: dict[str, Any],
        *,
        tool: str | None = None,
        call_id: str | None = None,
        internal: str | None = None,
    ) -> dict[str, Any]:
        self.trajectory.add("action", action=action, tool=tool, tool_call_id=call_id, internal=internal)
        return action

    def _give_up(self, note: str, reason: str) -> dict[str, Any]:
        action = self._emit({"type": "submit", "note": note}, internal="budget")
        self._end(reason)
        return action

    def _end(self, reason: str) -> None:
        self._ended = True
        self.trajectory.add(
            "end", reason=reason, totals=dict(self.totals), wall_s=round(time.monotonic() - self._started, 3)
        )


def make_llm_agent(spec: str, env: Mapping[str, str] | None = None) -> LLMAgent:
    """``llm:MODEL`` (everything after the first colon is the model's name, colons included)."""
    return LLMAgent(config_from_env(spec.partition(":")[2], env))
