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

    .venv/bin/python bench/rename_c.py [--per-project 10] [--seed 20251207] [--project brotli]

``--project cjson`` takes cJSON 1.7.15 as Debian 12 ships it (the source
package ``cjson=1.7.15-1+deb12u4``, fetched with ``apt-get source`` through
lanser's task sources and pinned by the ``.dsc``'s sha256): the sample is
drawn from ``cJSON.c`` and ``cJSON_Utils.c``; the build compiles the
library with its demo ``test.c`` and runs its 21 Unity test programs
(``tests/*.c``; they ``#include "../cJSON.c"`` and call its static
functions), once as is and once with ``-DENABLE_LOCALES``.

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


#: The C projects: brotli (PyPI sdist) and cjson (Debian source package), see the module docstring.
PROJECT = "brotli"
CJSON = ("debian:cjson=1.7.15-1+deb12u4", "764c2de141d680f4fb4cada30c526dacaa30ead061b9b9c34f2b81e2df0f8439")
CJSON_ALT = ("-DENABLE_LOCALES",)
CJSON_WORK = Path.home() / ".cache" / "lanser-bench" / "rename-c-work-cjson"
CJSON_UNITY = (
    "parse_examples",
    "parse_number",
    "parse_hex4",
    "parse_string",
    "parse_array",
    "parse_object",
    "parse_value",
    "print_string",
    "print_number",
    "print_array",
    "print_object",
    "print_value",
    "misc_tests",
    "parse_with_opts",
    "compare_tests",
    "cjson_add",
    "readme_examples",
    "minify_tests",
)
CJSON_UTILS_TESTS = ("json_patch_tests", "old_utils_tests", "misc_utils_tests")


def alt() -> tuple[str, ...]:
    return CJSON_ALT if PROJECT == "cjson" else ALT


def make_repo() -> Path:
    if PROJECT == "cjson":
        return make_cjson_repo()
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


def make_cjson_repo() -> Path:
    from lanser.harness.task.sources import materialize
    from lanser.harness.task.spec import Source

    tree = materialize(Source.parse(*CJSON), CJSON_WORK, cache=Path.home() / ".cache" / "lanser-tests" / "sources")
    if CJSON_WORK.exists():
        shutil.rmtree(CJSON_WORK)
    CJSON_WORK.mkdir(parents=True)
    repo = CJSON_WORK / "cjson"
    shutil.copytree(tree, repo, copy_function=shutil.copyfile)
    shutil.rmtree(repo / ".pc", ignore_errors=True)  # dpkg-source's patch state: not the project's
    files = ["cJSON.c", "cJSON_Utils.c", "test.c"] + [f"tests/{t}.c" for t in CJSON_UNITY + CJSON_UTILS_TESTS]
    (repo / "compile_commands.json").write_text(
        json.dumps([{"directory": ".", "file": f, "arguments": ["cc", "-std=c89", "-c", f]} for f in files], indent=1)
        + "\n"
    )
    subprocess.run([*GIT, "init", "-q"], cwd=repo, check=True)
    subprocess.run([*GIT, "add", "-A"], cwd=repo, check=True)
    subprocess.run([*GIT, "commit", "-qm", "cjson 1.7.15-1+deb12u4 (Debian 12)"], cwd=repo, check=True)
    return repo


def reset(repo: Path) -> None:
    subprocess.run(["git", "checkout", "-q", "--", "."], cwd=repo, check=True)
    subprocess.run(["git", "clean", "-fdxq", "-e", ".cache"], cwd=repo, check=True)


def sources(repo: Path) -> list[str]:
    if PROJECT == "cjson":
        return ["cJSON.c", "cJSON.h", "cJSON_Utils.c", "cJSON_Utils.h"]
    out = []
    for sub in ("c/common", "c/dec", "c/enc"):
        out += sorted(p.relative_to(repo).as_posix() for p in (repo / sub).glob("*.[ch]"))
    return out


def build(repo: Path, *defines: str) -> bool:
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        raise SystemExit("a C compiler is needed")
    if PROJECT == "cjson":
        return build_cjson(repo, cc, defines)
    files = [f for f in sources(repo) if f.endswith(".c")] + ["c/tools/brotli.c"]
    exe = WORK / "brotli-tool"
    proc = subprocess.run(
        [cc, "-O0", "-w", *defines, "-Ic/include", "-o", str(exe), *files, "-lm"],
        cwd=repo,
        capture_output=True,
        text=True,
        timeout=600,
    )
    if proc.returncode != 0:
        return False
    sample = WORK / "sample.txt"
    sample.write_bytes((ROOT / "README.md").read_bytes())
    packed = subprocess.run([str(exe), "-c", "-f", str(sample)], capture_output=True, timeout=120)
    if packed.returncode != 0:
        return False
    back = subprocess.run([str(exe), "-d", "-c"], input=packed.stdout, capture_output=True, timeout=120)
    return back.returncode == 0 and back.stdout == sample.read_bytes()


def build_cjson(repo: Path, cc: str, defines: tuple[str, ...]) -> bool:
    """The library and its demo program, then every Unity test program run from tests/ (its inputs)."""
    out = CJSON_WORK / "cjson-bin"
    out.mkdir(exist_ok=True)

    def compile_run(exe: str, files: list[str], cwd: Path) -> bool:
        proc = subprocess.run(
            [cc, "-std=c89", "-O0", "-w", *defines, "-o", str(out / exe), *files, "-lm"],
            cwd=repo,
            capture_output=True,
            text=True,
            timeout=600,
        )
        if proc.returncode != 0:
            return False
        return subprocess.run([str(out / exe)], cwd=cwd, capture_output=True, timeout=300).returncode == 0

    if not compile_run("demo", ["cJSON.c", "cJSON_Utils.c", "test.c"], repo):
        return False
    for t in CJSON_UNITY + CJSON_UTILS_TESTS:
        extra = ["cJSON_Utils.c"] if t in CJSON_UTILS_TESTS else []
        if not compile_run(t, [f"tests/{t}.c", "tests/unity/src/unity.c", *extra], repo / "tests"):
            return False
    return True


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
    scanned = (
        [*sources(repo), "test.c"] + sorted(p.relative_to(repo).as_posix() for p in (repo / "tests").glob("*.[ch]"))
        if PROJECT == "cjson"
        else [*sources(repo), "c/tools/brotli.c"]
        + sorted(p.relative_to(repo).as_posix() for p in (repo / "c" / "include").rglob("*.h"))
    )
    for rel in scanned:
        n += sum(1 for o in scan("c", rel, (repo / rel).read_bytes(), name) if o.kind in ("code", "macro"))
    return n


def run_lanser(repo: Path, rel: str, name: str, new: str, timeout: float) -> dict[str, Any]:
    argv = [
        sys.executable,
        "-c",
        "from lanser.cli.main import main; main()",
        "--no-daemon",
        "--json",
        "-w",
        str(repo),
        "rename",
        f"c://{rel}#{name}",
        new,
        "--apply",
    ]
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
    return {
        "exit": proc.returncode,
        "seconds": seconds,
        "refused": error.get("code"),
        "message": (error.get("message") or "")[:300],
        "complete": edits.get("complete"),
        "occurrences": edits.get("occurrences"),
        "branches": edits.get("branches"),
        "index": edits.get("index"),
        "unexplained": [u.get("selector") for u in (error.get("details") or {}).get("unexplained") or []][:10],
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--per-project", type=int, default=10)
    ap.add_argument("--seed", type=int, default=20251207)
    ap.add_argument(
        "--kinds",
        default="function,variable,enumerator,prototype",
        help=f"kinds to sample, from {','.join(KINDS)} (clangd refuses every macro: 72)",
    )
    ap.add_argument("--tool-timeout", type=float, default=600)
    ap.add_argument("--out", type=Path)
    ap.add_argument("--project", choices=("brotli", "cjson"), default="brotli")
    ap.add_argument(
        "--truth", action="store_true", help="rename exactly the definitions bench/rename_truth.json has a truth for"
    )
    args = ap.parse_args(argv)
    global PROJECT
    PROJECT = args.project
    sys.path.insert(0, str(ROOT))
    sys.path.insert(0, str(ROOT / "bench"))
    import rename_truth

    truths = [e for e in rename_truth.load("c") if e["project"] == PROJECT]
    started = dt.datetime.now(dt.UTC)
    repo = make_repo()
    if not build(repo) or not build(repo, *alt()):
        raise SystemExit("the untouched tree does not build")
    defs = definitions(repo)
    counts = Counter(name for _, name, _ in defs)
    kinds = set(args.kinds.split(","))
    pool = sorted(
        {(rel, name, kind) for rel, name, kind in defs if kind in kinds and (counts[name] == 1 or kind == "function")}
    )
    picked = sorted(random.Random(args.seed).sample(pool, min(args.per_project, len(pool))))
    if args.truth:
        wanted = {tuple(e["selector"][len("c://") :].split("#", 1)) for e in truths}
        picked = sorted({x for x in defs if (x[0], x[1]) in wanted})
    log(f"{PROJECT}: {len(pool)} candidate definitions, {len(picked)} sampled")
    rows = []
    for i, (rel, name, kind) in enumerate(picked, 1):
        reset(repo)
        new = name + SUFFIX
        before = code_tokens(repo, name)
        row: dict[str, Any] = {"path": rel, "name": name, "kind": kind, "before": before}
        row["lanser"] = r = run_lanser(repo, rel, name, new, args.tool_timeout)
        changed = bool(
            subprocess.run(["git", "status", "--porcelain"], cwd=repo, capture_output=True, text=True).stdout.strip()
        )
        truth = rename_truth.find(truths, PROJECT, f"c://{rel}#{name}")
        if truth is not None and truth["new"] == new:
            r["truth"] = rename_truth.judge(truth, changed, *rename_truth.renamed_positions(repo, name, new))
        if not changed:
            row["outcome"] = "refused"
        else:
            left = code_tokens(repo, name) if counts[name] == 1 else 0
            builds = build(repo) and build(repo, *alt())
            row.update(left=left, builds=builds)
            row["outcome"] = (
                "partial" if left or (not builds and r.get("complete")) else ("complete" if builds else "broke")
            )
        log(
            f"  [{i}] {rel} {name} ({kind}): {row['outcome']} {r.get('refused') or ''} "
            f"{r.get('seconds')} s {r.get('message') if row['outcome'] == 'refused' else ''}"
        )
        rows.append(row)
    reset(repo)
    tally = Counter(row["outcome"] for row in rows)
    label = "cjson 1.7.15-1+deb12u4" if PROJECT == "cjson" else "brotli 1.1.0"
    text = (
        f"lanser C rename on {label}  {started.isoformat(timespec='seconds')}  "
        f"{'the truth sample' if args.truth else f'seed {args.seed}'}\n"
        + "\n".join(f"  {k:10} {tally.get(k, 0)}" for k in OUTCOMES)
        + f"\n  refused by: {dict(Counter(r['lanser'].get('refused') for r in rows if r['outcome'] == 'refused'))}"
    )
    judged = [(row, row["lanser"]["truth"]) for row in rows if "truth" in row["lanser"]]
    if judged:
        text += "\n" + rename_truth.summary([j for _, j in judged])
        for row, j in judged:
            if not j["agree"]:
                text += (
                    f"\n    c://{row['path']}#{row['name']}: {j['kind']}"
                    + (f"; missed {', '.join(j['missed'][:6])}" if j["missed"] else "")
                    + (f"; extra {', '.join(j['extra'][:6])}" if j["extra"] else "")
                )
    print(text)
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = args.out or RESULTS / f"rename-c-{PROJECT}-{started.strftime('%Y%m%dT%H%M%S')}.json"
    out.write_text(
        json.dumps(
            {"date": started.isoformat(timespec="seconds"), "seed": args.seed, "rows": rows, "table": text}, indent=1
        )
        + "\n"
    )
    log(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
