"""Generate validated implement / repair tasks from a C project with a test suite.

1. The source is materialized (:mod:`lanser.harness.task.sources`) and built
   once in the sandbox (plain and sanitized trees, :class:`Workbench`).
2. Baseline: build and tests green, the sanitizer build's reports recorded
   (pre-existing reports are never blamed on a task's fault).
3. Candidates: every function of the profile's files (tree-sitter), as an
   *implement* task (the body stubbed) and as *repair* tasks (one injected
   fault each); shuffled with the seed, taken round-robin over the kinds.
4. Each candidate is validated in the sandbox until the wanted number is
   reached: its start state must build and fail its oracle (tests that
   passed fail, or a new sanitizer report); the gold patch must restore the
   baseline tree exactly (checked by applying both patches), which built
   and passed tests and sanitizers.  A candidate that does not validate is
   dropped and counted by reason.
Everything is cached by content, so a re-run with the same seed is quick
and writes the same dataset.
"""

from __future__ import annotations

import random
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lanser.errors import BadRequest
from lanser.harness.errors import InfrastructureError
from lanser.harness.datasets.generate import faults as F
from lanser.harness.datasets.generate import statements as S
from lanser.harness.datasets.generate.profiles import Profile
from lanser.harness.datasets.generate.sandboxed import Outcome, Workbench
from lanser.harness.task.spec import Commands, KnownReport, Limits, Oracles, Source, TaskSpec

__all__ = ["Candidate", "Generated", "candidates", "generate", "qualifiers"]

#: Bodies shorter than this are trivial to implement, longer ones too big a patch for one task.
MIN_BODY_LINES, MAX_BODY_LINES = 3, 60
KINDS = ("implement", *F.FAULT_KINDS)


@dataclass(frozen=True)
class Candidate:
    edit: F.Edit
    fn: F.Function
    ordinal: int  # among the same (kind, function), in source order


@dataclass
class Generated:
    tasks: list[TaskSpec]
    meta: list[dict[str, Any]]
    stats: dict[str, Any] = field(default_factory=dict)


def candidates(files: dict[str, bytes]) -> list[Candidate]:
    """Every implement and repair candidate of the files, in a fixed order."""
    out: list[Candidate] = []
    for path in sorted(files):
        data = files[path]
        for fn in F.functions(path, data):
            if fn.name == "main":
                continue
            if MIN_BODY_LINES <= fn.body_lines <= MAX_BODY_LINES:
                new = F.stub(data, fn)
                if new is not None:
                    out.append(Candidate(F.Edit("implement", fn.name, path, new, "body removed", False), fn, 1))
            seen: Counter[str] = Counter()
            for edit in F.faults(data, fn):
                seen[edit.kind] += 1
                out.append(Candidate(edit, fn, seen[edit.kind]))
    return out


def qualifiers(cands: list[Candidate]) -> dict[tuple[str, str], str]:
    """(path, function) -> the name a task id uses: the function's name, or, when that name is
    defined in more than one file (static functions, say), ``<file stem>.<name>`` (the path
    without its suffix when two of those files share a stem)."""
    files: dict[str, set[str]] = {}
    for c in cands:
        files.setdefault(c.edit.function, set()).add(c.edit.path)
    out: dict[tuple[str, str], str] = {}
    for name, paths in files.items():
        stems = [Path(p).stem for p in paths]
        for p in paths:
            if len(paths) == 1:
                out[(p, name)] = name
                continue
            qual = Path(p).stem if len(set(stems)) == len(stems) else Path(p).with_suffix("").as_posix()
            out[(p, name)] = re.sub(r"[^A-Za-z0-9._-]", "_", qual.replace("/", ".")) + "." + name
    return out


def _order(cands: list[Candidate], seed: int) -> list[Candidate]:
    """Round-robin over the kinds, each kind's candidates shuffled by the seed."""
    rng = random.Random(seed)
    by_kind: dict[str, list[Candidate]] = {k: [] for k in KINDS}
    for c in cands:
        by_kind[c.edit.kind].append(c)
    for k in KINDS:
        rng.shuffle(by_kind[k])
    out: list[Candidate] = []
    while any(by_kind.values()):
        for k in KINDS:
            if by_kind[k]:
                out.append(by_kind[k].pop(0))
    return out


def generate(
    source: Source,
    base: Path,
    profile: Profile,
    *,
    project: str,
    seed: int,
    count: int,
    image: str,
    cache: Path,
    max_attempts: int | None = None,
    implement_share: float = 0.5,
    progress: Any = None,
) -> Generated:
    """Up to ``count`` validated tasks (about ``implement_share`` of them *implement*)."""
    from lanser.harness.task.sources import materialize

    say = progress or (lambda message: None)
    tree = materialize(source, base)
    files: dict[str, bytes] = {}
    for rel in profile.files:
        p = tree / rel
        if not p.is_file():
            raise BadRequest(f"{project}: {rel} is not a file of the source", field="files")
        files[rel] = p.read_bytes()
    bench = Workbench(profile, tree, image, cache, progress=say)
    say("baseline: build, tests, sanitizers")
    base_run = bench.evaluate({}, sanitize=True)
    if not base_run.built:
        raise InfrastructureError(
            f"{project}: the baseline does not build", stage="baseline", log_tail=base_run.build_log
        )
    failing = sorted(t for t, v in base_run.tests.items() if v == "fail")
    if not base_run.tests or failing:
        raise InfrastructureError(
            f"{project}: the baseline tests are not green "
            f"({len(base_run.tests)} found, failing: {', '.join(failing) or '-'})",
            stage="baseline",
            log_tail=base_run.test_log[-3000:],
        )
    baseline_reports = base_run.sanitizer or []
    known = {_report_key(r) for r in baseline_reports}
    known_reports = tuple(KnownReport(tool=t, kind=k, frame=f) for t, k, f in sorted(known))
    passing = sorted(t for t, v in base_run.tests.items() if v == "pass")
    commands = Commands(setup=profile.setup, build=profile.build, test=profile.test, sanitize=profile.sanitize)
    limits = Limits(wall_s=profile.wall_s, memory_mb=profile.memory_mb, cpus=1.0, pids=256, max_steps=50)
    callers = _callers(tree, profile, files)

    want = {"implement": round(count * implement_share)}
    want["repair"] = count - want["implement"]
    got: Counter[str] = Counter()
    dropped: Counter[str] = Counter()
    attempted: Counter[str] = Counter()
    used: set[tuple[str, str, str]] = set()
    tasks: list[TaskSpec] = []
    meta: list[dict[str, Any]] = []
    ordered = _order(candidates(files), seed)
    qualified = qualifiers(ordered)
    ids: set[str] = set()
    attempts = 0
    for cand in ordered:
        e = cand.edit
        group = "implement" if e.kind == "implement" else "repair"
        if got[group] >= want[group] or (e.path, e.function, e.kind) in used:
            continue
        if group == "repair" and sum(1 for u in used if u[:2] == (e.path, e.function)) >= 2:
            continue  # at most two tasks per function: spread the dataset over the code
        name = qualified[(e.path, e.function)]
        if e.kind == "implement":
            task_id = f"{project}/implement/{name}"
        else:
            task_id = f"{project}/repair/{e.kind}/{name}" + (f"-{cand.ordinal}" if cand.ordinal > 1 else "")
        if task_id in ids:  # a name defined twice in one file (#if branches): its first task only
            continue
        if max_attempts is not None and attempts >= max_attempts:
            break
        if all(got[g] >= want[g] for g in want):
            break
        attempts += 1
        attempted[e.kind] += 1
        # Sanitizers run where they are the expected witness (use after free, leak) or
        # when the tests miss the fault; a fault the tests catch needs no second build.
        start = bench.evaluate({e.path: e.new}, sanitize=e.sanitizer)
        if (
            e.kind != "implement"
            and not e.sanitizer
            and start.built
            and not start.test_timed_out
            and all(start.tests.get(t) == "pass" for t in passing)
        ):
            start = bench.evaluate({e.path: e.new}, sanitize=True)
        verdict = _judge(start, passing, known, e)
        say(f"[{attempts}] {e.kind} {e.function} ({e.path}): {verdict['why'] if 'why' in verdict else 'valid'}")
        if "why" in verdict:
            dropped[verdict["why"]] += 1
            continue
        start_patch = S.unified_diff(e.path, files[e.path], e.new)
        gold_patch = S.unified_diff(e.path, e.new, files[e.path])
        if not _round_trips(files[e.path], e.new, e.path, start_patch, gold_patch):
            dropped["patches do not round-trip"] += 1
            continue
        f2p = verdict["fail_to_pass"]
        p2p = [t for t in passing if t not in f2p]
        cmds = commands.model_dump()
        if e.kind == "implement":
            problem = S.implement_problem(cand.fn, callers.get((e.path, e.function), []), f2p, cmds)
        else:
            problem = S.repair_problem(e, f2p, start.test_log, verdict["new_reports"], start.sanitize_log, cmds)
        ids.add(task_id)
        used.add((e.path, e.function, e.kind))
        got[group] += 1
        tasks.append(
            TaskSpec(
                id=task_id,
                language="c",
                image="base",
                source=source,
                commands=commands,
                problem=problem,
                start_patch=start_patch,
                gold_patch=gold_patch,
                oracles=Oracles(
                    fail_to_pass=tuple(f2p), pass_to_pass=tuple(p2p), known_sanitizer_reports=known_reports
                ),
                limits=limits,
            )
        )
        meta.append(
            {
                "id": task_id,
                "kind": e.kind,
                "function": e.function,
                "path": e.path,
                "line": cand.fn.line,
                "fault": e.description,
                "sanitizer_caught": bool(verdict["new_reports"]),
                "sanitizer_reports": [r["summary"] for r in verdict["new_reports"]],
                "fail_to_pass": len(f2p),
                "start_seconds": start.seconds,
            }
        )
    order = sorted(range(len(tasks)), key=lambda i: tasks[i].id)
    stats = {
        "project": project,
        "seed": seed,
        "count": count,
        "source_digest": bench.digest,
        "candidates": Counter(c.edit.kind for c in ordered),
        "attempted": dict(attempted),
        "validated": dict(Counter(m["kind"] for m in meta)),
        "dropped": dict(dropped),
        "baseline": {"tests": len(passing), "sanitizer_reports": baseline_reports, "seconds": base_run.seconds},
    }
    return Generated([tasks[i] for i in order], [meta[i] for i in order], stats)


def _report_key(r: dict[str, str]) -> tuple[str, str, str]:
    return (r["tool"], r["kind"], r["frame"])


def _judge(start: Outcome, passing: list[str], known: set[tuple[str, str, str]], e: F.Edit) -> dict[str, Any]:
    """Does the start state fail its oracle?  ``why`` says why not (the candidate is dropped)."""
    if not start.built:
        return {"why": "start state does not build"}
    if start.test_timed_out:
        return {"why": "start state hangs the tests"}
    f2p = [t for t in passing if start.tests.get(t) != "pass"]
    new = [r for r in start.sanitizer or [] if _report_key(r) not in known]
    if e.kind == "implement" and not f2p:
        return {"why": "no test fails without the body"}
    if not f2p and not new:
        return {"why": "fault caught by neither tests nor sanitizers"}
    if any(r["tool"] == "timeout" for r in new):
        return {"why": "start state hangs the sanitized tests"}
    return {"fail_to_pass": f2p, "new_reports": new}


def _round_trips(original: bytes, start: bytes, path: str, start_patch: str, gold_patch: str) -> bool:
    """The start patch makes the start state of the source; the gold patch gives the source back."""
    from lanser.edits.patch import parse_patch

    try:
        (a,) = parse_patch(start_patch, lambda rel: original if rel == path else None).changes
        (b,) = parse_patch(gold_patch, lambda rel: start if rel == path else None).changes
    except Exception:  # noqa: BLE001 - any parse failure means the task is unusable
        return False
    return a.new == start and b.new == original


def _callers(
    tree: Path, profile: Profile, files: dict[str, bytes]
) -> dict[tuple[str, str], list[tuple[str, int, str]]]:
    """(path, function name) -> its call sites in the project's C files (tree-sitter, in path order).

    A static function is called from its own file only; elsewhere (and in no file that
    defines a static function of that name) the name means the external function."""
    statics: dict[str, set[str]] = {}
    defined: set[tuple[str, str, bool]] = set()
    for path, data in files.items():
        for fn in F.functions(path, data):
            defined.add((path, fn.name, fn.static))
            if fn.static:
                statics.setdefault(fn.name, set()).add(path)
    names = {name for _, name, _ in defined}
    sites: dict[str, list[tuple[str, int, str]]] = {}
    paths = sorted({p for g in profile.caller_globs for p in tree.glob(g) if p.is_file()})
    for p in paths:
        rel = p.relative_to(tree).as_posix()
        if re.match(r"(build|build-asan|fuzzing|debian)/", rel):
            continue
        data = p.read_bytes()
        if not any(n.encode() in data for n in names):
            continue
        for name in names:
            if name.encode() in data:
                sites.setdefault(name, []).extend(c for c in F.callers(rel, data, name) if c[2] != name)
    found: dict[tuple[str, str], list[tuple[str, int, str]]] = {}
    for path, name, static in sorted(defined):
        if static:
            found[(path, name)] = [c for c in sites.get(name, []) if c[0] == path]
        else:
            found[(path, name)] = [c for c in sites.get(name, []) if c[0] not in statics.get(name, ())]
    return found
