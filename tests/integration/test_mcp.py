"""`lanser mcp` driven by the official MCP SDK's client over stdio, on a real git repository."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import anyio
import pytest

pytestmark = pytest.mark.integration


def _params(ws: Path, run_dir: Path):
    from mcp.client.stdio import StdioServerParameters

    env = {k: v for k, v in os.environ.items() if not k.startswith("LANSER_")}
    env["XDG_RUNTIME_DIR"] = str(run_dir)  # its own daemon, stopped at the end
    return StdioServerParameters(
        command=sys.executable, args=["-c", "from lanser.cli.main import main; main()", "-w", str(ws), "mcp"], env=env
    )


def test_mcp_tools_over_stdio(sample: Path, tmp_path: Path) -> None:
    from mcp.client.session import ClientSession
    from mcp.client.stdio import stdio_client

    from lanser.formats.agent import to_agent
    from lanser.mcp_server import FULL_HINT

    for args in (["init", "-q"], ["add", "-A"], ["-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "init"]):
        subprocess.run(["git", *args], cwd=sample, check=True)
    run_dir = tmp_path / "run"
    run_dir.mkdir()

    async def main() -> dict:
        out: dict = {}
        async with stdio_client(_params(sample, run_dir)) as (read, write):
            async with ClientSession(read, write) as session:
                await session.initialize()
                tools = await session.list_tools()
                out["tools"] = sorted(t.name for t in tools.tools)
                out["descriptions"] = {t.name: t.description for t in tools.tools}
                res = await session.call_tool("definition", {"selector": "pkg/report.py@L10:C33"})
                out["definition"] = (res.is_error, res.structured_content)
                out["definition_text"] = res.content[0].text
                res = await session.call_tool("diagnostics", {"selector": "pkg/report.py"})
                out["diagnostics"] = (res.content[0].text, res.structured_content)
                res = await session.call_tool("symbols", {"selector": "pkg/shapes.py", "depth": 1})
                out["symbols"] = (res.content[0].text, res.structured_content)
                res = await session.call_tool(
                    "rename", {"selector": "py://pkg.shapes#total_area", "new_name": "sum_areas"}
                )
                out["preview"] = (res.is_error, res.structured_content)
                out["preview_text"] = res.content[0].text
                out["after_preview"] = (sample / "pkg" / "shapes.py").read_text()
                res = await session.call_tool(
                    "rename", {"selector": "py://pkg.shapes#total_area", "new_name": "sum_areas", "apply": True}
                )
                out["apply"] = (res.is_error, res.structured_content)
                res = await session.call_tool("locate", {"selector": "py://pkg.shapes#nothing"})
                out["error"] = (res.is_error, res.content[0].text)
                res = await session.call_tool("definition", {"selector": "pkg/report.py@L0:C"})
                out["bad_syntax"] = (res.is_error, res.content[0].text, res.structured_content)
        return out

    try:
        out = anyio.run(main)
    finally:
        _stop_daemon(sample, run_dir)
    assert out["tools"] == [
        "check_patch",
        "code_actions",
        "definition",
        "diagnostics",
        "hover",
        "locate",
        "prepare_rename",
        "references",
        "rename",
        "symbols",
    ]
    assert "py://pkg.app#Class.method" in out["descriptions"]["definition"]
    is_error, bundle = out["definition"]
    assert not is_error and bundle["facts"]["definitions"][0]["selector"] == "pkg/shapes.py@L38:C5"
    # The text is the agent format (issue 20): the bundle is sent once, as the structured content.
    assert out["definition_text"] == to_agent(bundle, full_hint=FULL_HINT)
    assert (
        "pkg/shapes.py@L38:C5  def total_area(" in out["definition_text"]
        and "capabilities" not in out["definition_text"]
    )
    # The agent's defaults, recorded in the request: the agent profile, no locals; filters on request.
    text, bundle = out["diagnostics"]
    assert bundle["request"]["args"] == {"profile": "agent"}
    assert text.startswith("diag --profile agent: 1 error in 1 file\n")
    text, bundle = out["symbols"]
    assert bundle["request"]["args"] == {"depth": 1, "locals": False}
    assert [s["name"] for s in bundle["facts"]["symbols"]] == ["Shape", "Circle", "Square", "total_area"]
    assert text.splitlines()[1] == "pkg/shapes.py@L8:C7  class Shape"
    is_error, bundle = out["preview"]
    assert not is_error and bundle["edits"]["applied"] is False and "def total_area" in out["after_preview"]
    preview = out["preview_text"].splitlines()
    assert (
        preview[0] == "rename: preview, 3 files, complete"
        and "+def sum_areas(shapes: list[Shape]) -> float:" in preview
    )
    is_error, bundle = out["apply"]
    assert not is_error and bundle["edits"]["applied"] is True
    assert "def sum_areas(" in (sample / "pkg" / "shapes.py").read_text()
    is_error, text = out["error"]
    assert is_error and text.startswith("E/NOT_FOUND: no definition of pkg.shapes#nothing")
    # A malformed selector: the first line names the code, the rest are the error's details;
    # the error bundle is the result's structured content.
    is_error, text, bundle = out["bad_syntax"]
    first, _, rest = text.partition("\n")
    assert is_error and first.startswith("E/BAD_SELECTOR_SYNTAX: expected @L<line>:C<col>")
    assert "exit 2" in rest.splitlines() and text == to_agent(bundle, full_hint=FULL_HINT)
    assert bundle["status"] == "error" and bundle["request"]["selector"] == "pkg/report.py@L0:C"
    assert {k: bundle["error"][k] for k in ("code", "exitCode")} == {"code": "E/BAD_SELECTOR_SYNTAX", "exitCode": 2}
    assert bundle["error"]["details"]["column"] == 19


def test_mcp_rename_on_a_real_project(rich_repo: Path, copy_repo, tmp_path: Path) -> None:
    """Preview, then apply, a rename across rich (a project nobody here wrote)
    through the MCP client: the preview writes nothing, the apply writes
    exactly the files the preview listed, and no new error appears."""
    from mcp.client.session import ClientSession
    from mcp.client.stdio import stdio_client

    repo = copy_repo(rich_repo, "mcp-rich")
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    args = {"selector": "py://rich.cells#cell_len", "new_name": "measure_cells"}

    async def main() -> tuple:
        async with stdio_client(_params(repo, run_dir)) as (read, write):
            async with ClientSession(read, write) as session:
                await session.initialize()
                preview = await session.call_tool("rename", args)
                status = _git(repo, "status", "--porcelain")
                applied = await session.call_tool("rename", {**args, "apply": True})
        return preview, status, applied

    try:
        preview, status_after_preview, applied = anyio.run(main)
    finally:
        _stop_daemon(repo, run_dir)
    assert not preview.is_error, preview.content[0].text
    planned = preview.structured_content["edits"]
    assert planned["applied"] is False and planned["complete"] is True and status_after_preview == ""
    paths = sorted(f["path"] for f in planned["files"])
    assert "rich/cells.py" in paths and len(paths) > 3
    assert not [d for d in planned["speculative"]["appeared"] if d[1] == "error"]
    assert not applied.is_error, applied.content[0].text
    done = applied.structured_content["edits"]
    assert done["applied"] is True
    assert sorted(_git(repo, "diff", "--name-only").split()) == paths
    cells = (repo / "rich" / "cells.py").read_text()
    assert "def measure_cells(" in cells and "def cell_len(" not in cells


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True, text=True).stdout


def _stop_daemon(ws: Path, run_dir: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LANSER_")}
    env["XDG_RUNTIME_DIR"] = str(run_dir)
    subprocess.run(
        [sys.executable, "-c", "from lanser.cli.main import main; main()", "-w", str(ws), "daemon", "stop"],
        env=env,
        capture_output=True,
        timeout=60,
    )
