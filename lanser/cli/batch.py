"""``lanser batch``: many requests, one bundle per line, in order."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from typing import Any

import click

from lanser.cli.main import Settings
from lanser.pipeline import DEFAULT_WINDOW, MAX_WINDOW

__all__ = ["MAX_REQUEST_DEPTH", "batch", "read_line"]

#: lanser.bundle.models.MAX_REQUEST_DEPTH, without importing pydantic on the client's path (a test pins them equal).
MAX_REQUEST_DEPTH = 16


@click.command(
    "batch",
    help="""Answer one request per JSONL line; print one bundle per line, in input order.

Each line is a Request: {"cmd": "definition", "selector": "pkg/a.py@L3:C5",
"args": {}, "indexIo": "utf-16"}. A line that is not valid JSON or not a
Request gets an E/BAD_REQUEST bundle on its output line and the batch goes
on. The exit code is 0 when every line succeeded, else the exit code of the
first line that failed. Bundles are printed as the daemon answers them.

Read-only requests are sent to the server several at a time (--pipeline);
diagnostics, workspace symbols and edits wait for the requests before them
and run alone. All lines are answered against one snapshot of the
workspace, so the bundles are the same for every --pipeline value.

\b
Examples:
  lanser batch queries.jsonl > bundles.jsonl
  lanser batch --pipeline 1 queries.jsonl     # one request at a time
  printf '%s\\n' '{"cmd":"hover","selector":"pkg/shapes.py@L38:C5"}' | lanser batch -""",
)
@click.argument("source", type=click.File("rb"), default="-")
@click.option(
    "--pipeline",
    "window",
    type=click.IntRange(1, MAX_WINDOW),
    default=DEFAULT_WINDOW,
    show_default=True,
    help="Read-only requests (def, refs, hover, file symbols, locate) kept in flight at the server at "
    "once; 1 sends each after the last was answered. Output order and bundles do not change.",
)
@click.pass_obj
def batch(settings: Settings, source: Any, window: int) -> None:
    settings.window = window
    requests = [request for line in source if (request := read_line(line)) is not None]
    first_failure = 0
    for text, code in _answers(settings, requests):
        sys.stdout.write(text + "\n")
        if code and not first_failure:
            first_failure = code
    sys.stdout.flush()
    raise SystemExit(first_failure)


def read_line(line: bytes) -> Any:
    """One batch line as request data: parsed JSON, or a marker that becomes its E/BAD_REQUEST
    bundle (:func:`lanser.pipeline.parse_request`); None for a blank line.

    Read as bytes and decoded line by line: a line that is not UTF-8, not
    JSON or nested beyond the parser's depth is that line's error, and the
    batch goes on with the next.
    """
    if not line.strip():
        return None
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError as exc:
        return {"__invalid__": f"line is not UTF-8 (byte {exc.start + 1})"}
    try:
        data = json.loads(text)
    except RecursionError:
        return {"__invalid__": "line is not JSON: nested too deeply"}
    except ValueError as exc:
        return {"__invalid__": f"line is not JSON: {exc}"}
    if _deeper_than(data, MAX_REQUEST_DEPTH):
        # Refused here: the daemon's message and every later copy would nest it further.
        return {"__invalid__": f"invalid request: nested deeper than {MAX_REQUEST_DEPTH} levels"}
    return data


def _deeper_than(value: Any, limit: int) -> bool:
    """Whether ``value`` nests deeper than ``limit`` (iterative: the value may be deep)."""
    stack = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, (dict, list)):
            if depth >= limit:
                return True
            stack.extend((child, depth + 1) for child in (item.values() if isinstance(item, dict) else item))
    return False


def _answers(settings: Settings, requests: list[Any]) -> Iterator[tuple[str, int]]:
    """Each request's bundle as one line of JSON, with its exit code, in order, as soon as it is known
    (:meth:`lanser.client.Client.iter_batch`: the daemon's lines are passed on without being parsed,
    and what a daemon gone part of the way through did not answer is answered the usual way)."""
    from lanser.cli.client import client

    for result in client(settings).iter_batch(requests):
        yield result.text, result.exit_code
