"""A kernel dataset directory: ``tasks.jsonl``, ``generation.json`` and ``project``.

The tasks' source is ``{"kind": "dir", "path": "project"}``: ``project`` is the
layer's tree in the cache (:mod:`lanser.harness.datasets.kernel.layer`), hard-linked
into the dataset directory (a real directory, nearly free: task loading refuses a
``dir`` source that leads out of the dataset through a symbolic link), made on this
machine by ``lanser bench generate kernel`` (``--layer-only`` makes just that for a
dataset checked out elsewhere).  It is never committed: a built kernel tree is
hundreds of MB and specific to the image.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from lanser.harness.datasets.kernel import generate as kgen
from lanser.harness.datasets.kernel.layer import Layer, ensure_layer
from lanser.harness.datasets.kernel.source import LINUX_6_1, KernelPackage
from lanser.harness.datasets.kernel.suites import BUILD_DIR, KUNITCONFIG, SUITES, Suite
from lanser.harness.task.worktree import copy_tree

__all__ = ["generate_dataset", "link_project"]


def link_project(layer: Layer, out: Path) -> Path:
    """``out/project``: the layer's tree hard-linked into ``out`` (copied where the cache is on
    another file system), replacing a symbolic link or a layer tree made before.

    Not a symbolic link: task loading refuses a ``dir`` source that leads out of the dataset
    directory (``spec.dir_source``).  The layer is only ever read (a task copies it into its
    work area), so its files can be shared."""
    out.mkdir(parents=True, exist_ok=True)
    dest = out / "project"
    if dest.is_symlink() or dest.is_file():
        dest.unlink()
    elif dest.exists():
        if not ((dest / KUNITCONFIG).is_file() and (dest / BUILD_DIR).is_dir()):
            raise FileExistsError(f"{dest} exists and is not a kernel layer's tree; move it away")
        shutil.rmtree(dest)
    tmp = out / ".project.new"
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        subprocess.run(["cp", "-al", "--", str(layer.tree), str(tmp)], check=True, capture_output=True)
    except (OSError, subprocess.CalledProcessError):
        shutil.rmtree(tmp, ignore_errors=True)
        copy_tree(layer.tree, tmp)
    tmp.rename(dest)
    return dest


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
