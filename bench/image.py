#!/usr/bin/env python3
"""The lanser image: its size and the cold start of one-shot `docker run`s, in one run.

What runs, side by side, the order rotating every repetition so that drift
spreads over all of them:

container   ``docker run --rm --network none IMAGE ...`` (a new container each
            time: what a CI step pays), for
              ``--entrypoint true``  the engine's own cost of a container, no lanser;
              ``--version``          baseline: the entrypoint, setpriv, Python and click;
              ``doctor``             both pinned servers started, initialized, shut down;
              ``def``                one definition on a copy of examples/sample
                                     (mounted, owned by uid 1234), server start included;
host        the same lanser commands with the host's virtualenv
            (``lanser --no-daemon ...``), for what the container adds.

Sizes: the image, its base, and what lanser adds on top of the base (the
image's layers above the base's).  ``--toolchain`` also builds the image on
the harness's toolchain base (lanser-base; its build needs the Debian mirror,
so ``--network default``) and reports its size next to the slim one.

The image is built first with ``scripts/build-image`` (a no-op when nothing
changed) unless ``--no-build``.  Nothing is asserted: this is a measuring tool.

Read the numbers of a busy machine with care: under cgroup v1 (``docker info``
says ``CgroupVersion 1``) all containers share one CPU group that competes
with every host process as a single one, so under load a container's server
waits for CPU far longer than the same server on the host (measured here at
load 12 on 2 cores: basedpyright's check of one file took 0.87 s of CPU in
both, 4.3 s of wall time in the container against 1.2 s on the host).

    .venv/bin/python bench/image.py                 # 5 repetitions
    .venv/bin/python bench/image.py --reps 10 --toolchain
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "examples" / "sample"
DEF_SELECTOR = "pkg/report.py@L10:C33"


def sh(*cmd: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if check and proc.returncode != 0:
        sys.exit(f"{' '.join(cmd)} exited with {proc.returncode}:\n{proc.stdout[-2000:]}{proc.stderr[-2000:]}")
    return proc


def build(tag: str, *extra: str) -> None:
    env = {**os.environ, "PYTHON": sys.executable}
    print(f"building {tag} with scripts/build-image {' '.join(extra)}", file=sys.stderr, flush=True)
    proc = subprocess.run(
        [str(REPO / "scripts" / "build-image"), "--tag", tag, *extra],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    if proc.returncode != 0:
        sys.exit(f"scripts/build-image --tag {tag} {' '.join(extra)} failed (exit {proc.returncode})")


def inspect(ref: str) -> dict:
    return json.loads(sh("docker", "image", "inspect", ref).stdout)[0]


def sizes(tag: str) -> dict[str, float]:
    image = inspect(tag)
    labels = image["Config"]["Labels"] or {}
    base_layers: list[str] = []
    for key, repo in (("lanser.slim.recipe", "lanser-slim"), ("lanser.base.recipe", "lanser-base")):
        if key in labels:
            base = inspect(f"{repo}:{labels[key][:12]}")
            base_layers = base["RootFS"]["Layers"]
            base_size = base["Size"]
            break
    else:
        base_size = 0
    assert image["RootFS"]["Layers"][: len(base_layers)] == base_layers
    return {
        "image MB": image["Size"] / 1e6,
        "base MB": base_size / 1e6,
        "lanser adds MB": (image["Size"] - base_size) / 1e6,
    }


def timed(cmd: list[str]) -> float:
    started = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    took = time.perf_counter() - started
    if proc.returncode != 0:
        sys.exit(f"{' '.join(cmd)} exited with {proc.returncode}:\n{proc.stdout[-2000:]}{proc.stderr[-2000:]}")
    return took


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tag", default="lanser:latest")
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--no-build", action="store_true", help="measure the image as it is")
    parser.add_argument("--toolchain", action="store_true", help="also build on lanser-base and compare sizes")
    opts = parser.parse_args()
    if not opts.no_build:
        build(opts.tag)
    host_lanser = str(Path(sys.executable).with_name("lanser"))

    work = Path(tempfile.mkdtemp(prefix="lanser-image-bench-"))
    sample = work / "sample"
    shutil.copytree(SAMPLE, sample)
    run = ["docker", "run", "--rm", "--network", "none"]
    sh(*run, "--user", "0", "--entrypoint", "chown", "-v", f"{sample}:/work", opts.tag, "-R", "1234:1234", "/work")
    mounted = [*run, "-v", f"{sample}:/work", "-w", "/work", opts.tag]
    cases: dict[str, list[str]] = {
        "container: true (no lanser)": [*run, "--entrypoint", "true", opts.tag],
        "container: --version": [*run, opts.tag, "--version"],
        "container: doctor": [*run, opts.tag, "doctor"],
        "container: def": [*mounted, "def", DEF_SELECTOR],
        "host: --version": [host_lanser, "--version"],
        "host: doctor": [host_lanser, "--no-daemon", "doctor"],
        "host: def": [host_lanser, "--no-daemon", "-w", str(sample), "def", DEF_SELECTOR],
    }
    samples: dict[str, list[float]] = {name: [] for name in cases}
    try:
        for cmd in cases.values():  # warm-up: page cache, image layers
            timed(cmd)
        names = list(cases)
        for rep in range(opts.reps):
            for name in names[rep % len(names) :] + names[: rep % len(names)]:
                samples[name].append(timed(cases[name]))
    finally:
        sh(
            *run,
            "--user",
            "0",
            "--entrypoint",
            "chown",
            "-v",
            f"{sample}:/work",
            opts.tag,
            "-R",
            f"{os.getuid()}:{os.getgid()}",
            "/work",
            check=False,
        )
        shutil.rmtree(work, ignore_errors=True)

    size = sizes(opts.tag)
    print(
        f"image {opts.tag} ({inspect(opts.tag)['Id'][:19]}): "
        + ", ".join(f"{key} {value:.0f}" for key, value in size.items())
    )
    if opts.toolchain:
        build(f"{opts.tag}-toolchain", "--base", "toolchain", "--network", "default")
        other = sizes(f"{opts.tag}-toolchain")
        print(
            "image on the toolchain base: "
            + ", ".join(f"{key} {value:.0f}" for key, value in other.items())
            + f"; {other['image MB'] / size['image MB']:.2f}x the slim image"
        )
    baseline = statistics.median(samples["container: --version"])
    print(
        f"\ncold start, {opts.reps} runs each (median, min; ratio to the container's --version, "
        f"and to the same command on the host)"
    )
    print(f"{'':32} {'median s':>9} {'min s':>7} {'x --version':>12} {'x host':>7}")
    for name, values in samples.items():
        med = statistics.median(values)
        host = samples.get("host: " + name.split(": ", 1)[1])
        vs_host = f"{med / statistics.median(host):.2f}" if name.startswith("container") and host else ""
        print(f"{name:32} {med:9.2f} {min(values):7.2f} {med / baseline:12.2f} {vs_host:>7}")


if __name__ == "__main__":
    main()
