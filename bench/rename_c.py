"""C rename benchmark: lanser rename on a real C library, judged by its own build (issue 19).

The project is the Brotli C library from its PyPI sdist (the same pinned
archive the integration tests use, cached under ~/.cache/lanser-tests),
unpacked into a git repository with a compilation database.  Sample
``--per-project`` file-scope functions, variables, macros and enum values
of the library (fixed ``--seed``), rename each to ``<name>_renamed`` with
``lanser --no-daemon --json rename c://FILE#NAME NEW --apply`` on a fresh
tree, then judge:

* **refused** -- the tree is unchanged (with lanser's error code);
* **partial** -- changed, but a code token of the old name that named
  the symbol is left (tree-sitter tokens, strings and comments excluded;
  an occurrence is counted only when the untouched tree had no other
  file-scope definition of that name), or the library no longer builds
  in the second configuration (the build below);
* **broke** -- changed, nothing left, but the build fails;
* **complete** -- changed, nothing left, the build passes.

The build compiles every ``.c`` of ``c/common``, ``c/dec``, ``c/enc`` and
``c/tools/brotli.c`` and links the ``brotli`` tool, then round-trips a
file through it; a second configuration compiles with
``-DBROTLI_BUILD_PORTABLE -DBROTLI_BUILD_NO_RBIT`` (preprocessor
branches clangd does not see with the database's flags).

    .venv/bin/python bench/rename_c.py [--per-project 10] [--seed 20251207]

The table goes to stdout, progress to stderr, every sample to
bench/results/rename-c-<time>.json (gitignored).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import random
import shutil
import subprocess
import sys
import tarfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
WORK = Path.home() / ".cache" / "lanser-bench" / "rename-c-work"
SUFFIX = "_renamed"
KINDS = ("function", "variable", "macro", "enumerator", "prototype")
#: A second configuration: the portable code paths of platform.h, which clangd (default flags) does not see.
ALT = ("-DBROTLI_BUILD_PORTABLE", "-DBROTLI_BUILD_NO_RBIT")
OUTCOMES = ("complete", "refused", "partial", "broke")
GIT = ["git", "-c", "user.email=bench@lanser.invalid", "-c", "user.name=lanser-bench", "-c", "commit.gpgsign=false"]


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def make_repo() -> Path:
    sys.path.insert(0, str(ROOT / "tests" / "integration"))
    import conftest  # the pinned sdist and its compilation database, shared with the tests

    sdist = conftest.fetch_sdist(*conftest.C_SDIST)
    if WORK.exists():
        shutil.rmtree(WORK)
    WORK.mkdir(parents=True)
    with tarfile.open(sdist) as tar:
        tar.extractall(WORK / "unpacked", filter="data")
    (top,) = (WORK / "unpacked").iterdir()
    repo = WORK / "brotli"
    top.rename(repo)
    conftest.write_cdb(repo, repo, absolute=False)
    subprocess.run([*GIT, "init", "-q"], cwd=repo, check=True)
    subprocess.run([*GIT, "add", "-A"], cwd=repo, check=True)
    subprocess.run([*GIT, "commit", "-qm", "brotli sdist"], cwd=repo, check=True)
    return repo


def reset(repo: Path) -> None:
    subprocess.run(["git", "checkout", "-q", "--", "."], cwd=repo, check=True)
    subprocess.run(["git", "clean", "-fdxq", "-e", ".cache"], cwd=repo, check=True)


def sources(repo: Path) -> list[str]:
    out = []
    for sub in ("c/common", "c/dec", "c/enc"):
        out += sorted(p.relative_to(repo).as_posix() for p in (repo / sub).glob("*.[ch]"))
    return out


def build(repo: Path, *defines: str) -> bool:
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        raise SystemExit("a C compiler is needed")
    files = [f for f in sources(repo) if f.endswith(".c")] + ["c/tools/brotli.c"]
    exe = WORK / "brotli-tool"
    proc = subprocess.run([cc, "-O0", "-w", *defines, "-Ic/include", "-o", str(exe), *files, "-lm"],
                          cwd=repo, capture_output=True, text=True, timeout=600)
    if proc.returncode != 0:
        return False
    sample = WORK / "sample.txt"
    sample.write_bytes((ROOT / "README.md").read_bytes())
    packed = subprocess.run([str(exe), "-c", "-f", str(sample)], capture_output=True, timeout=120)
    if packed.returncode != 0:
        return False
    back = subprocess.run([str(exe), "-d", "-c"], input=packed.stdout, capture_output=True, timeout=120)
    return back.returncode == 0 and back.stdout == sample.read_bytes()


def definitions(repo: Path) -> list[tuple[str, str, str]]:
    """(path, name, kind) of every file-scope definition of the library, by tree-sitter."""
    from lanser.syntax import c

    out = []
    for rel in sources(repo):
        for d in c.symbols(c.parse((repo / rel).read_bytes())):
            if d.kind in KINDS and "." not in d.qualname:
                out.append((rel, d.qualname, d.kind))
    return out


def code_tokens(repo: Path, name: str) -> int:
    from lanser.edits.completeness import scan

    n = 0
    for rel in [*sources(repo), "c/tools/brotli.c"] + sorted(
            p.relative_to(repo).as_posix() for p in (repo / "c" / "include").rglob("*.h")):
        n += sum(1 for o in scan("c", rel, (repo / rel).read_bytes(), name) if o.kind in ("code", "macro"))
    return n


def run_lanser(repo: Path, rel: str, name: str, new: str, timeout: float) -> dict[str, Any]:
    argv = [sys.executable, "-c", "from lanser.cli.main import main; main()", "--no-daemon", "--json",
            "-w", str(repo), "rename", f"c://{rel}#{name}", new, "--apply"]
    t0 = time.perf_counter()
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"refused": "timeout", "seconds": timeout}
    seconds = round(time.perf_counter() - t0, 1)
    try:
        bundle = json.loads(proc.stdout)
    except json.JSONDecodeError:
        return {"refused": "no-json", "seconds": seconds, "stderr": proc.stderr[-500:]}
    error = bundle.get("error") or {}
    edits = bundle.get("edits") or {}
    return {"exit": proc.returncode, "seconds": seconds, "refused": error.get("code"),
            "message": (error.get("message") or "")[:300], "complete": edits.get("complete"),
            "occurrences": edits.get("occurrences"), "branches": edits.get("branches"),
            "unexplained": [u.get("selector") for u in (error.get("details") or {}).get("unexplained") or []][:10]}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--per-project", type=int, default=10)
    ap.add_argument("--seed", type=int, default=20251207)
    ap.add_argument("--kinds", default="function,variable,enumerator,prototype",
                    help=f"kinds to sample, from {','.join(KINDS)} (clangd refuses every macro: 72)")
    ap.add_argument("--tool-timeout", type=float, default=600)
    ap.add_argument("--out", type=Path)
    ap.add_argument("--truth", action="store_true",
                    help="rename exactly the definitions bench/rename_truth.json has a truth for")
    args = ap.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    sys.path.insert(0, str(ROOT / "bench"))
    import rename_truth

    truths = [e for e in rename_truth.load("c") if e["project"] == "brotli"]
    started = dt.datetime.now(dt.timezone.utc)
    repo = make_repo()
    if not build(repo) or not build(repo, *ALT):
        raise SystemExit("the untouched tree does not build")
    defs = definitions(repo)
    counts = Counter(name for _, name, _ in defs)
    kinds = set(args.kinds.split(","))
    pool = sorted({(rel, name, kind) for rel, name, kind in defs
                   if kind in kinds and (counts[name] == 1 or kind == "function")})
    picked = sorted(random.Random(args.seed).sample(pool, min(args.per_project, len(pool))))
    if args.truth:
        wanted = {tuple(e["selector"][len("c://"):].split("#", 1)) for e in truths}
        picked = sorted({x for x in defs if (x[0], x[1]) in wanted})
    log(f"brotli: {len(pool)} candidate definitions, {len(picked)} sampled")
    rows = []
    for i, (rel, name, kind) in enumerate(picked, 1):
        reset(repo)
        new = name + SUFFIX
        before = code_tokens(repo, name)
        row: dict[str, Any] = {"path": rel, "name": name, "kind": kind, "before": before}
        row["lanser"] = r = run_lanser(repo, rel, name, new, args.tool_timeout)
        changed = bool(subprocess.run(["git", "status", "--porcelain"], cwd=repo, capture_output=True,
                                      text=True).stdout.strip())
        truth = rename_truth.find(truths, "brotli", f"c://{rel}#{name}")
        if truth is not None and truth["new"] == new:
            r["truth"] = rename_truth.judge(truth, changed, *rename_truth.renamed_positions(repo, name, new))
        if not changed:
            row["outcome"] = "refused"
        else:
            left = code_tokens(repo, name) if counts[name] == 1 else 0
            builds = build(repo) and build(repo, *ALT)
            row.update(left=left, builds=builds)
            row["outcome"] = "partial" if left or (not builds and r.get("complete")) else (
                "complete" if builds else "broke")
        log(f"  [{i}] {rel} {name} ({kind}): {row['outcome']} {r.get('refused') or ''} "
            f"{r.get('seconds')} s {r.get('message') if row['outcome'] == 'refused' else ''}")
        rows.append(row)
    reset(repo)
    tally = Counter(row["outcome"] for row in rows)
    text = (f"lanser C rename on brotli 1.1.0  {started.isoformat(timespec='seconds')}  "
            f"{'the truth sample' if args.truth else f'seed {args.seed}'}\n"
            + "\n".join(f"  {k:10} {tally.get(k, 0)}" for k in OUTCOMES)
            + f"\n  refused by: {dict(Counter(r['lanser'].get('refused') for r in rows if r['outcome'] == 'refused'))}")
    judged = [(row, row["lanser"]["truth"]) for row in rows if "truth" in row["lanser"]]
    if judged:
        text += "\n" + rename_truth.summary([j for _, j in judged])
        for row, j in judged:
            if not j["agree"]:
                text += (f"\n    c://{row['path']}#{row['name']}: {j['kind']}"
                         + (f"; missed {', '.join(j['missed'][:6])}" if j["missed"] else "")
                         + (f"; extra {', '.join(j['extra'][:6])}" if j["extra"] else ""))
    print(text)
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = args.out or RESULTS / f"rename-c-{started.strftime('%Y%m%dT%H%M%S')}.json"
    out.write_text(json.dumps({"date": started.isoformat(timespec="seconds"), "seed": args.seed, "rows": rows,
                               "table": text}, indent=1) + "\n")
    log(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
