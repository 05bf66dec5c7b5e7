"""`lanser mcp` driven by the official MCP SDK's client over stdio, on a real git repository."""

from __future__ import annotations

import json
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
    return StdioServerParameters(command=sys.executable,
                                 args=["-c", "from lanser.cli.main import main; main()", "-w", str(ws), "mcp"],
                                 env=env)


def test_mcp_tools_over_stdio(sample: Path, tmp_path: Path) -> None:
    from mcp.client.session import ClientSession
    from mcp.client.stdio import stdio_client

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
                out["definition"] = (res.is_error, json.loads(res.content[0].text))
                res = await session.call_tool("rename", {"selector": "py://pkg.shapes#total_area", "new_name": "sum_areas"})
                out["preview"] = (res.is_error, json.loads(res.content[0].text))
                out["after_preview"] = (sample / "pkg" / "shapes.py").read_text()
                res = await session.call_tool("rename", {"selector": "py://pkg.shapes#total_area",
                                                         "new_name": "sum_areas", "apply": True})
                out["apply"] = (res.is_error, json.loads(res.content[0].text))
                res = await session.call_tool("locate", {"selector": "py://pkg.shapes#nothing"})
                out["error"] = (res.is_error, res.content[0].text)
        return out

    try:
        out = anyio.run(main)
    finally:
        env = {k: v for k, v in os.environ.items() if not k.startswith("LANSER_")}
        env["XDG_RUNTIME_DIR"] = str(run_dir)
        subprocess.run([sys.executable, "-c", "from lanser.cli.main import main; main()", "-w", str(sample),
                        "daemon", "stop"], env=env, capture_output=True, timeout=60)
    assert out["tools"] == ["check_patch", "code_actions", "definition", "diagnostics", "hover", "locate",
                            "prepare_rename", "references", "rename", "symbols"]
    assert "py://pkg.app#Class.method" in out["descriptions"]["definition"]
    is_error, bundle = out["definition"]
    assert not is_error and bundle["facts"]["definitions"][0]["selector"] == "pkg/shapes.py@L38:C5"
    is_error, bundle = out["preview"]
    assert not is_error and bundle["edits"]["applied"] is False and "def total_area" in out["after_preview"]
    is_error, bundle = out["apply"]
    assert not is_error and bundle["edits"]["applied"] is True
    assert "def sum_areas(" in (sample / "pkg" / "shapes.py").read_text()
    is_error, text = out["error"]
    assert is_error and "E/NOT_FOUND: no definition of pkg.shapes#nothing" in text
