"""Typed command arguments (issue 21): one model per command, paired with its handler in HANDLERS.

The orchestrator validates a Request's ``args`` into the command's model
once; an unknown key or a wrong type is E/BAD_REQUEST (exit code 2) naming
the argument, where it used to be ignored (unknown) or to surface wherever
the handler read it.  Every front door's requests must still validate.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import typing
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from lanser.bundle.models import ARG_TYPES, Command, Request
from lanser.client import Client, Requests, Result
from lanser.commands import HANDLERS, Entry, handler_for
from lanser.commands.args import Args, EditArgs, NoArgs, ReferencesArgs, SymbolsArgs, expected, parse_args
from lanser.errors import BadRequest

ALL_COMMANDS = typing.get_args(Command)


# -- the table ------------------------------------------------------------


def test_every_command_has_an_entry_whose_handler_takes_its_model() -> None:
    assert set(HANDLERS) == set(ALL_COMMANDS)
    for cmd, entry in HANDLERS.items():
        assert isinstance(entry, Entry) and issubclass(entry.args, Args), cmd
        hints = typing.get_type_hints(entry.handler)
        assert list(inspect.signature(entry.handler).parameters) == ["ctx", "request", "args", "bundle"], cmd
        assert hints["args"] is entry.args, cmd
        assert entry.args.model_config.get("extra") == "forbid", cmd
        assert entry.args.model_config.get("frozen") is True, cmd
    assert handler_for("rename") is HANDLERS["rename"]
    with pytest.raises(BadRequest):
        handler_for("renam")


def test_the_edit_commands_take_the_write_options() -> None:
    for cmd in ("rename", "actions", "check"):
        assert issubclass(HANDLERS[cmd].args, EditArgs), cmd
    for cmd in ("definition", "hover", "locate", "prepareRename"):
        assert HANDLERS[cmd].args is NoArgs


def test_the_request_level_type_table_agrees_with_the_models() -> None:
    """bundle.models.ARG_TYPES types the arguments at the front door (a batch line); where a model
    has the same argument, it must want the same type."""
    words = {
        "integer": "an integer",
        "boolean": "a boolean",
        "string": "a string",
        "list of strings": "a list of strings",
    }
    seen = set()
    for entry in HANDLERS.values():
        for name, field in entry.args.model_fields.items():
            if name in ARG_TYPES:
                seen.add(name)
                assert expected(field.annotation) == words[ARG_TYPES[name]], (entry.args.__name__, name)
    assert seen == set(ARG_TYPES)  # each typed argument is some command's


# -- each model refuses what it does not take -------------------------------


def _refused(cmd: str, args: dict[str, Any]) -> BadRequest:
    with pytest.raises(BadRequest) as info:
        HANDLERS[cmd].parse(cmd, args)
    err = info.value
    assert err.code == "E/BAD_REQUEST" and err.exit_code == 2
    return err


@pytest.mark.parametrize("cmd", ALL_COMMANDS)
def test_each_model_refuses_an_unknown_key_by_name(cmd: str) -> None:
    err = _refused(cmd, {"limt": 3})
    assert err.details["field"] == "args.limt"
    assert "'limt'" in err.message and cmd in err.message
    for name in HANDLERS[cmd].args.model_fields:  # and says what it takes
        assert name in err.message
    # a snake_case spelling of a real argument is unknown too: the request names them in camelCase
    if "allowDirty" in HANDLERS[cmd].args.model_fields:
        assert _refused(cmd, {"allow_dirty": True}).details["field"] == "args.allow_dirty"


def _wrong_values(annotation: Any) -> list[Any]:
    kind = expected(annotation)
    return {
        "an integer": ["5", True, 1.5, [1]],
        "a boolean": [1, "true", 0],
        "a string": [5, True, ["a"], {"a": 1}],
        "a list of strings": ["a", ["a", 1], [None], 5],
        "a string or a list of strings": [5, ["a", 2], {"a": "b"}],
    }[kind]


@pytest.mark.parametrize("cmd", ALL_COMMANDS)
def test_each_model_refuses_a_wrong_type_by_name(cmd: str) -> None:
    model = HANDLERS[cmd].args
    for name, field in model.model_fields.items():
        for value in _wrong_values(field.annotation):
            err = _refused(cmd, {name: value})
            assert err.details["field"] == f"args.{name}", (name, value)
            assert err.message == f"invalid request: args.{name}: expected {expected(field.annotation)}"


@pytest.mark.parametrize("cmd", ALL_COMMANDS)
def test_null_is_an_absent_argument_and_the_model_is_frozen(cmd: str) -> None:
    model = HANDLERS[cmd].args
    parsed = HANDLERS[cmd].parse(cmd, dict.fromkeys(model.model_fields))
    assert isinstance(parsed, model)
    for name in model.model_fields:
        with pytest.raises(Exception):  # noqa: B017 (pydantic's frozen-instance ValidationError)
            setattr(parsed, name, None)


def test_typed_values_and_defaults() -> None:
    refs = parse_args(ReferencesArgs, "references", {})
    assert refs.includeDeclaration is True and refs.limit is None
    # An explicit null excluded the declaration before the args were typed (bool(None)); it still does.
    assert parse_args(ReferencesArgs, "references", {"includeDeclaration": None}).includeDeclaration is None
    sym = parse_args(SymbolsArgs, "symbols", {"kind": ["class", "function"], "depth": 2})
    assert sym.kind == ("class", "function") and sym.depth == 2
    assert parse_args(SymbolsArgs, "symbols", {"kind": "class,function"}).kind == "class,function"
    rename = HANDLERS["rename"].parse("rename", {"newName": "b", "allow": ["src/*"], "commit": True, "message": "m"})
    assert rename.allow == ("src/*",)
    assert rename.write_options() == {"allowDirty": None, "viaGit": None, "commit": True, "message": "m"}
    # what a value means is the handler's to check (with its own message), not the model's
    assert HANDLERS["diagnostics"].parse("diagnostics", {"profile": "nope", "limit": -1}).profile == "nope"


def test_an_unknown_key_is_named_before_a_wrong_type() -> None:
    err = _refused("references", {"limit": "x", "cursr": "1:ab"})
    assert err.details["field"] == "args.cursr"


# -- every front door's requests validate ----------------------------------


def _validates(request: dict[str, Any]) -> None:
    req = Request.model_validate(request)  # the front door's check (a batch line's)
    HANDLERS[req.cmd].parse(req.cmd, req.args)  # and the orchestrator's


def test_every_request_the_client_builds_validates() -> None:
    """The SDK builds dicts (standard library only); each method, with every option set, sends
    arguments its command's model takes.  ``Requests`` is also what a batch line holds."""
    r = Requests()
    guards = {"apply": True, "allow_dirty": True, "allow": ["src/*"], "deny": ["vendor/*"], "commit": True}
    built = [
        r.definition("a.py@L1:C2"),
        r.references("a.py@L1:C2", limit=5, cursor="5:x", include_declaration=False),
        r.hover("a.py@L1:C2"),
        r.symbols(query="Circle", language="python"),
        r.symbols("a.py", depth=1, kind=["class"], locals=False),
        r.diagnostics("a.py", language="python", profile="agent", severity="info", limit=3),
        r.locate("a.py@L1:C2"),
        r.prepare_rename("a.py@L1:C2"),
        r.rename(
            "a.py@L1:C2",
            "b",
            **guards,
            via_git=True,
            message="m",
            allow_partial=True,
            with_overrides=True,
            deny_apply_on_ambiguous=True,
        ),
        r.actions("a.py@L1:C2", action_id="3f", **guards, via_git=True, message="m", deny_apply_on_ambiguous=True),
        r.check("--- a/x\n", selector="a.py@L1:C2", **guards, message="m"),
    ]
    assert {b["cmd"] for b in built} == set(ALL_COMMANDS)
    for request in built:
        _validates(request)


class _Recorder:
    """Client._send replaced: records each request and answers a minimal ok bundle."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []

    def __call__(self, request: dict[str, Any]) -> Result:
        self.requests.append(request)
        return Result(
            {"status": "ok", "bundleId": "sha256:0", "request": request, "facts": {}, "meta": {"exit_code": 0}}
        )


def test_every_request_the_cli_sends_validates(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from lanser.cli.main import cli

    recorder = _Recorder()
    monkeypatch.setattr(Client, "_send", lambda _client, request: recorder(request))
    patch = tmp_path / "fix.patch"
    patch.write_text("--- a/x.py\n+++ b/x.py\n@@ -1 +1 @@\n-a\n+b\n")
    guards = ["--allow-dirty", "--allow", "src/*", "--deny", "vendor/*", "--commit", "-m", "m"]
    lines = [
        ["def", "a.py@L1:C2"],
        ["refs", "a.py@L1:C2", "--limit", "5", "--cursor", "5:x", "--no-declaration"],
        ["hover", "a.py@L1:C2"],
        ["symbols", "--query", "Circle", "--language", "python"],
        ["symbols", "a.py", "--depth", "2", "--kind", "class,function", "--no-locals"],
        ["diag", "a.py", "--language", "python", "--severity", "info", "--limit", "3", "--profile", "agent"],
        ["diag", "--format", "agent"],
        ["locate", "a.py@L1:C2"],
        ["prepare-rename", "a.py@L1:C2"],
        ["rename", "a.py@L1:C2", "b", "--apply", "--via-git", "--allow-partial", "--with-overrides", *guards],
        ["rename", "a.py@L1:C2", "b", "--deny-apply-on-ambiguous"],
        ["action", "a.py@L1:C2", "--id", "3f", "--apply", "--via-git", "--deny-apply-on-ambiguous", *guards],
        ["check", str(patch), "--selector", "a.py@L1:C2", "--apply", *guards],
    ]
    for line in lines:
        result = CliRunner().invoke(cli, ["--json", "--no-daemon", "-w", str(tmp_path), *line])
        assert result.exception is None or isinstance(result.exception, SystemExit), (line, result.output)
    assert len(recorder.requests) == len(lines)
    assert {r["cmd"] for r in recorder.requests} == set(ALL_COMMANDS)
    for request in recorder.requests:
        _validates(request)


def test_every_request_the_mcp_tools_send_validates(monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("mcp")
    from lanser.cli.main import Settings
    from lanser.mcp_server import build_server

    recorder = _Recorder()
    monkeypatch.setattr(Client, "batch", lambda _client, requests: [recorder(r) for r in requests])  # AsyncClient's way
    settings = Settings(
        workspace=Path("."), json=True, pretty=False, index_io="utf-16", timeout=30.0, verbose=False, python=None
    )
    server = build_server(settings)
    calls = {
        "definition": {"selector": "a.py@L1:C2"},
        "references": {"selector": "a.py@L1:C2", "limit": 5, "cursor": "5:x"},
        "hover": {"selector": "a.py@L1:C2"},
        "symbols": {"selector": "a.py", "query": "C", "depth": 1, "kind": "class,function", "locals": True},
        "diagnostics": {"selector": "a.py", "severity": "warning", "limit": 3, "profile": "all"},
        "locate": {"selector": "a.py@L1:C2"},
        "prepare_rename": {"selector": "a.py@L1:C2"},
        "rename": {"selector": "a.py@L1:C2", "new_name": "b", "apply": True, "allow_dirty": True},
        "code_actions": {"selector": "a.py@L1:C2", "action_id": "3f", "apply": True, "allow_dirty": True},
        "check_patch": {"patch": "--- a/x\n", "selector": "a.py@L1:C2", "apply": True, "allow_dirty": True},
    }

    async def call_all() -> None:
        tools = {t.name for t in await server.list_tools()}
        assert tools == set(calls)
        for name, arguments in calls.items():
            await server.call_tool(name, arguments)
            await server.call_tool(name, {k: v for k, v in arguments.items() if k in ("selector", "new_name", "patch")})

    asyncio.run(call_all())
    assert len(recorder.requests) == 2 * len(calls)
    assert {r["cmd"] for r in recorder.requests} == set(ALL_COMMANDS)
    for request in recorder.requests:
        _validates(request)


def test_every_request_the_llm_agent_tools_build_validates() -> None:
    """The harness's LLM agent turns tool calls into requests (lanser.harness.run.llm.tools); each
    tool, with every argument the model may give, builds arguments its command takes."""
    from lanser.harness.run.llm.tools import LANSER_TOOLS, to_action

    diff = "--- a/m.py\n+++ b/m.py\n@@ -1 +1 @@\n-x = 1\n+x = 2\n"
    sample = {"string": "a.py@L1:C2", "integer": 2, "boolean": True}
    cmds = set()
    for tool in LANSER_TOOLS:
        given = {k: sample[typ] for k, (typ, _) in tool.params.items() if k not in tool.mcp_only}
        if "patch" in given:
            given["patch"] = diff
        action = to_action(tool.name, given)
        assert action["type"] == "lanser", tool.name
        _validates(action["request"])
        cmds.add(action["request"]["cmd"])
    assert cmds == set(ALL_COMMANDS)


# -- the orchestrator refuses a wrong key, with the request echoed ----------


def test_a_wrong_key_from_the_sdk_is_a_clear_error_from_the_orchestrator(tmp_path: Path) -> None:
    """The SDK's ``request`` passes keys through (it imports no models); the orchestrator refuses a
    misspelt one as E/BAD_REQUEST before any server is asked, and the bundle echoes the request."""
    (tmp_path / "m.py").write_text("x = 1\n")
    with Client(tmp_path, daemon=False) as lanser:
        result = lanser.request("references", "m.py@L1:C1", limt=3)
        assert not result.ok and result.exit_code == 2
        assert result.error is not None and result.error.code == "E/BAD_REQUEST"
        assert result.error.details["field"] == "args.limt"
        assert "references takes no argument 'limt'" in result.error.message
        assert result.data["request"]["args"] == {"limt": 3}
        wrong = lanser.request("definition", "m.py@L1:C1", apply=True)  # a key of another command
        assert wrong.error is not None and wrong.error.details["field"] == "args.apply"
        assert wrong.data["request"] == {
            "cmd": "definition",
            "selector": "m.py@L1:C1",
            "args": {"apply": True},
            "indexIo": "utf-16",
        }


def test_a_batch_line_with_an_unknown_argument_gets_its_error_and_the_batch_goes_on(tmp_path: Path) -> None:
    from lanser.cli.main import cli

    (tmp_path / "notes.txt").write_text("hello\n")
    (tmp_path / "m.py").write_text("x = 1\n")
    lines = [
        {"cmd": "hover", "selector": "notes.txt@L1:C1", "args": {"verbose": True}},
        {"cmd": "symbols", "args": {"file": "notes.txt"}},
        {"cmd": "check", "args": {"patch": "", "via_git": True}},
        {"cmd": "locate", "selector": "m.py@L1:C1"},
    ]
    batch = tmp_path / "batch.jsonl"
    batch.write_text("".join(json.dumps(line) + "\n" for line in lines))
    result = CliRunner().invoke(cli, ["--json", "--no-daemon", "-w", str(tmp_path), "batch", str(batch)])
    bundles = [json.loads(line) for line in result.stdout.splitlines() if line.strip()]
    assert len(bundles) == 4, result.output
    fields = [(b.get("error") or {}).get("details", {}).get("field") for b in bundles[:3]]
    assert fields == ["args.verbose", "args.file", "args.via_git"]
    for bundle, line in zip(bundles[:3], lines[:3], strict=True):
        assert bundle["meta"]["exit_code"] == 2 and bundle["request"]["args"] == line["args"]
    assert bundles[3]["status"] == "ok", bundles[3]
