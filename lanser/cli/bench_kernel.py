"""``lanser bench generate kernel``: parse the options, call :func:`lanser.harness.datasets.kernel.dataset.generate_dataset`,
render its summary (the command lived in the harness before; the harness holds the workflow only)."""

from __future__ import annotations

from pathlib import Path

import click

from lanser.cli.render import errors_rendered

__all__ = ["kernel"]


@click.command(
    "kernel",
    help="""Generate KUnit tasks on real Linux code (User Mode Linux, offline).

Fetches Debian's linux-source package (pinned version and sha256) with apt,
builds a UML KUnit kernel once in the sandbox (a few minutes; cached), then
empties functions under lib/, kernel/ and fs/ or flips one operator in
them, and keeps a fault only if its KUnit suite then reports a failing case.
Writes tasks.jsonl and generation.json to --out and links --out/project to
the built tree.  --layer-only makes just that link (for a dataset generated
on another machine).

\b
Examples:
  lanser bench generate kernel --out datasets/kernel-6.1
  lanser bench generate kernel --out datasets/kernel-6.1 --layer-only
  lanser bench generate kernel --out datasets/kernel-6.1-kasan --kasan
  lanser bench generate kernel --out /tmp/k-cmdline --suite cmdline --max-tries 2
  lanser bench generate kernel --out datasets/kernel-crash-6.1 --crash""",
)
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), required=True)
@click.option("--suite", "only", multiple=True, help="Only these KUnit suites (repeatable).")
@click.option("--seed", type=int, default=1, show_default=True, help="Order in which operator flips are tried.")
@click.option(
    "--per-function",
    type=click.IntRange(min=0),
    default=1,
    show_default=True,
    help="Operator-flip tasks kept per function (besides the emptied body).",
)
@click.option(
    "--max-tries", type=click.IntRange(min=1), default=4, show_default=True, help="Operator flips tried per function."
)
@click.option("--layer-only", is_flag=True, help="Build or find the layer and link --out/project; no tasks.")
@click.option("--kasan", is_flag=True, help="Also build the suites under KASAN: the tasks' sanitize stage.")
@click.option(
    "--crash",
    is_flag=True,
    help="Crash tasks (docs/kernel-crash.md): memory errors under KASAN, "
    "the crash report as the problem; its own layer (KASAN, DAMON), built once.",
)
@click.option(
    "--cache",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Where the .deb and the built layer live (default: lanser's cache).",
)
@click.pass_obj
@errors_rendered
def kernel(
    settings: object,
    out: Path,
    only: tuple[str, ...],
    seed: int,
    per_function: int,
    max_tries: int,
    layer_only: bool,
    kasan: bool,
    crash: bool,
    cache: Path | None,
) -> None:
    from lanser.cli.render import render_json
    from lanser.errors import BadRequest
    from lanser.harness.datasets.kernel.crash import CRASH_SUITES
    from lanser.harness.datasets.kernel.dataset import generate_dataset
    from lanser.harness.datasets.kernel.suites import SUITES
    from lanser.harness.env.images import bootstrap_base
    from lanser.workspace import cache_dir

    names = [s.name for s in (CRASH_SUITES if crash else SUITES)]
    unknown = sorted(set(only) - set(names))
    if unknown:
        raise click.BadParameter(
            f"unknown suite(s) {', '.join(unknown)}; known: " + ", ".join(names), param_hint="--suite"
        )
    image = bootstrap_base()  # E/INFRASTRUCTURE: rendered by errors_rendered, like any LanserError
    if crash:
        from lanser.harness.datasets.kernel import crash as kcrash

        try:
            done = kcrash.generate(
                out,
                image,
                cache or cache_dir(),
                only=only,
                layer_only=layer_only,
                progress=lambda msg: click.echo(msg, err=True),
            )
        except FileExistsError as exc:
            raise BadRequest(str(exc), field="out") from None
        brief = {k: done[k] for k in ("package", "version", "tasks", "suites")}
        click.echo(
            render_json(brief)
            if getattr(settings, "json", False)
            else f"{out / 'project'} -> {done['layer']['key']}"
            if layer_only
            else f"{done['tasks']} crash tasks in {len(done['suites'])} suites -> {out / 'tasks.jsonl'}; "
            f"tried {len(done['tried'])}"
        )
        return
    try:
        summary = generate_dataset(
            out,
            image,
            cache or cache_dir(),
            only=only,
            seed=seed,
            per_function=per_function,
            max_tries=max_tries,
            layer_only=layer_only,
            kasan=kasan,
            progress=lambda msg: click.echo(msg, err=True),
        )
    except FileExistsError as exc:  # --out holds something that is not this generator's
        raise BadRequest(str(exc), field="out") from None
    brief = {k: summary[k] for k in ("package", "version", "tasks", "suites", "validation") if k in summary}
    if getattr(settings, "json", False):
        click.echo(render_json(brief))
    elif layer_only:
        click.echo(f"{out / 'project'} -> {summary['layer']['key']}")
    else:
        v = summary["validation"]
        click.echo(
            f"{summary['tasks']} tasks in {len(summary['suites'])} suites -> {out / 'tasks.jsonl'}; "
            f"tried {v['tried']}, not caught {v['not_caught']}, build failed {v['build_failed']}, "
            f"crashed {v['crashed_or_no_failing_case']}"
        )
