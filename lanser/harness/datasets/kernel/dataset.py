"""A kernel dataset directory: ``tasks.jsonl``, ``generation.json`` and the ``project`` link.

The tasks' source is ``{"kind": "dir", "path": "project"}``: ``project`` is a
link to the layer's tree in the cache (:mod:`lanser.harness.datasets.kernel.layer`),
made on this machine by ``lanser bench generate kernel`` (``--layer-only``
makes just the link for a dataset checked out elsewhere).  It is never
committed: a built kernel tree is hundreds of MB and specific to the image.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from lanser.harness.datasets.kernel import generate as kgen
from lanser.harness.datasets.kernel.layer import Layer, ensure_layer
from lanser.harness.datasets.kernel.source import LINUX_6_1, KernelPackage
from lanser.harness.datasets.kernel.suites import SUITES, Suite

__all__ = ["generate_dataset", "link_project"]


def link_project(layer: Layer, out: Path) -> Path:
    """``out/project`` -> the layer's tree (replacing an older link)."""
    out.mkdir(parents=True, exist_ok=True)
    link = out / "project"
    if link.is_symlink() or link.is_file():
        link.unlink()
    elif link.exists():
        raise FileExistsError(f"{link} exists and is not a link; move it away")
    os.symlink(layer.tree, link, target_is_directory=True)
    return link


def generate_dataset(
    out: Path,
    image: str,
    cache: Path,
    *,
    pkg: KernelPackage = LINUX_6_1,
    suites: tuple[Suite, ...] = SUITES,
    only: tuple[str, ...] = (),
    seed: int = 1,
    per_function: int = 1,
    max_tries: int = 4,
    layer_only: bool = False,
    kasan: bool = False,
    client: Any = None,
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Build (or find) the layer, validate faults, write the dataset; returns the summary."""
    from lanser.harness.task.spec import TaskSpec

    say = progress or (lambda _m: None)
    started = time.monotonic()
    layer = ensure_layer(cache / "kernel", image, pkg=pkg, suites=suites, kasan=kasan, client=client, progress=say)
    link_project(layer, out)
    summary: dict[str, Any] = {
        "package": pkg.name,
        "version": pkg.version,
        "sha256": pkg.sha256,
        "layer": {k: v for k, v in layer.info.items() if k != "baseline"},
    }
    if layer_only:
        return summary
    chosen = tuple(s for s in suites if not only or s.name in only)
    validated, stats = kgen.validate_all(
        layer,
        cache / "kernel",
        image,
        seed=seed,
        per_function=per_function,
        max_tries=max_tries,
        suites=chosen,
        client=client,
        progress=say,
    )
    name = out.name
    records: list[dict[str, Any]] = []
    counters: dict[str, int] = {}
    faults: list[dict[str, Any]] = []
    for v in validated:
        key = f"{v.suite.name}/{v.fault.function}"
        counters[key] = counters.get(key, 0) + (v.fault.kind == "mutate")
        original = (layer.tree / v.fault.path).read_bytes()
        record = kgen.task_record(
            v, original, layer.tree, name, counters[key], layer.baseline, kasan=bool(layer.info.get("kasan"))
        )
        TaskSpec.model_validate(record)  # what bench run will read
        records.append(record)
        faults.append(
            {
                "id": record["id"],
                "kind": v.fault.kind,
                "detail": v.fault.detail,
                "failing": record["oracles"]["fail_to_pass"],
                "check_seconds": round(v.seconds, 1),
            }
        )
    kgen.write_jsonl(records, out / "tasks.jsonl")
    summary.update(
        seed=seed,
        per_function=per_function,
        max_tries=max_tries,
        validation=stats.as_dict(),
        tasks=len(records),
        suites=sorted({f["id"].split("/")[1] for f in faults}),
        faults=faults,
        seconds=round(time.monotonic() - started, 1),
    )
    (out / "generation.json").write_text(json.dumps(summary, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    return summary
