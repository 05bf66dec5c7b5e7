"""``lanser mcp``: serve the Model Context Protocol over stdio."""

from __future__ import annotations

import click

from lanser.cli.main import Settings

__all__ = ["mcp"]


@click.command(
    "mcp",
    help="""Serve lanser's tools to an MCP client over stdio.

Tools: definition, references, hover, symbols, diagnostics, locate,
prepare_rename, rename, code_actions, check_patch. Each returns the
Analysis Bundle; failures are tool errors starting with the lanser code.

\b
Examples:
  lanser -w . mcp
  claude mcp add lanser -- lanser -w /path/to/repo mcp""",
)
@click.pass_obj
def mcp(settings: Settings) -> None:
    try:
        from lanser.mcp_server import serve
    except ImportError as exc:  # the optional extra is missing
        raise click.ClickException(
            f"the MCP server needs the 'mcp' package: pip install 'lanser[mcp]' ({exc})"
        ) from exc
    serve(settings)
