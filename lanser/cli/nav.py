"""Navigation commands: def, refs, hover, symbols, diag, locate.

Each parses its arguments into a Request, runs it through the orchestrator
and renders the bundle; nothing else happens here.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

from lanser.cli.main import Settings
from lanser.cli.render import render, render_json

__all__ = ["COMMANDS"]


def execute(settings: Settings, cmd: str, selector: str | None, args: dict[str, Any], fmt: str | None = None) -> int:
    request = {"cmd": cmd, "selector": selector, "args": {k: v for k, v in args.items() if v is not None},
               "indexIo": settings.index_io}
    data = run_requests(settings, [request])[0]
    return show(settings, data, fmt)


#: ``--format`` of every navigation command: ``agent`` (compact lines, lanser.formats.agent) or
#: ``bundle`` (the full Analysis Bundle as JSON, as --json prints it).  LANSER_FORMAT sets it once.
FORMAT_HELP = ("agent: compact lines for agents (selectors, previews, counts, the bundleId); "
               "bundle: the full Analysis Bundle as JSON.")


def format_option(choices: tuple[str, ...] = ("agent", "bundle"),
                  help_text: str = FORMAT_HELP) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    return click.option("--format", "fmt", type=click.Choice(list(choices)), default=None, envvar="LANSER_FORMAT",
                        help=help_text)


def show(settings: Settings, data: dict[str, Any], fmt: str | None) -> int:
    """Print ``data`` in ``fmt`` (None: text, or the bundle under --json) and return its exit code."""
    if fmt == "agent":
        from lanser.formats.agent import to_agent

        text = to_agent(data)
        if settings.json:  # under --json one object, as every answer: the text inside it
            click.echo(render_json({"format": "agent", "report": text, "bundleId": data.get("bundleId")},
                                   pretty=settings.pretty))
        else:
            click.echo(text, nl=False)
        return int((data.get("meta") or {}).get("exit_code", 0))
    return render(data, as_json=settings.json or fmt == "bundle", pretty=settings.pretty, verbose=settings.verbose)


def run_requests(settings: Settings, requests: list[Any]) -> list[dict[str, Any]]:
    """Answer requests through the warm daemon, or in this process (``--no-daemon``,
    or when no daemon can be started).  Both give byte-identical bundles.

    A request that writes (``args.apply``) goes alone, with an id, and is
    never sent twice: if its daemon dies before answering, the next daemon
    is asked what became of it (:func:`_lost`).  Read-only requests are
    simply asked again.
    """
    if not (settings.daemon and settings.workspace.is_dir()):
        return _in_process(settings, requests)
    if len(requests) == 1 or any(_mutates(raw) for raw in requests):
        out: list[dict[str, Any]] = []
        for raw in requests:
            bundle, interrupted = _through_daemon(settings, raw)
            out.append(bundle)
            if interrupted:  # Ctrl-C stops the requests after this one too
                out += [_cancelled(r) for r in requests[len(out):]]
                break
        return out
    from lanser import __version__
    from lanser.daemon import client

    message = {"op": "batch", "requests": requests, "options": _options(settings)}
    try:
        exchange = client.Exchange()
        replies = list(client.send(str(settings.workspace), settings.python, __version__, settings.idle, message,
                                   exchange))
        if len(replies) == len(requests):
            return replies
        raise client.DaemonUnavailable(f"daemon sent {len(replies)} replies to {len(requests)} requests")
    except KeyboardInterrupt:  # before the message was out: nothing was asked
        return [_cancelled(raw) for raw in requests]
    except (client.DaemonUnavailable, OSError, ValueError) as exc:
        _warn(f"daemon unavailable ({exc}); answering in-process")
    return _in_process(settings, requests)


def _options(settings: Settings) -> dict[str, Any]:
    return {"timeout": settings.timeout, "verbose": settings.verbose, "window": settings.window}


def _mutates(raw: Any) -> bool:
    from lanser.daemon.client import mutates

    return mutates(raw)


def answer_rest(settings: Settings, requests: list[Any], done: int, ids: dict[str, str],
                exchange: Any | None) -> list[dict[str, Any]]:
    """Bundles for ``requests[done:]``, which a batch's daemon did not answer (``lanser batch``).

    Interrupted: none of them runs.  The daemon gone while it answered an
    edit (``ids`` has its index): what became of it is asked, it is not run
    again; the rest are answered as usual.
    """
    if exchange is not None and exchange.interrupted:
        return [_cancelled(raw) for raw in requests[done:]]
    out: list[dict[str, Any]] = []
    if exchange is not None and exchange.sent and str(done) in ids:
        out.append(_lost(settings, requests[done], ids[str(done)]))
        done += 1
    return out + (run_requests(settings, requests[done:]) if done < len(requests) else [])


def _warn(message: str) -> None:
    import logging

    logging.getLogger("lanser").warning("%s", message)


def _through_daemon(settings: Settings, raw: Any) -> tuple[dict[str, Any], bool]:
    """One request through the daemon: its bundle, and whether a signal interrupted it."""
    from lanser import __version__
    from lanser.daemon import client

    try:
        bundle, exchange = client.request(str(settings.workspace), settings.python, __version__, settings.idle,
                                          raw, _options(settings), mutating=_mutates(raw))
    except KeyboardInterrupt:  # before the request was out: nothing was asked
        return _cancelled(raw), True
    except client.DaemonLost as lost:
        _warn(str(lost))
        return _lost(settings, raw, lost.request_id), False
    except (client.DaemonUnavailable, OSError, ValueError) as exc:
        _warn(f"daemon unavailable ({exc}); answering in-process")
        return _in_process(settings, [raw])[0], False
    if exchange.interrupted:
        _note_interrupted(bundle)
    return bundle, exchange.interrupted


def _note_interrupted(bundle: dict[str, Any]) -> None:
    import sys

    if (bundle.get("edits") or {}).get("applied"):
        sys.stderr.write("lanser: the interrupt came after the edit was committed: it was applied\n")


def _lost(settings: Settings, raw: Any, request_id: str) -> dict[str, Any]:
    """The daemon died with mutating request ``request_id`` unanswered: ask the next one, never re-run it."""
    import json
    import sys

    from lanser import __version__
    from lanser.daemon import client
    from lanser.errors import ApplyConflict, RequestCancelled

    try:
        known = client.outcome(str(settings.workspace), settings.python, __version__, settings.idle, request_id)
    except (client.DaemonUnavailable, OSError, ValueError, KeyboardInterrupt) as exc:
        # No daemon starts: read the record here.  Without a daemon's recovery a half-applied edit
        # matches neither side and is reported as unknown, which is the truth.
        try:
            from lanser.daemon.outcomes import Outcomes

            known = Outcomes(settings.workspace).outcome(request_id)
        except (OSError, ValueError, KeyboardInterrupt):
            known = {"state": "unknown", "why": f"no daemon could be asked ({exc})"}
    state, why = known.get("state"), known.get("why") or ""
    if state == "answered" and isinstance(known.get("bundle"), str):
        sys.stderr.write(f"lanser: the daemon died before sending its answer to request {request_id}; "
                         "this is the answer it recorded\n")
        data: dict[str, Any] = json.loads(known["bundle"])
        return data
    if state == "committed":
        sys.stderr.write(f"lanser: the daemon died after applying request {request_id}, before answering: "
                         "the edit was applied, once\n")
        return _committed(raw, request_id, known.get("paths"))
    if state == "not-committed":
        return _refused(raw, RequestCancelled(
            f"the daemon went away before the edit was applied ({why}): nothing was written; "
            "running the command again is safe", requestId=request_id))
    return _refused(raw, ApplyConflict(
        f"the daemon went away in the middle of the edit and lanser cannot tell whether it was applied ({why}); "
        "it was not run again: look at the files (git status) before retrying", requestId=request_id))


def _committed(raw: Any, request_id: str, paths: Any) -> dict[str, Any]:
    """A bundle for an edit known to be written whose answer was lost with its daemon."""
    from lanser import __version__
    from lanser.bundle.hashing import finalize
    from lanser.bundle.models import Bundle, Environment
    from lanser.pipeline import parse_request

    bundle = Bundle(request=parse_request(raw), environment=Environment(lanser=__version__))
    files = [{"path": p} for p in paths if isinstance(p, str)] if isinstance(paths, list) else []
    bundle.edits = {"workspaceEdit": None, "diff": None, "applied": True, "requestId": request_id, "files": files,
                    "via": "transaction, answer lost with its daemon",
                    "note": "the daemon died after writing this edit and before answering; "
                            "lanser found every file it changed with its new content"}
    return finalize(bundle)


def _cancelled(raw: Any) -> dict[str, Any]:
    from lanser.errors import RequestCancelled

    return _refused(raw, RequestCancelled("interrupted"))


def _in_process(settings: Settings, requests: list[Any]) -> list[dict[str, Any]]:
    from lanser.cli.main import _configure_logging

    _configure_logging(settings.verbose)  # the libraries that log are imported only on this path
    import asyncio
    import contextlib
    import signal

    from lanser.cancel import CURRENT, Scope
    from lanser.errors import LanserError
    from lanser.orchestrator import Orchestrator
    from lanser.pipeline import answer_batch

    scope = Scope()
    out: list[dict[str, Any]] = []
    interrupted: list[int] = []

    async def go() -> None:
        # Ctrl-C (and SIGTERM) cancel the request being answered, unless it passed its commit point.
        # A plain handler, not the loop's: it notes the signal at once, even while an apply holds
        # the loop, so that an answer that comes right after it is known to have been interrupted.
        CURRENT.set(scope)
        main = asyncio.current_task()
        assert main is not None
        scope.watch(main)
        loop = asyncio.get_running_loop()

        def on_signal(signum: int, frame: Any) -> None:
            interrupted.append(signum)
            loop.call_soon_threadsafe(scope.cancel)

        old: dict[int, Any] = {}
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                old[sig] = signal.signal(sig, on_signal)
            except ValueError:  # not the main thread (the MCP server's workers)
                break
        try:
            await answer_all()
        finally:
            for number, handler in old.items():
                signal.signal(number, handler)

    async def answer_all() -> None:
        recorder = None
        if settings.trace_file is not None:
            from lanser.trace import TraceRecorder

            recorder = TraceRecorder(settings.trace_file)
        try:
            orch = Orchestrator(settings.workspace, timeout=settings.timeout, python=settings.python,
                                verbose=settings.verbose, recorder=recorder)
        except LanserError as exc:
            out.extend(_refused(raw, exc) for raw in requests)
            return
        async with orch:
            async with contextlib.aclosing(answer_batch(orch, requests, window=settings.window)) as answers:
                async for answer in answers:
                    out.append(answer.bundle)
                    if interrupted:
                        _note_interrupted(out[-1])
                        break
                    scope.delivered()
            scope.forget()  # closing the servers is not cancelled
        if recorder is not None:
            recorder.close()

    try:
        asyncio.run(go())
    except (KeyboardInterrupt, asyncio.CancelledError):
        pass
    return out + [_cancelled(raw) for raw in requests[len(out):]]


def _selector_command(name: str, cmd: str, summary: str, examples: str, **extra: Any) -> click.Command:
    @click.command(name, help=f"{summary}\n\n\b\nExamples:\n{examples}", **extra)
    @click.argument("selector")
    @format_option()
    @click.pass_obj
    def command(settings: Settings, selector: str, fmt: str | None) -> None:
        raise SystemExit(execute(settings, cmd, selector, {}, fmt))

    return command  # type: ignore[no-any-return]  # click.command(**extra) resolves to Any


definition = _selector_command(
    "def", "definition", "Where the symbol at SELECTOR is defined.",
    "  lanser def 'pkg/report.py@L10:C27'\n  lanser --json def 'csrc/main.c@L9:C17'\n"
    "  lanser def 'pkg/report.py@L10:C27' --format agent",
)
hover = _selector_command(
    "hover", "hover", "Type and documentation of the symbol at SELECTOR.",
    "  lanser hover 'pkg/shapes.py@L39:C5'\n  lanser --json hover 'csrc/geometry.c@L8:C5'",
)
locate = _selector_command(
    "locate", "locate", "Resolve SELECTOR to a range and show the code there.",
    "  lanser locate 'pkg/shapes.py@R(18,1->25,1)'\n  lanser --json locate 'pkg/shapes.py@L13:C9'",
)


@click.command("refs", help="""Every reference to the symbol at SELECTOR.

Long lists are capped (--limit, at most 100000); the bundle then says
truncated and gives a cursor for the next page.

\b
Examples:
  lanser refs 'pkg/shapes.py@L39:C5'
  lanser --json refs 'csrc/geometry.c@L8:C5' --limit 50
  lanser --json refs 'pkg/shapes.py@L8:C7' --limit 2 --cursor '2:3f9a...'
  lanser refs 'pkg/shapes.py@L39:C5' --format agent""")
@click.argument("selector")
@click.option("--limit", type=click.IntRange(min=1), default=None, help="Return at most this many.")
@click.option("--cursor", type=str, default=None, help="Continue from a previous page's nextCursor.")
@click.option("--no-declaration", is_flag=True, help="Leave the declaration itself out.")
@format_option()
@click.pass_obj
def references(settings: Settings, selector: str, limit: int | None, cursor: str | None, no_declaration: bool,
               fmt: str | None) -> None:
    args = {"limit": limit, "cursor": cursor, "includeDeclaration": False if no_declaration else None}
    raise SystemExit(execute(settings, "references", selector, args, fmt))


@click.command("symbols", help="""Symbols of one file, or of the workspace with --query.

--depth, --kind and --no-locals filter what is shown (the bundle says how
many there are: facts.total); --format agent leaves out local variables
unless --locals is given.

\b
Examples:
  lanser symbols pkg/shapes.py
  lanser --json symbols --query Circle
  lanser symbols --query manhattan --language c
  lanser symbols pkg/shapes.py --depth 1 --kind class,function --format agent""")
@click.argument("selector", required=False)
@click.option("--query", type=str, default=None, help="Search workspace symbols by name.")
@click.option("--language", type=click.Choice(["python", "c", "cpp"]), default=None,
              help="Which server to ask for workspace symbols (default: every language present).")
@click.option("--depth", type=click.IntRange(min=1), default=None,
              help="Nesting levels shown: 1 top-level symbols, 2 also their members, ...")
@click.option("--kind", type=str, default=None,
              help="Only these kinds, comma-separated (class,function,method,variable,field,struct,...).")
@click.option("--locals/--no-locals", "locals_", default=None,
              help="Show (or leave out) variables declared inside functions (--format agent: left out).")
@format_option()
@click.pass_obj
def symbols(settings: Settings, selector: str | None, query: str | None, language: str | None, depth: int | None,
            kind: str | None, locals_: bool | None, fmt: str | None) -> None:
    if selector is None and query is None:
        raise click.UsageError("give a file selector or --query")
    kinds = sorted({k.strip() for k in kind.split(",") if k.strip()}) if kind is not None else None
    if kind is not None and not kinds:
        raise click.BadParameter("give at least one kind", param_hint="--kind")
    if locals_ is None and fmt == "agent":
        locals_ = False
    args = {"query": query, "language": language, "depth": depth, "kind": kinds,
            "locals": False if locals_ is False else None}
    raise SystemExit(execute(settings, "symbols", selector, args, fmt))


@click.command("diag", help="""Diagnostics of one file, or of every file of the workspace.

Each file's diagnostics carry the content hash of the version they describe.

With --fail-on-error, a CI gate: exit 1 when a file has an error
diagnostic (lanser's own failures keep their codes, see the exit-code table).

\b
Examples:
  lanser diag pkg/report.py
  lanser --json diag
  lanser diag --language c
  lanser diag pkg/report.py --fail-on-error
  lanser diag --format sarif > lanser.sarif
  lanser diag pkg/report.py --severity error --limit 20
  lanser diag --format agent""")
@click.argument("selector", required=False)
@click.option("--language", type=click.Choice(["python", "c", "cpp"]), default=None,
              help="Only this language's files (workspace mode).")
@click.option("--fail-on-error", is_flag=True, help="Exit 1 when any file has an error diagnostic.")
@click.option("--severity", type=click.Choice(["error", "warning", "information", "info", "hint"]), default=None,
              help="Show only diagnostics at least this severe.")
@click.option("--limit", type=click.IntRange(min=0), default=None,
              help="Show at most this many (the bundle counts the rest: facts.total).")
@click.option("--profile", type=click.Choice(["agent", "all"]), default=None,
              help="agent: errors and the warnings that matter, basedpyright's strict-mode noise (reportAny, "
                   "reportUnknown*, ...) off unless the project configures pyright; all: everything "
                   "(the default, except under --format agent).")
@format_option(("agent", "bundle", "sarif", "gitlab"),
               FORMAT_HELP + " sarif, gitlab: SARIF 2.1.0 or a GitLab code-quality report (errors stay lanser's).")
@click.pass_obj
def diagnostics(settings: Settings, selector: str | None, language: str | None, fail_on_error: bool,
                severity: str | None, limit: int | None, profile: str | None, fmt: str | None) -> None:
    if profile is None and fmt == "agent":
        profile = "agent"
    args = {k: v for k, v in (("language", language), ("profile", profile),
                              ("severity", "information" if severity == "info" else severity),
                              ("limit", limit)) if v is not None}
    request = {"cmd": "diagnostics", "selector": selector, "args": args, "indexIo": settings.index_io}
    data = run_requests(settings, [request])[0]
    if fmt in ("sarif", "gitlab") and data.get("status") == "ok":
        from lanser.formats import FORMATS

        report = FORMATS[fmt](data)  # under --json one object, as every answer: the report inside it
        click.echo(render_json({"format": fmt, "report": report} if settings.json else report, pretty=settings.pretty))
        code = int((data.get("meta") or {}).get("exit_code", 0))
    else:
        code = show(settings, data, fmt if fmt in ("agent", "bundle") else None)
    if fail_on_error and code == 0 and any((group.get("counts") or {}).get("error")
                                           for group in (data.get("facts") or {}).get("diagnostics") or []):
        code = 1
    raise SystemExit(code)


COMMANDS = (definition, references, hover, symbols, diagnostics, locate)


def _refused(raw: Any, exc: Any) -> dict[str, Any]:
    from lanser.errors import LanserError
    from lanser.orchestrator import failure_bundle
    from lanser.pipeline import parse_request

    try:
        return failure_bundle(parse_request(raw), exc)
    except LanserError:
        return failure_bundle(None, exc)
