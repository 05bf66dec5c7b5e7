"""``lanser daemon start|status|stop``: the workspace's warm daemon."""

from __future__ import annotations

import click

from lanser.cli.main import Settings
from lanser.cli.render import render_json

__all__ = ["daemon"]


@click.group(
    "daemon",
    help="""Manage the workspace's warm daemon.

The first command in a workspace starts it in the background; later calls
reach it over an owner-only Unix socket and cost milliseconds. It exits
after --idle-timeout seconds unused, and its servers exit with it.

\b
Examples:
  lanser -w examples/sample daemon start
  lanser --json daemon status
  lanser daemon stop""",
)
def daemon() -> None:
    pass


@daemon.command("start", help="Start the daemon (a no-op when it runs).\n\n\b\nExamples:\n  lanser daemon start")
@click.pass_obj
def start(settings: Settings) -> None:
    from lanser import __version__
    from lanser.daemon import client

    try:
        client.ensure_daemon(str(settings.workspace), settings.python, __version__, settings.idle)
    except client.DaemonUnavailable as exc:
        raise click.ClickException(str(exc)) from None
    _print_status(settings)


@daemon.command(
    "status",
    help="Show the daemon's pid, servers and cache; exit 3 if none runs.\n\n\b\n"
    "Examples:\n  lanser daemon status\n  lanser --json daemon status",
)
@click.pass_obj
def status(settings: Settings) -> None:
    raise SystemExit(0 if _print_status(settings) else 3)


@daemon.command("stop", help="Stop the daemon and its servers.\n\n\b\nExamples:\n  lanser daemon stop")
@click.pass_obj
def stop(settings: Settings) -> None:
    from lanser import __version__
    from lanser.daemon import client

    stopped = client.stop(str(settings.workspace), settings.python, __version__)
    if settings.json:
        click.echo(render_json({"stopped": stopped}))
    else:
        click.echo("stopped" if stopped else "no daemon running", err=not stopped)


def _print_status(settings: Settings) -> bool:
    from lanser import __version__
    from lanser.daemon import client

    info = client.status(str(settings.workspace), settings.python, __version__)
    if settings.json:
        click.echo(render_json({"running": info is not None, **(info or {})}, pretty=settings.pretty))
    elif info is None:
        click.echo("no daemon running", err=True)
    else:
        click.echo(
            f"daemon pid {info['pid']} for {info['workspace']}, up {info['uptimeS']}s, "
            f"{info['requests']} requests, idle timeout {info['idleTimeoutS']:g}s"
        )
        for name, s in sorted(info["servers"].items()):
            click.echo(
                f"  {name}: pid {s['pid']} {'alive' if s['alive'] else 'dead'}, "
                f"{s['documents']} open documents, {s['restarts']} restarts"
            )
    return info is not None
