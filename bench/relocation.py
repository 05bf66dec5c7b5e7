"""Relocation benchmark: do lanser selectors still find a symbol one release later?

For each consecutive pair of real releases (N, N+1) of a few PyPI projects
(pure Python, plus one C project shipped as an sdist), sample definitions
of release N, take the selectors lanser mints for each one in release N
(``lanser.selectors.mint``: unique where they are made)

* ``symbol``   -- ``py://pkg.mod#Class.method`` / ``c://path/file.c#func``,
  ``?overload=<i>`` when the qualname is defined more than once in the file
* ``ast``      -- ``ast://[module=pkg.mod]/[class=C]/[def=m]`` / ``ast://[file=..]/[function=f]``
* ``anchor``   -- ``anchor://path#"<definition's first line, stripped, grown until unique>"``
* ``baseline`` -- ``path@L<line>:C<col>``, the name's minted cursor in release N

plus, for comparison, the hand-built selectors of the first version of
this benchmark

* ``symbol_plain`` -- the symbol selector without ``?overload``
* ``anchor_line``  -- ``anchor://path#"<the line holding the name, stripped>"``

and resolve each purely (``lanser.resolve.resolve_target``, no language
server) against release N+1.  Where lanser cannot mint a kind for a
definition (an AST path for one of two same-kind definitions of a
qualname, say) the hand-built selector stands in and fails honestly.
Outcomes: ``same`` (lands on the definition of the same qualified name in
N+1; ``same, strict``: the same occurrence among same-named definitions),
``wrong``, ``ambiguous``, ``not_found``.
Ground truth is the same qualname, found with ``lanser.syntax.definitions``
in the same module (Python) or file (C) of N+1; samples whose qualname is
gone are excluded from the denominator and counted as ``gone``.

    .venv/bin/python bench/relocation.py [--max-per-pair 300] [--seed 20240501]

Sdists are downloaded with ``pip download`` into ~/.cache/lanser-bench and
unpacked there; JSON results go to bench/results/.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import random
import sys
import time
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sdist import fetch  # noqa: E402  (bench/sdist.py, importable once its directory is on the path)

from lanser.errors import Ambiguous, NotFound  # noqa: E402
from lanser.resolve import resolve_target  # noqa: E402
from lanser.selectors.mint import mint  # noqa: E402
from lanser.selectors.parse import escape, parse_selector  # noqa: E402
from lanser.syntax import SymbolDef, definitions, to_codepoints  # noqa: E402
from lanser.workspace import Workspace  # noqa: E402

RESULTS = ROOT / "bench" / "results"
KINDS = ("symbol", "symbol_plain", "ast", "anchor", "anchor_line", "baseline")
#: Where a row's selector comes from lanser.selectors.mint (the others are hand-built).
MINTED = {"symbol": "symbol", "ast": "ast", "anchor": "anchor", "baseline": "cursor"}
OUTCOMES = ("same", "wrong", "ambiguous", "not_found")
TARGETS = {"symbol": 0.99, "anchor": 0.95}

#: (project, language, consecutive releases, directories holding the sources)
PROJECTS: list[tuple[str, str, list[str], tuple[str, ...]]] = [
    ("attrs", "python", ["22.2.0", "23.1.0", "23.2.0"], ("",)),
    ("click", "python", ["8.1.5", "8.1.6", "8.1.7"], ("",)),
    ("requests", "python", ["2.30.0", "2.31.0", "2.32.0"], ("",)),
    ("brotli", "c", ["1.0.9", "1.1.0"], ("c/",)),
]
_NOT_LIBRARY = {"tests", "test", "testing", "docs", "doc", "examples", "benchmarks", "bench", "scripts", "tools"}


# -- data ---------------------------------------------------------------------


def python_files(root: Path) -> dict[str, str]:
    """Library modules of an sdist: ``{module name: relative path}`` (flat and src/ layouts)."""
    out: dict[str, str] = {}
    for base in ("", "src/"):
        bdir = root / base if base else root
        if not bdir.is_dir():
            continue
        for top in sorted(bdir.iterdir()):
            if not top.is_dir() or top.name in _NOT_LIBRARY or not (top / "__init__.py").is_file():
                continue
            for f in sorted(top.rglob("*.py")):
                parts = f.relative_to(bdir).with_suffix("").parts
                # every directory on the way must be a package
                if any(not (bdir.joinpath(*parts[:i]) / "__init__.py").is_file() for i in range(1, len(parts))):
                    continue
                if parts[-1] == "__init__":
                    parts = parts[:-1]
                out.setdefault(".".join(parts), f.relative_to(root).as_posix())
    return out


def c_files(root: Path, dirs: tuple[str, ...]) -> dict[str, str]:
    out = {}
    for d in dirs:
        for f in sorted((root / d).rglob("*")):
            if f.suffix in (".c", ".h") and f.is_file():
                rel = f.relative_to(root).as_posix()
                out[rel] = rel
    return out


# -- samples ------------------------------------------------------------------


@dataclass
class Sample:
    unit: str  # module (Python) or file (C)
    path: str  # file in release N
    qualname: str
    kind: str
    name_point: tuple[int, int]  # code points, release N
    line_text: str
    occurrence: int  # index among same-qualname definitions of the file
    duplicates: int  # how many definitions share the qualname in N
    col16: int  # the name's column in UTF-16 code units (the --index-io used here)
    sym: SymbolDef  # the definition itself, to mint for


def _defs(root: Path, rel: str, language: str) -> tuple[list[SymbolDef], list[bytes]]:
    data = (root / rel).read_bytes()
    return definitions(language, data), data.split(b"\n")


def sample_pair(root: Path, language: str, units: dict[str, str], n: int, seed: int) -> list[Sample]:
    pool: list[Sample] = []
    for unit, rel in sorted(units.items()):
        defs, lines = _defs(root, rel, language)
        seen: Counter[str] = Counter()
        counts = Counter(d.qualname for d in defs)
        for d in defs:
            pt = to_codepoints(lines, d.name[0])
            raw = lines[pt[0]].decode("utf-8", "replace").rstrip("\r")
            col16 = len(raw[: pt[1]].encode("utf-16-le")) // 2
            pool.append(
                Sample(unit, rel, d.qualname, d.kind, pt, raw.strip(), seen[d.qualname], counts[d.qualname], col16, d)
            )
            seen[d.qualname] += 1
    rng = random.Random(seed)
    return sorted(rng.sample(pool, min(n, len(pool))), key=lambda s: (s.path, s.name_point))


# -- selectors ------------------------------------------------------------------

_PY_STEP = {"class": "class", "function": "def", "method": "def", "property": "def", "variable": "var"}
_C_STEP = {
    "function": "function",
    "prototype": "function",
    "struct": "struct",
    "union": "union",
    "enum": "enum",
    "typedef": "typedef",
    "macro": "macro",
    "variable": "var",
    "field": "field",
    "enumerator": "field",
}


def selectors(s: Sample, language: str, defs_by_qual: dict[str, SymbolDef]) -> dict[str, str]:
    if language == "python":
        symbol = f"py://{s.unit}#{s.qualname}"
        parts = s.qualname.split(".")
        steps = [f"[module={s.unit}]"]
        for i in range(1, len(parts) + 1):
            prefix = ".".join(parts[:i])
            kind = s.kind if i == len(parts) else (defs_by_qual[prefix].kind if prefix in defs_by_qual else "class")
            steps.append(f"[{_PY_STEP.get(kind, 'def')}={parts[i - 1]}]")
    else:
        symbol = f"c://{escape(s.path)}#{s.qualname}"
        steps = [f"[file={_step_escape(s.path)}]"]
        parts = s.qualname.split(".")
        if len(parts) == 2:  # struct.field / enum.enumerator
            parent = defs_by_qual.get(parts[0])
            steps.append(
                f"[{parent.kind if parent is not None and parent.kind in ('struct', 'union', 'enum') else 'struct'}={parts[0]}]"
            )
        steps.append(f"[{_C_STEP.get(s.kind, 'var')}={parts[-1]}]")
    line = s.name_point[0]
    return {
        "symbol": symbol,
        "symbol_plain": symbol,
        "ast": "ast://" + "/".join(steps),
        "anchor": f'anchor://{escape(s.path)}#"{escape(s.line_text)}"',
        "anchor_line": f'anchor://{escape(s.path)}#"{escape(s.line_text)}"',
        "baseline": f"{escape(s.path)}@L{line + 1}:C{s.col16 + 1}",
    }


def minted_selectors(s: Sample, language: str, ws: Workspace, hand: dict[str, str]) -> tuple[dict[str, str], list[str]]:
    """The minted selector of each kind (hand-built where lanser mints none) and the kinds not minted."""
    minted = mint(ws, s.path, s.sym, language)
    out, missing = dict(hand), []
    for kind, key in MINTED.items():
        if key in minted:
            out[kind] = minted[key]
        else:
            missing.append(kind)
    return out, missing


def _step_escape(value: str) -> str:
    return "".join(
        {"[": "%5B", "]": "%5D", "/": "%2F", "#": "%23", "?": "%3F", '"': "%22", " ": "%20", "%": "%25"}.get(ch, ch)
        for ch in value
    )


# -- classification -------------------------------------------------------------


def truth_in(root: Path, rel: str | None, language: str, qualname: str) -> list[dict]:
    if rel is None or not (root / rel).is_file():
        return []
    defs, lines = _defs(root, rel, language)
    out = []
    for d in defs:
        if d.qualname != qualname:
            continue
        name0, name1 = to_codepoints(lines, d.name[0]), to_codepoints(lines, d.name[1])
        out.append({"name": (name0, name1), "first": to_codepoints(lines, d.roles["sig"][0]), "occurrence": len(out)})
    return out


def classify(kind: str, selector: str, ws: Workspace, truths: list[dict]) -> tuple[str, dict]:
    try:
        target = resolve_target(parse_selector(selector), ws, "utf-16")
    except Ambiguous as e:
        return "ambiguous", {"error": str(e).splitlines()[0][:300]}
    except NotFound as e:
        return "not_found", {"error": str(e).splitlines()[0][:300]}
    except Exception as e:  # a crash is a lanser bug; record it, count as not found
        return "not_found", {"error": f"CRASH {type(e).__name__}: {e}"[:300]}
    got = {
        "path": target.path,
        "start": list(target.start),
        "end": list(target.end),
        "point": list(target.point) if target.point else None,
        "confidence": target.confidence,
    }
    for t in truths:
        (nl, nc0), (_, nc1) = t["name"]
        if kind in ("symbol", "symbol_plain", "ast"):
            ok = target.point is not None and tuple(target.point) == (nl, nc0)
        elif kind in ("anchor", "anchor_line"):
            # starts on the definition's first line (C: possibly above the name) and covers the name
            ok = t["first"][0] <= target.start[0] <= nl and target.start <= (nl, nc0) < target.end
        else:
            ok = target.start[0] == nl and nc0 <= target.start[1] < nc1
        if ok:
            got["occurrence"] = t["occurrence"]
            return "same", got
    return "wrong", got


# -- main ---------------------------------------------------------------------


def run_pair(project: str, language: str, old: str, new: str, dirs: tuple[str, ...], n: int, seed: int) -> list[dict]:
    root_a, root_b = fetch(project, old), fetch(project, new)
    units_a = python_files(root_a) if language == "python" else c_files(root_a, dirs)
    units_b = python_files(root_b) if language == "python" else c_files(root_b, dirs)
    ws_a, ws_b = Workspace(root_a), Workspace(root_b)
    samples = sample_pair(root_a, language, units_a, n, seed)
    defs_cache: dict[str, dict[str, SymbolDef]] = {}
    rows = []
    for s in samples:
        if s.path not in defs_cache:
            defs_cache[s.path] = {d.qualname: d for d in reversed(_defs(root_a, s.path, language)[0])}
        sels, unminted = minted_selectors(s, language, ws_a, selectors(s, language, defs_cache[s.path]))
        new_rel = units_b.get(s.unit)
        truths = truth_in(root_b, new_rel, language, s.qualname)
        row = {
            "project": project,
            "language": language,
            "old": old,
            "new": new,
            "unit": s.unit,
            "path": s.path,
            "new_path": new_rel,
            "qualname": s.qualname,
            "kind": s.kind,
            "duplicates": s.duplicates,
            "occurrence": s.occurrence,
            "gone": not truths,
            "selectors": sels,
            "unminted": unminted,
            "results": {},
        }
        if truths:
            # strict control: only the sampled definition itself counts in release N
            base_truth = [t for t in truth_in(root_a, s.path, language, s.qualname) if t["name"][0] == s.name_point]
            for kind in KINDS:
                outcome, detail = classify(kind, sels[kind], ws_b, truths)
                # control: does the same selector find the symbol in release N itself?
                detail["in_old"] = classify(kind, sels[kind], ws_a, base_truth)[0]
                row["results"][kind] = {"outcome": outcome, **detail}
        rows.append(row)
    return rows


def summarise(rows: list[dict]) -> dict:
    table: dict[str, dict[str, Counter]] = defaultdict(lambda: defaultdict(Counter))
    gone: Counter = Counter()
    sampled: Counter = Counter()
    for r in rows:
        sampled[r["language"]] += 1
        if r["gone"]:
            gone[r["language"]] += 1
            continue
        for kind in r["unminted"]:
            table[r["language"]][kind]["unminted"] += 1
        for kind, res in r["results"].items():
            table[r["language"]][kind][res["outcome"]] += 1
            # strict: the same occurrence among same-qualname definitions (differs only for repeated qualnames)
            table[r["language"]][kind]["strict"] += res["outcome"] == "same" and res["occurrence"] == r["occurrence"]
            if res.get("in_old") == "same":
                table[r["language"]][kind]["ok_in_old"] += 1
                table[r["language"]][kind]["kept"] += res["outcome"] == "same"
    return {
        "table": {lang: {k: dict(c) for k, c in kinds.items()} for lang, kinds in table.items()},
        "gone": dict(gone),
        "sampled": dict(sampled),
    }


def render(summary: dict) -> str:
    out = []
    for lang in sorted(summary["table"]):
        kinds = summary["table"][lang]
        total = sum(kinds["symbol"].get(o, 0) for o in OUTCOMES)
        out.append(
            f"\n{lang}: {summary['sampled'][lang]} sampled, {summary['gone'].get(lang, 0)} gone in N+1, "
            f"{total} still exist (denominator)"
        )
        out.append(
            f"| {'selector':<12} | {'same':>14} | {'same, strict':>14} | {'wrong':>14} | {'ambiguous':>14} | "
            f"{'not found':>14} | {'target':<12} | resolves in N  | kept in N+1 (of those) | not minted |"
        )
        out.append(
            f"|{'-' * 14}|{'-' * 15}:|{'-' * 15}:|{'-' * 15}:|{'-' * 15}:|{'-' * 15}:|{'-' * 14}|"
            f"---------------:|-----------------------:|-----------:|"
        )
        for kind in KINDS:
            c = kinds.get(kind, {})
            cells = [
                f"{c.get(o, 0):>5} ({100 * c.get(o, 0) / max(total, 1):5.1f}%)"
                for o in ("same", "strict", *OUTCOMES[1:])
            ]
            tgt = TARGETS.get(kind)
            mark = "" if tgt is None else (f">={tgt:.0%} " + ("met" if c.get("same", 0) >= tgt * total else "MISSED"))
            unminted = f"{c.get('unminted', 0):>5}" if kind in MINTED else "    -"
            out.append(
                f"| {kind:<12} | {cells[0]:>14} | {cells[1]:>14} | {cells[2]:>14} | {cells[3]:>14} | "
                f"{cells[4]:>14} | {mark:<12} | "
                f"{c.get('ok_in_old', 0):>5} ({100 * c.get('ok_in_old', 0) / max(total, 1):5.1f}%) | "
                f"{c.get('kept', 0):>5} ({100 * c.get('kept', 0) / max(c.get('ok_in_old', 0), 1):5.1f}%) | "
                f"{unminted:>10} |"
            )
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__.split("\n\n", 1)[1],
    )
    ap.add_argument("--max-per-pair", type=int, default=300, help="symbols sampled per release pair (default 300)")
    ap.add_argument("--seed", type=int, default=20240501, help="sampling seed (default 20240501)")
    ap.add_argument("--project", action="append", help="only these projects (repeatable)")
    ap.add_argument(
        "--out", type=Path, default=None, help="JSON output (default bench/results/relocation-<stamp>.json)"
    )
    args = ap.parse_args(argv)
    t0 = time.monotonic()
    rows: list[dict] = []
    pairs = []
    for project, language, versions, dirs in PROJECTS:
        if args.project and project not in args.project:
            continue
        for old, new in zip(versions, versions[1:], strict=False):
            t = time.monotonic()
            got = run_pair(project, language, old, new, dirs, args.max_per_pair, args.seed)
            rows += got
            s = summarise(got)
            pairs.append({"project": project, "old": old, "new": new, **s})
            print(
                f"{project} {old} -> {new}: {len(got)} sampled, {s['gone'].get(language, 0)} gone "
                f"({time.monotonic() - t:.1f}s)",
                file=sys.stderr,
            )
    summary = summarise(rows)
    print(render(summary))
    print("\nper pair (same / existing):")
    for p in pairs:
        lang = next(iter(p["table"]), None)
        if lang is None:
            continue
        k = p["table"][lang]
        total = sum(k["symbol"].get(o, 0) for o in OUTCOMES)
        print(
            f"  {p['project']} {p['old']} -> {p['new']}: existing {total}, gone {p['gone'].get(lang, 0)}; "
            + ", ".join(f"{kind} {k.get(kind, {}).get('same', 0)}" for kind in KINDS)
        )
    RESULTS.mkdir(parents=True, exist_ok=True)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    out = args.out or RESULTS / f"relocation-{stamp}.json"
    out.write_text(
        json.dumps(
            {
                "date": stamp,
                "argv": sys.argv,
                "max_per_pair": args.max_per_pair,
                "seed": args.seed,
                "summary": summary,
                "pairs": pairs,
                "rows": rows,
            },
            indent=1,
        )
    )
    print(f"\nresults: {out}  ({time.monotonic() - t0:.0f}s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
