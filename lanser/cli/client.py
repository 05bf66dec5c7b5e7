"""The CLI's :class:`~lanser.client.Client`: its global options, its logging, its rendering."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from lanser.cli.main import Settings
    from lanser.client import Client, Result

__all__ = ["client", "render_result"]


def client(settings: Settings) -> Client:
    """A client with the command line's workspace, daemon, timeout, interpreter and index-io."""
    from lanser.cli.main import _configure_logging
    from lanser.client import Client

    return Client._from_settings(settings, on_in_process=_configure_logging)


def render_result(settings: Settings, result: Result, fmt: str | None = None) -> int:
    """Print ``result``'s bundle as the global options and ``--format`` say (text, the agent format,
    or the bundle under --json) and return its exit code."""
    if fmt is not None:
        from lanser.cli.nav import effective_format, show

        return show(settings, result.data, effective_format(settings, fmt))
    from lanser.cli.render import render

    return render(result.data, as_json=settings.json, pretty=settings.pretty, verbose=settings.verbose)
