#!/usr/bin/env python3
"""lanser issue 5, both targets, each measured side by side with its floor in one run.

Target 1 - ``lanser def`` through a WARM daemon, as a process (spawn to JSON
printed): ``lanser --json -w REPO def SELECTOR``, against the floor

    floor = (a process ``python -c "import click, json; <one click command printing JSON>"``)
          + (a raw basedpyright warm textDocument/definition round trip, one pygls session kept open)

Every cache-miss call uses a selector no earlier call used (the daemon's
bundle cache cannot answer); the cache-hit row repeats one selector.  The
raw side asks the same positions (on its own server).  Samples of the four
sides alternate, order rotating.  Target: lanser median <= 1.5 x floor median.

Target 2 - ``lanser --json -w REPO batch FILE`` of N (default 1000) mixed
queries (definition, references, hover, document symbols) at positions
found by tokenizing the repository's files (distinct requests), through the
warm daemon, total wall time, against the raw server answering the same
queries sequentially over one session.  Both servers first get one
untimed hover per file used (so both have opened and parsed the same files
and neither pays first-analysis costs inside the measurement).  The raw
session opens each file once (didOpen, timed) and sends exactly the LSP
requests.  lanser also pulls a document's diagnostics before references
(``Orchestrator.settle``): once per server session since 6d0e8e9, before
every references request until then.  The raw side sends the same pulls
(``--raw-diag-pulls auto`` reads which policy the installed lanser has) and
times them separately: "raw" excludes them, "raw + lanser's diagnostic
pulls" includes them.  Then the same batch again (every
request a bundle-cache hit) and the batch in-process (``--no-daemon``: a
fresh process and a cold server, for comparison only).  Target: lanser
warm-daemon miss batch <= 1.10 x raw.  Every lanser answer is compared with
the raw answer to the same query; agreements are counted per operation,
and definitions that differ only by stub (``.pyi``) targets the raw server
returns on top of lanser's are counted apart: basedpyright drops stub
targets from definitions when the client advertises
``textDocument.declaration`` (its PreferSource filter), which lanser's
session does and this raw client does not.

The default repository is the installed ``rich`` package copied into a
temporary git repository (as bench/nav_latency.py does).  The script stops
the daemon it started and its raw servers; it asserts nothing about time.

    .venv/bin/python bench/daemon_batch.py                 # 30 def samples, 1000-query batch
    .venv/bin/python bench/daemon_batch.py --def-n 10 --batch-n 200
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import datetime as _dt
import io
import json
import keyword
import logging
import operator
import os
import platform
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import tokenize
from importlib import metadata
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from nav_latency import (  # noqa: E402
    PROJECT,
    RESULTS_DIR,
    RawServer,
    answers_agree,
    basedpyright_argv,
    cli_env,
    cpu_model,
    git,
    lanser_settings,
    loadavg,
    make_rich_repo,
    ms,
    raw_hover_text,
    summarize,
    workspace_python,
)

from lanser.pipeline import DEFAULT_WINDOW  # noqa: E402

OPS = ("definition", "references", "hover", "symbols")
CLICK_FLOOR = (
    "import click, json\n"
    "@click.command()\n"
    "@click.argument('selector')\n"
    "def main(selector):\n"
    "    click.echo(json.dumps({'status': 'ok', 'selector': selector}, sort_keys=True))\n"
    "main()\n"
)


# -- positions ----------------------------------------------------------------


def candidate_positions(root: Path, files: list[str]) -> dict[str, list[tuple[int, int, str]]]:
    """Per file: (0-based line, 0-based col, name) of NAME tokens in code, ASCII lines only
    (so codepoint columns are UTF-16 columns), keywords / self / cls left out."""
    out: dict[str, list[tuple[int, int, str]]] = {}
    for rel in files:
        text = (root / rel).read_text(encoding="utf-8", errors="replace")
        lines = text.splitlines()
        found = []
        try:
            for tok in tokenize.generate_tokens(io.StringIO(text).readline):
                if tok.type != tokenize.NAME or keyword.iskeyword(tok.string) or tok.string in ("self", "cls"):
                    continue
                if keyword.issoftkeyword(tok.string):
                    continue
                ln, col = tok.start
                if ln - 1 < len(lines) and lines[ln - 1].isascii():
                    found.append((ln - 1, col, tok.string))
        except (tokenize.TokenError, SyntaxError):
            continue
        if found:
            out[rel] = found
    return out


def build_queries(
    cands: dict[str, list[tuple[int, int, str]]], n: int, rng: random.Random, used: set[tuple[str, int, int]]
) -> list[dict[str, Any]]:
    """n distinct requests, round-robin over files; mix 35% def, 20% refs, 35% hover, and
    document symbols (at most one per file: a file has one symbols request) for the rest."""
    files = sorted(cands)
    n_sym = min(len(files), round(n * 0.10))
    n_rest = n - n_sym
    n_refs = round(n_rest * 0.20 / 0.90)
    n_def = round(n_rest * 0.35 / 0.90)
    n_hover = n_rest - n_refs - n_def
    ops = ["definition"] * n_def + ["references"] * n_refs + ["hover"] * n_hover
    rng.shuffle(ops)
    pools = {f: rng.sample(cands[f], len(cands[f])) for f in files}
    queries: list[dict[str, Any]] = []
    i = 0
    for op in ops:
        for _ in range(len(files) * 4):
            f = files[i % len(files)]
            i += 1
            while pools[f]:
                line, col, name = pools[f].pop()
                if (f, line, col) not in used:
                    used.add((f, line, col))
                    queries.append(
                        {
                            "cmd": op,
                            "selector": f"{f}@L{line + 1}:C{col + 1}",
                            "args": {},
                            "indexIo": "utf-16",
                            "_pos": [f, line, col],
                            "_name": name,
                        }
                    )
                    break
            else:
                continue
            break
        else:
            raise SystemExit("ran out of distinct positions")
    sym_files = rng.sample(files, n_sym)
    for f in sym_files:
        queries.append({"cmd": "symbols", "selector": f, "args": {}, "indexIo": "utf-16", "_pos": [f, 0, 0]})
    rng.shuffle(queries)
    return queries


def proc_cpu(pid: int | None) -> float:
    """CPU seconds (user + system) a live process has used so far, from /proc; 0.0 if unknown."""
    if not pid:
        return 0.0
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def children_cpu() -> float:
    import resource

    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def public(q: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in q.items() if not k.startswith("_")}


# -- raw side -------------------------------------------------------------------


class Raw(RawServer):
    """nav_latency's RawServer, with many open documents and documentSymbol / diagnostic pulls."""

    def __init__(self, *a: Any, **kw: Any) -> None:
        super().__init__(*a, **kw)
        self.opened: set[str] = set()

    def ensure_open(self, rel: str) -> str:
        if rel not in self.opened:
            self.open(rel)
            self.opened.add(rel)
        return (self.root / rel).as_uri()

    async def answer(self, op: str, rel: str, line: int, character: int) -> Any:
        """:meth:`query`, with an error answer recorded as :data:`SERVER_ERROR` instead of raised."""
        from pygls.exceptions import JsonRpcException

        try:
            return await self.query(op, rel, line, character)
        except JsonRpcException:
            return SERVER_ERROR

    async def query(self, op: str, rel: str, line: int, character: int) -> Any:
        from lsprotocol import types as lsp

        uri = self.ensure_open(rel)
        doc = lsp.TextDocumentIdentifier(uri=uri)
        c = self.client
        if op == "symbols":
            fut = c.text_document_document_symbol_async(lsp.DocumentSymbolParams(text_document=doc))
        elif op == "diagnostic":
            fut = c.text_document_diagnostic_async(lsp.DocumentDiagnosticParams(text_document=doc))
        else:
            self.uri = uri
            return await self.ask(op, line, character)
        return await asyncio.wait_for(fut, self.timeout)


#: What the raw client records when the server answers a request with an error (basedpyright
#: answers some references with "Debug Failure. Did not find evaluation scope", every time).
SERVER_ERROR = {"error": "server"}


def flat_symbol_count(result: Any) -> int:
    n = 0
    stack = list(result or [])
    while stack:
        item = stack.pop()
        n += 1
        stack.extend(getattr(item, "children", None) or [])
    return n


def loc_key(path: str, rng: list[int]) -> tuple[str, list[int]]:
    # lanser names external paths from a root ("typeshed:...", "stdlib:..."); raw gives absolute ones.
    return (path.rsplit(":", 1)[-1].rsplit("/", 1)[-1], rng)


def raw_answer(op: str, result: Any, root: Path) -> Any:
    from nav_latency import raw_locations

    if result is SERVER_ERROR:
        return SERVER_ERROR

    if op == "definition":
        return sorted(loc_key(p, r) for p, r in raw_locations(result, root))
    if op == "references":
        return len(result or [])
    if op == "hover":
        return raw_hover_text(result)
    return flat_symbol_count(result)


def lanser_answer(op: str, bundle: dict[str, Any]) -> Any:
    if bundle.get("status") != "ok":
        code = (bundle.get("error") or {}).get("code")
        return None if code == "E/NOT_FOUND" else {"error": code}
    facts = bundle.get("facts") or {}
    if op == "definition":
        return sorted(loc_key(loc["path"], list(loc["range"])) for loc in facts.get("definitions") or [])
    if op == "references":
        return facts.get("total", len(facts.get("references") or []))
    if op == "hover":
        return facts.get("hover") or {}
    return len(facts.get("symbols") or [])


def stub_only_difference(raw: Any, lan: Any) -> bool:
    """A definition answer that lacks only stub (.pyi) targets the raw answer has.

    basedpyright's ``onDefinition`` uses its PreferSource filter when the
    client advertises ``textDocument.declaration``: stub targets are
    dropped whenever a source target exists.  lanser's session advertises
    it; the raw client here does not.
    """
    if not isinstance(raw, list) or not isinstance(lan, list) or raw == lan:
        return False
    rest = list(raw)
    for item in lan:
        if item not in rest:
            return False
        rest.remove(item)
    return bool(rest) and all(name.endswith(".pyi") for name, _ in rest)


def pulls_diagnostics(q: dict[str, Any], policy: str, pulled: int) -> bool:
    """Whether the raw side pulls diagnostics before ``q``, as lanser's ``_settle`` does under ``policy``."""
    return q["cmd"] == "references" and (policy == "every" or (policy == "once" and not pulled))


def lanser_capabilities(repo: Path) -> Any:
    """The ``initialize`` capabilities lanser's own session sends to basedpyright."""
    from lanser.lsp.registry import server_for_language
    from lanser.lsp.session import LspSession

    return LspSession(server_for_language("python"), repo)._initialize_params().capabilities


def lanser_settles_once() -> bool:
    """Whether this lanser pulls diagnostics before references once per session (6d0e8e9 on)
    rather than before every references request."""
    import inspect

    from lanser.orchestrator import Orchestrator

    try:
        return "project_loaded" in inspect.getsource(Orchestrator.settle)
    except (AttributeError, OSError, TypeError):
        return False


def agree(op: str, raw: Any, lan: Any) -> bool:
    empty_raw = raw in ([], 0, "", None)
    if lan is None:  # E/NOT_FOUND
        return empty_raw
    if isinstance(lan, dict) and "error" in lan:
        # both saw the server answer with an error (lanser: E/LS_CRASH carrying its rpcCode)
        return raw == SERVER_ERROR and lan["error"] == "E/LS_CRASH"
    if op == "symbols":
        return raw == lan
    if op == "hover":
        # lanser normalizes the hover text; the raw first code line must be in its contents
        text = lan.get("contents", "") if isinstance(lan, dict) else str(lan)
        text = text if isinstance(text, str) else json.dumps(text)
        first = next((ln for ln in raw.splitlines() if ln.strip() and not ln.startswith("```")), "")
        return bool(raw) and first.strip()[:40] in text
    return answers_agree(op, raw, lan)


# -- the benchmark ----------------------------------------------------------------


class Bench:
    def __init__(self, args: argparse.Namespace, repo: Path) -> None:
        self.args = args
        self.repo = repo
        self.python = workspace_python(repo)
        self.argv = basedpyright_argv()
        self.lanser = args.lanser or str(Path(sys.executable).parent / "lanser")
        self.samples: dict[str, list[float]] = {}
        self.totals: dict[str, float] = {}
        self.info: dict[str, Any] = {}
        self.notes: list[str] = []
        self.daemon_started = False
        self.last_raw_answers: list[Any] = []
        self.rng = random.Random(args.seed)
        self.used: set[tuple[str, int, int]] = set()
        files = sorted(p.relative_to(repo).as_posix() for p in repo.rglob("*.py") if ".lanser" not in p.parts)
        self.cands = candidate_positions(repo, files)

    def log(self, msg: str) -> None:
        if not self.args.quiet:
            print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)

    def add(self, key: str, seconds: float) -> None:
        self.samples.setdefault(key, []).append(ms(seconds))

    def cli(
        self, *argv: str, daemon: bool = True, stdin: str | None = None
    ) -> tuple[float, subprocess.CompletedProcess[str]]:
        full = [self.lanser, "--json", "-w", str(self.repo), "--timeout", str(self.args.timeout)]
        full += ["--idle-timeout", "900"] if daemon else ["--no-daemon"]
        full += list(argv)
        if daemon:
            self.daemon_started = True
        t0 = time.perf_counter()
        proc = subprocess.run(
            full, capture_output=True, text=True, env=cli_env(), input=stdin, timeout=self.args.timeout * 50
        )
        return time.perf_counter() - t0, proc

    def daemon_stop(self) -> None:
        subprocess.run(
            [self.lanser, "-w", str(self.repo), "daemon", "stop"], capture_output=True, env=cli_env(), timeout=60
        )

    def daemon_status(self) -> dict[str, Any] | None:
        p = subprocess.run(
            [self.lanser, "--json", "-w", str(self.repo), "daemon", "status"],
            capture_output=True,
            text=True,
            env=cli_env(),
            timeout=60,
        )
        try:
            return json.loads(p.stdout) if p.returncode == 0 else None
        except ValueError:
            return None

    def pick(self, files: list[str], n: int) -> list[tuple[str, int, int]]:
        out = []
        pools = {f: self.rng.sample(self.cands[f], len(self.cands[f])) for f in files}
        i = 0
        while len(out) < n:
            f = files[i % len(files)]
            i += 1
            while pools[f]:
                line, col, _ = pools[f].pop()
                if (f, line, col) not in self.used:
                    self.used.add((f, line, col))
                    out.append((f, line, col))
                    break
        return out

    # -- target 1 ---------------------------------------------------------

    async def target_def(self) -> None:
        n, warm = self.args.def_n, self.args.def_warmup
        files = self.args.def_files
        for f in files:
            if f not in self.cands:
                raise SystemExit(f"--def-files: {f} has no candidate positions in {self.repo}")
        positions = self.pick(files, n + warm + 1)
        hit_pos, positions = positions[0], positions[1:]
        raw = Raw(self.repo, self.python, self.argv, self.args.timeout)
        await raw.start()
        try:
            # Warm both servers on the files (untimed): the same first request each.
            for f in files:
                sel = f"{f}@L{hit_pos[1] + 1}:C{hit_pos[2] + 1}" if f == hit_pos[0] else f
                await raw.query("definition" if f == hit_pos[0] else "symbols", f, hit_pos[1], hit_pos[2])
                _, p = await asyncio.to_thread(self.cli, "def" if f == hit_pos[0] else "symbols", sel)
                if p.returncode not in (0, 3):
                    raise SystemExit(f"lanser warm-up failed ({p.returncode}): {p.stderr[-500:]}")
            hit_sel = f"{hit_pos[0]}@L{hit_pos[1] + 1}:C{hit_pos[2] + 1}"
            self.info["def"] = {"files": files, "cache_hit_selector": hit_sel, "cache_miss_selectors": []}
            agreements = {"agree": 0, "disagree": 0, "disagree_stub_only": 0}
            self.log(
                f"target 1: {warm} discarded + {n} measured rounds of click floor / raw def / "
                f"lanser def miss / lanser def hit"
            )
            click_argv = [sys.executable, "-c", CLICK_FLOOR, hit_sel]
            for i, (f, line, col) in enumerate(positions):
                sel = f"{f}@L{line + 1}:C{col + 1}"
                rec = i >= warm
                raw_result: Any = None
                lan_bundle: dict[str, Any] = {}

                async def side_click() -> None:
                    t0 = time.perf_counter()
                    p = await asyncio.to_thread(
                        subprocess.run, click_argv, capture_output=True, text=True, env=cli_env()
                    )
                    dt = time.perf_counter() - t0
                    assert p.returncode == 0 and json.loads(p.stdout)["status"] == "ok", p.stderr
                    if rec:
                        self.add("def.floor.click_process", dt)

                async def side_raw() -> None:
                    nonlocal raw_result
                    t0 = time.perf_counter()
                    raw_result = await raw.query("definition", f, line, col)
                    if rec:
                        self.add("def.floor.raw_roundtrip", time.perf_counter() - t0)

                async def side_miss() -> None:
                    nonlocal lan_bundle
                    dt, p = await asyncio.to_thread(self.cli, "def", sel)
                    lan_bundle = json.loads(p.stdout)
                    if rec:
                        self.add("def.lanser.cache_miss", dt)
                        self.info["def"]["cache_miss_selectors"].append(sel)

                async def side_hit() -> None:
                    dt, p = await asyncio.to_thread(self.cli, "def", hit_sel)
                    json.loads(p.stdout)
                    if rec:
                        self.add("def.lanser.cache_hit", dt)

                sides = [side_click, side_raw, side_miss, side_hit]
                for side in sides[i % 4 :] + sides[: i % 4]:
                    await side()
                if not rec:
                    continue
                raw_ans = raw_answer("definition", raw_result, self.repo)
                lan_ans = lanser_answer("definition", lan_bundle)
                ok = agree("definition", raw_ans, lan_ans)
                agreements["agree" if ok else "disagree"] += 1
                if not ok and stub_only_difference(raw_ans, lan_ans):
                    agreements["disagree_stub_only"] += 1
            self.info["def"]["answers"] = agreements
            click, rawrt = (
                summarize(self.samples["def.floor.click_process"]),
                summarize(self.samples["def.floor.raw_roundtrip"]),
            )
            self.info["def"]["floor"] = {
                "median": click["median"] + rawrt["median"],
                "p90": click["p90"] + rawrt["p90"],
            }
            self.log(
                "  medians: "
                + ", ".join(
                    f"{k} {statistics.median(v):.1f} ms" for k, v in self.samples.items() if k.startswith("def.")
                )
            )
            self.info["def"]["daemon_status"] = self.daemon_status()
        finally:
            await raw.stop()

    # -- target 2 ---------------------------------------------------------

    async def target_batch(self) -> None:
        n, rounds = self.args.batch_n, max(1, self.args.rounds)
        # Every round asks its own distinct queries (a round must not hit the daemon's cache
        # with an earlier round's answers); all rounds use the same files.
        sets = [build_queries(self.cands, n, self.rng, self.used) for _ in range(rounds)]
        for r, queries in enumerate(sets):
            for q in queries:
                if q["cmd"] == "symbols":
                    # A file has one symbols request; a depth filter deeper than any nesting
                    # (it keeps every symbol), different per round, keeps a later round's from being
                    # an earlier one's cache hit.  (An unknown argument is E/BAD_REQUEST since the
                    # commands' arguments are typed.)
                    q["args"] = {"depth": 1000 + r}
        files = sorted({q["_pos"][0] for queries in sets for q in queries})
        warm_pos = self.pick(files, len(files))  # one hover per file, used by no measured set
        workdir = Path(tempfile.mkdtemp(prefix="lanser-bench-batch-"))
        try:
            qfiles = []
            for r, queries in enumerate(sets):
                qfile = workdir / f"queries-{r}.jsonl"
                qfile.write_text("".join(json.dumps(public(q)) + "\n" for q in queries))
                qfiles.append(qfile)
            wfile = workdir / "warm.jsonl"
            wfile.write_text(
                "".join(
                    json.dumps({"cmd": "hover", "selector": f"{f}@L{ln + 1}:C{c + 1}", "indexIo": "utf-16"}) + "\n"
                    for f, ln, c in warm_pos
                )
            )
            mix = {op: sum(1 for q in sets[0] if q["cmd"] == op) for op in OPS}
            self.info["batch"] = {
                "queries": n,
                "rounds": rounds,
                "files": len(files),
                "mix": mix,
                "distinct_requests": len({json.dumps(public(q), sort_keys=True) for queries in sets for q in queries}),
            }
            self.log(f"target 2: {rounds} round(s) of {n} queries over {len(files)} files {mix}")
            # Warm-up (untimed): every file opened and analysed once by every server.  The pipelined raw
            # side has a server of its own, so that no server is asked the same query twice.
            window = max(1, self.args.pipeline)
            self.info["batch"]["pipeline"] = window
            # Left out at 1, so that a lanser from before --pipeline (--lanser) can be measured.
            pipeline_args = ["--pipeline", str(window)] if window > 1 else []
            caps = lanser_capabilities(self.repo) if self.args.raw_caps == "lanser" else None
            self.info["batch"]["raw_caps"] = self.args.raw_caps
            raw = Raw(self.repo, self.python, self.argv, self.args.timeout, capabilities=caps)
            rawp = Raw(self.repo, self.python, self.argv, self.args.timeout, capabilities=caps) if window > 1 else None
            await raw.start()
            if rawp is not None:
                await rawp.start()
            try:
                for name, server in (("raw", raw), ("raw_pipelined", rawp)):
                    if server is None:
                        continue
                    t0 = time.perf_counter()
                    for f, ln, c in warm_pos:
                        await server.query("hover", f, ln, c)
                    self.info["batch"][f"{name}_warmup_s"] = time.perf_counter() - t0
                dt, p = await asyncio.to_thread(self.cli, "batch", *pipeline_args, str(wfile))
                self.info["batch"]["lanser_warmup_s"] = dt
                if p.returncode not in (0, 3):
                    raise SystemExit(f"lanser warm-up batch failed ({p.returncode}): {p.stderr[-500:]}")
                self.log(f"  warm-up: raw {self.info['batch']['raw_warmup_s']:.1f} s, lanser {dt:.1f} s")
                status0 = self.daemon_status()
                policy = self.args.raw_diag_pulls
                if policy == "auto":
                    policy = "once" if lanser_settles_once() else "every"
                self.info["batch"]["raw_diag_pulls"] = policy
                per_round: list[dict[str, Any]] = []
                per_op: dict[str, float] = {op: 0.0 for op in OPS}
                pulls_before = {"raw": 0, "raw_pipelined": 0}
                sides = ["raw", "lanser"] + (["raw_pipelined"] if rawp is not None else [])
                for r, (queries, qfile) in enumerate(zip(sets, qfiles, strict=False)):
                    # The order rotates so that a load change during the run hits every side alike.
                    order = sides[r % len(sides) :] + sides[: r % len(sides)]
                    rnd: dict[str, Any] = {"round": r, "order": order}
                    procs: dict[str, subprocess.CompletedProcess[str]] = {}
                    raw_answers: list[Any] = []
                    pipe_answers: list[Any] | None = None
                    for side in order:
                        if side in ("raw", "raw_pipelined"):
                            server = raw if side == "raw" else rawp
                            assert server is not None
                            node = getattr(server.client, "_server", None)
                            n0, c0 = proc_cpu(node.pid if node else None), time.process_time()
                            if side == "raw":
                                raw_answers, wall, diag, pulls = await self.raw_batch(
                                    raw, queries, policy, pulls_before[side], per_op
                                )
                                rnd.update(raw_with_pulls_ms=ms(wall), diag_pull_ms=ms(diag), diag_pulls=pulls)
                            else:
                                pipe_answers, wall, diag, pulls = await self.raw_batch_pipelined(
                                    server, queries, policy, pulls_before[side], window
                                )
                            rnd.setdefault("cpu_s", {})[side] = {
                                "node": proc_cpu(node.pid if node else None) - n0,
                                "client": time.process_time() - c0,
                            }
                            pulls_before[side] += pulls
                            rnd[f"{side}_ms"] = ms(wall - diag)
                            self.log(
                                f"  round {r}: {side} {wall:.2f} s ({ms(diag):.0f} ms of it {pulls} diagnostic "
                                f"pull(s), policy {policy})"
                            )
                        else:
                            st = self.daemon_status() or {}
                            dpid = st.get("pid")
                            npid = ((st.get("servers") or {}).get("basedpyright") or {}).get("pid")
                            for name in ("daemon_miss", "daemon_hit"):
                                d0, n0, k0 = proc_cpu(dpid), proc_cpu(npid), children_cpu()
                                dt, p = await asyncio.to_thread(self.cli, "batch", *pipeline_args, str(qfile))
                                rnd.setdefault("cpu_s", {})[name] = {
                                    "node": proc_cpu(npid) - n0,
                                    "daemon": proc_cpu(dpid) - d0,
                                    "cli": children_cpu() - k0,
                                }
                                rnd[f"{name}_ms"] = ms(dt)
                                procs[name] = p
                                self.log(f"  round {r}: lanser {name}: {dt:.2f} s (exit {p.returncode})")
                    if pipe_answers is not None:  # the same answers, sent a window at a time?
                        rnd["raw_pipelined_agree"] = sum(map(operator.eq, pipe_answers, raw_answers))
                    rnd["ratio_sequential"] = rnd["daemon_miss_ms"] / rnd["raw_ms"]
                    if "raw_pipelined_ms" in rnd:
                        rnd["ratio_pipelined"] = rnd["daemon_miss_ms"] / rnd["raw_pipelined_ms"]
                    # The verdict's baseline is the faster raw client of the round, the pipelined
                    # one only if it got the sequential client's answers to every query.
                    faithful = rnd.get("raw_pipelined_agree") == len(queries) == len(pipe_answers or [])
                    rnd["raw_best_ms"] = min(rnd["raw_ms"], rnd["raw_pipelined_ms"] if faithful else rnd["raw_ms"])
                    rnd["ratio"] = rnd["daemon_miss_ms"] / rnd["raw_best_ms"]
                    per_round.append(rnd)
                    for name, p in procs.items():
                        self.check_batch(name, p, queries, raw_answers)
            finally:
                await raw.stop()
                if rawp is not None:
                    await rawp.stop()
            self.info["batch"]["per_round"] = per_round
            self.info["batch"]["raw_diag_pull_count"] = pulls_before["raw"]
            self.info["batch"]["raw_ms_per_op"] = {op: ms(v) / rounds for op, v in per_op.items()}
            for key, field in (
                ("batch.raw", "raw_ms"),
                ("batch.raw_with_lanser_diag_pulls", "raw_with_pulls_ms"),
                ("batch.raw_pipelined", "raw_pipelined_ms"),
                ("batch.raw_best", "raw_best_ms"),
                ("batch.lanser.daemon_miss", "daemon_miss_ms"),
                ("batch.lanser.daemon_hit", "daemon_hit_ms"),
            ):
                if all(field in rnd for rnd in per_round):
                    self.totals[key] = statistics.median(rnd[field] for rnd in per_round)
            for field in ("ratio_sequential", "ratio_pipelined"):
                if all(field in rnd for rnd in per_round):
                    self.info["batch"][f"{field}_median"] = statistics.median(rnd[field] for rnd in per_round)
            self.info["batch"]["ratio_median"] = statistics.median(rnd["ratio"] for rnd in per_round)
            self.info["batch"]["ratio_min"] = min(rnd["ratio"] for rnd in per_round)
            self.info["batch"]["ratio_max"] = max(rnd["ratio"] for rnd in per_round)
            status1 = self.daemon_status()
            if status0 and status1:
                c0, c1 = status0.get("cache") or {}, status1.get("cache") or {}
                self.info["batch"]["daemon_cache_delta"] = {k: c1.get(k, 0) - c0.get(k, 0) for k in ("hits", "misses")}
            if not self.args.skip_inproc:
                await asyncio.to_thread(self.daemon_stop)
                dt, p = await asyncio.to_thread(self.cli, "batch", str(qfiles[-1]), daemon=False)
                self.totals["batch.lanser.in_process"] = ms(dt)
                self.info["batch"]["in_process_round"] = rounds - 1
                self.check_batch("in_process", p, sets[-1], self.last_raw_answers)
                self.log(f"  lanser in-process (cold), round {rounds - 1}'s queries: {dt:.2f} s (exit {p.returncode})")
        finally:
            shutil.rmtree(workdir, ignore_errors=True)

    async def raw_batch(
        self, raw: Raw, queries: list[dict[str, Any]], policy: str, pulls_before: int, per_op: dict[str, float]
    ) -> tuple[list[Any], float, float, int]:
        """The queries over the raw session, sequentially: (answers, wall s, diagnostic pull s, pulls made)."""
        answers = []
        diag = 0.0
        pulls = 0
        t0 = time.perf_counter()
        for q in queries:
            f, line, col = q["_pos"]
            if pulls_diagnostics(q, policy, pulls_before + pulls):
                d0 = time.perf_counter()
                await raw.query("diagnostic", f, 0, 0)
                diag += time.perf_counter() - d0
                pulls += 1
            r0 = time.perf_counter()
            res = await raw.answer(q["cmd"], f, line, col)
            per_op[q["cmd"]] += time.perf_counter() - r0
            answers.append(raw_answer(q["cmd"], res, self.repo))
        wall = time.perf_counter() - t0
        self.last_raw_answers = answers
        return answers, wall, diag, pulls

    async def raw_batch_pipelined(
        self, raw: Raw, queries: list[dict[str, Any]], policy: str, pulls_before: int, window: int
    ) -> tuple[list[Any], float, float, int]:
        """The queries over the raw session with up to ``window`` in flight, answers taken in order
        (as ``lanser batch --pipeline`` does); a diagnostic pull drains the window first and is timed apart."""
        answers: list[Any] = []
        pending: collections.deque[tuple[str, asyncio.Future[Any]]] = collections.deque()
        diag = 0.0
        pulls = 0

        async def take() -> None:
            op, fut = pending.popleft()
            answers.append(raw_answer(op, await fut, self.repo))

        t0 = time.perf_counter()
        for q in queries:
            f, line, col = q["_pos"]
            if pulls_diagnostics(q, policy, pulls_before + pulls):
                while pending:
                    await take()
                d0 = time.perf_counter()
                await raw.query("diagnostic", f, 0, 0)
                diag += time.perf_counter() - d0
                pulls += 1
            while len(pending) >= window:
                await take()
            pending.append((q["cmd"], asyncio.ensure_future(raw.answer(q["cmd"], f, line, col))))
        while pending:
            await take()
        return answers, time.perf_counter() - t0, diag, pulls

    def check_batch(
        self, name: str, p: subprocess.CompletedProcess[str], queries: list[dict[str, Any]], raw_answers: list[Any]
    ) -> None:
        """Compare one lanser batch's answers with raw's; counts add up over rounds."""
        bundles = [json.loads(line) for line in p.stdout.splitlines() if line.strip()]
        res = self.info.setdefault("batch_answers", {}).setdefault(
            name,
            {
                "exit": [],
                "bundles": 0,
                "agree": {},
                "disagree": {},
                "disagree_stub_only": 0,
                "status": {},
                "examples_disagree": [],
            },
        )
        res["exit"].append(p.returncode)
        res["bundles"] += len(bundles)
        for q, raw, b in zip(queries, raw_answers, bundles, strict=False):
            op = q["cmd"]
            st = b.get("status") if b.get("status") == "ok" else (b.get("error") or {}).get("code")
            res["status"][st] = res["status"].get(st, 0) + 1
            lan = lanser_answer(op, b)
            ok = agree(op, raw, lan)
            bucket = res["agree" if ok else "disagree"]
            bucket[op] = bucket.get(op, 0) + 1
            stub_only = not ok and op == "definition" and stub_only_difference(raw, lan)
            res["disagree_stub_only"] += stub_only
            # keep a few stub-only examples, and every other kind up to 8 in all
            if not ok and (not stub_only or len(res["examples_disagree"]) < 3) and len(res["examples_disagree"]) < 8:
                res["examples_disagree"].append(
                    {"request": public(q), "raw": str(raw)[:200], "lanser": str(lanser_answer(op, b))[:200]}
                )
        if len(bundles) != len(queries):
            self.notes.append(
                f"batch {name}: {len(bundles)} bundles for {len(queries)} queries; stderr: {p.stderr[-300:]}"
            )
        self.info.setdefault("batch_answers", {})[name] = res


# -- report -----------------------------------------------------------------------


def fmt(x: float | None) -> str:
    return "-" if x is None else (f"{x:.0f}" if x >= 100 else f"{x:.1f}")


def render(res: dict[str, Any]) -> str:
    m, s, t, info = res["meta"], res["summary"], res["totals_ms"], res["info"]
    out = [
        f"lanser daemon + batch (issue 5)  {res['started']}",
        f"command:  {m['command']}",
        f"machine:  {m['cpus']} CPUs ({m['cpu_model']}), {m['platform']}; load avg {m['loadavg_start']} "
        f"at start, {m['loadavg_end']} at end",
        f"servers:  basedpyright {m['basedpyright']}; python {m['python']}; lanser {m['lanser_version']} "
        f"@ {m['lanser_git']}",
        f"repo:     {m['repo_label']} ({m['repo_py_files']} .py files, {m['repo_py_lines']} lines)",
        "",
    ]
    if "def" in info:
        d = info["def"]
        fl = d["floor"]
        out.append(
            f"Target 1: `lanser --json def SEL` via warm daemon, process wall (ms; n={s['def.lanser.cache_miss']['n']})"
        )
        out.append(f"  {'':44} {'median':>8} {'p90':>8} {'ratio':>7}")
        rows = [
            ("python -c 'import click; cmd -> JSON' process", s["def.floor.click_process"], None),
            ("raw basedpyright warm definition round trip", s["def.floor.raw_roundtrip"], None),
            ("floor = click process + raw round trip", fl, None),
            ("lanser def, cache miss (distinct selectors)", s["def.lanser.cache_miss"], "miss"),
            ("lanser def, cache hit (repeated selector)", s["def.lanser.cache_hit"], "hit"),
        ]
        for label, st, kind in rows:
            r = st["median"] / fl["median"] if kind else None
            verdict = "" if r is None else ("  target <=1.5x MET" if r <= 1.5 else "  target <=1.5x MISSED")
            out.append(
                f"  {label:44} {fmt(st['median']):>8} {fmt(st['p90']):>8} "
                f"{(format(r, '.2f') + 'x') if r else '':>7}{verdict}"
            )
        a = d["answers"]
        out.append(
            f"  answers (cache-miss def vs raw def, same position): {a['agree']} agree, {a['disagree']} disagree"
            + (
                f" ({a['disagree_stub_only']} of them: raw has extra .pyi stub targets only)"
                if a.get("disagree_stub_only")
                else ""
            )
        )
        out.append("")
    if "batch" in info:
        b = info["batch"]
        raw = t["batch.raw"]
        best = t.get("batch.raw_best", raw)
        rounds = b.get("per_round", [])
        window = b.get("pipeline", 1)
        out.append(
            f"Target 2: batch of {b['queries']} distinct queries over {b['files']} files, mix {b['mix']}, "
            f"{len(rounds)} round(s) with new queries each, total wall (ms, median over rounds)"
        )
        ratio = b.get("ratio_median", t.get("batch.lanser.daemon_miss", 0) / best)
        if b.get("raw_caps") == "lanser":
            out.append("  (the raw clients send lanser's own initialize capabilities: --raw-caps lanser)")
        rows = [
            ("raw: same LSP requests, one session, sequential", "batch.raw", None),
            (
                f"raw + lanser's diagnostic pulls before refs ({b.get('raw_diag_pull_count', '?')})",
                "batch.raw_with_lanser_diag_pulls",
                None,
            ),
            (f"raw: {window} in flight (a server of its own)", "batch.raw_pipelined", None),
            ("raw: the faster of the two, per round", "batch.raw_best", None),
            (f"lanser batch --pipeline {window}, warm daemon, misses", "batch.lanser.daemon_miss", ratio),
            ("lanser batch via warm daemon, all cache hits", "batch.lanser.daemon_hit", None),
            ("lanser --no-daemon batch (new process, cold server)", "batch.lanser.in_process", None),
        ]
        for label, key, target in rows:
            if key not in t:
                continue
            r = target if target is not None else t[key] / best
            verdict = ("  target <=1.10x " + ("MET" if r <= 1.10 else "MISSED")) if target is not None else ""
            out.append(f"  {label:52} {fmt(t[key]):>8} {r:6.2f}x{verdict}")
        out.append(
            f"  (ratio = / the faster raw client; the misses' ratio is the median of the rounds' own ratios; "
            f"per query: raw {best / b['queries']:.2f} ms, lanser miss "
            f"{t.get('batch.lanser.daemon_miss', 0) / b['queries']:.2f} ms)"
        )
        for field, what in (
            ("ratio_sequential_median", "sequential raw"),
            ("ratio_pipelined_median", f"raw with {window} in flight"),
        ):
            if field in b:
                out.append(f"  lanser miss / {what}: median {b[field]:.2f}x")
        for rnd in rounds:
            pipe = (
                f", raw {window} in flight {fmt(rnd['raw_pipelined_ms'])} (answers equal to sequential raw's: "
                f"{rnd.get('raw_pipelined_agree')})"
                if "raw_pipelined_ms" in rnd
                else ""
            )
            out.append(
                f"  round {rnd['round']} ({' then '.join(rnd['order'])}): raw {fmt(rnd['raw_ms'])}{pipe}, "
                f"lanser miss {fmt(rnd['daemon_miss_ms'])}, hit {fmt(rnd['daemon_hit_ms'])}: "
                f"{rnd['ratio']:.2f}x"
            )
            cpu = rnd.get("cpu_s") or {}
            if "raw" in cpu and "daemon_miss" in cpu:
                r_, m_ = cpu["raw"], cpu["daemon_miss"]
                p_ = cpu.get("raw_pipelined")
                out.append(
                    f"    CPU s: raw node {r_['node']:.2f} + client {r_['client']:.2f}; "
                    + (f"raw in flight node {p_['node']:.2f} + client {p_['client']:.2f}; " if p_ else "")
                    + f"lanser miss node {m_['node']:.2f} + daemon {m_['daemon']:.2f} + CLI process "
                    f"{m_['cli']:.2f}"
                )
        if len(rounds) > 1:
            out.append(
                f"  ratio over rounds: min {b['ratio_min']:.2f}x, median {b['ratio_median']:.2f}x, "
                f"max {b['ratio_max']:.2f}x"
            )
        out.append(
            "  raw time per op (ms per round): " + ", ".join(f"{k} {v:.0f}" for k, v in b["raw_ms_per_op"].items())
        )
        if "daemon_cache_delta" in b:
            out.append(f"  daemon bundle cache over the lanser batches: {b['daemon_cache_delta']}")
        for name, a in info.get("batch_answers", {}).items():
            n_ok, n_bad = sum(a["agree"].values()), sum(a["disagree"].values())
            stub = (
                f", {a['disagree_stub_only']} of them raw's extra .pyi stub targets only"
                if a.get("disagree_stub_only")
                else ""
            )
            out.append(
                f"  answers {name}: {n_ok} agree, {n_bad} disagree with raw "
                f"(disagree by op {a['disagree'] or '{}'}{stub}); statuses {a['status']}"
            )
        out.append("")
    for note in res["notes"]:
        out.append(f"note: {note}")
    return "\n".join(out)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="bench/daemon_batch.py",
        description="lanser issue 5: `lanser def` through a warm daemon against (click process + raw basedpyright "
        "round trip), and a 1000-query `lanser batch` against raw basedpyright answering the same "
        "queries; side by side in one run. Prints a table; writes JSON under bench/results/.",
        epilog="Example: .venv/bin/python bench/daemon_batch.py --def-n 30 --batch-n 1000",
    )
    p.add_argument(
        "--repo",
        type=Path,
        default=None,
        help="Python git repository to measure (default: installed rich copied into a temp git repo)",
    )
    p.add_argument(
        "--def-files",
        nargs="+",
        default=["rich/text.py", "rich/console.py", "rich/table.py"],
        help="files whose positions target 1 asks about (default: rich/text.py rich/console.py rich/table.py)",
    )
    p.add_argument("--def-n", type=int, default=30, help="measured target-1 rounds (default 30)")
    p.add_argument("--def-warmup", type=int, default=3, help="discarded target-1 rounds first (default 3)")
    p.add_argument("--batch-n", type=int, default=1000, help="queries in the batch (default 1000)")
    p.add_argument(
        "--rounds",
        type=int,
        default=12,
        help="target-2 rounds, each with new distinct queries and the order of raw and lanser "
        "rotating (each side first, second and last equally often with a multiple of 3); the verdict "
        "uses the median of the rounds' ratios (default 12)",
    )
    p.add_argument("--seed", type=int, default=5, help="position sampling seed (default 5)")
    p.add_argument("--timeout", type=float, default=60.0, help="seconds per server request (default 60)")
    p.add_argument("--lanser", default=None, help="lanser executable (default: next to this interpreter)")
    p.add_argument("--skip", action="append", default=[], choices=["def", "batch"], help="leave a target out")
    p.add_argument(
        "--pipeline",
        type=int,
        default=DEFAULT_WINDOW,
        help="requests in flight: `lanser batch --pipeline N`, and a second raw client (its own server) "
        "sending the same queries N at a time; the verdict compares lanser with the faster raw "
        "client of each round; 1 = both sequential, no second raw client (default: lanser's, "
        f"{DEFAULT_WINDOW})",
    )
    p.add_argument(
        "--raw-caps",
        choices=["minimal", "lanser"],
        default="minimal",
        help="initialize capabilities of the raw clients in target 2: a minimal set, or lanser's own "
        "(which make basedpyright do somewhat more work; default minimal)",
    )
    p.add_argument("--skip-inproc", action="store_true", help="leave out the --no-daemon batch")
    p.add_argument(
        "--raw-diag-pulls",
        choices=["auto", "once", "every", "none"],
        default="auto",
        help="diagnostic pulls the raw batch sends before references, as lanser's _settle does: once per "
        "session (lanser from 6d0e8e9), before every references request (lanser before), or none; "
        "auto reads the installed lanser (default auto)",
    )
    p.add_argument("--out", type=Path, default=None, help="JSON file (default bench/results/daemon_batch-<time>.json)")
    p.add_argument("--keep-repo", action="store_true", help="keep the temporary rich repository")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress on stderr")
    return p.parse_args(argv)


async def amain(args: argparse.Namespace) -> int:
    logging.getLogger().addHandler(logging.NullHandler())
    started = _dt.datetime.now().astimezone().isoformat(timespec="seconds")
    load_start = loadavg()
    temp_repo = None
    if args.repo is None:
        temp_repo = repo = make_rich_repo()
        label = f"rich {metadata.version('rich')} (installed package copied into a temp git repo)"
    else:
        repo, label = args.repo.resolve(), str(args.repo.resolve())
    bench = Bench(args, repo)
    try:
        if bench.daemon_status() is not None:
            raise SystemExit(f"a lanser daemon already serves {repo}; stop it first")
        import lanser

        py_files = list(repo.rglob("*.py"))
        meta = {
            "command": " ".join(
                [
                    Path(sys.executable).relative_to(PROJECT).as_posix()
                    if sys.executable.startswith(str(PROJECT))
                    else sys.executable,
                    "bench/daemon_batch.py",
                    *sys.argv[1:],
                ]
            ),
            "cpus": os.cpu_count(),
            "cpu_model": cpu_model(),
            "platform": f"{platform.system()} {platform.release()} {platform.machine()}",
            "loadavg_start": load_start,
            "python": platform.python_version(),
            "basedpyright": metadata.version("basedpyright"),
            "lanser_version": lanser.__version__,
            "lanser_git": (git(["rev-parse", "--short", "HEAD"], PROJECT) or "?")
            + (" + uncommitted changes in lanser/" if git(["status", "--porcelain", "--", "lanser"], PROJECT) else ""),
            "repo_label": label,
            "repo": str(repo),
            "repo_py_files": len(py_files),
            "repo_py_lines": sum(len(p.read_bytes().splitlines()) for p in py_files),
            "raw_settings": lanser_settings(bench.python),
            "args": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
        }
        if "def" not in args.skip:
            await bench.target_def()
        if "batch" not in args.skip:
            await bench.target_batch()
        meta["loadavg_end"] = loadavg()
    finally:
        if bench.daemon_started:
            bench.daemon_stop()
        if temp_repo is not None and not args.keep_repo:
            shutil.rmtree(temp_repo, ignore_errors=True)
    res = {
        "benchmark": "daemon_batch",
        "started": started,
        "meta": meta,
        "summary": {k: summarize(v) for k, v in bench.samples.items()},
        "totals_ms": bench.totals,
        "info": bench.info,
        "samples_ms": bench.samples,
        "notes": bench.notes,
    }
    out = args.out or RESULTS_DIR / f"daemon_batch-{_dt.datetime.now().strftime('%Y%m%dT%H%M%S')}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(res, indent=1, default=str) + "\n")
    print(render(res))
    print(f"\nresults: {out}")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)

    def _interrupted(signum: int, frame: Any) -> None:
        raise SystemExit(f"interrupted by signal {signum}")  # unwinds through the finally blocks

    signal.signal(signal.SIGTERM, _interrupted)
    signal.signal(signal.SIGINT, _interrupted)
    return asyncio.run(amain(args))


if __name__ == "__main__":
    sys.exit(main())
