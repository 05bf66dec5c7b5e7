"""Navigation commands: def, refs, hover, symbols, diag, locate.

Each parses its arguments, asks :class:`lanser.client.Client` (which builds
the Request and answers it through the daemon or in-process) and renders the
bundle; nothing else happens here.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

from lanser.cli.main import Settings
from lanser.cli.render import render, render_json

__all__ = ["COMMANDS"]


def execute(settings: Settings, cmd: str, selector: str | None, args: dict[str, Any], fmt: str | None = None) -> int:
    from lanser.cli.client import client

    data = client(settings).request(cmd, selector, **args).data  # lanser.client builds and sends the request
    return show(settings, data, fmt)


#: ``--format`` of every navigation command: ``agent`` (compact lines, lanser.formats.agent) or
#: ``bundle`` (the full Analysis Bundle as JSON, as --json prints it).  LANSER_FORMAT sets it once.
FORMAT_HELP = (
    "agent: compact lines for agents (selectors, previews, counts, the bundleId); "
    "bundle: the full Analysis Bundle as JSON."
)


def format_option(
    choices: tuple[str, ...] = ("agent", "bundle"), help_text: str = FORMAT_HELP
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    return click.option(
        "--format", "fmt", type=click.Choice(list(choices)), default=None, envvar="LANSER_FORMAT", help=help_text
    )


def effective_format(settings: Settings, fmt: str | None) -> str | None:
    """``fmt``, except that LANSER_FORMAT does not change what ``--json`` prints (scripts that read
    the bundle keep reading it); ``--format`` on the command line always counts."""
    from click.core import ParameterSource

    ctx = click.get_current_context(silent=True)
    if settings.json and ctx is not None and ctx.get_parameter_source("fmt") is ParameterSource.ENVIRONMENT:
        return None
    return fmt


def show(settings: Settings, data: dict[str, Any], fmt: str | None) -> int:
    """Print ``data`` in ``fmt`` (None: text, or the bundle under --json) and return its exit code."""
    if fmt == "agent":
        from lanser.formats.agent import to_agent

        text = to_agent(data)
        if settings.json:  # under --json one object, as every answer: the text inside it
            click.echo(
                render_json(
                    {"format": "agent", "report": text, "bundleId": data.get("bundleId")}, pretty=settings.pretty
                )
            )
        else:
            import sys

            from lanser.cli.render import terminal_safe

            # On a terminal, an escape sequence from a workspace file must not drive it (as in text mode).
            click.echo(terminal_safe(text) if sys.stdout.isatty() else text, nl=False)
        return int((data.get("meta") or {}).get("exit_code", 0))
    return render(data, as_json=settings.json or fmt == "bundle", pretty=settings.pretty, verbose=settings.verbose)


def _selector_command(name: str, cmd: str, summary: str, examples: str, **extra: Any) -> click.Command:
    @click.command(name, help=f"{summary}\n\n\b\nExamples:\n{examples}", **extra)
    @click.argument("selector")
    @format_option()
    @click.pass_obj
    def command(settings: Settings, selector: str, fmt: str | None) -> None:
        raise SystemExit(execute(settings, cmd, selector, {}, effective_format(settings, fmt)))

    return command  # type: ignore[no-any-return]  # click.command(**extra) resolves to Any


definition = _selector_command(
    "def",
    "definition",
    "Where the symbol at SELECTOR is defined.",
    "  lanser def 'pkg/report.py@L10:C27'\n  lanser --json def 'csrc/main.c@L9:C17'\n"
    "  lanser def 'pkg/report.py@L10:C27' --format agent",
)
hover = _selector_command(
    "hover",
    "hover",
    "Type and documentation of the symbol at SELECTOR.",
    "  lanser hover 'pkg/shapes.py@L39:C5'\n  lanser --json hover 'csrc/geometry.c@L8:C5'",
)
locate = _selector_command(
    "locate",
    "locate",
    "Resolve SELECTOR to a range and show the code there.",
    "  lanser locate 'pkg/shapes.py@R(18,1->25,1)'\n  lanser --json locate 'pkg/shapes.py@L13:C9'",
)


@click.command(
    "refs",
    help="""Every reference to the symbol at SELECTOR.

Long lists are capped (--limit, at most 100000); the bundle then says
truncated and gives a cursor for the next page.

\b
Examples:
  lanser refs 'pkg/shapes.py@L39:C5'
  lanser --json refs 'csrc/geometry.c@L8:C5' --limit 50
  lanser --json refs 'pkg/shapes.py@L8:C7' --limit 2 --cursor '2:3f9a...'
  lanser refs 'pkg/shapes.py@L39:C5' --format agent""",
)
@click.argument("selector")
@click.option("--limit", type=click.IntRange(min=1), default=None, help="Return at most this many.")
@click.option("--cursor", type=str, default=None, help="Continue from a previous page's nextCursor.")
@click.option("--no-declaration", is_flag=True, help="Leave the declaration itself out.")
@format_option()
@click.pass_obj
def references(
    settings: Settings, selector: str, limit: int | None, cursor: str | None, no_declaration: bool, fmt: str | None
) -> None:
    args = {"limit": limit, "cursor": cursor, "includeDeclaration": False if no_declaration else None}
    raise SystemExit(execute(settings, "references", selector, args, effective_format(settings, fmt)))


@click.command(
    "symbols",
    help="""Symbols of one file, or of the workspace with --query.

--depth, --kind and --no-locals filter what is shown (the bundle says how
many there are: facts.total); --format agent leaves out local variables
unless --locals is given.

\b
Examples:
  lanser symbols pkg/shapes.py
  lanser --json symbols --query Circle
  lanser symbols --query manhattan --language c
  lanser symbols pkg/shapes.py --depth 1 --kind class,function --format agent""",
)
@click.argument("selector", required=False)
@click.option("--query", type=str, default=None, help="Search workspace symbols by name.")
@click.option(
    "--language",
    type=click.Choice(["python", "c", "cpp"]),
    default=None,
    help="Which server to ask for workspace symbols (default: every language present).",
)
@click.option(
    "--depth",
    type=click.IntRange(min=1),
    default=None,
    help="Nesting levels shown: 1 top-level symbols, 2 also their members, ...",
)
@click.option(
    "--kind",
    type=str,
    default=None,
    help="Only these kinds, comma-separated (class,function,method,variable,field,struct,...).",
)
@click.option(
    "--locals/--no-locals",
    "locals_",
    default=None,
    help="Show (or leave out) variables declared inside functions (--format agent: left out).",
)
@format_option()
@click.pass_obj
def symbols(
    settings: Settings,
    selector: str | None,
    query: str | None,
    language: str | None,
    depth: int | None,
    kind: str | None,
    locals_: bool | None,
    fmt: str | None,
) -> None:
    if selector is None and query is None:
        raise click.UsageError("give a file selector or --query")
    fmt = effective_format(settings, fmt)
    kinds = sorted({k.strip() for k in kind.split(",") if k.strip()}) if kind is not None else None
    if kind is not None and not kinds:
        raise click.BadParameter("give at least one kind", param_hint="--kind")
    if locals_ is None and fmt == "agent":
        locals_ = False
    args = {
        "query": query,
        "language": language,
        "depth": depth,
        "kind": kinds,
        "locals": False if locals_ is False else None,
    }
    raise SystemExit(execute(settings, "symbols", selector, args, fmt))


@click.command(
    "diag",
    help="""Diagnostics of one file, or of every file of the workspace.

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
  lanser diag --format agent""",
)
@click.argument("selector", required=False)
@click.option(
    "--language",
    type=click.Choice(["python", "c", "cpp"]),
    default=None,
    help="Only this language's files (workspace mode).",
)
@click.option("--fail-on-error", is_flag=True, help="Exit 1 when any file has an error diagnostic.")
@click.option(
    "--severity",
    type=click.Choice(["error", "warning", "information", "info", "hint"]),
    default=None,
    help="Show only diagnostics at least this severe.",
)
@click.option(
    "--limit",
    type=click.IntRange(min=0),
    default=None,
    help="Show at most this many (the bundle counts the rest: facts.total).",
)
@click.option(
    "--profile",
    type=click.Choice(["agent", "all"]),
    default=None,
    help="agent: errors and the warnings that matter, basedpyright's strict-mode noise (reportAny, "
    "reportUnknown*, ...) off unless the project configures pyright; all: everything "
    "(the default, except under --format agent).",
)
@format_option(
    ("agent", "bundle", "sarif", "gitlab"),
    FORMAT_HELP + " sarif, gitlab: SARIF 2.1.0 or a GitLab code-quality report (errors stay lanser's).",
)
@click.pass_obj
def diagnostics(
    settings: Settings,
    selector: str | None,
    language: str | None,
    fail_on_error: bool,
    severity: str | None,
    limit: int | None,
    profile: str | None,
    fmt: str | None,
) -> None:
    fmt = effective_format(settings, fmt)
    if profile is None and fmt == "agent":
        profile = "agent"
    args = {
        k: v
        for k, v in (
            ("language", language),
            ("profile", profile),
            ("severity", "information" if severity == "info" else severity),
            ("limit", limit),
        )
        if v is not None
    }
    from lanser.cli.client import client

    data = client(settings).request("diagnostics", selector, **args).data
    if fmt in ("sarif", "gitlab") and data.get("status") == "ok":
        from lanser.formats import FORMATS

        report = FORMATS[fmt](data)  # under --json one object, as every answer: the report inside it
        click.echo(render_json({"format": fmt, "report": report} if settings.json else report, pretty=settings.pretty))
        code = int((data.get("meta") or {}).get("exit_code", 0))
    else:
        code = show(settings, data, fmt if fmt in ("agent", "bundle") else None)
    if (
        fail_on_error
        and code == 0
        and any(
            (group.get("counts") or {}).get("error") for group in (data.get("facts") or {}).get("diagnostics") or []
        )
    ):
        code = 1
    raise SystemExit(code)


COMMANDS = (definition, references, hover, symbols, diagnostics, locate)
