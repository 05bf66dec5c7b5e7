"""The bench workflows as functions: what ``lanser bench run`` and ``lanser bench images bootstrap`` do,
returning typed summaries; the CLI only parses options and renders.

Every failure is a :class:`~lanser.errors.LanserError`: an invalid task
file or agent (E/BAD_REQUEST), no Ray (E/UNSUPPORTED_CAP), a source not
matching its sha256, and the harness's own machinery (E/INFRASTRUCTURE).
An interrupted run (Ctrl-C; a front door may turn SIGTERM into the same)
removes its containers and is E/REQUEST_CANCELLED, saying how to resume.
"""

from __future__ import annotations

import dataclasses
import hashlib
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from lanser.harness.run.driver import RunSummary

__all__ = ["BenchRun", "Image", "ProgressDisplay", "bootstrap_image", "run_bench", "run_label"]


class ProgressDisplay(Protocol):
    """Where a run shows its progress (``lanser.cli.progress.ProgressBar``)."""

    def update(self, i: int, n: int, task_id: str, line: str) -> None: ...

    def echo(self, message: str) -> None: ...

    def close(self) -> None: ...


@dataclasses.dataclass(frozen=True)
class Image:
    """The harness's base image: its tag and image id."""

    tag: str
    id: str


def bootstrap_image(*, force: bool = False, say: Callable[[str], None] | None = None) -> Image:
    """Build the base image from the Debian mirror unless one of the current recipe exists."""
    from lanser.harness.env.images import bootstrap_base, image_digest

    tag = bootstrap_base(force=force, progress=say)
    return Image(tag, image_digest(tag))


def run_label(run_id: str, out: Path) -> str:
    """The containers' ``lanser.run`` label: the run id and its results directory, so two
    runs that share a name (in different --out directories) never clean up each other."""
    return f"{run_id}-{hashlib.sha256(str(out.resolve()).encode()).hexdigest()[:8]}"


@dataclasses.dataclass(frozen=True)
class BenchRun:
    """One ``bench run``: an agent on a dataset's tasks, results stored under ``out``."""

    dataset: Path
    agent_spec: str
    out: Path
    only: tuple[str, ...] = ()
    run_id: str | None = None
    workers: int = 1
    executor: str = "local"
    ray_address: str | None = None
    retries: int = 2
    attempts: int = 1
    force: bool = False


def run_bench(
    run: BenchRun, *, say: Callable[[str], None] | None = None, display: Callable[[int], ProgressDisplay] | None = None
) -> RunSummary:
    """Run ``run.agent_spec`` on every task of ``run.dataset`` (the tasks of ``run.only``), as
    ``run.attempts`` attempts each; resumable by run id.  ``say`` hears what is being prepared,
    ``display(total)`` makes the progress display of the attempts."""
    from lanser.errors import RequestCancelled
    from lanser.harness.env.project import prepare_all
    from lanser.harness.env.sandbox import cleanup
    from lanser.harness.run.agents import make_agent
    from lanser.harness.run.driver import run_benchmark
    from lanser.harness.run.executor import make_executor
    from lanser.harness.run.store import Store
    from lanser.harness.task.spec import load_tasks

    tasks = [t for t in load_tasks(run.dataset / "tasks.jsonl") if not run.only or t.id in run.only]
    agent = make_agent(run.agent_spec, base=run.dataset)
    executor = make_executor(run.executor, workers=run.workers, ray_address=run.ray_address)
    image = bootstrap_image()
    run_id = run.run_id or f"{run.dataset.name}-{agent.name.split(':')[0]}-{time.strftime('%Y%m%dT%H%M%S')}"
    label = run_label(run_id, run.out)
    cleanup(label)  # what a killed earlier attempt of this run left behind
    bar: ProgressDisplay | None = None
    try:
        # Sources once per run; project layers too when they are built here (a Ray
        # node builds its own, in its own cache).
        prepare_all(
            tasks,
            run.dataset,
            image.tag,
            image_id=image.id,
            build=run.executor == "local",
            labels={"lanser.run": label},
            say=say,
        )
        bar = display(len(tasks) * run.attempts) if display is not None else None
        progress: Any = bar.update if bar is not None else None
        return run_benchmark(
            tasks,
            run.dataset,
            agent,
            image.tag,
            image.id,
            Store(run.out / "results.sqlite"),
            run_id,
            run.out / "work" / run_id,
            attempts=run.attempts,
            force=run.force,
            progress=progress,
            label=label,
            workers=run.workers,
            agent_spec=run.agent_spec,
            executor=executor,
            retries=run.retries,
            notice=bar.echo if bar is not None else say,
        )
    except KeyboardInterrupt:
        if bar is not None:
            bar.close()
            bar = None
        removed = cleanup(label)
        again = f" --attempts {run.attempts}" if run.attempts > 1 else ""
        raise RequestCancelled(
            f"interrupted; removed {removed} container(s); rerun with --run-id {run_id}{again} to resume",
            runId=run_id,
            removed=removed,
        ) from None
    finally:
        if bar is not None:
            bar.close()
