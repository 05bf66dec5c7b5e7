"""``lanser batch``: many requests, one bundle per line, in order."""

from __future__ import annotations

import json
import sys
from typing import Any

import click

from lanser.cli.main import Settings
from lanser.cli.render import render_json

__all__ = ["batch"]


@click.command("batch", help="""Answer one request per JSONL line; print one bundle per line, in input order.

Each line is a Request: {"cmd": "definition", "selector": "pkg/a.py@L3:C5",
"args": {}, "indexIo": "utf-16"}. A line that is not valid JSON or not a
Request gets an E/BAD_REQUEST bundle on its output line and the batch goes
on. The exit code is 0 when every line succeeded, else the exit code of the
first line that failed.

\b
Examples:
  lanser batch queries.jsonl > bundles.jsonl
  printf '%s\\n' '{"cmd":"hover","selector":"pkg/shapes.py@L38:C5"}' | lanser batch -""")
@click.argument("source", type=click.File("r"), default="-")
@click.pass_obj
def batch(settings: Settings, source: Any) -> None:
    from lanser.cli.nav import run_requests

    requests: list[Any] = []
    for line in source:
        if not line.strip():
            continue
        try:
            requests.append(json.loads(line))
        except ValueError as exc:
            requests.append({"__invalid__": f"line is not JSON: {exc}"})
    results = run_requests(settings, requests) if requests else []
    first_failure = 0
    for data in results:
        sys.stdout.write(render_json(data) + "\n")
        code = int((data.get("meta") or {}).get("exit_code", 0))
        if code and not first_failure:
            first_failure = code
    sys.stdout.flush()
    raise SystemExit(first_failure)
