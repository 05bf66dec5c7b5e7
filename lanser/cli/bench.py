"""``lanser bench``: run agents on sandboxed tasks and score them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from lanser.cli.main import Settings
from lanser.cli.render import errors_rendered, fail, render_json

__all__ = ["bench"]

DEFAULT_OUT = Path(".lanser-bench")


@click.group(
    "bench",
    help="""Run agents on sandboxed build / test / sanitize tasks and score them.

\b
Examples:
  lanser bench images bootstrap
  lanser bench run datasets/toy-c --agent oracle
  lanser bench run datasets/toy-c --agent replay:trajectories/reverse-off-by-one.jsonl --task toy-c/reverse
  lanser bench report RUN_ID""",
)
def bench() -> None:
    pass


@bench.group("images", help="Build the harness images offline.\n\n\b\nExamples:\n  lanser bench images bootstrap")
def images() -> None:
    pass


@images.command(
    "bootstrap",
    help="Build the base image from the Debian mirror (debootstrap + docker import).\n\n"
    "\b\nExamples:\n  lanser bench images bootstrap\n  lanser bench images bootstrap --force",
)
@click.option("--force", is_flag=True, help="Rebuild even when an image of the same recipe exists.")
@click.pass_obj
@errors_rendered
def bootstrap(settings: Settings, force: bool) -> None:
    from lanser.harness.run.workflows import bootstrap_image

    image = bootstrap_image(force=force, say=_say)
    click.echo(render_json({"image": image.tag, "id": image.id}) if settings.json else f"{image.tag} {image.id}")


def _say(message: str) -> None:
    click.echo(message, err=True)


def run_label(run_id: str, out: Path) -> str:
    """:func:`lanser.harness.run.workflows.run_label` (the containers' ``lanser.run`` label)."""
    from lanser.harness.run.workflows import run_label as label

    return label(run_id, out)


def _store(out: Path) -> Any:
    from lanser.harness.run.store import Store

    return Store(out / "results.sqlite")


@bench.command(
    "run",
    help="""Run AGENT on every task of DATASET (a directory with tasks.jsonl).

AGENT is oracle, noop, partial|corrupt|shuffle[:SEED], replay:FILE (a JSONL
list of actions), cmd:COMMAND (a program speaking JSON lines) or llm:MODEL
(a model behind an OpenAI-compatible endpoint, --llm-*; docs/llm-agent.md). Results go
to --out (SQLite), as the run's own rows: a rerun with the same run id
resumes (skips the attempts it has); a run with a new run id reuses
attempts another run made (same task, agent and attempt index) and says
so; --force runs everything again. --attempts K makes K independent
attempts per task (seeded agents take SEED+i; a cmd: agent gets
LANSER_ATTEMPT and LANSER_SEED) and the summary gives pass@1 and pass@K.

\b
Examples:
  lanser bench run datasets/toy-c --agent oracle
  lanser bench run datasets/toy-c --agent noop --run-id nightly --workers 2
  lanser bench run datasets/toy-c --agent shuffle:1 --attempts 5 --run-id shuffle-k5
  lanser bench run datasets/toy-c --agent oracle --run-id nightly --force
  lanser bench run datasets/toy-c --agent oracle --executor ray --ray-address 10.0.0.5:6379
  lanser --json bench run datasets/toy-c --agent 'cmd:python3 my_agent.py'
  lanser bench run datasets/toy-c --agent llm:qwen2.5-coder --llm-base-url http://127.0.0.1:8000/v1""",
)
@click.argument("dataset", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--agent", "agent_spec", required=True)
@click.option(
    "--llm-base-url",
    "--base-url",
    default=None,
    metavar="URL",
    help="llm: agent: the Chat Completions endpoint (default: $LANSER_LLM_BASE_URL).",
)
@click.option(
    "--llm-api-key-env",
    default=None,
    metavar="NAME",
    help="llm: agent: the environment variable holding the API key (default: LANSER_LLM_API_KEY).",
)
@click.option(
    "--llm-trajectories",
    default=None,
    type=click.Path(file_okay=False, path_type=Path),
    help="llm: agent: write each attempt's trajectory (JSONL) and its replayable actions here.",
)
@click.option("--task", "only", multiple=True, help="Only these task ids (repeatable).")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=DEFAULT_OUT, show_default=True)
@click.option("--run-id", default=None, help="Name the run (default: dataset, agent and time).")
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Tasks run at once, each in its own process (local executor).",
)
@click.option(
    "--executor",
    "executor_name",
    type=click.Choice(["local", "ray"]),
    default="local",
    show_default=True,
    help="Where tasks run: this machine, or a Ray cluster (pip install 'lanser[ray]').",
)
@click.option(
    "--ray-address",
    envvar="RAY_ADDRESS",
    default=None,
    metavar="HOST:PORT",
    help="The Ray cluster's head (or 'auto' on one of its nodes); default: $RAY_ADDRESS.",
)
@click.option(
    "--retries",
    type=click.IntRange(min=0, max=10),
    default=2,
    show_default=True,
    help="Further tries of an attempt after an infrastructure failure (lost node, Docker error).",
)
@click.option(
    "--attempts",
    type=click.IntRange(min=1, max=100),
    default=1,
    show_default=True,
    help="Independent attempts per task (pass@k); a seeded agent's attempt i uses SEED+i.",
)
@click.option("--force", is_flag=True, help="Run every attempt again, even one this run or another already has.")
@click.pass_obj
@errors_rendered
def run(
    settings: Settings,
    dataset: Path,
    agent_spec: str,
    only: tuple[str, ...],
    out: Path,
    run_id: str | None,
    workers: int,
    executor_name: str,
    ray_address: str | None,
    retries: int,
    attempts: int,
    force: bool,
    llm_base_url: str | None = None,
    llm_api_key_env: str | None = None,
    llm_trajectories: Path | None = None,
) -> None:
    import os
    import signal

    from lanser.cli.progress import ProgressBar
    from lanser.errors import RequestCancelled
    from lanser.harness.run.workflows import BenchRun, run_bench

    # The llm: agent reads its settings from the environment, which worker processes inherit.
    for name, value in (
        ("LANSER_LLM_BASE_URL", llm_base_url),
        ("LANSER_LLM_API_KEY_ENV", llm_api_key_env),
        ("LANSER_LLM_TRAJECTORY_DIR", str(llm_trajectories.resolve()) if llm_trajectories else None),
    ):
        if value is not None:
            os.environ[name] = value

    def _terminate(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt  # SIGTERM takes the same cleanup path as Ctrl-C

    signal.signal(signal.SIGTERM, _terminate)
    run_spec = BenchRun(
        dataset,
        agent_spec,
        out,
        only=only,
        run_id=run_id,
        workers=workers,
        executor=executor_name,
        ray_address=ray_address,
        retries=retries,
        attempts=attempts,
        force=force,
    )
    try:
        # A LanserError is rendered by errors_rendered: an invalid task file or agent, no Ray address (2),
        # no Ray installed (72), a source not matching its sha256 (2), E/INFRASTRUCTURE (77).
        done = run_bench(run_spec, say=_say, display=ProgressBar)
    except RequestCancelled as exc:  # interrupted: how to resume goes to stderr under --json too
        if settings.json:
            _say(exc.message)
        raise
    if settings.json:
        click.echo(render_json(done.to_dict()))
        return
    run_id = done.run_id
    from lanser.harness.report.comparison import summary_line

    def shown(r: dict[str, Any]) -> str:
        return str(r["task"]) + (f" #{r['attempt'] + 1}" if attempts > 1 else "")

    click.echo(
        f"run {run_id}: "
        + (", ".join(f"{shown(r)} {r['outcome']}" for r in done.rows) or "nothing new")
        + f" ({done.ran} ran, {done.reused} reused, {done.skipped} done before)"
    )
    if done.summary is not None:
        click.echo(summary_line(done.summary))


@bench.command(
    "show",
    help="Show the results of RUN (one task's trajectory with TASK).\n\n\b\nExamples:\n"
    "  lanser bench show RUN_ID\n  lanser --json bench show RUN_ID toy-c/reverse",
)
@click.argument("run_id")
@click.argument("task", required=False)
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=DEFAULT_OUT, show_default=True)
@click.pass_obj
def show(settings: Settings, run_id: str, task: str | None, out: Path) -> None:
    from lanser.errors import NotFound
    from lanser.harness.report.comparison import summary_rows, usage_lines

    results = [r for r in _store(out).results(run_id) if task is None or r["task_id"] == task]
    if not results:
        fail(
            NotFound(f"no results for run {run_id!r}" + (f" task {task!r}" if task else "") + f" in {out}"),
            as_json=settings.json,
        )
    if settings.json:
        click.echo(render_json(results if task else summary_rows(results), pretty=settings.pretty))
        return
    for r in summary_rows(results):
        reused = f" (reused from {r['reused_from']})" if r.get("reused_from") else ""
        click.echo(
            f"{r['task']:<28} {r['agent']:<24} #{r['attempt'] + 1:<3} {r['outcome']:<16} tests {r['tests']:<6} "
            f"sanitizer {r['sanitizer']:<30} steps {r['steps']} reward {r['reward']}{reused}"
        )
    for line in usage_lines(results):  # a model-driven agent's tokens, cost and latency
        click.echo(line)
    if task:
        for result in results:
            click.echo(f"attempt {result['attempt'] + 1}:")
            for s in result["steps"]:
                click.echo(f"  step {s['step']}: {s['action']:<7} r={s['reward']:<8} cumulative {s['cumulative']}")


@bench.command(
    "report",
    help="""Compare RUN [RUN...] side by side: an HTML page, or markdown / JSON.

The HTML page (self-contained: no script, nothing fetched) shows the runs'
resolve rate, pass@1 and pass@k, mean reward and time; per task a row per
attempt with its per-step rewards plotted on one scale shared by the whole
page, its stages in run order, and the evidence behind its verdict (failing
test lines, sanitizer stacks, build error, graded patch). --format md or
json prints the same comparison on stdout, for a terminal or a CI log.

\b
Examples:
  lanser bench report nightly
  lanser bench report oracle-run noop-run --output compare.html
  lanser bench report oracle-run noop-run --format md
  lanser bench report nightly --format json > nightly.json
  lanser bench report nightly --format junit --output nightly.xml""",
)
@click.argument("run_ids", metavar="RUN [RUN...]", nargs=-1, required=True)
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=DEFAULT_OUT,
    show_default=True,
    help="The results directory the runs are in.",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["html", "md", "json", "junit"]),
    default="html",
    show_default=True,
    help="junit: JUnit XML for CI test dashboards (one test case per task and attempt).",
)
@click.option(
    "--output",
    "--html",
    "output",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write the report here (html default: OUT/report-RUN[-vs-RUN].html; md/json: stdout).",
)
@click.pass_obj
@errors_rendered
def report(settings: Settings, run_ids: tuple[str, ...], out: Path, fmt: str, output: Path | None) -> None:
    from lanser.harness.report.comparison import comparison_json, load_comparison, render_markdown, summary_line
    from lanser.harness.report.html import render_html

    comparison = load_comparison(_store(out), run_ids)  # no such run: E/NOT_FOUND (3), rendered
    if fmt != "html":
        if fmt == "junit":
            from lanser.harness.report.junit import render_junit

            text = render_junit(comparison)
        else:
            text = (
                render_markdown(comparison)
                if fmt == "md"
                else render_json(comparison_json(comparison), pretty=settings.pretty or not settings.json)
            )
        if output is None and settings.json and fmt in ("md", "junit"):  # --json: one JSON object, the text in it
            click.echo(render_json({"format": fmt, "text": text}))
        elif output is None:
            click.echo(text.rstrip("\n"))
        else:
            output.write_text(text + ("" if text.endswith("\n") else "\n"), encoding="utf-8")
            click.echo(
                render_json({"report": str(output), "format": fmt}) if settings.json else f"report: {output}",
                err=not settings.json,
            )
        return
    target = output or out / f"report-{_file_name('-vs-'.join(run_ids))}.html"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(render_html(comparison), encoding="utf-8")
    if settings.json:
        click.echo(render_json({"html": str(target), "summaries": [s.to_dict() for s in comparison.summaries]}))
        return
    for s in comparison.summaries:
        click.echo(summary_line(s))
    click.echo(f"report: {target}", err=True)


def _file_name(text: str) -> str:
    """A run id as part of a file name: no separator, no dot-file, bounded."""
    import re

    return re.sub(r"[^A-Za-z0-9_.-]", "_", text).lstrip(".")[:120] or "report"


from lanser.cli.bench_generate import generate  # noqa: E402  (the group lives in its own module)

bench.add_command(generate)

from lanser.cli.bench_source import source  # noqa: E402  (the group lives in its own module)

bench.add_command(source)

from lanser.cli.bench_study import study  # noqa: E402  (the study command lives in its own module)

bench.add_command(study)
