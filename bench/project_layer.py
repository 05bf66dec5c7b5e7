"""What the project layer saves: grading on a built tree against grading from scratch.

A real project, cJSON as Debian bookworm ships it (a Debian source package,
fetched and pinned like a task's), cmake with the plain and the ASan+UBSan
builds out of tree, its ctest suite.  Measured side by side in one run:
- baseline: no setup; the build and sanitize stages configure and build
  everything (what every task paid before the project layer);
- layer: the setup (configure + both builds) once, then per task a reset
  (copy of the built tree, start patch, git) and incremental stages.
Each task's start patch edits one file (--file, default cJSON.c).  Note that
cJSON's tests ``#include "../cJSON.c"`` (tests/common.h), so an edit of cJSON.c
rebuilds every test program in both builds: the worst case for an
incremental build; cJSON_Utils.c is what most other edits look like.

Usage: .venv/bin/python bench/project_layer.py [--tasks N]
No timing is asserted anywhere; this prints seconds and ratios.
"""

from __future__ import annotations

import argparse
import difflib
import json
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
SOURCE = {
    "kind": "debian",
    "package": "cjson",
    "version": "1.7.15-1+deb12u4",
    "sha256": "764c2de141d680f4fb4cada30c526dacaa30ead061b9b9c34f2b81e2df0f8439",
}
SAN = "-O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer"
CONFIGURE = "cmake -S . -B build -DENABLE_CJSON_TEST=On"
CONFIGURE_ASAN = (
    f"cmake -S . -B build-asan -DENABLE_CJSON_TEST=On -DCMAKE_C_FLAGS='{SAN}' "
    "-DCMAKE_EXE_LINKER_FLAGS='-fsanitize=address,undefined' "
    "-DCMAKE_SHARED_LINKER_FLAGS='-fsanitize=address,undefined'"
)
BUILD, BUILD_ASAN = "cmake --build build -- -j2", "cmake --build build-asan -- -j2"
TEST, TEST_ASAN = "cd build && ctest", "cd build-asan && ctest"


def start_patch(tree: Path, n: int, name: str) -> str:
    """A comment added to ``name``: the file (and whatever includes it) must be rebuilt."""
    old = (tree / name).read_text()
    new = old + f"/* lanser bench {n} */\n"
    return "".join(difflib.unified_diff(old.splitlines(True), new.splitlines(True), f"a/{name}", f"b/{name}"))


def task(n: int, tree: Path, layer: bool, name: str = "cJSON.c") -> Any:
    from lanser.harness.task.spec import TaskSpec

    commands = (
        {
            "setup": f"{CONFIGURE} && {BUILD} && {CONFIGURE_ASAN} && {BUILD_ASAN}",
            "build": BUILD,
            "test": TEST,
            "sanitize": f"{BUILD_ASAN} && {TEST_ASAN}",
        }
        if layer
        else {
            "build": f"{CONFIGURE} && {BUILD}",
            "test": TEST,
            "sanitize": f"{CONFIGURE_ASAN} && {BUILD_ASAN} && {TEST_ASAN}",
        }
    )
    return TaskSpec.model_validate(
        {
            "id": f"cjson/{'layer' if layer else 'scratch'}-{n}",
            "language": "c",
            "source": SOURCE,
            "commands": commands,
            "problem": "-",
            "start_patch": start_patch(tree, n, name),
            "gold_patch": "",
            "limits": {"wall_s": 900, "memory_mb": 2048, "cpus": 2, "pids": 512},
        }
    )


def attempt(spec: Any, image: str, work: Path) -> dict[str, Any]:
    from lanser.harness.run.runner import TaskEnv

    env = TaskEnv(spec, work, image, work / "tasks", labels={"lanser.run": "project-layer-bench"})
    try:
        t = time.monotonic()
        env.reset()
        reset_s = time.monotonic() - t
        env.step({"type": "submit"})
        verdict, stages, _ = env.grade()
    finally:
        env.close()
        env.loop.close()
    return {
        "task": spec.id,
        "outcome": verdict["outcome"],
        "tests": verdict.get("tests_total"),
        "reset": reset_s,
        "stages": {k: v.get("seconds", 0.0) for k, v in stages.items()},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", type=int, default=2, help="tasks per variant (default 2)")
    parser.add_argument("--file", default="cJSON.c", help="the file each start patch edits (default cJSON.c)")
    args = parser.parse_args()

    from lanser.harness.env import project
    from lanser.harness.env.images import bootstrap_base, image_digest
    from lanser.harness.task.sources import materialize
    from lanser.harness.task.spec import Source

    image = bootstrap_base()
    tree = materialize(Source.model_validate(SOURCE), REPO)
    work = Path(tempfile.mkdtemp(prefix="lanser-layer-bench-"))
    os.environ[project.CACHE_ENV] = str(work / "layers")  # a cold layer, measured here
    t = time.monotonic()
    layer = project.prepare(task(0, tree, True), work, image, labels={"lanser.run": "project-layer-bench"})
    setup_wall = time.monotonic() - t
    rows = [attempt(task(n, tree, False, args.file), image, work) for n in range(1, args.tasks + 1)]
    rows += [attempt(task(n, tree, True, args.file), image, work) for n in range(1, args.tasks + 1)]

    print(
        f"cjson {SOURCE['version']} (debian source), image {image_digest(image)[:19]}, start patches edit {args.file}"
    )
    print(
        f"setup once (configure + plain and ASan builds, in the sandbox): {layer.setup_seconds:.1f} s "
        f"(with copy, digest, cache: {setup_wall:.1f} s)\n"
    )
    print(f"{'task':<22} {'outcome':<10} {'reset':>7} {'build':>7} {'test':>7} {'sanitize':>9} {'stages':>8}")
    for r in rows:
        s = r["stages"]
        print(
            f"{r['task']:<22} {r['outcome']:<10} {r['reset']:>6.1f}s {s.get('build', 0):>6.1f}s "
            f"{s.get('test', 0):>6.1f}s {s.get('sanitize', 0):>8.1f}s {sum(s.values()):>7.1f}s"
        )

    def per_task(kind: str) -> float:
        return statistics.median(r["reset"] + sum(r["stages"].values()) for r in rows if kind in r["task"])

    scratch, layered = per_task("scratch"), per_task("layer")
    print(
        f"\nper task (reset + stages, median): from scratch {scratch:.1f} s, on the layer {layered:.1f} s, "
        f"ratio {scratch / layered:.2f}x"
    )
    if scratch > layered:
        print(f"the setup pays for itself after {layer.setup_seconds / (scratch - layered):.1f} tasks")
    out = REPO / "bench" / "results" / f"project_layer-{time.strftime('%Y%m%dT%H%M%S')}.json"
    out.write_text(
        json.dumps(
            {
                "file": args.file,
                "setup_s": layer.setup_seconds,
                "setup_wall_s": setup_wall,
                "rows": rows,
                "per_task_scratch_s": scratch,
                "per_task_layer_s": layered,
            },
            indent=1,
        )
        + "\n"
    )
    print(f"raw: {out.relative_to(REPO)}")


if __name__ == "__main__":
    main()
