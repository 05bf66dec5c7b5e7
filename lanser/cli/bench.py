"""``lanser bench``: run agents on sandboxed tasks and score them."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any, NoReturn

import click

from lanser.cli.main import Settings
from lanser.cli.render import render_json

__all__ = ["bench"]

DEFAULT_OUT = Path(".lanser-bench")


@click.group("bench", help="""Run agents on sandboxed build / test / sanitize tasks and score them.

\b
Examples:
  lanser bench images bootstrap
  lanser bench run datasets/toy-c --agent oracle
  lanser bench run datasets/toy-c --agent replay:trajectories/reverse-off-by-one.jsonl --task toy-c/reverse
  lanser bench report RUN_ID""")
def bench() -> None:
    pass


@bench.group("images", help="Build the harness images offline.\n\n\b\nExamples:\n  lanser bench images bootstrap")
def images() -> None:
    pass


@images.command("bootstrap", help="Build the base image from the Debian mirror (debootstrap + docker import).\n\n"
                                  "\b\nExamples:\n  lanser bench images bootstrap\n  lanser bench images bootstrap --force")
@click.option("--force", is_flag=True, help="Rebuild even when an image of the same recipe exists.")
@click.pass_obj
def bootstrap(settings: Settings, force: bool) -> None:
    from lanser.harness.errors import InfrastructureError
    from lanser.harness.images import bootstrap_base, image_digest

    try:
        tag = bootstrap_base(force=force, progress=lambda msg: click.echo(msg, err=True))
        digest = image_digest(tag)
    except InfrastructureError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(render_json({"image": tag, "id": digest}) if settings.json else f"{tag} {digest}")


def run_label(run_id: str, out: Path) -> str:
    """The containers' ``lanser.run`` label: the run id and its results directory, so two
    runs that share a name (in different --out directories) never clean up each other."""
    import hashlib

    return f"{run_id}-{hashlib.sha256(str(out.resolve()).encode()).hexdigest()[:8]}"


def _store(out: Path) -> Any:
    from lanser.harness.store import Store

    return Store(out / "results.sqlite")


@bench.command("run", help="""Run AGENT on every task of DATASET (a directory with tasks.jsonl).

AGENT is oracle, noop, replay:FILE (a JSONL list of actions) or cmd:COMMAND
(a program speaking JSON lines). Results go to --out (SQLite); a rerun with
the same run id skips tasks already done.

\b
Examples:
  lanser bench run datasets/toy-c --agent oracle
  lanser bench run datasets/toy-c --agent noop --run-id nightly --workers 2
  lanser bench run datasets/toy-c --agent oracle --executor ray --ray-address 10.0.0.5:6379
  lanser --json bench run datasets/toy-c --agent 'cmd:python3 my_agent.py'""")
@click.argument("dataset", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--agent", "agent_spec", required=True)
@click.option("--task", "only", multiple=True, help="Only these task ids (repeatable).")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=DEFAULT_OUT, show_default=True)
@click.option("--run-id", default=None, help="Name the run (default: dataset, agent and time).")
@click.option("--workers", type=click.IntRange(min=1), default=1, show_default=True,
              help="Tasks run at once, each in its own process (local executor).")
@click.option("--executor", "executor_name", type=click.Choice(["local", "ray"]), default="local",
              show_default=True, help="Where tasks run: this machine, or a Ray cluster (pip install 'lanser[ray]').")
@click.option("--ray-address", envvar="RAY_ADDRESS", default=None, metavar="HOST:PORT",
              help="The Ray cluster's head (or 'auto' on one of its nodes); default: $RAY_ADDRESS.")
@click.option("--retries", type=click.IntRange(min=0, max=10), default=2, show_default=True,
              help="Further attempts of a task after an infrastructure failure (lost node, Docker error).")
@click.pass_obj
def run(settings: Settings, dataset: Path, agent_spec: str, only: tuple[str, ...], out: Path,
        run_id: str | None, workers: int, executor_name: str, ray_address: str | None, retries: int) -> None:
    from lanser.errors import LanserError
    from lanser.harness.agents import make_agent
    from lanser.harness.errors import InfrastructureError
    from lanser.harness.executor import make_executor
    from lanser.harness.images import bootstrap_base, image_digest
    from lanser.harness.sandbox import cleanup
    from lanser.harness.task import load_tasks

    try:
        tasks = [t for t in load_tasks(dataset / "tasks.jsonl") if not only or t.id in only]
        agent = make_agent(agent_spec, base=dataset)
    except LanserError as exc:  # an invalid task file or agent: E/BAD_REQUEST (2), one JSON object
        _exit_with(settings, exc)
    try:
        executor = make_executor(executor_name, workers=workers, ray_address=ray_address)
    except LanserError as exc:  # no address (2), no Ray installed (72)
        _exit_with(settings, exc)
    try:
        image = bootstrap_base()
        image_id = image_digest(image)
    except InfrastructureError as exc:
        raise click.ClickException(str(exc)) from None
    run_id = run_id or f"{dataset.name}-{agent.name.split(':')[0]}-{time.strftime('%Y%m%dT%H%M%S')}"
    label = run_label(run_id, out)
    cleanup(label)  # what a killed earlier attempt of this run left behind
    import signal

    def _terminate(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt  # SIGTERM takes the same cleanup path as Ctrl-C

    signal.signal(signal.SIGTERM, _terminate)
    from lanser.cli.progress import ProgressBar
    from lanser.harness.project import prepare_all
    from lanser.harness.runner import run_dataset

    bar: ProgressBar | None = None
    try:
        # Sources once per run; project layers too when they are built here (a Ray
        # node builds its own, in its own cache).
        prepare_all(tasks, dataset, image, image_id=image_id, build=executor_name == "local",
                    labels={"lanser.run": label}, say=lambda msg: click.echo(msg, err=True))
        bar = ProgressBar(len(tasks))
        rows = run_dataset(tasks, dataset, agent, image, image_id, _store(out), run_id, out / "work" / run_id,
                           progress=bar.update, label=label, workers=workers, agent_spec=agent_spec,
                           executor=executor, retries=retries, notice=bar.echo)
    except LanserError as exc:  # a source not matching its sha256 (2)
        _exit_with(settings, exc)
    except InfrastructureError as exc:  # unreachable cluster, no node can run a task, a fetch or setup failed
        raise click.ClickException(str(exc)) from None
    except KeyboardInterrupt:
        if bar is not None:
            bar.close()
        removed = cleanup(label)
        click.echo(f"interrupted; removed {removed} container(s); rerun with --run-id {run_id} to resume", err=True)
        raise SystemExit(73) from None
    finally:
        if bar is not None:
            bar.close()
    if settings.json:
        click.echo(render_json({"run": run_id, "results": rows}))
    else:
        click.echo(f"run {run_id}: " + ", ".join(f"{r['task']} {r['outcome']}" for r in rows))


def _exit_with(settings: Settings, exc: Any) -> NoReturn:
    """A LanserError as the paper says: one JSON object (--json) or one line, and its exit code."""
    if settings.json:
        click.echo(render_json({"status": "error", "error": exc.to_dict()}))
    else:
        click.echo(f"lanser: {exc.code}: {exc.message}", err=True)
    raise SystemExit(exc.exit_code)


@bench.command("show", help="Show the results of RUN (one task's trajectory with TASK).\n\n\b\nExamples:\n"
                            "  lanser bench show RUN_ID\n  lanser --json bench show RUN_ID toy-c/reverse")
@click.argument("run_id")
@click.argument("task", required=False)
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=DEFAULT_OUT, show_default=True)
@click.pass_obj
def show(settings: Settings, run_id: str, task: str | None, out: Path) -> None:
    from lanser.harness.report import summary_rows

    results = [r for r in _store(out).results(run_id) if task is None or r["task_id"] == task]
    if not results:
        raise click.ClickException(f"no results for run {run_id!r}" + (f" task {task!r}" if task else ""))
    if settings.json:
        click.echo(render_json(results if task else summary_rows(results), pretty=settings.pretty))
        return
    for r in summary_rows(results):
        click.echo(f"{r['task']:<28} {r['agent']:<24} {r['outcome']:<16} tests {r['tests']:<6} "
                   f"sanitizer {r['sanitizer']:<30} steps {r['steps']} reward {r['reward']}")
    if task:
        for s in results[0]["steps"]:
            click.echo(f"  step {s['step']}: {s['action']:<7} r={s['reward']:<8} cumulative {s['cumulative']}")


@bench.command("report", help="Write a self-contained HTML report of RUN and print its summary.\n\n\b\n"
                              "Examples:\n  lanser bench report RUN_ID\n  lanser bench report RUN_ID --html r.html")
@click.argument("run_id")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=DEFAULT_OUT, show_default=True)
@click.option("--html", "html_path", type=click.Path(dir_okay=False, path_type=Path), default=None)
@click.pass_obj
def report(settings: Settings, run_id: str, out: Path, html_path: Path | None) -> None:
    from lanser.harness.report import render_html, summary_rows

    store = _store(out)
    runs = [r for r in store.runs() if r["run_id"] == run_id]
    if not runs:
        raise click.ClickException(f"no run {run_id!r} in {out}")
    results = store.results(run_id)
    target = html_path or out / f"{run_id}.html"
    target.write_text(render_html(runs[0], results), encoding="utf-8")
    rows = summary_rows(results)
    if settings.json:
        click.echo(render_json({"html": str(target), "results": rows}))
    else:
        for r in rows:
            click.echo(f"{r['task']:<28} {r['outcome']:<16} tests {r['tests']:<6} reward {r['reward']}")
        click.echo(f"report: {target}", err=True)


from lanser.cli.bench_generate import generate  # noqa: E402  (the group lives in its own module)

bench.add_command(generate)

from lanser.cli.bench_source import source  # noqa: E402  (the group lives in its own module)

bench.add_command(source)

from lanser.cli.bench_study import study  # noqa: E402  (the study command lives in its own module)

bench.add_command(study)
