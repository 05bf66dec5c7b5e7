"""``lanser mcp``: the Model Context Protocol front door (official ``mcp`` SDK, stdio).

Every tool builds a lanser Request and returns the Analysis Bundle twice:
as JSON text (for any client) and as the result's ``structuredContent``
(for clients that read objects), answered by the workspace's warm daemon
(in-process with ``--no-daemon``).  A failure is a tool result with
``isError`` whose text starts with the lanser error code and message
(``E/NOT_FOUND: ...``), then the error bundle, and whose
``structuredContent`` is that bundle (``error.code``, ``error.exitCode``,
``error.details``).  The result is built here rather than by raising the
SDK's ``ToolError``, which would prefix the text and carry no object.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from mcp_types import CallToolResult, TextContent

from lanser import __version__

__all__ = ["build_server", "serve", "tool_result"]

SELECTORS = """A selector names a place in the code:
- cursor: 'pkg/app.py@L42:C7' (1-based line and column), range: 'pkg/app.py@R(42,7->44,1)';
- symbol: 'py://pkg.app#Class.method' or 'c://lib/str.c#strscpy', optionally with a role
  ':def', ':sig', ':body' or ':doc' and '?overload=N' for the N-th definition of the name;
- AST path: 'ast://[module=pkg.app]/[class=Class]/[def=method]';
- content anchor: 'anchor://pkg/app.py#"def load_data("' (percent-escape '#', '?', '%', '"', spaces).
Symbol selectors survive edits elsewhere in the file; prefer them over line numbers.
Every location in a result carries a 'selector' you can pass back."""


def build_server(settings: Any) -> Any:
    from mcp.server.mcpserver import MCPServer

    from lanser.cli.nav import run_requests

    server = MCPServer(
        name="lanser",
        version=__version__,
        instructions=(
            "lanser answers questions about the code in one workspace from pinned language servers "
            "(basedpyright for Python, clangd for C) as deterministic JSON bundles, and makes safe edits "
            "(rename, code actions, patches): previewed unless apply=true, complete or refused, atomic.\n"
            + SELECTORS
        ),
    )

    async def run(cmd: str, selector: str | None, **args: Any) -> CallToolResult:
        request = {"cmd": cmd, "selector": selector, "args": {k: v for k, v in args.items() if v is not None},
                   "indexIo": settings.index_io}
        data = (await asyncio.to_thread(run_requests, settings, [request]))[0]
        return tool_result(data)

    @server.tool(description="Where the symbol at `selector` is defined.\n" + SELECTORS)
    async def definition(selector: str) -> CallToolResult:
        return await run("definition", selector)

    @server.tool(description="Every reference to the symbol at `selector` (sorted; `limit` and `cursor` page "
                             "through long lists).\n" + SELECTORS)
    async def references(selector: str, limit: int | None = None, cursor: str | None = None) -> CallToolResult:
        return await run("references", selector, limit=limit, cursor=cursor)

    @server.tool(description="Type signature and documentation of the symbol at `selector`.\n" + SELECTORS)
    async def hover(selector: str) -> CallToolResult:
        return await run("hover", selector)

    @server.tool(description="Symbols of one file (`selector` = a path such as 'pkg/app.py'), or workspace "
                             "symbols matching `query` when no selector is given.")
    async def symbols(selector: str | None = None, query: str | None = None) -> CallToolResult:
        return await run("symbols", selector, query=query)

    @server.tool(description="Diagnostics (errors, warnings) of one file, or of the whole workspace when no "
                             "selector is given. Each file's list names the content hash it describes.")
    async def diagnostics(selector: str | None = None) -> CallToolResult:
        return await run("diagnostics", selector)

    @server.tool(description="Resolve `selector` to a concrete range with a preview of the code there; "
                             "ambiguous selectors fail with ranked candidates.\n" + SELECTORS)
    async def locate(selector: str) -> CallToolResult:
        return await run("locate", selector)

    @server.tool(description="Whether the symbol at `selector` can be renamed, and its current name.")
    async def prepare_rename(selector: str) -> CallToolResult:
        return await run("prepareRename", selector)

    @server.tool(description="Rename the symbol at `selector` to `new_name` across the workspace. Returns the "
                             "diff and the process reward; writes only when apply=true (one transaction, "
                             "refused if partial, outside the workspace, or over uncommitted work unless "
                             "allow_dirty=true).\n" + SELECTORS)
    async def rename(selector: str, new_name: str, apply: bool = False, allow_dirty: bool = False) -> CallToolResult:
        return await run("rename", selector, newName=new_name, apply=apply or None, allowDirty=allow_dirty or None)

    @server.tool(description="Code actions (quick fixes, refactors) at `selector`; give `action_id` to preview "
                             "one, and apply=true to write it.\n" + SELECTORS)
    async def code_actions(selector: str, action_id: str | None = None, apply: bool = False,
                           allow_dirty: bool = False) -> CallToolResult:
        return await run("actions", selector, actionId=action_id, apply=apply or None, allowDirty=allow_dirty or None)

    @server.tool(description="Would this patch help? Evaluates a unified diff in the language server's memory "
                             "(nothing written unless apply=true): diagnostics that appear and disappear and "
                             "the process reward r = 0.5*(D_before - D_after) + 0.4*safe - 0.1*(1 - confidence).")
    async def check_patch(patch: str, selector: str | None = None, apply: bool = False,
                          allow_dirty: bool = False) -> CallToolResult:
        return await run("check", selector, patch=patch, apply=apply or None, allowDirty=allow_dirty or None)

    return server


def tool_result(data: dict[str, Any]) -> CallToolResult:
    """The MCP result of one bundle: an error bundle gives ``isError`` and text
    that starts with ``E/CODE: message``."""
    text = json.dumps(data, sort_keys=True, ensure_ascii=False)
    if data.get("status") != "error":
        return CallToolResult(content=[TextContent(type="text", text=text)], structured_content=data)
    err = data.get("error") or {}
    text = f"{err.get('code')}: {err.get('message')}\n{text}"
    return CallToolResult(content=[TextContent(type="text", text=text)], structured_content=data, is_error=True)


def serve(settings: Any) -> None:
    build_server(settings).run("stdio")
