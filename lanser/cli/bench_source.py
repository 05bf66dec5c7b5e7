"""``lanser bench source``: fetch a task source and print the sha256 a task file pins."""

from __future__ import annotations

from pathlib import Path

import click

from lanser.cli.main import Settings
from lanser.cli.render import errors_rendered, render_json

__all__ = ["source"]


@click.group(
    "source",
    help="""Fetch and inspect task sources (the cache is ~/.cache/lanser/sources).

\b
Examples:
  lanser bench source fetch debian:zlib=1:1.2.13.dfsg-1
  lanser bench source fetch pypi:six==1.16.0""",
)
def source() -> None:
    pass


@source.command(
    "fetch",
    help="""Fetch SPEC, unpack it, and print its sha256 and the task file's source.

SPEC is debian:PACKAGE=VERSION, pypi:NAME==VERSION, git:URL@COMMIT or
dir:PATH.  With --sha256 the download is checked against it instead.

\b
Examples:
  lanser bench source fetch debian:cjson=1.7.15-1+deb12u4
  lanser bench source fetch git:https://example.org/proj.git@COMMIT
  lanser --json bench source fetch pypi:six==1.16.0 --sha256 1e61c374...""",
)
@click.argument("spec")
@click.option("--sha256", default=None, help="Verify against this digest (64 hex digits).")
@click.pass_obj
@errors_rendered
def fetch(settings: Settings, spec: str, sha256: str | None) -> None:
    from lanser.harness.task.sources import fetch_hint, materialize
    from lanser.harness.task.spec import Source

    try:
        parsed = Source.parse(spec, sha256)
    except ValueError as exc:
        raise click.BadParameter(
            str(exc).splitlines()[-1] if "validation error" in str(exc) else str(exc), param_hint="SPEC"
        ) from None
    digest = sha256 or fetch_hint(parsed)  # a LanserError (E/INFRASTRUCTURE among them): errors_rendered
    pinned = parsed.model_copy(update={"sha256": digest})
    tree = materialize(pinned, Path.cwd())
    entry = pinned.model_dump(mode="json", exclude_defaults=True)
    entry["kind"] = pinned.kind
    if settings.json:
        click.echo(render_json({"status": "ok", "sha256": digest, "source": entry, "tree": str(tree)}))
    else:
        click.echo(digest)
        click.echo(f'"source": {render_json(entry)}', err=True)
        click.echo(f"unpacked: {tree}", err=True)
