"""The hand-checked truth for a sample of the rename benchmarks, and how a tool's result is judged against it.

``bench/rename_truth.json`` holds, per rename, the places a correct rename
must edit (``edit``), mentions it may edit or leave (``optional``:
docstrings, comments) and the verdict (``complete``, or ``refused`` with
the reason no rename of that symbol alone keeps the project working).  It
was made by hand, without lanser: see bench/RENAME.md, "The hand-checked
truth".  This module only reads it (standard library only: the rope
worker imports bench/rename.py under the bench venv).

    .venv/bin/python bench/rename_truth.py --verify [--projects click,attrs]

applies each ``complete`` entry's edits to a fresh tree (checking that the
old name is at every listed place) and runs the project's own tests
(Python) or its two builds and round trip (C, bench/rename_c.py): the
truth's edits must keep them green.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

TRUTH = Path(__file__).resolve().parent / "rename_truth.json"

Pos = tuple[str, int, int]  # path, 0-based line, 0-based column (code points)


def load(language: str, path: Path = TRUTH) -> list[dict[str, Any]]:
    return list(json.loads(path.read_text())[language])


def parse_pos(text: str) -> Pos:
    """``path:line:col`` (1-based) as a 0-based position."""
    path, line, col = text.rsplit(":", 2)
    return path, int(line) - 1, int(col) - 1


def show_pos(pos: Pos) -> str:
    return f"{pos[0]}:{pos[1] + 1}:{pos[2] + 1}"


def find(entries: list[dict[str, Any]], project: str, selector: str) -> dict[str, Any] | None:
    return next((e for e in entries if e["project"] == project and e["selector"] == selector), None)


def old_name(entry: dict[str, Any]) -> str:
    fragment = entry["selector"].split("#", 1)[1].split("?", 1)[0]
    return re.split(r"[.:]", fragment)[-1]


# -- what a tool did ---------------------------------------------------------------------


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True, check=True).stdout


def renamed_positions(repo: Path, old: str, new: str) -> tuple[set[Pos], list[str]]:
    """Where, in the committed files, ``old`` became ``new`` (code or text), and the changed files whose
    change is not such a replacement (lines added or removed, other text changed, a file created)."""
    pat = re.compile(rf"(?<!\w){re.escape(new)}(?!\w)")
    changed = [x for x in _git(repo, "diff", "--name-only", "HEAD").split("\n") if x]
    unaligned = [x for x in _git(repo, "ls-files", "-o", "--exclude-standard").split("\n") if x]
    positions: set[Pos] = set()
    for rel in changed:
        if not (repo / rel).is_file():
            unaligned.append(rel)
            continue
        before = _git(repo, "show", f"HEAD:{rel}").split("\n")
        after = (repo / rel).read_text("utf-8", "replace").split("\n")
        if len(before) != len(after):
            unaligned.append(rel)
            continue
        for i, (a, b) in enumerate(zip(before, after, strict=False)):
            if a == b:
                continue
            if pat.sub(old, b) != a:
                unaligned.append(rel)
                continue
            shift = 0
            for m in pat.finditer(b):
                positions.add((rel, i, m.start() - shift))
                shift += len(new) - len(old)
    return positions, sorted(set(unaligned))


def judge(entry: dict[str, Any], changed: bool, positions: set[Pos], unaligned: list[str]) -> dict[str, Any]:
    """A tool's result against the truth.

    ``verdict``: the tool's (``complete`` when it changed the tree, else ``refused``).  ``agree``: the
    verdicts match and, for a complete rename, the edited places are exactly the truth's ``edit``
    (plus any of its ``optional`` ones).  ``missed``/``extra``: places the tool left / edited beyond.
    """
    expected = {parse_pos(p) for p in entry["edit"]}
    optional = {parse_pos(p) for p in entry.get("optional", [])}
    verdict = "complete" if changed else "refused"
    missed = sorted(expected - positions) if changed else []
    extra = sorted(positions - expected - optional) if changed else []
    exact = changed and not missed and not extra and not unaligned
    if verdict != entry["verdict"]:
        kind = "refused, truth complete" if verdict == "refused" else "applied, truth refused"
    elif verdict == "complete":
        kind = "exact" if exact else "places differ"
    else:
        kind = "refused, agreed"
    return {
        "truth": entry["verdict"],
        "verdict": verdict,
        "agree": kind in ("exact", "refused, agreed"),
        "kind": kind,
        "missed": [show_pos(p) for p in missed],
        "extra": [show_pos(p) for p in extra],
        "unaligned": unaligned,
    }


def summary(judged: list[dict[str, Any]]) -> str:
    """One block of text: how many renames agree with the truth, and how the others differ."""
    from collections import Counter

    kinds = Counter(j["kind"] for j in judged)
    agree = sum(1 for j in judged if j["agree"])
    order = ("exact", "refused, agreed", "places differ", "refused, truth complete", "applied, truth refused")
    lines = [f"truth agreement: {agree}/{len(judged)}"]
    lines += [f"  {k:28} {kinds[k]}" for k in order if kinds.get(k)]
    missed = sum(len(j["missed"]) for j in judged)
    extra = sum(len(j["extra"]) for j in judged)
    lines.append(f"  places missed {missed}, extra {extra} (over the renames applied)")
    return "\n".join(lines)


# -- checking the truth itself -----------------------------------------------------------------


def apply(repo: Path, entry: dict[str, Any]) -> None:
    """Write the truth's edits into ``repo``; the old name must be at every place."""
    old, new = old_name(entry), entry["new"]
    by_file: dict[str, list[tuple[int, int]]] = {}
    for text in entry["edit"]:
        rel, line, col = parse_pos(text)
        by_file.setdefault(rel, []).append((line, col))
    for rel, places in by_file.items():
        path = repo / rel
        raw = path.read_bytes().decode("utf-8", "surrogateescape")
        lines = raw.split("\n")
        for line, col in sorted(places, reverse=True):
            got = lines[line][col : col + len(old)]
            after = lines[line][col + len(old) : col + len(old) + 1]
            if got != old or (after and (after.isalnum() or after == "_")):
                raise SystemExit(
                    f"truth {entry['selector']}: {rel}:{line + 1}:{col + 1} holds {lines[line][col : col + 30]!r}"
                )
            lines[line] = lines[line][:col] + new + lines[line][col + len(old) :]
        path.write_bytes("\n".join(lines).encode("utf-8", "surrogateescape"))


def verify_python(projects: list[str] | None) -> list[dict[str, Any]]:
    import rename as bench

    out = []
    entries = load("python")
    for name in dict.fromkeys(e["project"] for e in entries):
        if projects and name not in projects:
            continue
        p = bench.PROJECTS[name]
        bench.ensure_venv()
        repo = bench.make_repo(p)
        bench.set_dev_path(repo, p)
        runs = [bench.run_tests(repo, p, 600) for _ in range(2)]
        base = {
            "failed": sorted(set(runs[0]["failed"]) | set(runs[1]["failed"])),
            "passed_min": min(r["counts"].get("passed", 0) for r in runs),
        }
        for e in entries:
            if e["project"] != name:
                continue
            bench.reset(repo)
            if e["verdict"] != "complete":
                out.append({"selector": e["selector"], "verdict": e["verdict"], "checked": "not applied"})
                continue
            apply(repo, e)
            tests = bench.run_tests(repo, p, 600)
            green = bench.tests_green(tests, base)
            out.append(
                {
                    "selector": e["selector"],
                    "verdict": e["verdict"],
                    "green": green,
                    "new_failures": sorted(set(tests["failed"]) - set(base["failed"]))[:10],
                    "tail": tests.get("tail"),
                }
            )
            bench.log(f"  {e['selector']}: green={green} {tests.get('tail')}")
        bench.reset(repo)
        bench.set_dev_path(None, None)
    return out


def verify_c() -> list[dict[str, Any]]:
    import rename_c as bench

    out = []
    repo = bench.make_repo()
    for e in load("c"):
        bench.reset(repo)
        if e["verdict"] != "complete":
            out.append({"selector": e["selector"], "verdict": e["verdict"], "checked": "not applied"})
            continue
        apply(repo, e)
        builds = bench.build(repo) and bench.build(repo, *bench.ALT)
        out.append({"selector": e["selector"], "verdict": e["verdict"], "green": builds})
        bench.log(f"  {e['selector']}: builds={builds}")
    bench.reset(repo)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--verify", action="store_true", help="apply each complete entry and run the tests/builds")
    ap.add_argument("--projects", help="Python projects to verify (default all); 'none' for C only")
    ap.add_argument("--no-c", action="store_true", help="skip the C entries")
    args = ap.parse_args(argv)
    if not args.verify:
        ap.error("nothing to do: pass --verify")
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    projects = None if not args.projects else [x for x in args.projects.split(",") if x]
    results = [] if projects == ["none"] else verify_python(projects)
    if not args.no_c:
        results += verify_c()
    print(json.dumps(results, indent=1))
    bad = [r for r in results if r.get("green") is False]
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main())
