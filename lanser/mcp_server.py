"""``lanser mcp``: the Model Context Protocol front door (official ``mcp`` SDK, stdio).

Every tool builds a lanser Request, answered by the workspace's warm daemon
(in-process with ``--no-daemon``), and returns the Analysis Bundle once, as
the result's ``structuredContent``; the text content is the bundle in the
agent format (:mod:`lanser.formats.agent`: selectors, one-line previews,
counts, the ``bundleId``), a tenth of the bundle's size or less.  A failure
is a tool result with ``isError`` whose text starts with the lanser error
code and message (``E/NOT_FOUND: ...``), then the error's details (hints,
candidates with selectors), and whose ``structuredContent`` is the error
bundle (``error.code``, ``error.exitCode``, ``error.details``).  The result
is built here rather than by raising the SDK's ``ToolError``, which would
prefix the text and carry no object.

As the agent format on the command line: the diagnostics tool applies the
agent profile unless asked for ``profile="all"`` (errors and the warnings
that matter, :mod:`lanser.formats.filters`), and the symbols tool leaves out
variables declared inside functions unless ``locals=true``; the bundle's
``request.args`` record it.
"""

from __future__ import annotations

from typing import Any

from mcp_types import CallToolResult, TextContent

from lanser import __version__
from lanser.harness.run.llm.tools import SELECTORS, lanser_tool

# Names and descriptions come from one table shared with the LLM agent (lanser.harness.run.llm.tools);
# tests/unit/test_llm_agent.py checks these functions' parameters against it.

__all__ = ["SELECTORS", "build_server", "serve", "tool_result"]


def build_server(settings: Any) -> Any:
    from mcp.server.mcpserver import MCPServer

    from lanser.cli.client import client

    lanser = client(settings).aio  # the SDK builds each request and answers it off the event loop

    server = MCPServer(
        name="lanser",
        version=__version__,
        instructions=(
            "lanser answers questions about the code in one workspace from pinned language servers "
            "(basedpyright for Python, clangd for C) as deterministic JSON bundles, and makes safe edits "
            "(rename, code actions, patches): previewed unless apply=true, complete or refused, atomic.\n" + SELECTORS
        ),
    )

    async def run(cmd: str, selector: str | None, **args: Any) -> CallToolResult:
        """A command by its request name, for tools whose arguments are not the CLI's (symbols' kind
        text, diagnostics' profile default, code actions); the others call the client's method of their command."""
        return tool_result((await lanser.request(cmd, selector, **args)).data)

    @server.tool(description=lanser_tool("definition").full_description())
    async def definition(selector: str) -> CallToolResult:
        return tool_result((await lanser.definition(selector)).data)

    @server.tool(description=lanser_tool("references").full_description())
    async def references(selector: str, limit: int | None = None, cursor: str | None = None) -> CallToolResult:
        return tool_result((await lanser.references(selector, limit=limit, cursor=cursor)).data)

    @server.tool(description=lanser_tool("hover").full_description())
    async def hover(selector: str) -> CallToolResult:
        return tool_result((await lanser.hover(selector)).data)

    @server.tool(description=lanser_tool("symbols").full_description())
    async def symbols(
        selector: str | None = None,
        query: str | None = None,
        depth: int | None = None,
        kind: str | None = None,
        locals: bool = False,
    ) -> CallToolResult:
        kinds = sorted({k.strip() for k in kind.split(",") if k.strip()}) if kind is not None else None
        return await run("symbols", selector, query=query, depth=depth, kind=kinds, locals=None if locals else False)

    @server.tool(description=lanser_tool("diagnostics").full_description())
    async def diagnostics(
        selector: str | None = None, severity: str | None = None, limit: int | None = None, profile: str = "agent"
    ) -> CallToolResult:
        return await run("diagnostics", selector, severity=severity, limit=limit, profile=profile)

    @server.tool(description=lanser_tool("locate").full_description())
    async def locate(selector: str) -> CallToolResult:
        return tool_result((await lanser.locate(selector)).data)

    @server.tool(description=lanser_tool("prepare_rename").full_description())
    async def prepare_rename(selector: str) -> CallToolResult:
        return tool_result((await lanser.prepare_rename(selector)).data)

    @server.tool(description=lanser_tool("rename").full_description())
    async def rename(selector: str, new_name: str, apply: bool = False, allow_dirty: bool = False) -> CallToolResult:
        return tool_result((await lanser.rename(selector, new_name, apply=apply, allow_dirty=allow_dirty)).data)

    @server.tool(description=lanser_tool("code_actions").full_description())
    async def code_actions(
        selector: str, action_id: str | None = None, apply: bool = False, allow_dirty: bool = False
    ) -> CallToolResult:
        # apply without an id lists the actions here (the SDK's actions() refuses it, as the CLI does)
        return await run("actions", selector, actionId=action_id, apply=apply or None, allowDirty=allow_dirty or None)

    @server.tool(description=lanser_tool("check_patch").full_description())
    async def check_patch(
        patch: str, selector: str | None = None, apply: bool = False, allow_dirty: bool = False
    ) -> CallToolResult:
        return tool_result((await lanser.check(patch, selector=selector, apply=apply, allow_dirty=allow_dirty)).data)

    return server


#: Where an MCP client finds the whole bundle.
FULL_HINT = "full: structuredContent"


def tool_result(data: dict[str, Any]) -> CallToolResult:
    """The MCP result of one bundle: the agent text, and the bundle as structured content; an
    error bundle gives ``isError`` and text that starts with ``E/CODE: message``."""
    from lanser.formats.agent import to_agent

    text = to_agent(data, full_hint=FULL_HINT)
    return CallToolResult(
        content=[TextContent(type="text", text=text)], structured_content=data, is_error=data.get("status") == "error"
    )


def serve(settings: Any) -> None:
    build_server(settings).run("stdio")
