"""``lanser schema export|validate|validate-batch``: the published contracts."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from lanser.cli.main import Settings
from lanser.cli.render import render_json

__all__ = ["schema"]

KIND = click.Choice(["auto", "selector", "request", "bundle", "trace-event", "task"])


@click.group(
    "schema",
    help="""JSON Schemas of selectors (PositionSpec), requests, bundles, trace events and task files.

\b
Examples:
  lanser schema export schemas/
  lanser schema validate bundle.json
  lanser --json schema validate-batch runs/ --kind bundle""",
)
def schema() -> None:
    pass


@schema.command("export", help="Write every schema to DIR.\n\n\b\nExamples:\n  lanser schema export schemas/")
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
@click.pass_obj
def export_cmd(settings: Settings, directory: Path) -> None:
    from lanser.bundle.schemas import export

    written = export(directory)
    if settings.json:
        click.echo(render_json({"written": [str(p) for p in written]}))
    else:
        for p in written:
            click.echo(str(p))


def _documents(path: Path) -> list[tuple[str, Any]]:
    """(location, object) pairs: a JSON file is one object, a .jsonl file one per line."""
    text = path.read_text(encoding="utf-8")
    if path.suffix == ".jsonl":
        out = []
        for n, line in enumerate(text.splitlines(), 1):
            if line.strip():
                try:
                    out.append((f"{path}:{n}", json.loads(line)))
                except ValueError as exc:
                    out.append((f"{path}:{n}", _Unparsable(str(exc))))
        return out
    try:
        return [(str(path), json.loads(text))]
    except ValueError as exc:
        return [(str(path), _Unparsable(str(exc)))]


class _Unparsable:
    def __init__(self, why: str) -> None:
        self.why = why


def _check(files: list[Path], kind: str) -> list[dict[str, Any]]:
    from lanser.bundle.schemas import detect_kind, validate

    results = []
    for path in files:
        for where, obj in _documents(path):
            if isinstance(obj, _Unparsable):
                results.append({"where": where, "kind": None, "valid": False, "errors": [f"not JSON: {obj.why}"]})
                continue
            k = detect_kind(obj) if kind == "auto" else kind
            errors = validate(obj, k)
            results.append({"where": where, "kind": k, "valid": not errors, "errors": errors})
    return results


def _report(settings: Settings, results: list[dict[str, Any]]) -> None:
    ok = all(r["valid"] for r in results)
    if settings.json:
        click.echo(render_json({"valid": ok, "checked": len(results), "results": results}))
    else:
        for r in results:
            if not r["valid"]:
                for e in r["errors"]:
                    click.echo(f"{r['where']}: {r['kind'] or 'json'}: {e}")
        bad = sum(not r["valid"] for r in results)
        click.echo(f"{len(results) - bad}/{len(results)} valid", err=True)
    raise SystemExit(0 if ok else 2)


@schema.command(
    "validate",
    help="""Check FILE (.json: one object; .jsonl: one per line) against its schema.

The kind is detected (trace event, bundle, request, selector) unless --kind
says. Exit 0 when everything is valid, 2 otherwise.

\b
Examples:
  lanser schema validate bundle.json
  lanser schema validate queries.jsonl --kind request""",
)
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--kind", type=KIND, default="auto", show_default=True)
@click.pass_obj
def validate_cmd(settings: Settings, path: Path, kind: str) -> None:
    _report(settings, _check([path], kind))


@schema.command(
    "validate-batch",
    help="""Check every .json and .jsonl file under DIR.

\b
Examples:
  lanser schema validate-batch runs/
  lanser --json schema validate-batch traces/ --kind trace-event""",
)
@click.argument("directory", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--kind", type=KIND, default="auto", show_default=True)
@click.pass_obj
def validate_batch_cmd(settings: Settings, directory: Path, kind: str) -> None:
    files = sorted(p for p in directory.rglob("*") if p.suffix in (".json", ".jsonl") and p.is_file())
    _report(settings, _check(files, kind))
