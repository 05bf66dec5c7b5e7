"""The LLM agent without a model: a scripted Chat Completions server on loopback (real HTTP),
the agent driven by hand-made runner observations (no Docker here; tests/docker/test_llm_bench.py
runs it through the real runner)."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from lanser.errors import BadRequest
from lanser.harness.errors import InfrastructureError
from lanser.harness.run.llm.agent import TRUNCATED, LLMAgent, LLMConfig, config_from_env, cost_of, truncate_history
from lanser.harness.run.llm.client import ChatClient, EndpointDown, backoff_schedule
from lanser.harness.run.llm.tools import ToolError, parse_text_action, replace_to_diff, to_action, validate_diff
from lanser.harness.run.llm.trajectory import replay_actions
from tests.servers.openai_script import ScriptServer

TASK = SimpleNamespace(
    id="toy/t",
    slug="toy__t",
    language="c",
    problem="count_char counts wrong",
    commands=SimpleNamespace(build="make", test="make test", sanitize=None),
)
DIFF = "--- a/x.c\n+++ b/x.c\n@@ -1,2 +1,2 @@\n int a;\n-int b;\n+int c;\n"


def _agent(server: ScriptServer, sleeps: list[float] | None = None, **kw: Any) -> LLMAgent:
    cfg = LLMConfig(model="m", base_url=server.base_url, **kw)
    client = ChatClient(
        cfg.base_url,
        "sekrit",
        timeout=kw.get("timeout_s", 30.0),
        retries=cfg.retries,
        backoff_base=cfg.backoff_s,
        sleep=(sleeps.append if sleeps is not None else lambda s: None),
    )
    return LLMAgent(cfg, client=client)


def _start(agent: LLMAgent) -> dict[str, Any]:
    """reset, the layout action, its answer: returns the first model-driven action."""
    agent.reset(TASK, {"step": 0, "last": None, "reward": 0})
    first = agent.act({"step": 0, "last": None, "reward": 0})
    assert first["type"] == "run" and "ls-files" in first["command"]
    return agent.act({"step": 1, "last": {"exitCode": 0, "output": "x.c\nMakefile\n", "timedOut": False}, "reward": 0})


def test_tool_calls_become_runner_actions_and_results_go_back_with_their_ids() -> None:
    script = [
        {
            "tool_calls": [{"name": "definition", "arguments": {"selector": "c://x.c#f"}}],
            "usage": {"prompt_tokens": 100, "completion_tokens": 10},
        },
        {
            "tool_calls": [{"name": "edit", "arguments": {"diff": DIFF}}],
            "usage": {"prompt_tokens": 150, "completion_tokens": 40},
        },
        {"tool_calls": [{"name": "submit", "arguments": {}}], "usage": {"prompt_tokens": 200, "completion_tokens": 5}},
    ]
    with ScriptServer(script) as srv:
        agent = _agent(srv, prices={"input": 2.0, "output": 10.0})
        a1 = _start(agent)
        assert a1 == {"type": "lanser", "request": {"cmd": "definition", "selector": "c://x.c#f", "args": {}}}
        a2 = agent.act({"step": 2, "last": {"bundle": {"status": "ok", "locations": []}}, "reward": 0})
        assert a2 == {"type": "edit", "patch": DIFF}
        a3 = agent.act({"step": 3, "last": {"status": "ok", "processReward": {"r": 0.4}}, "reward": 0.4})
        assert a3 == {"type": "submit"}
    # the task prompt names the problem, the layout and the commands; the key is sent as a bearer token
    first = srv.requests[0]
    assert "count_char counts wrong" in first["messages"][1]["content"]
    assert "Makefile" in first["messages"][1]["content"] and "make test" in first["messages"][1]["content"]
    assert {t["function"]["name"] for t in first["tools"]} >= {
        "definition",
        "rename",
        "check_patch",
        "view",
        "edit",
        "replace",
        "run",
        "submit",
    }
    assert srv.headers[0]["authorization"] == "Bearer sekrit"
    tool_msg = srv.requests[1]["messages"][-1]
    assert tool_msg["role"] == "tool" and tool_msg["tool_call_id"] == "call_1_0"
    assert "process reward so far: 0.4" in srv.requests[2]["messages"][-1]["content"]
    # accounting: the script's numbers, priced per million tokens
    agent.close()
    t = agent.usage()
    assert (t["model"], t["calls"], t["prompt_tokens"], t["completion_tokens"]) == ("m", 3, 450, 55)
    assert t["cost"] == pytest.approx(450 * 2.0 / 1e6 + 55 * 10.0 / 1e6)
    calls = [e for e in agent.trajectory.events if e["event"] == "call"]
    assert [c["usage"] for c in calls][1] == {"prompt_tokens": 150, "completion_tokens": 40}
    assert calls[0]["request"] == srv.requests[0]


def test_hidden_reward_is_not_shown_to_the_model() -> None:
    script = [
        {"tool_calls": [{"name": "edit", "arguments": {"diff": DIFF}}]},
        {"tool_calls": [{"name": "submit", "arguments": {}}]},
    ]
    with ScriptServer(script) as srv:
        agent = _agent(srv, show_reward=False)
        _start(agent)
        agent.act({"step": 2, "last": {"status": "ok", "processReward": {"r": 0.9}, "appeared": []}, "reward": 0.9})
    text = json.dumps(srv.requests[1]["messages"])
    assert "0.9" not in text and "processReward" not in text and "reward" not in text.lower()


def test_malformed_arguments_and_bad_diffs_go_back_to_the_model_which_recovers() -> None:
    script = [
        {"tool_calls": [{"name": "edit", "arguments": "{not json"}]},
        {"tool_calls": [{"name": "edit", "arguments": {"diff": "just change line 3"}}]},
        {"tool_calls": [{"name": "edit", "arguments": {"diff": DIFF.replace("-1,2 +1,2", "-1,5 +1,2")}}]},
        {"tool_calls": [{"name": "frobnicate", "arguments": {}}]},
        {"tool_calls": [{"name": "edit", "arguments": {"diff": DIFF}}]},
    ]
    with ScriptServer(script) as srv:
        agent = _agent(srv)
        assert _start(agent) == {"type": "edit", "patch": DIFF}
    errors = [r["messages"][-1]["content"] for r in srv.requests[1:]]
    assert "not valid JSON" in errors[0]
    assert "not a unified diff" in errors[1]
    assert "line counts do not match" in errors[2]
    assert "unknown tool 'frobnicate'" in errors[3]
    assert agent.totals["tool_errors"] == 4


def test_search_replace_reads_the_file_then_edits_or_says_why_not() -> None:
    text = "int a;\nint b;\nint b2;\n"
    script = [
        {"tool_calls": [{"name": "replace", "arguments": {"path": "x.c", "search": "int z;", "replace": "q"}}]},
        {"tool_calls": [{"name": "replace", "arguments": {"path": "x.c", "search": "int b", "replace": "q"}}]},
        {
            "tool_calls": [
                {"name": "replace", "arguments": {"path": "x.c", "search": "int b;\n", "replace": "int c;\n"}}
            ]
        },
    ]
    with ScriptServer(script) as srv:
        agent = _agent(srv)
        read = _start(agent)
        assert read == {"type": "run", "command": "cat ./x.c"}
        read2 = agent.act({"step": 2, "last": {"exitCode": 0, "output": text}, "reward": 0})
        assert read2 == read
        read3 = agent.act({"step": 3, "last": {"exitCode": 0, "output": text}, "reward": 0})
        edit = agent.act({"step": 4, "last": {"exitCode": 0, "output": text}, "reward": 0})
    assert "does not occur" in srv.requests[1]["messages"][-1]["content"]
    assert "occurs 2 times" in srv.requests[2]["messages"][-1]["content"]
    assert read3 == read and edit["type"] == "edit"
    assert edit["patch"].startswith("--- a/x.c\n+++ b/x.c\n") and "-int b;\n+int c;\n" in edit["patch"]
    internal = [e["internal"] for e in agent.trajectory.events if e["event"] == "action"]
    assert internal == ["layout", "read", "read", "read", None]


def test_plain_text_action_fallback_and_a_reply_with_no_action() -> None:
    script = [
        {"content": "I think I should look around."},
        {
            "content": 'Let me view it.\n```json\n{"tool": "view", "arguments": {"path": "x.c", '
            '"start": 3, "end": 9}}\n```'
        },
        {"content": '{"tool": "submit"}'},
    ]
    with ScriptServer(script) as srv:
        agent = _agent(srv)
        view = _start(agent)
        assert view["type"] == "run" and "-v a=3 -v b=9" in view["command"] and view["command"].endswith(" ./x.c")
        assert agent.act({"step": 2, "last": {"exitCode": 0, "output": "     3  int b;"}, "reward": 0}) == {
            "type": "submit"
        }
    assert "No tool call found" in srv.requests[1]["messages"][-1]["content"]
    assert srv.requests[2]["messages"][-1]["content"].startswith("Result of view:\nexit code 0")


def test_paths_and_arguments_are_refused_before_anything_runs() -> None:
    for bad in ("/etc/passwd", "../x", "a/../../b", "-rf", ".git/config", ""):
        with pytest.raises(ToolError):
            to_action("view", {"path": bad})
    assert to_action("view", {"path": "a b'; rm -rf /"})["command"].endswith(" './a b'\"'\"'; rm -rf /'")
    with pytest.raises(ToolError, match="unknown argument"):
        to_action("hover", {"selector": "x.c@L1:C1", "sneaky": 1})
    with pytest.raises(ToolError, match="missing"):
        to_action("rename", {"selector": "c://x.c#f"})
    assert to_action("rename", {"selector": "c://x.c#f", "new_name": "g", "apply": True}) == {
        "type": "lanser",
        "request": {"cmd": "rename", "selector": "c://x.c#f", "args": {"newName": "g", "apply": True}},
    }
    assert to_action("check_patch", {"patch": DIFF})["request"] == {"cmd": "check", "args": {"patch": DIFF}}
    with pytest.raises(ToolError, match="no newline"):
        replace_to_diff("x.c", "int a;", "a", "b")
    assert validate_diff(DIFF.rstrip("\n")) == DIFF
    assert parse_text_action("no json here {") is None


def test_truncation_replaces_oldest_observations_with_a_marker() -> None:
    msgs: list[dict[str, Any]] = [
        {"role": "system", "content": "s"},
        {"role": "user", "content": "task"},
        {"role": "assistant", "content": None, "tool_calls": []},
        {"role": "tool", "tool_call_id": "1", "content": "A" * 1000},
        {"role": "tool", "tool_call_id": "2", "content": "B" * 1000},
    ]
    assert truncate_history(msgs) == 1
    assert msgs[3]["content"] == TRUNCATED and msgs[4]["content"] == "B" * 1000
    assert truncate_history(msgs, limit_chars=10**6) == 0
    assert truncate_history(msgs, limit_chars=100) == 1
    assert msgs[4]["content"] == TRUNCATED and msgs[1]["content"] == "task"  # the task prompt stays
    assert truncate_history(msgs) == 0


def test_context_overflow_truncates_and_retries_then_gives_up_with_a_submit() -> None:
    script = [
        {"tool_calls": [{"name": "run", "arguments": {"command": "make"}}]},
        {"context_overflow": True},
        {"tool_calls": [{"name": "run", "arguments": {"command": "make test"}}]},
        {"context_overflow": True},
        {"context_overflow": True},
    ]
    with ScriptServer(script) as srv:
        agent = _agent(srv)
        assert _start(agent) == {"type": "run", "command": "make"}
        assert agent.act({"step": 2, "last": {"exitCode": 2, "output": "E" * 500}, "reward": 0}) == {
            "type": "run",
            "command": "make test",
        }
        # the retried request carries the marker where the build output was
        assert srv.requests[2]["messages"][3]["content"] == TRUNCATED
        final = agent.act({"step": 3, "last": {"exitCode": 0, "output": "ok"}, "reward": 0})
    assert final == {"type": "submit", "note": "context overflow"}
    assert agent.trajectory.events[-1]["event"] == "end"


def test_backoff_schedule_and_429_then_success() -> None:
    assert backoff_schedule(5, 1.0, cap=6.0) == [1.0, 2.0, 4.0, 6.0, 6.0]
    sleeps: list[float] = []
    with ScriptServer([{"status": 429, "repeat": 2}, {"content": "hi", "usage": {"prompt_tokens": 3}}]) as srv:
        reply = ChatClient(srv.base_url, retries=3, backoff_base=0.5, sleep=sleeps.append).complete({"model": "m"})
    assert sleeps == [0.5, 1.0] and reply.body["usage"]["prompt_tokens"] == 3
    assert [t["status"] for t in reply.tries] == [429, 429]


def test_500_storm_is_an_infrastructure_error_with_the_raw_error_kept() -> None:
    sleeps: list[float] = []
    with ScriptServer([{"status": 503, "body": {"error": {"message": "overloaded xyz"}}, "repeat": 10}]) as srv:
        agent = _agent(srv, sleeps=sleeps, retries=3)
        with pytest.raises(InfrastructureError, match="failed 4 times") as info:
            _start(agent)
    assert sleeps == [1.0, 2.0, 4.0] and len(srv.requests) == 4
    assert "overloaded xyz" in (info.value.log_tail or "")
    call = [e for e in agent.trajectory.events if e["event"] == "call"][0]
    assert call["response"] is None and len(call["tries"]) == 4


def test_a_hanging_endpoint_times_out_and_is_retried() -> None:
    with ScriptServer([{"hang": 30}, {"hang": 30}]) as srv:
        client = ChatClient(srv.base_url, timeout=0.5, retries=1, sleep=lambda s: None)
        with pytest.raises(EndpointDown) as info:
            client.complete({"model": "m"})
    assert len(info.value.tries) == 2 and all("timed out" in t["error"] for t in info.value.tries)


def test_a_4xx_other_than_overflow_is_not_retried() -> None:
    with ScriptServer([{"status": 401, "body": {"error": {"message": "bad key"}}}]) as srv:
        agent = _agent(srv)
        with pytest.raises(InfrastructureError, match="HTTP 401"):
            _start(agent)
    assert len(srv.requests) == 1


def test_budgets_end_the_episode_with_a_submit() -> None:
    run = {
        "tool_calls": [{"name": "run", "arguments": {"command": "true"}}],
        "usage": {"prompt_tokens": 600, "completion_tokens": 0},
    }
    with ScriptServer([run] * 5) as srv:
        agent = _agent(srv, max_steps=10, max_tokens=1000)
        _start(agent)
        assert agent.act({"step": 2, "last": {"exitCode": 0, "output": ""}, "reward": 0})["type"] == "run"
        out = agent.act({"step": 3, "last": {"exitCode": 0, "output": ""}, "reward": 0})
    assert len(srv.requests) == 2 and out == {"type": "submit", "note": "budget: 1000 tokens"}
    with ScriptServer([run] * 5) as srv:
        agent = _agent(srv, max_steps=1)
        _start(agent)
        assert (
            agent.act({"step": 2, "last": {"exitCode": 0, "output": ""}, "reward": 0})["note"]
            == "budget: 1 model calls"
        )
    assert cost_of({"prompt_tokens": 1_000_000, "completion_tokens": 500_000}, {"input": 1, "output": 4}) == 3.0


def test_trajectory_exports_and_its_actions_replay(tmp_path: Path) -> None:
    from lanser.harness.run.agents import make_agent

    script = [
        {"tool_calls": [{"name": "edit", "arguments": {"diff": DIFF}}]},
        {"tool_calls": [{"name": "submit", "arguments": {}}]},
    ]
    with ScriptServer(script) as srv:
        agent = _agent(srv, trajectory_dir=tmp_path)
        emitted = [_start(agent)]
        emitted.append(agent.act({"step": 2, "last": {"status": "ok"}, "reward": 0}))
        agent.close()
    assert agent.written is not None
    full, actions = agent.written
    events = [json.loads(line) for line in full.read_text().splitlines()]
    assert events[0]["event"] == "start" and events[0]["format"] == "lanser-llm-trajectory/1"
    assert "sekrit" not in full.read_text()
    assert events[-1]["event"] == "end" and events[-1]["reason"] == "submitted"
    recorded = replay_actions(full)
    assert recorded == replay_actions(actions) and recorded[1:] == emitted
    replay = make_agent(f"replay:{actions}")
    replay.reset(TASK, {})
    assert [replay.act({}) for _ in recorded] == recorded


def test_config_from_the_environment() -> None:
    with pytest.raises(BadRequest, match="LANSER_LLM_BASE_URL"):
        config_from_env("m", {})
    cfg = config_from_env(
        "qwen2.5:7b",
        {
            "LANSER_LLM_BASE_URL": "http://127.0.0.1:1/v1",
            "MYKEY": "k",
            "LANSER_LLM_API_KEY_ENV": "MYKEY",
            "LANSER_LLM_SHOW_REWARD": "0",
            "LANSER_LLM_PRICES": '{"qwen2.5:7b": {"input": 0.1, "output": 0.2}}',
            "LANSER_LLM_MAX_COST": "0.5",
        },
    )
    assert (cfg.model, cfg.api_key, cfg.show_reward, cfg.max_cost) == ("qwen2.5:7b", "k", False, 0.5)
    assert cfg.prices == {"input": 0.1, "output": 0.2} and "api_key" not in cfg.public()
    with pytest.raises(BadRequest):
        config_from_env("m", {"LANSER_LLM_BASE_URL": "http://x/v1", "LANSER_LLM_MAX_STEPS": "lots"})


def test_the_mcp_server_and_the_llm_agent_share_one_tool_table() -> None:
    """Every lanser tool of the LLM agent is an MCP tool with the table's description, parameters and
    required ones (drift between the two front doors fails here)."""
    import asyncio

    from lanser.cli.main import Settings
    from lanser.harness.run.llm.tools import LANSER_TOOLS, tool_schemas
    from lanser.mcp_server import build_server

    settings = Settings(
        workspace=Path("."),
        json=True,
        pretty=False,
        index_io="utf-16",
        timeout=30.0,
        verbose=False,
        python=None,
        daemon=False,
    )  # the server is built, never asked
    mcp = {t.name: t for t in asyncio.run(build_server(settings).list_tools())}
    assert set(mcp) == {t.name for t in LANSER_TOOLS}
    llm = {s["function"]["name"]: s["function"] for s in tool_schemas()}
    for t in LANSER_TOOLS:
        schema = mcp[t.name].input_schema
        assert mcp[t.name].description == t.full_description()
        assert set(schema["properties"]) == set(t.params), t.name
        assert set(schema.get("required", [])) == set(t.required), t.name
        assert llm[t.name]["description"] == t.description
        assert set(llm[t.name]["parameters"]["properties"]) == set(t.params) - set(t.mcp_only)


def test_a_body_cut_short_is_retried_and_hostile_usage_counts_zero() -> None:
    """A 200 whose body ends early raised http.client.IncompleteRead, which was not retried (a crash)."""
    script = [
        {"cut_short": True},
        {
            "tool_calls": [{"name": "submit", "arguments": {}}],
            "usage": {"prompt_tokens": "lots", "completion_tokens": -5},
        },
    ]
    with ScriptServer(script) as srv:
        agent = _agent(srv, prices={"input": 1.0, "output": 1.0})
        assert _start(agent) == {"type": "submit"}
    assert len(srv.requests) == 2
    assert (agent.totals["prompt_tokens"], agent.totals["completion_tokens"], agent.totals["cost"]) == (0, 0, 0.0)


def test_an_endpoint_that_is_not_listening_is_endpoint_down() -> None:
    import socket

    with socket.socket() as s:  # a port nobody listens on: bound, never listening
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        sleeps: list[float] = []
        client = ChatClient(f"http://127.0.0.1:{port}/v1", retries=2, backoff_base=0.25, sleep=sleeps.append)
        with pytest.raises(EndpointDown, match="failed 3 times") as info:
            client.complete({"model": "m"})
    assert sleeps == [0.25, 0.5] and all("refused" in t["error"].lower() for t in info.value.tries)


def test_tool_choice_is_sent_only_when_set() -> None:
    """llama-cpp-python's server returns tool calls only when the request names tool_choice "auto" (it
    reads a missing one as "none", against the API's default); the other servers need nothing."""
    script = [{"tool_calls": [{"name": "submit", "arguments": {}}]}]
    for choice, sent in ((None, None), ("auto", "auto")):
        with ScriptServer(script) as srv:
            agent = _agent(srv, tool_choice=choice)
            assert _start(agent) == {"type": "submit"}
        assert srv.requests[0].get("tool_choice") == sent and ("tool_choice" in srv.requests[0]) == bool(sent)
    env = {"LANSER_LLM_BASE_URL": "http://127.0.0.1:1/v1"}
    assert config_from_env("m", {**env, "LANSER_LLM_TOOL_CHOICE": "required"}).tool_choice == "required"
    assert config_from_env("m", env).tool_choice is None
    with pytest.raises(BadRequest, match="LANSER_LLM_TOOL_CHOICE"):
        config_from_env("m", {**env, "LANSER_LLM_TOOL_CHOICE": "always"})


def test_every_message_sent_back_has_string_content() -> None:
    """Regression: an assistant reply with tool calls and "content": null was sent back as it came, and
    llama-cpp-python's server refuses a null content (HTTP 500 from its validation), so every call after
    the first tool call failed and a real model's attempt ended infra_error."""
    script = [
        {"tool_calls": [{"name": "run", "arguments": {"command": "make"}}]},
        {"tool_calls": [{"name": "submit", "arguments": {}}]},
    ]
    with ScriptServer(script) as srv:
        agent = _agent(srv)
        assert _start(agent) == {"type": "run", "command": "make"}
        assert agent.act({"step": 2, "last": {"exitCode": 0, "output": "", "timedOut": False}, "reward": 0}) == {
            "type": "submit"
        }
    assistant = srv.requests[1]["messages"][2]
    assert assistant["role"] == "assistant" and assistant["tool_calls"][0]["function"]["name"] == "run"
    assert all(isinstance(m["content"], str) for r in srv.requests for m in r["messages"])


def test_truncation_reaches_the_models_own_long_replies_after_the_observations() -> None:
    """Regression (found with SmolLM2-135M on llama-cpp-python): a model that wrote 1000+ tokens of garbage
    tool-call arguments filled the context with its own replies; only observations were ever truncated, so
    the episode ended "context overflow: nothing left to truncate" with the garbage still in the history."""
    junk = '{ "selector": "a file path&#34;, ' + "x" * 4000
    msgs: list[dict[str, Any]] = [
        {"role": "system", "content": "s"},
        {"role": "user", "content": "task"},
        {
            "role": "assistant",
            "content": "",
            "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "hover", "arguments": junk}}],
        },
        {"role": "tool", "tool_call_id": "c1", "content": "error: the arguments are not valid JSON"},
        {"role": "assistant", "content": "y" * 3000},
        {"role": "user", "content": "No tool call found."},
    ]
    assert truncate_history(msgs) == 1 and msgs[3]["content"] == TRUNCATED  # observations first
    assert truncate_history(msgs) == 1 and msgs[5]["content"] == TRUNCATED
    assert truncate_history(msgs) == 1  # then the oldest long reply: its arguments, still valid JSON
    call = msgs[2]["tool_calls"][0]
    assert call["id"] == "c1" and call["function"]["name"] == "hover"
    assert json.loads(call["function"]["arguments"]) == {"lanser": TRUNCATED}
    assert truncate_history(msgs) == 1 and msgs[4]["content"] == TRUNCATED
    assert truncate_history(msgs) == 0
    assert [m["role"] for m in msgs] == ["system", "user", "assistant", "tool", "assistant", "user"]


def test_the_task_prompt_names_the_protected_paths() -> None:
    from lanser.harness.run.llm.agent import task_prompt
    from lanser.harness.task.spec import TaskSpec

    def spec(protected: list[str]) -> TaskSpec:
        return TaskSpec.model_validate(
            {
                "id": "t/protected",
                "language": "c",
                "source": {"kind": "dir", "path": "p"},
                "problem": "fix it",
                "commands": {"build": "make", "test": "make test"},
                "gold_patch": "",
                "protected": protected,
            }
        )

    prompt = task_prompt(spec(["**/tests/**", "**/Makefile"]), "a.c\n")
    assert "Protected (edits to these paths are refused, and the grader keeps none): **/tests/** **/Makefile" in prompt
    assert "Protected" not in task_prompt(spec([]), "a.c\n")
