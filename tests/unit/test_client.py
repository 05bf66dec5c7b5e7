"""lanser.client (issue 21): the SDK every front door goes through; its requests, results, errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from lanser.client import Client, Failure, Requests, Result
from lanser.errors import InfrastructureError, NotFound

REPO = Path(__file__).resolve().parents[2]
HEAVY = ("pydantic", "lsprotocol", "pygls", "click")


def test_each_command_builds_the_request_the_cli_built() -> None:
    """The request dicts the CLI, the MCP server and the harness built by hand before (an argument
    absent when the flag is off, ``includeDeclaration`` only as false): a changed request is a
    changed bundle, so these are pinned."""
    r = Requests()
    assert r.definition("a.py@L1:C2") == {
        "cmd": "definition",
        "selector": "a.py@L1:C2",
        "args": {},
        "indexIo": "utf-16",
    }
    assert r.references("a.py@L1:C2")["args"] == {}
    assert r.references("a.py@L1:C2", limit=5, cursor="5:x", include_declaration=False)["args"] == {
        "limit": 5,
        "cursor": "5:x",
        "includeDeclaration": False,
    }
    assert r.symbols(query="Circle") == {
        "cmd": "symbols",
        "selector": None,
        "args": {"query": "Circle"},
        "indexIo": "utf-16",
    }
    assert r.symbols("pkg/a.py", language="c")["args"] == {"language": "c"}
    assert r.symbols("pkg/a.py", depth=1, kind=["function", " class", "function"], locals=False)["args"] == {
        "depth": 1,
        "kind": ["class", "function"],
        "locals": False,
    }
    assert r.diagnostics("a.py", profile="agent", severity="info", limit=0)["args"] == {
        "profile": "agent",
        "severity": "information",
        "limit": 0,
    }
    assert r.diagnostics()["selector"] is None and r.diagnostics(language="python")["args"] == {"language": "python"}
    assert r.prepare_rename("a.py@L1:C2")["cmd"] == "prepareRename"
    assert r.rename("a.py@L1:C2", "b")["args"] == {"newName": "b"}
    assert r.rename(
        "a.py@L1:C2",
        "b",
        apply=True,
        allow_dirty=True,
        allow=("src/*",),
        deny=["vendor/*"],
        via_git=True,
        commit=True,
        message="m",
        allow_partial=True,
        with_overrides=True,
        deny_apply_on_ambiguous=True,
    )["args"] == {
        "newName": "b",
        "apply": True,
        "allowDirty": True,
        "allow": ["src/*"],
        "deny": ["vendor/*"],
        "viaGit": True,
        "commit": True,
        "message": "m",
        "allowPartial": True,
        "withOverrides": True,
        "denyApplyOnAmbiguous": True,
    }
    assert r.actions("a.py@L1:C2")["args"] == {}
    assert r.actions("a.py@L1:C2", action_id="3f", apply=True)["args"] == {"actionId": "3f", "apply": True}
    assert r.check("--- a/x\n", selector="a.py@L1:C2") == {
        "cmd": "check",
        "selector": "a.py@L1:C2",
        "args": {"patch": "--- a/x\n"},
        "indexIo": "utf-16",
    }
    assert Requests("utf-8").hover("a.py@L1:C2")["indexIo"] == "utf-8"
    assert r.request("hover", "a.py@L1:C2", extra=None) == r.hover("a.py@L1:C2")


def test_usage_errors_are_refused_before_anything_runs() -> None:
    from lanser.errors import BadRequest

    with pytest.raises(BadRequest):
        Requests().symbols()
    with pytest.raises(BadRequest):
        Requests().actions("a.py@L1:C2", apply=True)


def test_result_text_and_data_are_one_bundle() -> None:
    data = {"status": "ok", "bundleId": "sha256:ab", "facts": {"hover": {"contents": "é"}}, "meta": {"exit_code": 0}}
    from_data, from_text = Result(data), Result(text=json.dumps(data), exit_code=0)
    # byte for byte what `lanser --json` prints: keys sorted, one line, not ASCII-escaped
    assert (
        from_data.text == '{"bundleId":"sha256:ab","facts":{"hover":{"contents":"é"}},"meta":{"exit_code":0},'
        '"status":"ok"}'
    )
    assert from_text.data == data and (from_data.ok, from_data.exit_code, from_data.error) == (True, 0, None)
    assert from_data.bundle_id == "sha256:ab" and from_data.facts == data["facts"]
    assert from_data.raise_for_error() is from_data
    with pytest.raises(ValueError):
        Result()


@pytest.mark.parametrize(
    "error",
    [
        NotFound("no such file", path="x.py"),
        InfrastructureError("docker is gone", stage="docker", log_tail="tail\n"),
    ],
)
def test_a_failure_is_a_result_and_raises_as_its_own_class(error: Exception) -> None:
    assert isinstance(error, (NotFound, InfrastructureError))
    data = {"status": "error", "error": error.to_dict(), "meta": {"exit_code": error.exit_code}}
    result = Result(data)
    assert not result.ok and result.exit_code == error.exit_code
    assert result.error == Failure(error.code, error.exit_code, error.message, error.retryable, error.details)
    with pytest.raises(type(error)) as raised:
        result.raise_for_error()
    assert raised.value.to_dict() == error.to_dict() and str(raised.value) == str(error)


def test_a_missing_workspace_is_an_error_result_not_an_exception(tmp_path: Path) -> None:
    result = Client(tmp_path / "nope", daemon=False).definition("a.py@L1:C1")
    assert (result.ok, result.exit_code, result.error and result.error.code) == (False, 3, "E/NOT_FOUND")
    assert result.data["request"] == Requests().definition("a.py@L1:C1")
    with Client(tmp_path / "nope", daemon=False) as lanser:  # a session refuses each call the same way
        assert [r.data for r in lanser.batch([Requests().hover("a.py@L1:C1")] * 2)] == [
            Client(tmp_path / "nope", daemon=False).hover("a.py@L1:C1").data
        ] * 2
    assert result.bundle.error is not None and result.bundle.error.code == "E/NOT_FOUND"
    from lanser.bundle.models import Request  # a typed Request is sent as its JSON

    typed = Client(tmp_path / "nope", daemon=False).batch([Request(cmd="definition", selector="a.py@L1:C1")])
    assert typed[0].data == result.data


def test_import_lanser_and_building_requests_stay_light() -> None:
    """`import lanser` is on every CLI call's path, and `from lanser import Client` on the SDK's:
    neither imports pydantic, lsprotocol, pygls (or click) until an answer needs them."""
    code = (
        "import sys, lanser\n"
        "assert lanser.__version__\n"
        "from lanser import Client, Requests, AsyncClient, Result\n"
        "c = Client('.', daemon=True); a = c.aio; Requests().rename('a.py@L1:C1', 'b', apply=True)\n"
        f"print([m for m in {HEAVY!r} if m in sys.modules])\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO)
    assert out.stdout.strip() == "[]", out.stdout + out.stderr


def test_lanser_exports_the_client_lazily() -> None:
    import lanser
    import lanser.client

    assert lanser.Client is lanser.client.Client and lanser.AsyncClient is lanser.client.AsyncClient
    assert set(lanser.__all__) >= {"Client", "AsyncClient", "Result", "Requests", "__version__"}
    with pytest.raises(AttributeError):
        lanser.NoSuchThing  # noqa: B018
