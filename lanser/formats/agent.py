"""The agent format: a bundle as the few lines an agent reads, not the whole record.

A pure function of the bundle dict (:func:`to_agent`).  It keeps what an
agent acts on and drops what it does not (the environment, capabilities,
hashing metadata, ranges it cannot type back):

* a head line: the command, what was asked, and the counts (how many, how
  many shown, what a filter left out, where the next page starts);
* one line per location, symbol or diagnostic, each starting with a
  selector the agent can pass back to lanser as it is, then a one-line
  preview (the code there, the symbol's kind and name, the diagnostic's
  severity, rule and first message line);
* for edits, the diff itself, the files, whether it was applied, the reward
  and the diagnostics the edit would add or remove;
* for a failure, the error code and exit code, the message and every
  detail the error carries (hints, suggestions, candidates with their
  selectors, the caret under a bad selector);
* last, the ``bundleId`` and how to get the whole bundle (the same request
  gives the same bundle: ask again with ``--format bundle`` or ``--json``).

Text that came from the workspace (previews, messages, hovers, diffs) is
hostile: a one-line preview, a name or a message's first line is folded to
one line (every line break and run of whitespace to a space), so no file
can add lines of its own to the answer; control characters are left to the
front door (:func:`lanser.cli.render.terminal_safe` on a terminal).
"""

from __future__ import annotations

import json
from typing import Any

__all__ = ["FULL_HINT", "ID_CHARS", "PREVIEW_CHARS", "to_agent"]

#: How the CLI says where the full bundle is.
FULL_HINT = "full: --format bundle"
#: A preview longer than this is cut (with an ellipsis): it is context, the selector is the answer.
PREVIEW_CHARS = 120
#: The bundleId is shown as its first 16 hex digits (``sha256:`` + 64 bits): enough to tell bundles
#: apart and to check a full bundle against, at a quarter of the tokens (hex costs about one token per
#: two digits, and the id was half of a definition's answer).
ID_CHARS = len("sha256:") + 16
#: An error detail written as JSON is cut past this many characters (a server's stderr tail).
_DETAIL_CHARS = 600

_NOUNS = {
    "definition": ("definition", "definitions"),
    "references": ("reference", "references"),
    "symbols": ("symbol", "symbols"),
    "diagnostics": ("diagnostic", "diagnostics"),
}
_SHORT = {
    "definition": "def",
    "references": "refs",
    "diagnostics": "diag",
    "prepareRename": "prepare-rename",
    "actions": "action",
}


def to_agent(bundle: dict[str, Any], *, full_hint: str = FULL_HINT) -> str:
    """The agent text of ``bundle`` (an Analysis Bundle or an error object), ending with a newline."""
    request = bundle.get("request") or {}
    cmd = str(request.get("cmd") or "")
    lines: list[str] = []
    if bundle.get("status") == "error":
        lines += _error(bundle.get("error") or {})
    else:
        facts = bundle.get("facts") or {}
        head = f"{_SHORT.get(cmd, cmd)} {_asked(request)}".rstrip()
        if cmd in ("definition", "references"):
            lines += _locations(head, cmd, facts)
        elif cmd == "symbols":
            lines += _symbols(head, facts)
        elif cmd == "diagnostics":
            lines += _diagnostics(head, facts, request)
        elif cmd == "hover":
            lines += [f"{head}:", *_hover(facts)]
        elif cmd == "locate":
            lines += _locate(head, facts)
        else:
            lines += _edits(head, cmd, bundle)
    bundle_id = str(bundle.get("bundleId") or "")
    if bundle_id:
        lines.append(f"bundle {bundle_id[:ID_CHARS]} ({full_hint})")
    return "\n".join(lines) + "\n"


def _asked(request: dict[str, Any]) -> str:
    """The filters the request carried (the agent knows its selector: it is not repeated)."""
    args = request.get("args") or {}
    parts: list[str] = []
    for key in ("profile", "severity", "depth", "limit", "cursor"):
        if args.get(key) is not None:
            parts.append(f"--{key} {args[key]}")
    if args.get("kind") is not None:
        kinds = args["kind"]
        parts.append("--kind " + (",".join(map(str, kinds)) if isinstance(kinds, list) else str(kinds)))
    if args.get("locals") is False:
        parts.append("--no-locals")
    return " ".join(parts)


def _one_line(text: Any) -> str:
    line = " ".join(str(text or "").split())
    return line if len(line) <= PREVIEW_CHARS else line[: PREVIEW_CHARS - 1] + "\u2026"


def _first_line(text: Any) -> str:
    return _one_line(str(text or "").strip().splitlines()[0] if str(text or "").strip() else "")


def _where(item: dict[str, Any], range_key: str = "range") -> str:
    """The item's selector, else a cursor at its start (1-based: what a selector takes)."""
    if item.get("selector"):
        return str(item["selector"])
    r = item.get(range_key) or [0, 0]
    return f"{item.get('path')}@L{int(r[0]) + 1}:C{int(r[1]) + 1}"


def _plural(n: int, cmd: str) -> str:
    one, many = _NOUNS.get(cmd, ("item", "items"))
    return f"{n} {one if n == 1 else many}"


def _files(items: list[dict[str, Any]]) -> int:
    return len({i.get("path") for i in items})


def _locations(head: str, cmd: str, facts: dict[str, Any]) -> list[str]:
    locs = list(facts.get("definitions" if cmd == "definition" else "references") or [])
    total = int(facts.get("total") or len(locs))
    summary = _plural(total, cmd) + (f" in {_files(locs)} files" if _files(locs) > 1 else "")
    if facts.get("truncated"):
        summary = f"{_plural(total, cmd)}, {len(locs)} shown; next page: --cursor {facts.get('nextCursor')}"
    out = [f"{head}: {summary}"]
    previous: tuple[Any, Any] | None = None
    for loc in locs:
        mark = " (external)" if loc.get("external") else ""
        here = (loc.get("path"), (loc.get("range") or [None])[0])
        # A second reference on the same line: its selector alone, the line was just shown.
        preview = "" if here == previous else _one_line(loc.get("preview"))
        previous = here
        out.append(f"{_where(loc)}{mark}  {preview}".rstrip())
    return out


def _symbols(head: str, facts: dict[str, Any]) -> list[str]:
    syms = list(facts.get("symbols") or [])
    summary = _plural(len(syms), "symbols")
    if facts.get("truncated"):
        summary = f"{len(syms)} of {facts.get('total')} symbols shown (filtered)"
    out = [f"{head}: {summary}"]
    for sym in syms:
        name = _one_line(f"{sym['container']}.{sym['name']}" if sym.get("container") else sym.get("name"))
        detail = f"  {_one_line(sym['detail'])}" if sym.get("detail") else ""
        out.append(f"{_where(sym, 'selectionRange')}  {sym.get('kind')} {name}{detail}")
    return out


def _diagnostics(head: str, facts: dict[str, Any], request: dict[str, Any]) -> list[str]:
    groups = list(facts.get("diagnostics") or [])
    has: dict[str, int] = {}
    shown = 0
    for g in groups:
        shown += len(g.get("diagnostics") or [])
        for sev, n in (g.get("counts") or {}).items():
            has[sev] = has.get(sev, 0) + int(n)
    counts = ", ".join(
        f"{has[s]} {s if has[s] == 1 or s == 'information' else s + 's'}"
        for s in ("error", "warning", "information", "hint")
        if has.get(s)
    )
    files = f"{len(groups)} file{'s' if len(groups) != 1 else ''}"
    summary = f"{counts or 'no diagnostics'} in {files}"
    if facts.get("truncated"):
        summary += f"; {shown} shown, {int(facts.get('total') or 0) - shown} left out by the filter"
        if (request.get("args") or {}).get("profile") == "agent":
            summary += " (--profile all shows every one)"
    out = [f"{head}: {summary}"]
    for g in groups:
        for d in g.get("diagnostics") or []:
            r = d.get("range") or [0, 0]
            rule = f" {d['code']}" if d.get("code") else ""
            out.append(
                f"{g.get('path')}@L{int(r[0]) + 1}:C{int(r[1]) + 1} {d.get('severity')}{rule}: "
                f"{_first_line(d.get('message'))}"
            )
    return out


def _hover(facts: dict[str, Any]) -> list[str]:
    text = str((facts.get("hover") or {}).get("contents") or "")
    # Markdown fences and blank lines carry nothing an agent reads.
    return [line for line in text.splitlines() if line.strip() and not line.strip().startswith("```")]


def _locate(head: str, facts: dict[str, Any]) -> list[str]:
    loc = facts.get("location") or {}
    r = loc.get("range") or [0, 0, 0, 0]
    out = [f"{head}: {loc.get('path')}@R({r[0] + 1},{r[1] + 1}->{r[2] + 1},{r[3] + 1})"]
    for kind, selector in sorted((facts.get("selectors") or {}).items()):
        out.append(f"{kind}: {selector}")
    out += [f"| {line}" for line in str(loc.get("preview") or "").splitlines()]
    return out


def _edits(head: str, cmd: str, bundle: dict[str, Any]) -> list[str]:
    edits = bundle.get("edits") or {}
    facts = bundle.get("facts") or {}
    out: list[str] = []
    files = [str(f.get("path")) for f in edits.get("files") or [] if isinstance(f, dict)]
    state = "applied" if edits.get("applied") else ("preview" if edits.get("diff") else "")
    bits = [
        b
        for b in (
            state,
            f"{len(files)} file{'s' if len(files) != 1 else ''}" if files else "",
            "complete" if edits.get("complete") is True else ("incomplete" if edits.get("complete") is False else ""),
        )
        if b
    ]
    out.append(f"{head}: {', '.join(bits)}" if bits else f"{head}:")
    if cmd == "prepareRename":
        loc = facts.get("location") or {}
        out.append(f"renameable {json.dumps(edits.get('placeholder'), ensure_ascii=False)} at {_where(loc)}")
    for a in edits.get("actions") or []:
        out.append(
            f"{a.get('id')}{' *' if a.get('preferred') else ''} {a.get('kind') or '-'}: {_one_line(a.get('title'))}"
        )
    if files and not edits.get("diff"):
        out += [f"file {p}" for p in files]
    for key in ("commit", "note"):
        if edits.get(key):
            out.append(f"{key}: {edits[key]}")
    for key in ("missing", "unexplained", "extra"):  # why a rename is not complete
        if edits.get(key):
            out += _detail(key, edits[key])
    reward = bundle.get("processReward")
    if isinstance(reward, dict):
        c = reward.get("components") or {}
        out.append(f"reward r={reward.get('r')} (D {c.get('d_prev')} -> {c.get('d_now')}, S {c.get('safety')})")
    spec = edits.get("speculative") or {}
    for sign, key in (("+", "appeared"), ("-", "disappeared")):
        for item in spec.get(key) or []:
            out.append(f"{sign} {_speculative(item)}")
    if edits.get("diff"):
        # split on newlines only: the diff's lines are kept exactly (a form feed inside one stays in it)
        out += str(edits["diff"]).rstrip("\n").split("\n")
    if state == "preview":
        out.append("preview only: nothing was written (apply writes it)")
    return out


def _speculative(item: Any) -> str:
    if isinstance(item, dict):  # a selector-carrying form, should the check list grow one
        where = _where(item) if item.get("path") else ""
        rule = f" {item['code']}" if item.get("code") else ""
        return f"{where} {item.get('severity')}{rule}: {_first_line(item.get('message'))}".strip()
    if isinstance(item, list | tuple) and len(item) >= 4:
        path, sev, rule, msg = item[:4]
        return f"{path} {sev}{' ' + str(rule) if rule else ''}: {_first_line(msg)}"
    return _one_line(json.dumps(item, ensure_ascii=False))


def _error(error: dict[str, Any]) -> list[str]:
    # First line ``E/CODE: message``, as every lanser front door starts a failure.
    message = str(error.get("message") or "").splitlines() or [""]
    out = [f"{error.get('code')}: {message[0]}", *message[1:], f"exit {error.get('exitCode')}"]
    if error.get("retryable"):
        out.append("retryable: yes")
    for key, value in sorted((error.get("details") or {}).items()):
        out += _detail(str(key), value)
    return out


def _detail(key: str, value: Any) -> list[str]:
    if isinstance(value, str):
        lines = value.splitlines() or [""]
        if len(lines) == 1:
            return [f"{key}: {value}"]
        return [f"{key}:", *(f"  {line}" for line in lines)]
    if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
        out = [f"{key}: {len(value)}"]
        for item in value:
            where = _where(item) if item.get("selector") or item.get("path") else ""
            rest = {k: v for k, v in item.items() if k not in ("selector", "path", "range", "preview")}
            preview = f"  {_one_line(item['preview'])}" if item.get("preview") else ""
            extra = f"  {_compact(rest)}" if rest else ""
            out.append(f"  {where}{preview}{extra}".rstrip())
        return out
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return [f"{key}: {', '.join(value) if value else 'none'}"]
    return [f"{key}: {_compact(value)}"]


def _compact(value: Any) -> str:
    text = json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return text if len(text) <= _DETAIL_CHARS else text[: _DETAIL_CHARS - 1] + "\u2026"
