"""``lanser doctor``: pinned servers against what is installed, and whether each starts."""

from __future__ import annotations

import platform
import sys
import time
from typing import Any

import click

from lanser.cli.main import Settings

__all__ = ["doctor"]


async def _probe(language: str, settings: Settings) -> dict[str, Any]:
    from lanser.errors import LanserError
    from lanser.lsp.registry import PINS, server_for_language
    from lanser.lsp.session import LspSession

    row: dict[str, Any] = {"language": language}
    try:
        spec = server_for_language(language, check_pin=False)
    except LanserError as exc:
        return {**row, "ok": False, "error": exc.to_dict()}
    row.update(
        server=spec.name,
        installed=spec.version,
        pinned=PINS.get(spec.name),
        pinOk=spec.version == PINS.get(spec.name),
        command=spec.command[0],
    )
    session = LspSession(spec, settings.workspace.resolve())
    started = time.monotonic()
    try:
        await session.start(settings.timeout)
        row.update(starts=True, reported=session.server_info.get("version"), positionEncoding=session.position_encoding)
    except LanserError as exc:
        row.update(starts=False, error=exc.to_dict())
    finally:
        await session.shutdown()
    row["startMs"] = round((time.monotonic() - started) * 1000, 1)
    row["ok"] = bool(row.get("starts")) and bool(row.get("pinOk"))
    return row


@click.command(
    "doctor",
    help="""Show the pinned servers, what is installed, and whether each starts.

\b
Examples:
  lanser doctor
  lanser --json doctor""",
)
@click.pass_obj
def doctor(settings: Settings) -> None:
    from lanser import __version__
    from lanser.cli.render import render_json

    async def go() -> list[dict[str, Any]]:
        return [await _probe(lang, settings) for lang in ("python", "c")]

    import asyncio

    rows = asyncio.run(go())
    report = {
        "lanser": __version__,
        "python": {"version": platform.python_version(), "executable": sys.executable},
        "platform": f"{platform.system()}-{platform.release()}-{platform.machine()}",
        "servers": rows,
        "ok": all(r["ok"] for r in rows),
    }
    if settings.json:
        click.echo(render_json(report, pretty=settings.pretty))
    else:
        click.echo(f"lanser {__version__} on Python {platform.python_version()} ({sys.executable})")
        for r in rows:
            mark = "ok " if r["ok"] else "BAD"
            detail = f"{r.get('server')} installed {r.get('installed')} pinned {r.get('pinned')}"
            if r.get("starts"):
                detail += f", starts in {r['startMs']:.0f} ms, encoding {r.get('positionEncoding')}"
            elif "error" in r:
                detail += f", {r['error']['code']}: {r['error']['message']}"
            click.echo(f"  [{mark}] {r['language']:<7} {detail}")
    raise SystemExit(0 if report["ok"] else 10)
