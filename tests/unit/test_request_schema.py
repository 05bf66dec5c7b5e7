"""The request schema says what each command's ``args`` may hold, as the typed models do.

``lanser/schemas/request.schema.json`` allowed any ``args``: a request with an argument its
command does not take passed ``lanser schema validate`` and was then refused by lanser
(E/BAD_REQUEST).  Now the schema is a union discriminated by ``cmd``, each branch the command's
model in lanser.commands.args.  The requests checked are real: the ones the CLI builds from the
examples in each command's ``--help``, and the JSON requests in the docs and in ``batch --help``.
"""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from help_examples import example_lines, examples

from lanser.bundle.models import Command, Request
from lanser.bundle.schemas import request_schema, validate
from lanser.cli.main import cli
from lanser.commands import HANDLERS
from lanser.errors import BadRequest

REPO = Path(__file__).resolve().parents[2]
SAMPLE = REPO / "examples" / "sample"

#: The CLI commands that build a Request (each sends one through lanser.client).
REQUEST_COMMANDS = (
    "def",
    "refs",
    "hover",
    "symbols",
    "diag",
    "locate",
    "prepare-rename",
    "rename",
    "action",
    "check",
)

PATCH = """\
--- a/pkg/shapes.py
+++ b/pkg/shapes.py
@@ -38 +38 @@
-def total_area(shapes: list[Shape]) -> float:
+def total_area(shapes: list[Shape]) -> str:
"""


class _Sent(Exception):
    """Raised in place of answering: the request was built and captured."""


@pytest.fixture
def sent(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> list[dict[str, Any]]:
    """Requests the CLI sends, captured where lanser.client would answer them; run in a workspace
    holding the files the examples name."""
    import lanser.client

    captured: list[dict[str, Any]] = []

    def capture(config: Any, requests: list[Any]) -> Any:
        captured.extend(requests)
        raise _Sent

    monkeypatch.setattr(lanser.client, "_answer", capture)
    monkeypatch.setattr(lanser.client, "_stream", capture)
    ws = tmp_path / "ws"
    ws.mkdir()
    (ws / "pkg").mkdir()
    (ws / "pkg" / "shapes.py").write_text((SAMPLE / "pkg" / "shapes.py").read_text())
    for name in ("change.patch", "fix.patch"):
        (ws / name).write_text(PATCH)
    monkeypatch.chdir(ws)
    return captured


def cli_requests(sent: list[dict[str, Any]]) -> list[tuple[str, dict[str, Any]]]:
    """(command line, request) for every example of every request-building command."""
    out = []
    for name in REQUEST_COMMANDS:
        for argv in examples(name):
            before = len(sent)
            result = CliRunner().invoke(cli, argv, terminal_width=200)
            assert isinstance(result.exception, _Sent), (argv, result.output, result.exception)
            out += [(shlex.join(["lanser", *argv]), request) for request in sent[before:]]
    return out


def doc_requests() -> list[tuple[str, dict[str, Any]]]:
    """JSON requests written in the docs (a task environment's ``lanser`` action) and ``batch --help``."""
    out = []
    for doc in sorted((REPO / "docs").glob("*.md")):
        for n, line in enumerate(doc.read_text().splitlines(), 1):
            for m in re.finditer(r'\{"type": "lanser"', line):
                action, _ = json.JSONDecoder().raw_decode(line, m.start())
                out.append((f"{doc.name}:{n}", action["request"]))
    for line in example_lines("batch"):
        for word in shlex.split(line, comments=True):
            if word.startswith("{"):
                out.append(("lanser batch --help", json.loads(word)))
    return out


def model_errors(request: dict[str, Any]) -> list[str]:
    """What lanser itself says of ``request``: the Request model, then the command's args model."""
    try:
        parsed = Request.model_validate(request)
        HANDLERS[parsed.cmd].parse(parsed.cmd, parsed.args)
    except BadRequest as exc:
        return [str(exc)]
    except ValueError as exc:  # pydantic's ValidationError
        return [str(exc)]
    return []


def test_every_command_has_its_arguments_in_the_schema() -> None:
    schema = request_schema()
    assert set(HANDLERS) == set(Command.__args__)  # type: ignore[attr-defined]
    branches = {b["if"]["properties"]["cmd"]["const"]: b["then"]["properties"]["args"]["$ref"] for b in schema["allOf"]}
    assert set(branches) == set(HANDLERS)
    for cmd, ref in branches.items():
        model = schema["$defs"][ref.rsplit("/", 1)[1]]
        assert model["additionalProperties"] is False
        assert set(model.get("properties", {})) == set(HANDLERS[cmd].args.model_fields), cmd


def test_the_cli_examples_build_requests_the_schema_and_the_models_accept(sent: list[dict[str, Any]]) -> None:
    requests = cli_requests(sent)
    assert {r["cmd"] for _, r in requests} == set(HANDLERS), "some command has no example that sends it"
    assert any(r["args"] for _, r in requests), "no example with arguments: the check would be empty"
    for where, request in requests:
        assert validate(request, "request") == [], where
        assert model_errors(request) == [], where


def test_the_json_requests_in_the_docs_validate() -> None:
    requests = doc_requests()
    assert len(requests) >= 3
    for where, request in requests:
        assert validate(request, "request") == [], where
        assert model_errors(request) == [], where


@pytest.mark.parametrize("cmd", sorted(HANDLERS))
def test_an_unknown_argument_is_refused_by_the_schema_as_by_the_model(cmd: str) -> None:
    request = {"cmd": cmd, "selector": "pkg/shapes.py@L38:C5", "args": {"noSuchArgument": True}}
    assert validate(request, "request") == [
        "args: Additional properties are not allowed ('noSuchArgument' was unexpected)"
    ]
    (error,) = model_errors(request)
    assert f"{cmd} takes no argument 'noSuchArgument'" in error


def _arguments() -> list[tuple[str, str]]:
    return sorted((cmd, field) for cmd, entry in HANDLERS.items() for field in entry.args.model_fields)


@pytest.mark.parametrize(("cmd", "field"), _arguments())
def test_each_argument_accepts_null_and_refuses_an_object_in_both(cmd: str, field: str) -> None:
    """null means "not given" for every argument; no argument is an object."""
    request: dict[str, Any] = {"cmd": cmd, "selector": "pkg/shapes.py@L38:C5", "args": {field: None}}
    assert validate(request, "request") == [] and model_errors(request) == []
    request["args"] = {field: {"an": "object"}}
    assert validate(request, "request") and model_errors(request)


@pytest.mark.parametrize(("cmd", "field"), _arguments())
def test_each_argument_has_one_type_in_both(cmd: str, field: str) -> None:
    """Of an integer, a boolean, a string and a list of strings, the schema accepts what the
    model accepts (no 1 for true, no "5" for 5)."""
    for value in (5, True, "text", ["a", "b"]):
        request = {"cmd": cmd, "selector": "pkg/shapes.py@L38:C5", "args": {field: value}}
        assert (validate(request, "request") == []) == (model_errors(request) == []), (field, value)


def test_a_trace_records_a_refused_request_as_it_came() -> None:
    """A trace (like a bundle's ``request``) echoes what lanser was asked, arguments it refused
    included: its request events are Requests, not necessarily valid ones for their command."""
    refused = {"cmd": "hover", "selector": "a.py@L1:C1", "args": {"noSuchArgument": True}, "indexIo": "utf-16"}
    assert validate({"event": "request", "seq": 1, "request": refused}, "trace-event") == []
    assert validate({"event": "request", "seq": 1, "request": {"cmd": "teleport"}}, "trace-event")
