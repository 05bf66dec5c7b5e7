"""``lanser bench source``: fetch a task source and print the sha256 a task file pins."""

from __future__ import annotations

from pathlib import Path

import click

from lanser.cli.main import Settings
from lanser.cli.render import render_json

__all__ = ["source"]


@click.group("source", help="""Fetch and inspect task sources (the cache is ~/.cache/lanser/sources).

\b
Examples:
  lanser bench source fetch debian:zlib=1:1.2.13.dfsg-1
  lanser bench source fetch pypi:six==1.16.0""")
def source() -> None:
    pass


@source.command("fetch", help="""Fetch SPEC, unpack it, and print its sha256 and the task file's source.

SPEC is debian:PACKAGE=VERSION, pypi:NAME==VERSION, git:URL@COMMIT or
dir:PATH.  With --sha256 the download is checked against it instead.

\b
Examples:
  lanser bench source fetch debian:cjson=1.7.15-1+deb12u4
  lanser bench source fetch git:https://example.org/proj.git@COMMIT
  lanser --json bench source fetch pypi:six==1.16.0 --sha256 1e61c374...""")
@click.argument("spec")
@click.option("--sha256", default=None, help="Verify against this digest (64 hex digits).")
@click.pass_obj
def fetch(settings: Settings, spec: str, sha256: str | None) -> None:
    from lanser.errors import LanserError
    from lanser.harness.errors import InfrastructureError
    from lanser.harness.sources import fetch_hint, materialize
    from lanser.harness.task import Source

    try:
        parsed = Source.parse(spec, sha256)
    except ValueError as exc:
        raise click.BadParameter(str(exc).splitlines()[-1] if "validation error" in str(exc) else str(exc),
                                 param_hint="SPEC") from None
    try:
        digest = sha256 or fetch_hint(parsed)
        pinned = parsed.model_copy(update={"sha256": digest})
        tree = materialize(pinned, Path.cwd())
    except LanserError as exc:
        if settings.json:
            click.echo(render_json({"status": "error", "error": exc.to_dict()}))
        else:
            click.echo(f"lanser: {exc.code}: {exc.message}", err=True)
        raise SystemExit(exc.exit_code) from None
    except InfrastructureError as exc:
        raise click.ClickException(str(exc)) from None
    entry = pinned.model_dump(mode="json", exclude_defaults=True)
    entry["kind"] = pinned.kind
    if settings.json:
        click.echo(render_json({"status": "ok", "sha256": digest, "source": entry, "tree": str(tree)}))
    else:
        click.echo(digest)
        click.echo(f'"source": {render_json(entry)}', err=True)
        click.echo(f"unpacked: {tree}", err=True)
