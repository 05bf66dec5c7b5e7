"""``lanser bench study``: does the process reward predict success? Run, measure, write up."""

from __future__ import annotations

import hashlib
import json
import signal
import time
from pathlib import Path
from typing import Any

import click

from lanser.cli.main import Settings
from lanser.cli.render import errors_rendered, fail, render_json

__all__ = ["study"]

FAMILIES = ("oracle", "noop", "partial", "corrupt", "shuffle")
SEEDED = ("partial", "corrupt", "shuffle")


def agent_specs(agents: str, seeds: int) -> list[str]:
    """``oracle,corrupt`` with 2 seeds -> ``oracle, corrupt:0, corrupt:1``: oracle and noop first, then
    the seeded agents, then replays (a plan seen before for a task is not run again)."""
    wanted = [a.strip() for a in agents.split(",") if a.strip()]
    bad = [a for a in wanted if a not in FAMILIES and not a.startswith("replay:")]
    if bad or not wanted:
        raise click.BadParameter(f"unknown agent(s) {', '.join(bad) or '(none)'}: choose from {', '.join(FAMILIES)} "
                                 "or replay:FILE", param_hint="--agents")
    ordered = sorted(wanted, key=lambda a: (0 if a in ("oracle", "noop") else 1 if a in SEEDED else 2,
                                            FAMILIES.index(a) if a in FAMILIES else 0))
    return [f"{a}:{s}" if a in SEEDED else a for a in ordered for s in (range(seeds) if a in SEEDED else [0])]


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


@click.command("study", help="""Run synthetic trajectory agents over DATASET... and measure whether the
process reward predicts the final verdict.

Agents (--agents, comma-separated): oracle, noop, and partial, corrupt,
shuffle with --seeds seeds each (partial:0 .. partial:N-1); replay:FILE
adds recorded trajectories. A plan identical to one already run for the
same task is run and counted once. Runs go through `bench run`'s store
(--store, resumable: a rerun only runs what is missing). Written to --out:
results.json, summary.md, scatter.svg, curves.svg, predictors.svg.

\b
Examples:
  lanser bench study datasets/toy-c --seeds 5 --out study/toy-c
  lanser bench study datasets/oss-* --agents oracle,corrupt,noop --seeds 3 --max-tasks 10
  lanser --json bench study datasets/toy-c --seeds 2 --bootstrap 200 --out /tmp/s""")
@click.argument("datasets", nargs=-1, required=True, type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--agents", default="oracle,partial,corrupt,shuffle,noop", show_default=True)
@click.option("--seeds", type=click.IntRange(min=1), default=5, show_default=True,
              help="Seeds per seeded agent (partial, corrupt, shuffle).")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=Path("study"), show_default=True)
@click.option("--store", type=click.Path(file_okay=False, path_type=Path), default=Path(".lanser-bench"),
              show_default=True, help="Where the runs' SQLite store lives (shared with bench run).")
@click.option("--task", "only", multiple=True, help="Only these task ids (repeatable).")
@click.option("--max-tasks", type=click.IntRange(min=1), default=None,
              help="Only N tasks of each dataset, evenly spread over its task file (so every kind appears).")
@click.option("--workers", type=click.IntRange(min=1), default=1, show_default=True)
@click.option("--bootstrap", "resamples", type=click.IntRange(min=10), default=1000, show_default=True,
              help="Bootstrap resamples per confidence interval.")
@click.option("--seed", "boot_seed", type=int, default=0, show_default=True, help="Seed of the bootstrap.")
@click.option("--remeasure/--no-remeasure", default=True, show_default=True,
              help="Measure D of each trajectory's start and final states again, in fresh language servers, "
                   "to check the recorded diagnostics term (cached beside the store).")
@click.option("--title", default=None, help="Title of summary.md.")
@click.pass_obj
@errors_rendered
def study(settings: Settings, datasets: tuple[Path, ...], agents: str, seeds: int, out: Path, store: Path,
          only: tuple[str, ...], max_tasks: int | None, workers: int, resamples: int, boot_seed: int,
          remeasure: bool, title: str | None) -> None:
    from lanser.errors import RequestCancelled
    from lanser.harness.agents import make_agent
    from lanser.harness.images import bootstrap_base, image_digest
    from lanser.harness.runner import run_dataset
    from lanser.harness.sandbox import cleanup
    from lanser.harness.store import Store, result_key
    from lanser.harness.task import load_tasks

    specs = agent_specs(agents, seeds)
    names = [d.name for d in datasets]
    if len(set(names)) != len(names):
        raise click.BadParameter("two datasets share a directory name", param_hint="DATASET")
    # A task file or agent that is not valid (E/BAD_REQUEST), no Docker or image (E/INFRASTRUCTURE):
    # rendered by errors_rendered, one JSON object under --json.
    loaded = {d: _spread([t for t in load_tasks(d / "tasks.jsonl") if not only or t.id in only], max_tasks)
              for d in datasets}
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
                wanted.append({"dataset": d.name, "task": task.id, "spec": spec, "notes": notes,
                               "last_paths": _patch_paths(edits[-1]) if edits else [],
                               "key": result_key(task.key(), image_id, agent.name, agent.digest())})

    db = Store(store / "results.sqlite")
    label = f"study-{hashlib.sha256(str(store.resolve()).encode()).hexdigest()[:8]}"
    cleanup(label)

    def _terminate(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, _terminate)

    def progress(i: int, n: int, task_id: str, line: str) -> None:
        click.echo(f"[{i}/{n}] {task_id}: {line}", err=True)

    try:
        # agent by agent across the datasets: a study cut short has whole agents to analyse
        for (d, spec), tasks in sorted(todo.items(), key=lambda kv: specs.index(kv[0][1])):
            click.echo(f"{d.name}: {spec} on {len(tasks)} task(s)", err=True)
            run_dataset(tasks, d, made[(d, spec)], image, image_id, db, f"study-{d.name}-{spec}",
                        store / "work" / f"study-{d.name}", progress=progress, label=label, workers=workers,
                        agent_spec=spec)
    except KeyboardInterrupt:
        removed = cleanup(label)
        click.echo(f"interrupted; removed {removed} container(s); rerun the same command to resume", err=True)
        fail(RequestCancelled("interrupted", removed=removed, resume="rerun the same command"), as_json=settings.json)

    if remeasure:
        _remeasure(wanted, {d.name: (d, loaded[d]) for d in datasets}, db, store, image, image_id)

    meta = {"command": "lanser bench study " + " ".join(str(d) for d in datasets) + f" --agents {agents} "
            f"--seeds {seeds} --bootstrap {resamples} --seed {boot_seed}"
            + "".join(f" --task {t}" for t in only) + (f" --max-tasks {max_tasks}" if max_tasks else "")
            + ("" if remeasure else " --no-remeasure"),
            "datasets": names, "agents": specs, "seeds": seeds, "duplicates": duplicates,
            "resamples": resamples, "bootstrap_seed": boot_seed, "image_id": image_id,
            "generated": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    from lanser.harness.study_report import build_study

    files, headline = build_study(db.results(), wanted, meta, title=title or f"Process reward vs outcome: "
                                  f"{', '.join(names)}", resamples=resamples, seed=boot_seed)
    out.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (out / name).write_text(text, encoding="utf-8")
    if settings.json:
        click.echo(render_json({"out": str(out), "files": sorted(files), **headline}))
    else:
        click.echo(f"{headline['n']} trajectories on {headline['tasks']} task(s): cumulative reward AUROC "
                   f"{headline['auroc']}, Spearman {headline['spearman']}; written to {out}")


def _remeasure(wanted: list[dict[str, Any]], datasets: dict[str, tuple[Path, list[Any]]], db: Any, store: Path,
               image: str, image_id: str) -> None:
    """``remeasured`` for every wanted trajectory (cached by task and final patch); a state whose
    diagnostics cannot be had is reported and left out of the remeasured predictors."""
    from lanser.errors import LanserError
    from lanser.harness.errors import InfrastructureError
    from lanser.harness.study_diag import remeasure

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
            w["remeasured"] = remeasure(task, _project_tree(task, d, image, image_id), rows[w["key"]]["patch"],
                                        store / "work" / "remeasure", cache)
        except (LanserError, InfrastructureError, RuntimeError, OSError) as exc:  # one state, not the study
            click.echo(f"remeasure {w['task']} {w['spec']}: {exc}", err=True)
        if i % 10 == 0 or i == len(wanted):
            click.echo(f"remeasured {i}/{len(wanted)}", err=True)
            cache_path.write_text(json.dumps(cache, sort_keys=True))


def _project_tree(task: Any, dataset: Path, image: str, image_id: str) -> Path:
    """The tree the harness copies into a task's work area (the project layer when there is one)."""
    try:
        from lanser.harness import project
    except ImportError:  # a harness without project layers: the source tree itself
        from lanser.harness.sources import materialize

        return materialize(task.source, dataset)
    tree: Path = project.prepare(task, dataset, image, image_id=image_id).path
    return tree
