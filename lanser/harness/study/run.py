"""``bench study`` as a harness function: run synthetic trajectory agents over datasets and measure
whether the process reward predicts the final verdict (:func:`run_study` -> :class:`StudySummary`).

The CLI (``lanser bench study``) parses the options and renders the summary.  Every failure is a
:class:`~lanser.errors.LanserError`: a task file or agent that is not valid (E/BAD_REQUEST), no
Docker or image (E/INFRASTRUCTURE); an interrupted study removes its containers and is
E/REQUEST_CANCELLED (rerun the same command to resume: the store keeps what was run).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

__all__ = ["StudyRun", "StudySummary", "run_study"]


@dataclasses.dataclass(frozen=True)
class StudyRun:
    """What to study: ``specs`` (agent specs, seeds expanded) on ``datasets``, results in ``out``."""

    datasets: tuple[Path, ...]
    specs: tuple[str, ...]
    out: Path
    store: Path
    agents: str = ""  #: the --agents text, recorded in the command line of results.json
    seeds: int = 5
    only: tuple[str, ...] = ()
    max_tasks: int | None = None
    workers: int = 1
    resamples: int = 1000
    boot_seed: int = 0
    remeasure: bool = True
    title: str | None = None
    reward: str = "pr-v1"  #: the reward the headline compares with build + steps (pr-v1 recorded, pr-v2 re-scored)
    #: Raise each task's per-stage wall limit to at least this many seconds (None: the task's own).  A
    #: run option, not a dataset change; a raised limit changes the task's key, so its runs are new.
    wall_s: float | None = None


@dataclasses.dataclass(frozen=True)
class StudySummary:
    """Where the study was written (``files`` in ``out``) and its headline numbers."""

    out: Path
    files: tuple[str, ...]
    headline: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return {"out": str(self.out), "files": list(self.files), **self.headline}


def run_study(study: StudyRun, *, say: Callable[[str], None] | None = None) -> StudySummary:
    """Plan every agent on every task (a plan already drawn for a task runs once), run the plans
    through the store (resumable), re-measure the diagnostics term when asked, write the report."""
    from lanser.errors import RequestCancelled
    from lanser.harness.env.images import bootstrap_base, image_digest
    from lanser.harness.env.sandbox import cleanup
    from lanser.harness.run.agents import make_agent
    from lanser.harness.run.runner import run_dataset
    from lanser.harness.run.store import Store, result_key
    from lanser.harness.task.spec import load_tasks

    tell: Callable[[str], None] = say or (lambda _message: None)
    # The store absolute: the grader resolves the work area's links and compares with its root, and a
    # relative root (the default .lanser-bench) made every graded write "outside the jail".
    datasets, specs, store, only = study.datasets, list(study.specs), study.store.resolve(), study.only
    names = [d.name for d in datasets]
    loaded = {
        d: _spread(
            [_with_wall(t, study.wall_s) for t in load_tasks(d / "tasks.jsonl") if not only or t.id in only],
            study.max_tasks,
        )
        for d in datasets
    }
    made = {(d, s): make_agent(s, base=d) for d in datasets for s in specs}
    image = bootstrap_base()
    image_id = image_digest(image)

    # Plans first: a seed that draws the same plan as an earlier agent for a task adds no trajectory.
    todo: dict[tuple[Path, str], list[Any]] = {}
    wanted: list[dict[str, Any]] = []
    duplicates = 0
    for d, tasks in loaded.items():
        for task in tasks:
            seen: set[str] = set()
            for spec in specs:
                agent = made[(d, spec)]
                plan = agent.plan(task) if hasattr(agent, "plan") else []
                digest = _plan_digest(plan)
                if digest in seen:
                    duplicates += 1
                    continue
                seen.add(digest)
                todo.setdefault((d, spec), []).append(task)
                notes = [a["note"] for a in plan if isinstance(a.get("note"), str)]
                edits = [a["patch"] for a in plan if a.get("type") == "edit" and isinstance(a.get("patch"), str)]
                wanted.append(
                    {
                        "dataset": d.name,
                        "task": task.id,
                        "spec": spec,
                        "notes": notes,
                        "last_paths": _patch_paths(edits[-1]) if edits else [],
                        "key": result_key(task.key(), image_id, agent.name, agent.digest()),
                    }
                )

    db = Store(store / "results.sqlite")
    label = f"study-{hashlib.sha256(str(store.resolve()).encode()).hexdigest()[:8]}"
    cleanup(label)

    def progress(i: int, n: int, task_id: str, line: str) -> None:
        tell(f"[{i}/{n}] {task_id}: {line}")

    try:
        # agent by agent across the datasets: a study cut short has whole agents to analyse
        for (d, spec), tasks in sorted(todo.items(), key=lambda kv: specs.index(kv[0][1])):
            tell(f"{d.name}: {spec} on {len(tasks)} task(s)")
            run_dataset(
                tasks,
                d,
                made[(d, spec)],
                image,
                image_id,
                db,
                f"study-{d.name}-{spec}",
                store / "work" / f"study-{d.name}",
                progress=progress,
                label=label,
                workers=study.workers,
                agent_spec=spec,
            )
    except KeyboardInterrupt:
        removed = cleanup(label)
        raise RequestCancelled(
            f"interrupted; removed {removed} container(s); rerun the same command to resume", removed=removed
        ) from None

    if study.remeasure:
        _remeasure(wanted, {d.name: (d, loaded[d]) for d in datasets}, db, store, image, image_id, tell)

    meta = {
        "command": "lanser bench study " + " ".join(str(d) for d in datasets) + f" --agents {study.agents} "
        f"--seeds {study.seeds} --bootstrap {study.resamples} --seed {study.boot_seed}"
        + "".join(f" --task {t}" for t in only)
        + (f" --max-tasks {study.max_tasks}" if study.max_tasks else "")
        + ("" if study.remeasure else " --no-remeasure")
        + (f" --wall-s {study.wall_s:g}" if study.wall_s is not None else "")
        + (f" --reward {study.reward}" if study.reward != "pr-v1" else ""),
        "datasets": names,
        "agents": specs,
        "seeds": study.seeds,
        "duplicates": duplicates,
        "resamples": study.resamples,
        "bootstrap_seed": study.boot_seed,
        "image_id": image_id,
        "generated": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    from lanser.harness.study.report import build_study

    files, headline = build_study(
        db.results(),
        wanted,
        meta,
        title=study.title or f"Process reward vs outcome: {', '.join(names)}",
        resamples=study.resamples,
        seed=study.boot_seed,
        reward_version=study.reward,
    )
    study.out.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (study.out / name).write_text(text, encoding="utf-8")
    return StudySummary(study.out, tuple(sorted(files)), headline)


def _with_wall(task: Any, wall_s: float | None) -> Any:
    """``task`` with its per-stage wall limit raised to ``wall_s`` (never lowered)."""
    if wall_s is None or task.limits.wall_s >= wall_s:
        return task
    return task.model_copy(update={"limits": task.limits.model_copy(update={"wall_s": float(wall_s)})})


def _spread(items: list[Any], n: int | None) -> list[Any]:
    """``n`` items evenly spread over ``items`` (all of them without ``n``), in their order."""
    if n is None or n >= len(items):
        return items
    return [items[i * len(items) // n] for i in range(n)]


def _patch_paths(patch: str) -> list[str]:
    """The files a unified diff writes (its ``+++`` names, ``b/`` stripped)."""
    out = set()
    for line in patch.splitlines():
        if line.startswith("+++ ") and not line[4:].startswith("/dev/null"):
            name = line[4:].split("\t")[0].strip()
            out.add(name[2:] if name.startswith("b/") else name)
    return sorted(out)


def _plan_digest(actions: list[dict[str, Any]]) -> str:
    bare = [{k: v for k, v in a.items() if k != "note"} for a in actions]
    return hashlib.sha256(json.dumps(bare, sort_keys=True).encode()).hexdigest()


def _remeasure(
    wanted: list[dict[str, Any]],
    datasets: dict[str, tuple[Path, list[Any]]],
    db: Any,
    store: Path,
    image: str,
    image_id: str,
    say: Callable[[str], None],
) -> None:
    """``remeasured`` for every wanted trajectory (cached by task and final patch); a state whose
    diagnostics cannot be had is reported and left out of the remeasured predictors."""
    from lanser.errors import LanserError
    from lanser.harness.errors import InfrastructureError
    from lanser.harness.study.diag import remeasure

    cache_path = store / "study-remeasure.json"
    try:
        cache = json.loads(cache_path.read_text()) if cache_path.is_file() else {}
    except ValueError:
        cache = {}
    rows = {r["key"]: r for r in db.results()}
    for i, w in enumerate(wanted, 1):
        d, tasks = datasets[w["dataset"]]
        task = next(t for t in tasks if t.id == w["task"])
        try:
            w["remeasured"] = remeasure(
                task,
                _project_tree(task, d, image, image_id),
                rows[w["key"]]["patch"],
                store / "work" / "remeasure",
                cache,
            )
        except (LanserError, InfrastructureError, RuntimeError, OSError) as exc:  # one state, not the study
            say(f"remeasure {w['task']} {w['spec']}: {exc}")
        if i % 10 == 0 or i == len(wanted):
            say(f"remeasured {i}/{len(wanted)}")
            cache_path.write_text(json.dumps(cache, sort_keys=True))


def _project_tree(task: Any, dataset: Path, image: str, image_id: str) -> Path:
    """The tree the harness copies into a task's work area (the project layer when there is one)."""
    try:
        from lanser.harness.env import project
    except ImportError:  # a harness without project layers: the source tree itself
        from lanser.harness.task.sources import materialize

        return materialize(task.source, dataset)
    tree: Path = project.prepare(task, dataset, image, image_id=image_id).path
    return tree
