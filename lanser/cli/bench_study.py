"""``lanser bench study``: does the process reward predict success? Run, measure, write up."""

from __future__ import annotations

import signal
from pathlib import Path
from typing import Any

import click

from lanser.cli.main import Settings
from lanser.cli.render import errors_rendered, render_json
from lanser.harness.study.run import _patch_paths, _spread  # noqa: F401  (tests use them from here)

__all__ = ["study"]

FAMILIES = ("oracle", "noop", "partial", "corrupt", "shuffle")
SEEDED = ("partial", "corrupt", "shuffle")


def agent_specs(agents: str, seeds: int) -> list[str]:
    """``oracle,corrupt`` with 2 seeds -> ``oracle, corrupt:0, corrupt:1``: oracle and noop first, then
    the seeded agents, then replays (a plan seen before for a task is not run again)."""
    wanted = [a.strip() for a in agents.split(",") if a.strip()]
    bad = [a for a in wanted if a not in FAMILIES and not a.startswith("replay:")]
    if bad or not wanted:
        raise click.BadParameter(
            f"unknown agent(s) {', '.join(bad) or '(none)'}: choose from {', '.join(FAMILIES)} or replay:FILE",
            param_hint="--agents",
        )
    ordered = sorted(
        wanted,
        key=lambda a: (
            0 if a in ("oracle", "noop") else 1 if a in SEEDED else 2,
            FAMILIES.index(a) if a in FAMILIES else 0,
        ),
    )
    return [f"{a}:{s}" if a in SEEDED else a for a in ordered for s in (range(seeds) if a in SEEDED else [0])]


@click.command(
    "study",
    help="""Run synthetic trajectory agents over DATASET... and measure whether the
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
  lanser --json bench study datasets/toy-c --seeds 2 --bootstrap 200 --out /tmp/s""",
)
@click.argument("datasets", nargs=-1, required=True, type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--agents", default="oracle,partial,corrupt,shuffle,noop", show_default=True)
@click.option(
    "--seeds",
    type=click.IntRange(min=1),
    default=5,
    show_default=True,
    help="Seeds per seeded agent (partial, corrupt, shuffle).",
)
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=Path("study"), show_default=True)
@click.option(
    "--store",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path(".lanser-bench"),
    show_default=True,
    help="Where the runs' SQLite store lives (shared with bench run).",
)
@click.option("--task", "only", multiple=True, help="Only these task ids (repeatable).")
@click.option(
    "--max-tasks",
    type=click.IntRange(min=1),
    default=None,
    help="Only N tasks of each dataset, evenly spread over its task file (so every kind appears).",
)
@click.option("--workers", type=click.IntRange(min=1), default=1, show_default=True)
@click.option(
    "--bootstrap",
    "resamples",
    type=click.IntRange(min=10),
    default=1000,
    show_default=True,
    help="Bootstrap resamples per confidence interval.",
)
@click.option("--seed", "boot_seed", type=int, default=0, show_default=True, help="Seed of the bootstrap.")
@click.option(
    "--remeasure/--no-remeasure",
    default=True,
    show_default=True,
    help="Measure D of each trajectory's start and final states again, in fresh language servers, "
    "to check the recorded diagnostics term (cached beside the store).",
)
@click.option("--title", default=None, help="Title of summary.md.")
@click.option(
    "--reward",
    "reward_version",
    default=None,
    help="pr-v1 or pr-v2: the reward the headline compares with build + steps (hard.md has both; "
    "default LANSER_REWARD, else pr-v1).",
)
@click.option(
    "--wall-s",
    type=click.FloatRange(min=1.0, max=86400.0),
    default=None,
    help="Raise every task's per-stage wall limit to at least this many seconds (a run option: the "
    "task files are unchanged, the raised tasks' runs are new).",
)
@click.pass_obj
@errors_rendered
def study(
    settings: Settings,
    datasets: tuple[Path, ...],
    agents: str,
    seeds: int,
    out: Path,
    store: Path,
    only: tuple[str, ...],
    max_tasks: int | None,
    workers: int,
    resamples: int,
    boot_seed: int,
    remeasure: bool,
    title: str | None,
    reward_version: str | None,
    wall_s: float | None,
) -> None:
    from lanser.errors import RequestCancelled
    from lanser.harness.study.run import StudyRun, run_study
    from lanser.reward import selected_version

    specs = agent_specs(agents, seeds)
    names = [d.name for d in datasets]
    if len(set(names)) != len(names):
        raise click.BadParameter("two datasets share a directory name", param_hint="DATASET")

    def _terminate(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt  # SIGTERM takes the same cleanup path as Ctrl-C

    signal.signal(signal.SIGTERM, _terminate)
    options = StudyRun(
        datasets,
        tuple(specs),
        out,
        store,
        agents=agents,
        seeds=seeds,
        only=only,
        max_tasks=max_tasks,
        workers=workers,
        resamples=resamples,
        boot_seed=boot_seed,
        remeasure=remeasure,
        title=title,
        reward=selected_version(reward_version),
        wall_s=wall_s,
    )
    try:
        # A task file or agent that is not valid (E/BAD_REQUEST), no Docker or image (E/INFRASTRUCTURE):
        # rendered by errors_rendered, one JSON object under --json.
        done = run_study(options, say=lambda message: click.echo(message, err=True))
    except RequestCancelled as exc:  # interrupted: how to resume goes to stderr under --json too
        if settings.json:
            click.echo(exc.message, err=True)
        raise
    headline = done.headline
    if settings.json:
        click.echo(render_json(done.to_dict()))
    else:
        click.echo(
            f"{headline['n']} trajectories on {headline['tasks']} task(s): cumulative reward AUROC "
            f"{headline['auroc']}, Spearman {headline['spearman']}; written to {out}"
        )
