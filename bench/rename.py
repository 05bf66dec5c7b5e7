"""Rename benchmark: lanser rename vs rope rename on real projects, judged by their own test suites.

For each project (a PyPI sdist that ships its tests; nobody here wrote
them), sample ``--per-project`` definitions of the library code (fixed
``--seed``; functions, methods, properties, classes, module- and
class-level names; no dunders, nothing nested in a function, nothing from
the tests), and rename each one to ``<name>_renamed`` twice, each time in
a fresh tree (``git checkout -- . && git clean -fdxq`` between runs):

* **lanser** -- ``lanser --no-daemon --json --index-io utf-16 --python VENV -w REPO
  rename SELECTOR NEWNAME --apply``, with the selector minted by
  ``lanser.selectors.mint`` (``symbol``, else ``ast``, else ``cursor``);
* **rope** -- ``rope.refactor.rename.Rename(project, resource, offset)`` on
  the definition's name, ``get_changes(new)`` with rope's defaults (no
  docs, no unsure occurrences, no class hierarchy), ``project.do(changes)``,
  in a subprocess run by the bench venv's interpreter; for a ``src/``
  layout rope is told ``source_folders=["src"]`` (its own search misses it
  when the root holds a ``tests`` package).

Then, on the renamed tree:

* **complete** -- lanser's own ``edits.complete`` flag (the edit against
  the server's references; rope has no such check), and two *rough*
  textual checks on Python code tokens of the old name (``tokenize``:
  strings and comments are not counted): ``none left`` (no ``OLDNAME``
  identifier left in any .py/.pyi file; too strict wherever another
  symbol shares the name) and ``missed none the other renamed`` (every
  occurrence that the other tool renamed, in code or in a string such as a
  quoted annotation or ``__all__``, this one renamed too; blind to
  occurrences both miss). ``git grep -cw OLDNAME`` counts before
  and after are in the JSON too.
* **tests green** -- the sdist's test suite (pytest) fails no test that
  passed on the untouched tree, and passes at least as many; the baseline
  runs twice and a test failing in either run is not blamed on a rename.
* **diagnostics unchanged** -- ``lanser --no-daemon --json -w REPO diag``
  (basedpyright over the whole workspace), counts per severity summed
  over all files, equal to the untouched tree's.

Both tools and the test suite see the same interpreter: a bench venv
(``~/.cache/lanser-bench/rename-venv``: pytest, hypothesis, rope, pinned)
with a ``.pth`` putting the project's source root on ``sys.path``, as an
editable install would.  ``--no-dev-path`` leaves the ``.pth`` out.

    .venv/bin/python bench/rename.py [--per-project 20] [--seed 20251125] [--projects click,attrs,six]

The table goes to stdout, progress to stderr, every sample to
bench/results/rename-<time>.json (gitignored).  Sdists are downloaded with
``pip download`` into ~/.cache/lanser-bench; the work trees live in
~/.cache/lanser-bench/rename-work.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import io
import json
import os
import platform
import random
import re
import shutil
import statistics
import subprocess
import sys
import time
import tokenize
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import rename_truth  # bench/rename_truth.py: the hand-checked truth for a sample
from sdist import CACHE, fetch  # bench/sdist.py: shared by the benchmarks

# Only the standard library at import time: the rope worker runs this file
# under the bench venv's interpreter, where lanser is not installed.

ROOT = Path(__file__).resolve().parent.parent
WORK = CACHE / "rename-work"
#: The bench venv (another one for a second run at the same time: the .pth is per venv).
VENV = Path(os.environ.get("LANSER_BENCH_RENAME_VENV") or CACHE / "rename-venv")
RESULTS = ROOT / "bench" / "results"
SUFFIX = "_renamed"
#: What the bench venv holds besides the standard library (rope: the version in lanser's .venv).
VENV_PINS = ("pytest==8.3.5", "hypothesis==6.170.17")
ROPE_VERSION = "1.15.0"
PTH_NAME = "lanser_bench_project.pth"
KINDS = ("class", "function", "method", "property", "variable")
GIT_ID = ["-c", "user.email=bench@lanser.invalid", "-c", "user.name=lanser-bench", "-c", "commit.gpgsign=false"]


@dataclass(frozen=True)
class Project:
    name: str
    version: str
    library: tuple[str, ...]  # directories (or files) of library code, relative to the sdist root
    path_entry: str  # what an editable install would put on sys.path ("" = the root)
    tests: tuple[str, ...]  # pytest arguments naming the tests
    module: str  # imported to check the tests see this tree


PROJECTS: dict[str, Project] = {
    "click": Project("click", "8.1.7", ("src/click",), "src", ("tests",), "click"),
    "attrs": Project("attrs", "23.2.0", ("src/attr", "src/attrs"), "src", ("tests",), "attr"),
    "six": Project("six", "1.16.0", ("six.py",), "", ("test_six.py",), "six"),
    # Projects no rename work here was tuned to (issue 19): plain-pytest suites, no extra test deps.
    "markupsafe": Project("MarkupSafe", "2.1.5", ("src/markupsafe",), "src", ("tests",), "markupsafe"),
    "idna": Project("idna", "3.7", ("idna",), "", ("tests",), "idna"),
    "more-itertools": Project("more-itertools", "10.2.0", ("more_itertools",), "", ("tests",), "more_itertools"),
    # Unseen by every rename change before the hand-checked truth (issue 19, item 4).
    # (pluggy is out: pytest imports it, so the bench venv's own copy shadows the work tree.)
    "jmespath": Project("jmespath", "1.0.1", ("jmespath",), "", ("tests",), "jmespath"),
    "cachetools": Project("cachetools", "5.3.3", ("src/cachetools",), "src", ("tests",), "cachetools"),
}


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def run(
    argv: list[str],
    cwd: Path | None = None,
    timeout: float = 600,
    env: dict[str, str] | None = None,
    check: bool = False,
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=timeout, env=env, check=check)


def git(repo: Path, *args: str, check: bool = True) -> str:
    return run(["git", *GIT_ID, *args], cwd=repo, check=check).stdout


# -- setup ----------------------------------------------------------------------


def make_repo(p: Project) -> Path:
    """A fresh git repository holding the sdist, one commit, files owned by us."""
    src = fetch(p.name, p.version)
    repo = WORK / f"{p.name}-{p.version}"
    if repo.exists():
        shutil.rmtree(repo)
    WORK.mkdir(parents=True, exist_ok=True)
    shutil.copytree(src, repo, copy_function=shutil.copyfile)
    shutil.rmtree(repo / ".git", ignore_errors=True)
    git(repo, "init", "-q")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", f"{p.name} {p.version} sdist")
    return Path(os.path.realpath(repo))


def venv_python() -> Path:
    return VENV / "bin" / "python"


def ensure_venv() -> Path:
    """The bench venv: pinned pytest, hypothesis and rope (the version lanser's .venv has)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        rope = version("rope")
    except PackageNotFoundError:  # lanser's .venv need not have rope: the bench pins its own
        rope = ROPE_VERSION
    pins = (*VENV_PINS, f"rope=={rope}")
    stamp = VENV / "lanser-bench-pins.txt"
    if stamp.is_file() and stamp.read_text() == "\n".join(pins) and venv_python().is_file():
        return venv_python()
    if VENV.exists():
        shutil.rmtree(VENV)
    log(f"creating {VENV} with {', '.join(pins)}")
    run([sys.executable, "-m", "venv", str(VENV)], check=True)
    run([str(venv_python()), "-m", "pip", "install", "-q", *pins], timeout=900, check=True)
    stamp.write_text("\n".join(pins))
    return venv_python()


def set_dev_path(repo: Path | None, p: Project | None) -> None:
    """Point the bench venv at ``repo`` as an editable install would (or at nothing)."""
    purelib = run(
        [str(venv_python()), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], check=True
    ).stdout.strip()
    pth = Path(purelib) / PTH_NAME
    if repo is None or p is None:
        pth.unlink(missing_ok=True)
    else:
        pth.write_text(str(repo / p.path_entry if p.path_entry else repo) + "\n")


def reset(repo: Path) -> None:
    git(repo, "checkout", "-q", "--", ".")
    git(repo, "clean", "-fdxq")


def lanser_argv() -> list[str]:
    exe = Path(sys.executable).parent / "lanser"
    return [str(exe)] if exe.is_file() else [sys.executable, "-c", "from lanser.cli.main import main; main()"]


# -- sampling ---------------------------------------------------------------------


@dataclass
class Sample:
    path: str
    qualname: str
    kind: str
    line: int  # 0-based, code points
    col: int
    selectors: dict[str, str]

    @property
    def name(self) -> str:
        return self.qualname.rsplit(".", 1)[-1]


def library_files(repo: Path, p: Project) -> list[str]:
    out = []
    for entry in p.library:
        f = repo / entry
        files = [f] if f.is_file() else sorted(f.rglob("*.py"))
        out += [x.relative_to(repo).as_posix() for x in files if x.suffix == ".py"]
    return out


def candidates(repo: Path, p: Project) -> list[tuple[str, Any]]:
    """(path, definition) of every definition the sample is drawn from."""
    from lanser.syntax import definitions

    pool = []
    for rel in library_files(repo, p):
        data = (repo / rel).read_bytes()
        defs = definitions("python", data)
        for d in defs:
            name = d.short
            if d.kind not in KINDS or (name.startswith("__") and name.endswith("__")):
                continue
            if not _only_in_classes(d, defs):
                continue
            pool.append((rel, d))
    return pool


def _samples(repo: Path, picked: list[tuple[str, Any]]) -> list[Sample]:
    from lanser.selectors.mint import mint
    from lanser.syntax import to_codepoints
    from lanser.workspace import Workspace

    ws = Workspace(repo)
    out = []
    for rel, d in sorted(picked, key=lambda x: (x[0], x[1].name[0])):
        lines = (repo / rel).read_bytes().split(b"\n")
        line, col = to_codepoints(lines, d.name[0])
        out.append(Sample(rel, d.qualname, d.kind, line, col, mint(ws, rel, d, "python")))
    return out


def sample(repo: Path, p: Project, n: int, seed: int) -> list[Sample]:
    pool = candidates(repo, p)
    rng = random.Random(f"{seed}:{p.name}")
    out = _samples(repo, rng.sample(pool, min(n, len(pool))))
    log(f"{p.name}: {len(pool)} candidate definitions, {len(out)} sampled")
    return out


def truth_samples(repo: Path, project: str) -> list[Sample]:
    """The definitions bench/rename_truth.json has a truth for (``--truth``), found by their selector."""
    wanted = {e["selector"] for e in rename_truth.load("python") if e["project"] == project}
    fragments = {s.split("#", 1)[1].split("?", 1)[0] for s in wanted}
    pool = [(rel, d) for rel, d in candidates(repo, PROJECTS[project]) if d.qualname in fragments]
    out = [s for s in _samples(repo, pool) if pick_selector(s.selectors)[1] in wanted]
    missing = wanted - {pick_selector(s.selectors)[1] for s in out}
    if missing:
        raise SystemExit(f"{project}: truth selectors that name no sampled definition: {sorted(missing)}")
    log(f"{project}: {len(out)} renames with a hand-checked truth")
    return out


def _only_in_classes(d: Any, defs: list[Any]) -> bool:
    """Whether every scope around ``d`` is a class (module-level or class-level definitions only)."""
    parts = d.qualname.split(".")
    row = d.name[0][0]
    for i in range(1, len(parts)):
        prefix = ".".join(parts[:i])
        around = [o for o in defs if o.qualname == prefix and o.roles["def"][0][0] <= row <= o.roles["def"][1][0]]
        if not around or around[-1].kind != "class":
            return False
    return True


def pick_selector(selectors: dict[str, str]) -> tuple[str, str]:
    for kind in ("symbol", "ast", "cursor"):
        if kind in selectors:
            return kind, selectors[kind]
    raise ValueError("mint gave no selector")


# -- occurrences --------------------------------------------------------------------


def word_re(word: str) -> re.Pattern[str]:
    return re.compile(rf"(?<![\w]){re.escape(word)}(?![\w])")


def code_tokens(text: str, word: str) -> set[tuple[int, int]] | None:
    """(line, col) of NAME tokens equal to ``word`` (0-based, code points); None if it does not tokenize."""
    out = set()
    try:
        for tok in tokenize.generate_tokens(io.StringIO(text).readline):
            if tok.type == tokenize.NAME and tok.string == word:
                out.add((tok.start[0] - 1, tok.start[1]))
    except (tokenize.TokenError, IndentationError, SyntaxError):
        return None
    return out


def grep_files(repo: Path, word: str, python_only: bool) -> list[str]:
    spec = ["--", "*.py", "*.pyi"] if python_only else []
    proc = run(["git", "grep", "-lw", "-I", "--untracked", word, *spec], cwd=repo)
    return sorted(proc.stdout.split())


def grep_count(repo: Path, word: str) -> int:
    proc = run(["git", "grep", "-cw", "-I", "--untracked", word], cwd=repo)
    return sum(int(line.rsplit(":", 1)[1]) for line in proc.stdout.splitlines() if ":" in line)


def occurrences(repo: Path, word: str) -> dict[str, Any]:
    """Code-token and text (string/comment) occurrences of ``word`` in the Python files of the tree."""
    code: set[tuple[str, int, int]] = set()
    text: set[tuple[str, int, int]] = set()
    pat = word_re(word)
    for rel in grep_files(repo, word, python_only=True):
        body = (repo / rel).read_text("utf-8", "replace")
        toks = code_tokens(body, word)
        for i, line in enumerate(body.split("\n")):
            for m in pat.finditer(line):
                pos = (rel, i, m.start())
                (code if toks is None or (i, m.start()) in toks else text).add(pos)
    return {"code": code, "text": text}


def renamed_positions(repo: Path, old: str, new: str) -> dict[str, Any]:
    """Where, in the original files, ``old`` became ``new``; and which changed files do not line up that way."""
    changed = [x for x in git(repo, "diff", "--name-only", "HEAD").split("\n") if x]
    untracked = [x for x in git(repo, "ls-files", "-o", "--exclude-standard").split("\n") if x]
    pat = word_re(new)
    positions: set[tuple[str, int, int]] = set()
    unaligned: list[str] = []
    for rel in changed:
        if not (repo / rel).is_file():
            unaligned.append(rel)
            continue
        before = run(["git", "show", f"HEAD:{rel}"], cwd=repo).stdout
        after = (repo / rel).read_text("utf-8", "replace")
        a_lines, b_lines = before.split("\n"), after.split("\n")
        if len(a_lines) != len(b_lines):
            unaligned.append(rel)
            continue
        ok = True
        for i, (a, b) in enumerate(zip(a_lines, b_lines, strict=False)):
            if a == b:
                continue
            cols, shift = [], 0
            for m in pat.finditer(b):
                cols.append(m.start() - shift)
                shift += len(new) - len(old)
            if pat.sub(old, b) != a:
                ok = False
                continue
            positions |= {(rel, i, c) for c in cols}
        if not ok:
            unaligned.append(rel)
    return {"changed": changed, "untracked": untracked, "positions": positions, "unaligned": unaligned}


def tree_digest(repo: Path) -> str:
    h = hashlib.sha256(git(repo, "diff", "HEAD", "--binary").encode())
    for rel in sorted(x for x in git(repo, "ls-files", "-o", "--exclude-standard").split("\n") if x):
        h.update(rel.encode() + b"\0" + (repo / rel).read_bytes())
    return h.hexdigest()


# -- checks ---------------------------------------------------------------------------

_SUMMARY = re.compile(r"(\d+) (passed|failed|errors?|skipped|xfailed|xpassed|deselected|warnings?)")


def run_tests(repo: Path, p: Project, timeout: float, pythonpath: str | None = None) -> dict[str, Any]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
    env.update(PYTHONDONTWRITEBYTECODE="1", PYTHONHASHSEED="0")
    if pythonpath:  # --no-dev-path: the tests still need the code; only the tools go without it
        env["PYTHONPATH"] = pythonpath
    argv = [
        str(venv_python()),
        "-m",
        "pytest",
        "-q",
        "-p",
        "no:cacheprovider",
        "--tb=no",
        "-rfE",
        "--hypothesis-seed=0",
        *p.tests,
    ]
    t0 = time.perf_counter()
    try:
        proc = run(argv, cwd=repo, timeout=timeout, env=env)
    except subprocess.TimeoutExpired:
        return {
            "exit": None,
            "timeout": True,
            "failed": [],
            "counts": {},
            "seconds": round(time.perf_counter() - t0, 1),
        }
    failed = sorted(
        {
            line.split(" ", 1)[1].split(" - ", 1)[0].strip()
            for line in proc.stdout.splitlines()
            if line.startswith(("FAILED ", "ERROR "))
        }
    )
    counts: Counter[str] = Counter()
    tail = [line for line in proc.stdout.splitlines() if line.strip()][-1:] or [""]
    for num, what in _SUMMARY.findall(tail[0]):
        counts[what.rstrip("s") if what.startswith(("error", "warning")) else what] += int(num)
    return {
        "exit": proc.returncode,
        "timeout": False,
        "failed": failed,
        "counts": dict(counts),
        "seconds": round(time.perf_counter() - t0, 1),
        "tail": tail[0][-300:],
    }


def tests_green(result: dict[str, Any], baseline: dict[str, Any]) -> bool:
    if result["timeout"] or result["exit"] not in (0, 1):
        return False
    new = set(result["failed"]) - set(baseline["failed"])
    return not new and result["counts"].get("passed", 0) >= baseline["passed_min"]


def run_diag(repo: Path, new: str | None = None, old: str | None = None) -> dict[str, Any]:
    argv = [
        *lanser_argv(),
        "--no-daemon",
        "--json",
        "--timeout",
        "300",
        "--python",
        str(venv_python()),
        "-w",
        str(repo),
        "diag",
    ]
    t0 = time.perf_counter()
    try:
        proc = run(argv, timeout=900)
    except subprocess.TimeoutExpired:
        return {"ok": False, "error": "timeout", "seconds": round(time.perf_counter() - t0, 1)}
    try:
        bundle = json.loads(proc.stdout)
    except json.JSONDecodeError:
        return {"ok": False, "error": f"exit {proc.returncode}, no JSON: {proc.stderr.strip()[-300:]}"}
    if bundle.get("status") != "ok":
        return {"ok": False, "error": (bundle.get("error") or {}).get("code"), "exit": proc.returncode}
    counts: Counter[str] = Counter()
    items: Counter[tuple[str, int, str, str]] = Counter()
    pat = word_re(new) if new else None
    for f in bundle["facts"]["diagnostics"]:
        for sev, num in f["counts"].items():
            counts[sev] += num
        for d in f["diagnostics"]:
            msg = d["message"]
            if pat is not None and old is not None:
                msg = pat.sub(old, msg)  # the same diagnostic, about the renamed name
            items[(f["path"], d["range"][0], str(d.get("code")), msg)] += 1
    return {
        "ok": True,
        "counts": dict(sorted(counts.items())),
        "items": items,
        "seconds": round(time.perf_counter() - t0, 1),
    }


def diag_delta(after: dict[str, Any], before: dict[str, Any]) -> dict[str, list[Any]]:
    new = after["items"] - before["items"]
    gone = before["items"] - after["items"]
    return {
        "new": [list(k) for k in sorted(new.elements())][:15],
        "gone": [list(k) for k in sorted(gone.elements())][:15],
    }


# -- the tools -------------------------------------------------------------------------


def run_lanser(repo: Path, selector: str, new: str, timeout: float) -> dict[str, Any]:
    argv = [
        *lanser_argv(),
        "--no-daemon",
        "--json",
        "--index-io",
        "utf-16",
        "--timeout",
        "120",
        "--python",
        str(venv_python()),
        "-w",
        str(repo),
        "rename",
        selector,
        new,
        "--apply",
    ]
    t0 = time.perf_counter()
    try:
        proc = run(argv, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"exit": None, "refused": "timeout", "applied": False, "seconds": timeout}
    seconds = round(time.perf_counter() - t0, 2)
    try:
        bundle = json.loads(proc.stdout)
    except json.JSONDecodeError:
        return {
            "exit": proc.returncode,
            "refused": "no-json",
            "applied": False,
            "seconds": seconds,
            "stderr": proc.stderr.strip()[-500:],
        }
    edits = bundle.get("edits") or {}
    error = bundle.get("error") or {}
    out: dict[str, Any] = {
        "exit": proc.returncode,
        "seconds": seconds,
        "status": bundle.get("status"),
        "refused": error.get("code") if bundle.get("status") != "ok" else None,
        "message": error.get("message"),
        "applied": bool(edits.get("applied")),
        "complete": edits.get("complete"),
        "missing": (edits.get("missing") or (error.get("details") or {}).get("missing") or [])[:20],
        "extra": (edits.get("extra") or (error.get("details") or {}).get("extra") or [])[:20],
        "proposed_files": sorted((edits.get("workspaceEdit") or {}).get("changes") or {})
        or sorted(
            {
                c.get("textDocument", {}).get("uri", "")
                for c in (edits.get("workspaceEdit") or {}).get("documentChanges") or []
            }
            - {""}
        ),
    }
    if out["refused"] is not None:
        out["applied"] = False
    return out


def run_rope(repo: Path, s: Sample, new: str, source_folder: str, timeout: float) -> dict[str, Any]:
    argv = [
        str(venv_python()),
        str(Path(__file__).resolve()),
        "--rope-worker",
        str(repo),
        s.path,
        str(s.line),
        str(s.col),
        new,
        source_folder,
    ]
    t0 = time.perf_counter()
    try:
        proc = run(argv, timeout=timeout, env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"})
    except subprocess.TimeoutExpired:
        return {"ok": False, "refused": "timeout", "applied": False, "seconds": timeout}
    seconds = round(time.perf_counter() - t0, 2)
    try:
        out: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    except (json.JSONDecodeError, IndexError):
        return {
            "ok": False,
            "refused": "crash",
            "applied": False,
            "seconds": seconds,
            "stderr": proc.stderr.strip()[-500:],
        }
    out["seconds"] = seconds
    out["refused"] = None if out["ok"] else out["error"]
    out["applied"] = bool(out["ok"])
    return out


def rope_worker(repo: str, rel: str, line: int, col: int, new: str, source_folder: str) -> None:
    """Runs under the bench venv: rename with rope and print one JSON line."""
    from rope.base.project import Project as RopeProject
    from rope.refactor.rename import Rename

    # A src/ layout must be named: rope's own search stops at the root when the root holds a
    # package (tests/), and the package then reached through sys.path is a second copy whose
    # names never match the ones being renamed (tests left untouched).
    prefs = {"source_folders": [source_folder]} if source_folder else {}
    project = RopeProject(repo, ropefolder=None, **prefs)
    try:
        res = project.get_resource(rel)
        lines = res.read().split("\n")
        offset = sum(len(x) + 1 for x in lines[:line]) + col
        rename = Rename(project, res, offset)
        old = rename.get_old_name()
        changes = rename.get_changes(new)
        changed = sorted(r.path for r in changes.get_changed_resources())
        project.do(changes)
        out: dict[str, Any] = {"ok": True, "old_name": old, "changed": changed}
    except Exception as exc:  # noqa: BLE001 - any refusal or crash is a result here
        out = {"ok": False, "error": type(exc).__name__, "message": str(exc)[:500]}
    finally:
        project.close()
    print(json.dumps(out))


# -- one symbol --------------------------------------------------------------------------


class Checker:
    """The checks on one renamed tree, cached by the tree's content (same edit, same verdict)."""

    def __init__(
        self,
        repo: Path,
        p: Project,
        baseline_tests: dict[str, Any],
        baseline_diag: dict[str, Any],
        test_timeout: float,
        pythonpath: str | None,
    ) -> None:
        self.repo, self.p, self.pythonpath = repo, p, pythonpath
        self.baseline_tests, self.baseline_diag = baseline_tests, baseline_diag
        self.test_timeout = test_timeout
        self.cache: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {}

    def check(self, old: str, new: str) -> dict[str, Any]:
        digest = tree_digest(self.repo)
        if digest not in self.cache:
            tests = run_tests(self.repo, self.p, self.test_timeout, self.pythonpath)
            diag = run_diag(self.repo, new, old)
            self.cache[digest] = (tests, diag)
            cached = False
        else:
            tests, diag = self.cache[digest]
            cached = True
        out: dict[str, Any] = {"tree": digest[:16], "checks_cached": cached}
        out["tests"] = {k: v for k, v in tests.items() if k != "tail"} | {"tail": tests.get("tail")}
        out["tests"]["new_failures"] = sorted(set(tests["failed"]) - set(self.baseline_tests["failed"]))[:20]
        out["tests_green"] = tests_green(tests, self.baseline_tests)
        if diag["ok"]:
            out["diag"] = {"counts": diag["counts"], "seconds": diag["seconds"], **diag_delta(diag, self.baseline_diag)}
            out["diag_unchanged"] = diag["counts"] == self.baseline_diag["counts"]
        else:
            out["diag"] = {k: v for k, v in diag.items() if k != "items"}
            out["diag_unchanged"] = None
        return out


def evaluate(
    repo: Path,
    s: Sample,
    new: str,
    before: dict[str, Any],
    checker: Checker,
    tool: dict[str, Any],
    truth: dict[str, Any] | None = None,
) -> dict[str, Any]:
    moved = renamed_positions(repo, s.name, new)
    tool["tree_changed"] = bool(moved["changed"] or moved["untracked"])
    if truth is not None:
        tool["truth"] = rename_truth.judge(
            truth, tool["tree_changed"], *rename_truth.renamed_positions(repo, s.name, new)
        )
    if tool["applied"] and not tool["tree_changed"]:
        tool["note"] = "reported success but changed nothing"
    if tool.get("refused") is None and not tool["applied"]:
        tool["refused"] = "no-change"
    if not tool["tree_changed"]:
        return tool
    after = occurrences(repo, s.name)
    pos = moved["positions"]
    tool["files_changed"] = moved["changed"] + moved["untracked"]
    tool["unaligned"] = moved["unaligned"]
    tool["renamed_code"] = sorted(pos & before["code"])
    tool["renamed_text"] = sorted(pos & before["text"])
    tool["renamed_other"] = sorted(pos - before["code"] - before["text"])
    tool["left_code"] = len(after["code"])
    tool["grep_after"] = grep_count(repo, s.name)
    tool["definition_renamed"] = (s.path, s.line, s.col) in pos
    tool["diff_head"] = git(repo, "diff", "HEAD", "-U1")[:3000]
    tool.update(checker.check(s.name, new))
    return tool


def bench_symbol(repo: Path, p: Project, s: Sample, checker: Checker, args: argparse.Namespace) -> dict[str, Any]:
    new = s.name + SUFFIX
    kind, selector = pick_selector(s.selectors)
    row: dict[str, Any] = {
        "path": s.path,
        "qualname": s.qualname,
        "kind": s.kind,
        "line": s.line + 1,
        "col": s.col + 1,
        "new_name": new,
        "selector_kind": kind,
        "selector": selector,
    }
    reset(repo)
    before = occurrences(repo, s.name)
    row["before"] = {"code": len(before["code"]), "text": len(before["text"]), "grep": grep_count(repo, s.name)}
    if grep_files(repo, new, python_only=False):
        row["skipped"] = f"{new} already occurs in the tree"
        return row
    truth = rename_truth.find(rename_truth.load("python"), p_key(p), selector)
    if truth is not None and truth["new"] != new:
        truth = None  # a truth is for one new name
    row["truth"] = truth
    row["lanser"] = evaluate(repo, s, new, before, checker, run_lanser(repo, selector, new, args.tool_timeout), truth)
    reset(repo)
    row["rope"] = evaluate(
        repo, s, new, before, checker, run_rope(repo, s, new, p.path_entry, args.tool_timeout), truth
    )
    reset(repo)
    for me, other in (("lanser", "rope"), ("rope", "lanser")):
        mine = {tuple(x) for k in ("renamed_code", "renamed_text") for x in row[me].get(k, [])}
        theirs = {tuple(x) for k in ("renamed_code", "renamed_text") for x in row[other].get(k, [])}
        if row[me]["tree_changed"]:
            row[me]["missed_vs_other"] = sorted(theirs - mine)[:20]
            row[me]["missed_vs_other_n"] = len(theirs - mine)
    return row


# -- tables --------------------------------------------------------------------------------


def tally(rows: list[dict[str, Any]], tool: str) -> dict[str, Any]:
    rs = [r[tool] for r in rows if tool in r]
    applied = [r for r in rs if r["tree_changed"]]
    refused = Counter(r["refused"] or "?" for r in rs if not r["tree_changed"])
    return {
        "attempted": len(rs),
        "refused": sum(refused.values()),
        "refused_by": dict(sorted(refused.items())),
        "applied": len(applied),
        "complete_self": sum(1 for r in applied if r.get("complete") is True) if tool == "lanser" else None,
        "none_left": sum(1 for r in applied if r.get("left_code") == 0),
        "missed_none_vs_other": sum(1 for r in applied if r.get("missed_vs_other_n", 0) == 0),
        "definition_renamed": sum(1 for r in applied if r.get("definition_renamed")),
        "green": sum(1 for r in applied if r.get("tests_green")),
        "diag_same": sum(1 for r in applied if r.get("diag_unchanged")),
        "all_good": sum(1 for r in applied if r.get("tests_green") and r.get("diag_unchanged")),
        "seconds_median": round(statistics.median([r["seconds"] for r in rs]), 2) if rs else None,
        **{k: sum(1 for r in rs if outcome(r) == k) for k in OUTCOMES},
    }


#: What became of one rename (issue 19): a silent partial one is the failure that must not happen.
OUTCOMES = ("complete", "refused", "partial", "broke")


def outcome(r: dict[str, Any]) -> str:
    """``refused``: the tree is unchanged.  ``partial``: changed, while a reference the other tool renamed
    was left, or an occurrence of the old name in code is left and the tests went red.  ``broke``:
    changed, nothing detectably left, but tests red or diagnostics changed.  ``complete``: the rest."""
    if not r.get("tree_changed"):
        return "refused"
    left = r.get("missed_vs_other_n", 0) > 0 or (r.get("left_code", 0) > 0 and not r.get("tests_green"))
    if left:
        return "partial"
    if not (r.get("tests_green") and r.get("diag_unchanged")):
        return "broke"
    return "complete"


def table(title: str, rows: list[dict[str, Any]]) -> str:
    a, b = tally(rows, "lanser"), tally(rows, "rope")

    def cell(t: dict[str, Any], key: str) -> str:
        v = t[key]
        if v is None:
            return "n/a"
        if key in ("attempted", "applied", "refused", "seconds_median", *OUTCOMES):
            return str(v)
        return f"{v}/{t['applied']}"

    lines = [f"{title}", f"{'':44} {'lanser':>14} {'rope':>14}", "-" * 74]
    labels = [
        ("attempted", "renames attempted"),
        ("refused", "refused (tree unchanged)"),
        ("applied", "applied (tree changed)"),
        ("definition_renamed", "  definition itself renamed"),
        ("complete_self", "  complete: tool's own check"),
        ("none_left", "  complete: no OLDNAME token left (rough)"),
        ("missed_none_vs_other", "  complete: missed none the other renamed"),
        ("green", "  tests still green"),
        ("diag_same", "  diagnostics unchanged"),
        ("all_good", "  green and diagnostics unchanged"),
        ("seconds_median", "median seconds per rename"),
        ("complete", "outcome: complete"),
        ("partial", "outcome: partial (must be 0)"),
        ("broke", "outcome: broke"),
    ]
    for key, label in labels:
        lines.append(f"{label:44} {cell(a, key):>14} {cell(b, key):>14}")
    for tool, t in (("lanser", a), ("rope", b)):
        if t["refused_by"]:
            lines.append(f"  {tool} refusals: " + ", ".join(f"{k} x{v}" for k, v in t["refused_by"].items()))
    return "\n".join(lines)


# -- main --------------------------------------------------------------------------------------


def p_key(p: Project) -> str:
    return next(k for k, v in PROJECTS.items() if v is p)


def truth_block(rows: list[dict[str, Any]]) -> str:
    """lanser's and rope's agreement with the hand-checked truth, over the rows that have one."""
    judged = [r for r in rows if r.get("truth")]
    if not judged:
        return "(no rename of this run has a hand-checked truth)"
    out = [f"against the hand-checked truth (bench/rename_truth.json), {len(judged)} renames"]
    for tool in ("lanser", "rope"):
        js = [r[tool]["truth"] for r in judged if "truth" in r.get(tool, {})]
        out.append(f"{tool}: " + rename_truth.summary(js).replace("\n", "\n  "))
        for r in judged:
            j = r.get(tool, {}).get("truth")
            if j and not j["agree"]:
                out.append(
                    f"    {r['selector']}: {j['kind']}"
                    + (f"; missed {', '.join(j['missed'][:6])}" if j["missed"] else "")
                    + (f"; extra {', '.join(j['extra'][:6])}" if j["extra"] else "")
                    + (f"; unaligned {', '.join(j['unaligned'][:3])}" if j["unaligned"] else "")
                )
    return "\n".join(out)


def bench_project(p: Project, args: argparse.Namespace) -> dict[str, Any]:
    t0 = time.perf_counter()
    repo = make_repo(p)
    set_dev_path(None if args.no_dev_path else repo, p)
    probe = run([str(venv_python()), "-c", f"import {p.module}; print({p.module}.__file__)"], cwd=ROOT)
    imported = probe.stdout.strip()
    if not args.no_dev_path and not imported.startswith(str(repo)):
        raise SystemExit(f"{p.name}: the bench venv imports {imported or probe.stderr.strip()[-200:]}, not {repo}")
    log(f"{p.name} {p.version}: baseline tests x2 and diagnostics on {repo}")
    pythonpath = str(repo / p.path_entry if p.path_entry else repo) if args.no_dev_path else None
    runs = [run_tests(repo, p, args.test_timeout, pythonpath) for _ in range(2)]
    reset(repo)
    baseline_tests = {
        "failed": sorted(set(runs[0]["failed"]) | set(runs[1]["failed"])),
        "passed_min": min(r["counts"].get("passed", 0) for r in runs),
        "runs": [{k: v for k, v in r.items()} for r in runs],
    }
    baseline_diag = run_diag(repo)
    if not baseline_diag["ok"]:
        raise SystemExit(f"{p.name}: baseline diagnostics failed: {baseline_diag}")
    log(
        f"  tests: {runs[0].get('tail')} ({runs[0]['seconds']} s); diagnostics {baseline_diag['counts']} "
        f"({baseline_diag['seconds']} s)"
    )
    checker = Checker(repo, p, baseline_tests, baseline_diag, args.test_timeout, pythonpath)
    rows = []
    picked = truth_samples(repo, p_key(p)) if args.truth else sample(repo, p, args.per_project, args.seed)
    for i, s in enumerate(picked, 1):
        row = bench_symbol(repo, p, s, checker, args)
        rows.append(row)
        brief = " | ".join(
            f"{tool}: "
            + (row[tool]["refused"] or "ok")
            + (
                f" green={row[tool].get('tests_green')} diag={row[tool].get('diag_unchanged')} "
                f"left={row[tool].get('left_code')} missed={row[tool].get('missed_vs_other_n')}"
                if row[tool]["tree_changed"]
                else ""
            )
            for tool in ("lanser", "rope")
            if tool in row
        )
        log(f"  [{i}] {s.path}:{s.line + 1} {s.qualname} ({s.kind}): {row.get('skipped') or brief}")
    reset(repo)
    set_dev_path(None, None)
    return {
        "project": p.name,
        "version": p.version,
        "repo": str(repo),
        "imported_from": imported,
        "baseline_tests": baseline_tests,
        "baseline_diag": {"counts": baseline_diag["counts"], "seconds": baseline_diag["seconds"]},
        "rows": rows,
        "seconds": round(time.perf_counter() - t0, 1),
    }


def _json_default(value: Any) -> Any:
    if isinstance(value, (set, tuple)):
        return sorted(value) if isinstance(value, set) else list(value)
    raise TypeError(type(value))


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--rope-worker"]:
        repo, rel, line, col, new, source_folder = argv[1:7]
        rope_worker(repo, rel, int(line), int(col), new, source_folder)
        return 0
    ap = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__.split("\n\n", 1)[1],
    )
    ap.add_argument("--per-project", type=int, default=20, metavar="N", help="symbols sampled per project (20)")
    ap.add_argument("--seed", type=int, default=20251125, help="sampling seed (20251125)")
    ap.add_argument(
        "--projects",
        default=",".join(PROJECTS),
        help=f"comma-separated, from {', '.join(f'{k} {v.version}' for k, v in PROJECTS.items())}",
    )
    ap.add_argument("--test-timeout", type=float, default=300, help="seconds for one test-suite run (300)")
    ap.add_argument("--tool-timeout", type=float, default=300, help="seconds for one rename (300)")
    ap.add_argument(
        "--no-dev-path",
        action="store_true",
        help="do not put the project's source root on the bench venv's sys.path (the tools "
        "then see an uninstalled checkout; the tests get it through PYTHONPATH)",
    )
    ap.add_argument("--out", type=Path, help="JSON results path (default bench/results/rename-<time>.json)")
    ap.add_argument(
        "--truth",
        action="store_true",
        help="rename exactly the definitions bench/rename_truth.json has a truth for (of --projects, "
        "default: the truth's projects) instead of a random sample",
    )
    args = ap.parse_args(argv)
    if args.truth and not any(a.startswith("--projects") for a in argv):
        args.projects = ",".join(dict.fromkeys(e["project"] for e in rename_truth.load("python")))
    names = [x.strip() for x in args.projects.split(",") if x.strip()]
    unknown = [x for x in names if x not in PROJECTS]
    if unknown:
        ap.error(f"unknown project(s): {', '.join(unknown)}")
    sys.path.insert(0, str(ROOT))
    started = dt.datetime.now(dt.UTC)
    t0 = time.perf_counter()
    ensure_venv()
    results = [bench_project(PROJECTS[n], args) for n in names]
    lanser_rev = run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT).stdout.strip()
    dirty = bool(run(["git", "status", "--porcelain", "--", "lanser"], cwd=ROOT).stdout.strip())
    header = [
        f"lanser rename vs rope  {started.isoformat(timespec='seconds')}",
        f"command:  {Path(sys.executable).name} bench/rename.py {' '.join(argv)}".rstrip(),
        f"lanser {lanser_rev}{' + uncommitted changes in lanser/' if dirty else ''}; rope "
        f"{run([str(venv_python()), '-c', 'import rope; print(rope.VERSION)']).stdout.strip()}; "
        f"python {platform.python_version()}; "
        f"{'the truth sample' if args.truth else f'seed {args.seed}; {args.per_project} per project'}"
        f"{'; no dev path' if args.no_dev_path else ''}",
    ]
    blocks = ["\n".join(header)]
    for r in results:
        b = r["baseline_tests"]
        blocks.append(
            table(
                f"{r['project']} {r['version']}  (baseline: {b['runs'][0].get('tail')}; "
                f"diagnostics {r['baseline_diag']['counts']})",
                r["rows"],
            )
        )
    every = [row for r in results for row in r["rows"]]
    blocks.append(table("overall", every))
    blocks.append(truth_block(every))
    elapsed = round(time.perf_counter() - t0, 1)
    blocks.append(f"(counts under 'applied' are out of the renames that changed the tree; total {elapsed} s)")
    text = "\n\n".join(blocks)
    print(text)
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = args.out or RESULTS / f"rename-{started.strftime('%Y%m%dT%H%M%S')}.json"
    summary = {r["project"]: {"lanser": tally(r["rows"], "lanser"), "rope": tally(r["rows"], "rope")} for r in results}
    summary["overall"] = {"lanser": tally(every, "lanser"), "rope": tally(every, "rope")}
    out.write_text(
        json.dumps(
            {
                "date": started.isoformat(timespec="seconds"),
                "argv": argv,
                "seed": args.seed,
                "per_project": args.per_project,
                "lanser": lanser_rev,
                "lanser_dirty": dirty,
                "seconds": elapsed,
                "summary": summary,
                "projects": results,
                "table": text,
            },
            indent=1,
            default=_json_default,
        )
        + "\n"
    )
    log(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
