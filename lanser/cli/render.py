"""Rendering bundles for people (text) and programs (JSON)."""

from __future__ import annotations

import functools
import json
import re
import sys
from collections.abc import Callable
from typing import Any, NoReturn, ParamSpec, TypeVar

import click

from lanser.errors import LanserError

__all__ = ["error_exit", "errors_rendered", "fail", "internal_error", "render", "terminal_safe"]

_P = ParamSpec("_P")
_R = TypeVar("_R")


#: Bytes a terminal acts on: C0 controls but tab and newline, DEL, C1 controls, and a CR not
#: ending a line (it returns the cursor, so later text would hide what came before).
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x0c\x0e-\x1f\x7f-\x9f]|\r(?!\n)")


def terminal_safe(text: str) -> str:
    """``text`` with every control character as a visible ``\\xNN``: previews, hovers, paths and
    diffs come from workspace files, and an escape sequence in one must not drive the terminal."""
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


def _echo(message: str = "", *, err: bool = False, nl: bool = True) -> None:
    """click.echo for text mode: made terminal-safe when the stream is a terminal (piped, it is
    left as click writes it); messages on stderr always."""
    stream = sys.stderr if err else sys.stdout
    if err or stream.isatty():
        message = terminal_safe(message)
    click.echo(message, err=err, nl=nl)


def render(data: dict[str, Any], *, as_json: bool, pretty: bool, verbose: bool) -> int:
    """Print ``data`` and return its exit code."""
    code = int(data.get("meta", {}).get("exit_code", 0))
    if as_json:
        click.echo(render_json(data, pretty=pretty))
        return code
    if data.get("status") == "error":
        _error_line(data["error"])
        return code
    facts = data.get("facts", {})
    cmd = (data.get("request") or {}).get("cmd")
    if cmd in ("definition", "references"):
        for loc in facts.get(cmd if cmd == "references" else "definitions", []):
            _echo(f"{_where(loc)}  {loc.get('preview', '')}".rstrip())
        if facts.get("truncated"):
            _echo(f"... {facts['total']} in all; next page: --cursor {facts['nextCursor']}", err=True)
    elif cmd == "hover":
        _echo(facts["hover"]["contents"])
    elif cmd == "symbols":
        for sym in facts.get("symbols", []):
            name = f"{sym['container']}.{sym['name']}" if sym.get("container") else sym["name"]
            _echo(f"{sym['kind']:<12} {name:<40} {sym.get('selector') or sym['path']}")
    elif cmd == "diagnostics":
        total: dict[str, int] = {}
        for group in facts.get("diagnostics", []):
            for d in group["diagnostics"]:
                first = d["message"].splitlines()[0] if d["message"] else ""
                rule = f" [{d['code']}]" if d.get("code") else ""  # not `code`: that is the exit code returned below
                _echo(f"{group['path']}:{d['range'][0] + 1}:{d['range'][1] + 1}: {d['severity']}: {first}{rule}")
                total[d["severity"]] = total.get(d["severity"], 0) + 1
        files = len(facts.get("diagnostics", []))
        summary = ", ".join(f"{n} {sev}" for sev, n in sorted(total.items())) or "no diagnostics"
        _echo(f"{summary} in {files} file{'s' if files != 1 else ''}", err=True)
    elif cmd in ("rename", "actions", "prepareRename", "check"):
        edits = data.get("edits") or {}
        if cmd == "prepareRename":
            loc = facts.get("location") or {}
            _echo(f"renameable: {edits.get('placeholder')!r} at {loc.get('path')} {loc.get('range')}")
        for a in edits.get("actions") or []:
            star = "*" if a["preferred"] else " "
            _echo(f"{a['id']} {star} {a['kind'] or '-':<24} {a['title']}")
        if edits.get("diff"):
            _echo(edits["diff"], nl=False)
        if edits.get("applied"):
            _echo(
                f"applied to {len(edits.get('files', []))} file(s) via {edits.get('via')}"
                + (f", commit {edits['commit'][:12]}" if edits.get("commit") else ""),
                err=True,
            )
        elif edits.get("diff"):
            _echo("preview only; pass --apply to write", err=True)
        spec = edits.get("speculative")
        reward = data.get("processReward")
        if spec is not None and reward is not None:
            c = reward["components"]
            for sign, items in (("+", spec["appeared"]), ("-", spec["disappeared"])):
                for path, sev, rule, msg, *where in items:  # where: the selector check adds
                    _echo(
                        f"{sign} {where[0] if where and where[0] else path}: {sev}: {msg}"
                        + (f" [{rule}]" if rule else ""),
                        err=True,
                    )
            _echo(
                f"reward r = {reward['r']} (D {c['d_prev']} -> {c['d_now']}, S {c['safety']}, alpha {c['alpha_conf']})",
                err=True,
            )
    elif cmd == "locate":
        loc = facts["location"]
        r = loc["range"]
        _echo(f"{loc['path']}@R({r[0] + 1},{r[1] + 1}->{r[2] + 1},{r[3] + 1})")
        _echo(loc.get("preview", ""))
    if verbose:
        env = data.get("environment", {})
        server = env.get("server", {})
        _echo(
            f"server {server.get('name')} {server.get('version')} encoding {env.get('positionEncoding')} "
            f"index-io {data['request'].get('indexIo')} bundle {data['bundleId']} "
            f"timing {data.get('meta', {}).get('timing')}",
            err=True,
        )
        resolved = (data.get("resolution") or {}).get("resolved") or {}
        if resolved:
            _echo(
                f"resolved {resolved.get('path')} server range {resolved.get('range')}"
                f" io range {resolved.get('rangeIo', resolved.get('range'))}",
                err=True,
            )
    return code


def _where(loc: dict[str, Any]) -> str:
    if loc.get("selector"):
        return str(loc["selector"])
    r = loc["range"]
    return f"{loc['path']}:{r[0] + 1}:{r[1] + 1}"


def _error_line(error: dict[str, Any]) -> None:
    details = error.get("details") or {}
    stage = f" ({details['stage']})" if isinstance(details.get("stage"), str) else ""
    _echo(f"lanser: {error['code']}{stage}: {error['message']}", err=True)
    for key in ("caret", "logTail"):  # a selector's caret; the failing tool's last lines (E/INFRASTRUCTURE)
        if isinstance(details.get(key), str) and details[key].strip():
            _echo("  " + details[key].rstrip("\n").replace("\n", "\n  "), err=True)


def render_json(data: Any, *, pretty: bool = False) -> str:
    """Keys sorted, one line unless ``pretty`` (stdlib only: this is the client's hot path)."""
    if pretty:
        return json.dumps(data, sort_keys=True, ensure_ascii=False, indent=2)
    return json.dumps(data, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def usage_error(exc: click.UsageError, as_json: bool) -> int:
    """A command line click cannot parse: its usage text on stderr, and under ``--json`` an
    E/BAD_REQUEST error object on stdout, so that an agent reads why; exit 2."""
    exc.show()
    if as_json:
        command = exc.ctx.command_path if exc.ctx is not None else "lanser"
        sys.stdout.write(
            render_json(
                {
                    "status": "error",
                    "error": {
                        "code": "E/BAD_REQUEST",
                        "exitCode": 2,
                        "message": exc.format_message(),
                        "details": {"command": command},
                    },
                    "meta": {"exit_code": 2},
                }
            )
            + "\n"
        )
    return 2


def error_exit(exc: LanserError, as_json: bool) -> int:
    """A LanserError that reached the entry point: one JSON error object under ``--json``
    (the same shape as a usage error's), one line on stderr otherwise; returns its exit code."""
    if as_json:
        sys.stdout.write(
            render_json({"status": "error", "error": exc.to_dict(), "meta": {"exit_code": exc.exit_code}}) + "\n"
        )
    else:
        _error_line(exc.to_dict())
    return exc.exit_code


def fail(exc: LanserError, *, as_json: bool) -> NoReturn:
    """Render ``exc`` (:func:`error_exit`) and end the command with its exit code."""
    raise SystemExit(error_exit(exc, as_json))


def errors_rendered(command: Callable[_P, _R]) -> Callable[_P, _R]:
    """A command whose LanserErrors (E/INFRASTRUCTURE among them) are rendered by :func:`fail`.

    For commands of click's ``pass_obj`` (settings first): the entry point
    renders an error that escapes the same way, but under click's test
    runner, or a caller of ``cli.main`` of its own, nothing would.
    """

    @functools.wraps(command)
    def wrapper(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        try:
            return command(*args, **kwargs)
        except LanserError as exc:
            fail(exc, as_json=bool(getattr(args[0] if args else None, "json", False)))

    return wrapper


def internal_error(exc: BaseException, as_json: bool) -> int:
    message = f"internal error ({type(exc).__name__}: {exc}); rerun with LANSER_DEBUG=1 for a traceback"
    if as_json:
        sys.stdout.write(
            render_json({"status": "error", "error": {"code": "E/INTERNAL", "exitCode": 1, "message": message}}) + "\n"
        )
    else:
        sys.stderr.write(terminal_safe(f"lanser: E/INTERNAL: {message}") + "\n")
    return 1
