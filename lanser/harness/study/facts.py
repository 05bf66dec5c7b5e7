"""More facts for compile-clean faults, measured (issue 24): clang-tidy checks, warnings the project's
flags omit, reference deltas (IO: a language server; the scoring below is pure).

For every stored trajectory whose plan regenerates (as in :mod:`lanser.harness.study.rescore`), the
start and final states are rebuilt and measured twice in fresh clangd sessions over the files the
plan touches:

- ``base``: clangd as lanser runs it (the project's compile flags, no clang-tidy);
- ``ext``: clangd with clang-tidy on, checks :data:`TIDY_CHECKS` (a ``.clang-tidy`` file in the state),
  and :data:`EXTRA_FLAGS` added to every compile command (a ``.clangd`` file).  Both files exist only
  in the measured copy: the project is never built with them.

and a third fact is read from the text: ``calls``, how often each function is called inside an
``if``/``while`` condition or an ``assert`` (a checking call), per state.

Only the start and final states are measured: a potential's sum telescopes, so a trajectory's
cumulative pr-v2 depends on them alone.  The components of a candidate potential are then, for a
trajectory, final minus start:

- ``tidy:<check>``: clang-tidy diagnostics of that check;
- ``w:<flag>``: diagnostics that appear only with the extra flags (``ext`` minus ``base``, matched by
  file, line and message), by their warning flag;
- ``ref``: checking calls that disappeared (per callee, start count minus final count, when positive).

``python -m lanser.harness.study.facts DATASET RESULTS.json OUT.json [GENERATOR.py] [--layers]``
measures; :func:`deltas` and :func:`firing` score.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import re
import shutil
import sys
import tempfile
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

__all__ = [
    "EXTRA_FLAGS",
    "FACTS_VERSION",
    "TIDY_CHECKS",
    "checking_calls",
    "deltas",
    "firing",
    "measure_facts",
]

FACTS_VERSION = "facts-v1"
#: Added to every compile command clangd sees, for the measurement only.
EXTRA_FLAGS = (
    "-Wall",
    "-Wextra",
    "-Wsign-compare",
    "-Wconversion",
    "-Wshadow",
    "-Wnull-dereference",
    "-Wimplicit-fallthrough",
    "-Wunused-result",
    "-Wunused-parameter",
    "-Wuninitialized",
    "-Wconditional-uninitialized",
    "-Wtautological-compare",
    "-Wunreachable-code",
    "-Wcomma",
    "-Wformat=2",
)
TIDY_CHECKS = "bugprone-*,cert-*"

_KEYWORDS = frozenset("if while for switch return sizeof defined".split())
_CALL = re.compile(r"\b([A-Za-z_]\w*)\s*\(")
_COND = re.compile(r"\b(?:if|while)\s*\(|\bassert\s*\(")


def checking_calls(text: str) -> Counter[str]:
    """Callee -> calls inside an ``if``/``while`` condition or an ``assert(...)`` of C ``text``
    (comments and strings are not removed: a measurement's rough cut, the same for every state)."""
    out: Counter[str] = Counter()
    for m in _COND.finditer(text):
        depth, i = 1, m.end()
        while i < len(text) and depth:
            depth += {"(": 1, ")": -1}.get(text[i], 0)
            i += 1
        cond = text[m.end() : i - 1]
        out.update(c for c in _CALL.findall(cond) if c not in _KEYWORDS)
    return out


@contextlib.contextmanager
def _tidy_clangd() -> Iterator[None]:
    """clangd with clang-tidy on (lanser runs it with ``--clang-tidy=false``), for this process."""
    from lanser.lsp import registry

    saved = dict(registry._BUILDERS)
    plain = saved["c"]

    def tidy() -> Any:
        spec = plain()
        return dataclasses.replace(
            spec, command=tuple("--clang-tidy" if c == "--clang-tidy=false" else c for c in spec.command)
        )

    registry._BUILDERS.update({"c": tidy, "cpp": tidy})
    try:
        yield
    finally:
        registry._BUILDERS.clear()
        registry._BUILDERS.update(saved)


def _diags(root: Path, paths: list[str]) -> list[list[Any]]:
    """``[path, line, severity, source, code, message]`` of every diagnostic of ``paths``."""
    from lanser.client import Client

    out: list[list[Any]] = []
    with Client(root, daemon=False, timeout=180.0, cache=False) as lanser:
        for rel in paths:
            result = lanser.diagnostics(rel)
            if not result.ok:
                raise RuntimeError(f"diagnostics of {rel} failed: {result.data.get('error')}")
            for g in result.facts.get("diagnostics") or []:
                if g.get("path") != rel:
                    continue
                for d in g.get("diagnostics") or []:
                    rng = d.get("range") or [None]
                    out.append(
                        [rel, rng[0], d.get("severity"), d.get("source"), str(d.get("code") or ""), d.get("message")]
                    )
    return out


def _measure_state(state: Path, paths: list[str]) -> dict[str, Any]:
    present = [p for p in paths if (state / p).is_file()]
    base = _diags(state, present)
    (state / ".clang-tidy").write_text(f"Checks: '-*,{TIDY_CHECKS}'\n", encoding="utf-8")
    (state / ".clangd").write_text(
        "CompileFlags:\n  Add: [" + ", ".join(EXTRA_FLAGS) + "]\n"
        "Diagnostics:\n  ClangTidy:\n    Add: [" + ", ".join(f"'{c}'" for c in TIDY_CHECKS.split(",")) + "]\n",
        encoding="utf-8",
    )
    shutil.rmtree(state / ".lanser", ignore_errors=True)
    with _tidy_clangd():
        ext = _diags(state, present)
    calls: Counter[str] = Counter()
    for p in present:
        calls.update(checking_calls((state / p).read_text(errors="replace")))
    return {"base": base, "ext": ext, "calls": dict(calls)}


def measure_facts(
    dataset: Path,
    results: Path,
    *,
    generator: Path | None = None,
    layers: bool = False,
    cache: dict[str, Any] | None = None,
    only_clean: bool = True,
    say: Callable[[str], None] = lambda _m: None,
) -> dict[str, Any]:
    """``{"states": digest -> facts, "trajectories": key -> {"start", "final", "paths"}}`` for every
    stored trajectory of ``dataset`` whose plan regenerates with the stored notes (``only_clean``: of
    those that compiled and edited something, the stratum the facts are scored on)."""
    from lanser.harness.study.diag import _materialise
    from lanser.harness.study.rescore import _load_generator, _plan, _tree_finder
    from lanser.harness.task.spec import load_tasks

    gen = _load_generator(generator)
    tasks = {t.id: t for t in load_tasks(dataset / "tasks.jsonl")}
    stored = json.loads(results.read_text())["trajectories"]
    states: dict[str, Any] = cache if cache is not None else {}
    out: dict[str, Any] = {"version": FACTS_VERSION, "states": states, "trajectories": {}, "skipped": []}
    tree_of = _tree_finder(dataset, layers)
    work = Path(tempfile.mkdtemp(prefix="facts-"))
    try:
        for n, row in enumerate(stored, 1):
            if row.get("dataset", dataset.name) != dataset.name:
                continue
            if only_clean and not (row.get("compiled") and (row.get("all_pass") or row["components"])):
                continue  # outside the compile-clean, edited stratum the facts are scored on
            task = tasks[row["task"]]
            edits = _plan(row["agent"], task, gen)
            notes = [a["note"] for a in edits if isinstance(a.get("note"), str)]
            if len(edits) != len(row["components"]) or (row["notes"] and notes != row["notes"]):
                out["skipped"].append([row["key"], "plan does not regenerate"])
                continue
            tree = tree_of(task)
            if tree is None:
                out["skipped"].append([row["key"], "project layer not cached"])
                continue
            start = [task.start_patch] if task.start_patch else []
            patches = [a["patch"] for a in edits]
            touched: set[str] = set()
            for i in range(1, len(patches) + 1):
                touched |= set(_materialise(tree, work / "probe", start + patches[:i]))
            paths = sorted(p for p in touched if p.endswith((".c", ".h")))
            ends = []
            for applied in (start, start + patches):
                state = work / "state"
                _materialise(tree, state, applied)
                texts = {p: (state / p).read_text(errors="replace") if (state / p).is_file() else "" for p in paths}
                digest = hashlib.sha256(
                    json.dumps([FACTS_VERSION, task.id, texts], sort_keys=True).encode()
                ).hexdigest()
                if digest not in states:
                    states[digest] = _measure_state(state, paths) if paths else {"base": [], "ext": [], "calls": {}}
                ends.append(digest)
            out["trajectories"][row["key"]] = {"start": ends[0], "final": ends[1], "paths": paths}
            say(f"[{n}/{len(stored)}] {row['task']} {row['agent']}: {len(states)} states")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return out


def _state_features(s: Mapping[str, Any]) -> Counter[str]:
    f: Counter[str] = Counter()
    base = Counter((d[0], d[1], d[5]) for d in s["base"])
    for d in s["ext"]:
        if d[3] == "clang-tidy":
            f[f"tidy:{d[4]}"] += 1
        elif d[2] in ("error", "warning"):
            k = (d[0], d[1], d[5])
            if base[k] > 0:
                base[k] -= 1
            else:
                f[f"w:{d[4] or 'other'}"] += 1
    return f


def deltas(facts: Mapping[str, Any], key: str) -> dict[str, float] | None:
    """Feature -> final minus start for trajectory ``key`` (``ref``: checking calls lost), or None."""
    t = facts["trajectories"].get(key)
    if t is None:
        return None
    s0, s1 = facts["states"][t["start"]], facts["states"][t["final"]]
    f0, f1 = _state_features(s0), _state_features(s1)
    out = {k: float(f1[k] - f0[k]) for k in set(f0) | set(f1) if f1[k] != f0[k]}
    c0, c1 = Counter(s0["calls"]), Counter(s1["calls"])
    lost = sum(max(0, c0[c] - c1[c]) for c in c0)
    if lost:
        out["ref"] = float(lost)
    return out


def firing(
    rows: Sequence[tuple[bool, Mapping[str, float]]],
) -> dict[str, dict[str, int]]:
    """Feature -> how many passing and failing trajectories it rose in (delta > 0)."""
    out: dict[str, dict[str, int]] = {}
    for passed, d in rows:
        for k, v in d.items():
            if v > 0:
                e = out.setdefault(k, {"pass": 0, "fail": 0})
                e["pass" if passed else "fail"] += 1
    return dict(sorted(out.items()))


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    layers = "--layers" in args
    pos = [a for a in args if a != "--layers"]
    dataset, results, dest = Path(pos[0]), Path(pos[1]), Path(pos[2])
    gen = Path(pos[3]) if len(pos) > 3 else None
    cache = json.loads(dest.read_text())["states"] if dest.is_file() else {}
    out = measure_facts(
        dataset, results, generator=gen, layers=layers, cache=cache, say=lambda m: print(m, file=sys.stderr, flush=True)
    )
    out["command"] = "python -m lanser.harness.study.facts " + " ".join(args)
    dest.write_text(json.dumps(out, sort_keys=True) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
