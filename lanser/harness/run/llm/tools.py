"""The LLM agent's tools: JSON schemas for the model, and their translation into runner actions.

One table (:data:`LANSER_TOOLS`) defines lanser's own tools (the commands the
MCP server offers); the workspace tools (view, edit, replace, run, submit)
follow.  :func:`to_action` validates a call's arguments and returns the runner
action it stands for, or raises :class:`ToolError` whose message goes back
to the model as the tool's result (nothing runs).  Every argument is the
model's and hostile: paths are relative, inside the workspace, and shell-quoted.
"""

from __future__ import annotations

import difflib
import json
import re
import shlex
from dataclasses import dataclass
from typing import Any

__all__ = [
    "LANSER_TOOLS",
    "SELECTORS",
    "LanserTool",
    "ToolError",
    "lanser_tool",
    "parse_text_action",
    "replace_to_diff",
    "to_action",
    "tool_schemas",
    "validate_diff",
    "view_command",
    "cat_command",
    "safe_path",
]

MAX_COMMAND = 4000
MAX_PATCH = 200_000
MAX_VIEW_LINES = 200  # the runner keeps the last 8000 characters of a run's output

SELECTORS = """A selector names a place in the code:
- cursor: 'pkg/app.py@L42:C7' (1-based line and column), range: 'pkg/app.py@R(42,7->44,1)';
- symbol: 'py://pkg.app#Class.method' or 'c://lib/str.c#strscpy', optionally with a role
  ':def', ':sig', ':body' or ':doc' and '?overload=N' for the N-th definition of the name;
- AST path: 'ast://[module=pkg.app]/[class=Class]/[def=method]';
- content anchor: 'anchor://pkg/app.py#"def load_data("' (percent-escape '#', '?', '%', '"', spaces).
Symbol selectors survive edits elsewhere in the file; prefer them over line numbers.
Every location in a result carries a 'selector' you can pass back."""


class ToolError(Exception):
    """A tool call the agent refuses to run; the message is the model's observation."""


@dataclass(frozen=True)
class LanserTool:
    """One lanser tool, for the MCP server (lanser/mcp_server.py takes its name and description from here;
    tests/unit/test_llm_agent.py checks its parameters against this) and for the LLM agent."""

    name: str
    cmd: str
    description: str
    params: dict[str, tuple[str, str]]  # argument -> (JSON type, description)
    required: tuple[str, ...]
    selectors: bool = True  # the description ends with SELECTORS
    selector: bool = True  # the "selector" argument is the request's selector, the rest go to args
    rename: dict[str, str] | None = None  # argument -> lanser args key
    mcp_only: tuple[str, ...] = ()  # arguments the LLM agent does not get (the runner decides them)

    def full_description(self) -> str:
        return self.description + ("\n" + SELECTORS if self.selectors else "")


_SEL = ("string", "a selector (see the tool's description)")
_DIRTY = ("boolean", "write over uncommitted work")
_CAMEL = {"new_name": "newName", "allow_dirty": "allowDirty", "action_id": "actionId"}

#: lanser's tools: the MCP server's and the LLM agent's.
LANSER_TOOLS: tuple[LanserTool, ...] = (
    LanserTool(
        "definition", "definition", "Where the symbol at `selector` is defined.", {"selector": _SEL}, ("selector",)
    ),
    LanserTool(
        "references",
        "references",
        "Every reference to the symbol at `selector` (sorted; `limit` and `cursor` page through long lists).",
        {
            "selector": _SEL,
            "limit": ("integer", "at most this many"),
            "cursor": ("string", "the page after this cursor"),
        },
        ("selector",),
    ),
    LanserTool(
        "hover",
        "hover",
        "Type signature and documentation of the symbol at `selector`.",
        {"selector": _SEL},
        ("selector",),
    ),
    LanserTool(
        "symbols",
        "symbols",
        "Symbols of one file (`selector` = a path such as 'pkg/app.py'), or workspace "
        "symbols matching `query` when no selector is given.",
        {
            "selector": ("string", "a file path"),
            "query": ("string", "a name to search"),
            "depth": ("integer", "nesting levels shown: 1 top level, 2 also members"),
            "kind": ("string", "only these kinds, comma-separated (class,function,method,...)"),
            "locals": ("boolean", "include variables declared inside functions (default false)"),
        },
        (),
        selectors=False,
        mcp_only=("depth", "kind", "locals"),
    ),
    LanserTool(
        "diagnostics",
        "diagnostics",
        "Diagnostics (errors, warnings) of one file, or of the whole "
        "workspace when no selector is given. Each file's list names the content hash it describes.",
        {
            "selector": ("string", "a file path"),
            "severity": ("string", "only at least this severe: error, warning, information or hint"),
            "limit": ("integer", "at most this many (the rest are counted)"),
            "profile": ("string", "agent (default): errors and the warnings that matter; all: every one"),
        },
        (),
        selectors=False,
        mcp_only=("severity", "limit", "profile"),
    ),
    LanserTool(
        "locate",
        "locate",
        "Resolve `selector` to a concrete range with a preview of the code there; "
        "ambiguous selectors fail with ranked candidates.",
        {"selector": _SEL},
        ("selector",),
    ),
    LanserTool(
        "prepare_rename",
        "prepareRename",
        "Whether the symbol at `selector` can be renamed, and its current name.",
        {"selector": _SEL},
        ("selector",),
        selectors=False,
    ),
    LanserTool(
        "rename",
        "rename",
        "Rename the symbol at `selector` to `new_name` across the workspace. Returns the "
        "diff and the process reward; writes only when apply=true (one transaction, refused if partial, "
        "outside the workspace, or over uncommitted work unless allow_dirty=true).",
        {
            "selector": _SEL,
            "new_name": ("string", "the new identifier"),
            "apply": ("boolean", "write the rename"),
            "allow_dirty": _DIRTY,
        },
        ("selector", "new_name"),
        rename=_CAMEL,
        mcp_only=("allow_dirty",),
    ),
    LanserTool(
        "code_actions",
        "actions",
        "Code actions (quick fixes, refactors) at `selector`; give `action_id` "
        "to preview one, and apply=true to write it.",
        {
            "selector": _SEL,
            "action_id": ("string", "the action to preview or apply"),
            "apply": ("boolean", "write it"),
            "allow_dirty": _DIRTY,
        },
        ("selector",),
        rename=_CAMEL,
        mcp_only=("allow_dirty",),
    ),
    LanserTool(
        "check_patch",
        "check",
        "Would this patch help? Evaluates a unified diff in the language server's "
        "memory (nothing written unless apply=true): diagnostics that appear and disappear and the process "
        "reward r = 0.5*(D_before - D_after) + 0.4*safe - 0.1*(1 - confidence).",
        {
            "patch": ("string", "a unified diff (--- a/F, +++ b/F, @@ hunks)"),
            "selector": ("string", "a selector"),
            "apply": ("boolean", "write it"),
            "allow_dirty": _DIRTY,
        },
        ("patch",),
        selectors=False,
        selector=True,
        rename=_CAMEL,
        mcp_only=("selector", "apply", "allow_dirty"),
    ),  # the LLM writes with `edit`
)


def lanser_tool(name: str) -> LanserTool:
    for t in LANSER_TOOLS:
        if t.name == name:
            return t
    raise KeyError(name)


_WORKSPACE_TOOLS: tuple[dict[str, Any], ...] = (
    {
        "name": "view",
        "description": f"Show a file with line numbers, or lines start..end of it (at most "
        f"{MAX_VIEW_LINES} lines at once).",
        "parameters": {
            "type": "object",
            "properties": {
                "path": {"type": "string", "description": "a path relative to the repository root"},
                "start": {"type": "integer", "description": "first line (1-based)"},
                "end": {"type": "integer", "description": "last line (inclusive)"},
            },
            "required": ["path"],
        },
    },
    {
        "name": "edit",
        "description": "Apply a unified diff to the workspace (--- a/FILE, +++ b/FILE, @@ -l,n +l,n @@ "
        "hunks with exact context lines). The result says whether it applied, the "
        "diagnostics it added or removed.",
        "parameters": {"type": "object", "properties": {"diff": {"type": "string"}}, "required": ["diff"]},
    },
    {
        "name": "replace",
        "description": "Replace the one occurrence of `search` in the file `path` by `replace` "
        "(search must match exactly once, whitespace included).",
        "parameters": {
            "type": "object",
            "properties": {"path": {"type": "string"}, "search": {"type": "string"}, "replace": {"type": "string"}},
            "required": ["path", "search", "replace"],
        },
    },
    {
        "name": "run",
        "description": "Run a shell command in the repository (sandboxed, no network, time-limited); "
        "returns the exit code and the output's tail.",
        "parameters": {"type": "object", "properties": {"command": {"type": "string"}}, "required": ["command"]},
    },
    {
        "name": "submit",
        "description": "Submit the workspace as your solution; ends the episode.",
        "parameters": {"type": "object", "properties": {}},
    },
)


def tool_schemas() -> list[dict[str, Any]]:
    """The ``tools`` array of a Chat Completions request."""
    out: list[dict[str, Any]] = []
    for t in LANSER_TOOLS:
        props = {k: {"type": typ, "description": desc} for k, (typ, desc) in t.params.items() if k not in t.mcp_only}
        out.append(
            {
                "type": "function",
                "function": {
                    "name": t.name,
                    "description": t.description,
                    "parameters": {"type": "object", "properties": props, "required": list(t.required)},
                },
            }
        )
    for w in _WORKSPACE_TOOLS:
        out.append({"type": "function", "function": dict(w)})
    return out


def tool_names() -> list[str]:
    return [t.name for t in LANSER_TOOLS] + [w["name"] for w in _WORKSPACE_TOOLS]


def safe_path(raw: Any) -> str:
    """A workspace-relative path the model named, or ToolError."""
    if not isinstance(raw, str) or not raw.strip():
        raise ToolError("`path` must be a non-empty string")
    path = raw.strip()
    while path.startswith("./"):
        path = path[2:]
    parts = path.split("/")
    if path.startswith("/") or ".." in parts or "\0" in path or path.startswith("-") or ".git" in parts:
        raise ToolError(f"`path` must be relative to the repository root, without '..' or .git: {raw[:200]!r}")
    return path


def view_command(path: str, start: int | None, end: int | None) -> str:
    first = max(1, start or 1)
    last = end if end is not None else first + MAX_VIEW_LINES - 1
    if last < first:
        raise ToolError(f"`end` ({last}) is before `start` ({first})")
    last = min(last, first + MAX_VIEW_LINES - 1)
    return (
        f"awk -v a={first} -v b={last} 'NR>=a && NR<=b {{printf \"%6d  %s\\n\", NR, $0}} NR>b {{exit}}' "
        f"{shlex.quote('./' + path)}"
    )  # './': awk reads an operand 'x=y' as an assignment, and has no '--'


def cat_command(path: str) -> str:
    return f"cat {shlex.quote('./' + path)}"


_HUNK = re.compile(r"^@@ -\d+(?:,\d+)? \+\d+(?:,\d+)? @@")


def validate_diff(diff: Any) -> str:
    """A unified diff's shape (file headers, hunk headers, hunk line counts), or ToolError saying what is wrong.
    Whether its context matches the file is the runner's check (the edit's result says)."""
    if not isinstance(diff, str) or not diff.strip():
        raise ToolError("`diff` must be a non-empty unified diff")
    if len(diff) > MAX_PATCH:
        raise ToolError(f"the diff is {len(diff)} characters; at most {MAX_PATCH}")
    lines = diff.splitlines()
    if not any(line.startswith("--- ") for line in lines) or not any(line.startswith("+++ ") for line in lines):
        raise ToolError("not a unified diff: it needs '--- a/FILE' and '+++ b/FILE' header lines")
    i, hunks = 0, 0
    while i < len(lines):
        line = lines[i]
        if line.startswith("@@"):
            m = re.match(r"^@@ -\d+(?:,(\d+))? \+\d+(?:,(\d+))? @@", line)
            if not m:
                raise ToolError(f"bad hunk header {line[:80]!r}: expected '@@ -START,COUNT +START,COUNT @@'")
            old = int(m.group(1) or 1)
            new = int(m.group(2) or 1)
            hunks += 1
            i += 1
            while i < len(lines) and (old > 0 or new > 0):
                body = lines[i]
                tag = body[:1]
                if tag == " " or body == "":
                    old, new = old - 1, new - 1
                elif tag == "-":
                    old -= 1
                elif tag == "+":
                    new -= 1
                elif tag != "\\":
                    break
                i += 1
            if old != 0 or new != 0:
                raise ToolError(
                    f"hunk {hunks} ({line[:60]}): its line counts do not match its body "
                    f"({old:+d} old, {new:+d} new lines missing); fix the @@ counts or the lines"
                )
            continue
        i += 1
    if hunks == 0:
        raise ToolError("the diff has no '@@ -l,n +l,n @@' hunk")
    return diff if diff.endswith("\n") else diff + "\n"


def replace_to_diff(path: str, text: str, search: str, replace: str) -> str:
    """The unified diff of replacing the one occurrence of ``search`` in ``text``, or ToolError."""
    if not search:
        raise ToolError("`search` must not be empty")
    count = text.count(search)
    if count == 0:
        raise ToolError(
            f"`search` does not occur in {path} (it must match exactly, whitespace and tabs "
            "included); view the file first"
        )
    if count > 1:
        raise ToolError(f"`search` occurs {count} times in {path}; include more context so it matches once")
    new = text.replace(search, replace, 1)
    if new == text:
        raise ToolError("`replace` equals `search`: nothing would change")
    diff = "".join(
        difflib.unified_diff(
            text.splitlines(keepends=True), new.splitlines(keepends=True), f"a/{path}", f"b/{path}", n=3
        )
    )
    if not text.endswith("\n") or not new.endswith("\n"):
        raise ToolError(f"{path} has no newline at its end; use `edit` with a unified diff")
    return diff


def to_action(name: str, args: Any) -> dict[str, Any]:
    """The runner action for a tool call; ``replace`` returns ``{"type": "replace", ...}``, which the agent
    resolves by reading the file first (it needs the file's text to make the diff)."""
    if not isinstance(args, dict):
        raise ToolError(f"the arguments of {name!r} must be a JSON object")
    for t in LANSER_TOOLS:
        if t.name == name:
            missing = [k for k in t.required if args.get(k) in (None, "")]
            if missing:
                raise ToolError(f"{name}: missing argument(s) {', '.join(missing)}")
            allowed = [k for k in t.params if k not in t.mcp_only]
            unknown = sorted(set(args) - set(allowed))
            if unknown:
                raise ToolError(f"{name}: unknown argument(s) {', '.join(unknown)}; it takes {', '.join(allowed)}")
            for k, v in args.items():
                typ = t.params[k][0]
                ok = {
                    "string": isinstance(v, str),
                    "integer": isinstance(v, int) and not isinstance(v, bool),
                    "boolean": isinstance(v, bool),
                }[typ]
                if not ok and v is not None:
                    raise ToolError(f"{name}: `{k}` must be a {typ}")
            rest = {
                (t.rename or {}).get(k, k): v
                for k, v in args.items()
                if v is not None and (k != "selector" or not t.selector)
            }
            if name == "check_patch":
                rest["patch"] = validate_diff(rest["patch"])
            request: dict[str, Any] = {"cmd": t.cmd, "args": rest}
            if t.selector and args.get("selector") is not None:
                request["selector"] = args["selector"]
            return {"type": "lanser", "request": request}
    if name == "view":
        start, end = args.get("start"), args.get("end")
        for k, v in (("start", start), ("end", end)):
            if v is not None and (not isinstance(v, int) or isinstance(v, bool) or v < 1):
                raise ToolError(f"view: `{k}` must be a positive integer")
        return {"type": "run", "command": view_command(safe_path(args.get("path")), start, end)}
    if name == "edit":
        return {"type": "edit", "patch": validate_diff(args.get("diff", args.get("patch")))}
    if name == "replace":
        for k in ("search", "replace"):
            if not isinstance(args.get(k), str):
                raise ToolError(f"replace: `{k}` must be a string")
        return {
            "type": "replace",
            "path": safe_path(args.get("path")),
            "search": args["search"],
            "replace": args["replace"],
        }
    if name == "run":
        command = args.get("command")
        if not isinstance(command, str) or not command.strip():
            raise ToolError("run: `command` must be a non-empty string")
        if len(command) > MAX_COMMAND:
            raise ToolError(f"run: the command is {len(command)} characters; at most {MAX_COMMAND}")
        return {"type": "run", "command": command}
    if name == "submit":
        return {"type": "submit"}
    raise ToolError(f"unknown tool {name!r}; the tools are: {', '.join(tool_names())}")


_FENCE = re.compile(r"```(?:json|action|tool)?\s*\n(.*?)```", re.S)


def parse_text_action(text: str) -> tuple[str, Any] | None:
    """The plain-text fallback: the first JSON object ``{"tool": NAME, "arguments": {...}}`` in a fenced block
    (```json / ```action) or on a line of its own.  None when the text holds no such object."""
    candidates = [m.group(1) for m in _FENCE.finditer(text)]
    candidates += [line for line in text.splitlines() if line.strip().startswith("{")]
    for cand in candidates:
        try:
            obj = json.loads(cand)
        except ValueError:
            continue
        if isinstance(obj, dict) and isinstance(obj.get("tool"), str):
            return obj["tool"], obj.get("arguments", {})
    return None
