"""The kernel project layer: unpacked source, one UML KUnit build, a compilation database, trimmed.

Built once per (package, kunitconfig, image) into a cache directory:

1. the ``linux-source`` tarball unpacked (:mod:`lanser.harness.datasets.kernel.source`);
2. ``kunit.py run`` in the sandbox (``--network none``, the base image's
   toolchain): the first build (about 3-5 minutes on 2 cores) and a first run,
   whose KTAP must pass every case (the baseline of every task);
3. ``compile_commands.json`` from the kernel's own
   ``scripts/clang-tools/gen_compile_commands.py``, reduced to the
   translation units the suites cover and made position-independent
   (``directory`` relative to the database), so clangd on the host finds the
   flags in whatever copy of the tree a task runs in; gcc-only flags clang
   rejects are dropped;
4. the tree trimmed to what the build read (the dependency lists kbuild
   wrote), every Kconfig / Makefile / Kbuild, and the directories a kernel
   developer reads around lib/ (include, lib, kernel, mm, init, scripts, the
   um and x86 arch trees, kunit's tool): 1.5 GB becomes a few hundred MB, so
   a per-task copy and its git snapshot stay cheap.

The build directory (``.kunit``) is kept, so a task step is an incremental
rebuild.  ``layer.json`` (written last, beside the tree) records how the
layer was made; a layer without it is incomplete and rebuilt.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from lanser.harness.datasets.kernel import source as ksource
from lanser.harness.datasets.kernel.suites import (
    BUILD_DIR,
    KASAN_BUILD_DIR,
    KASAN_KUNITCONFIG,
    KUNITCONFIG,
    SUITES,
    Suite,
    kasan_kunitconfig,
    kunitconfig,
    sanitize_command,
    test_command,
)
from lanser.harness.env import sandbox
from lanser.harness.errors import InfrastructureError
from lanser.harness.grade import grading

__all__ = ["LAYER_VERSION", "Layer", "compile_database", "drop_debian_ignore", "ensure_layer", "keep_set", "layer_key"]

#: Bumped when the recipe below changes what a layer holds.
LAYER_VERSION = "1"
_STAGE = "kernel-layer"

#: Three hours of wall time: a first build needs 3-8 minutes of a free 2-core machine, but on a
#: loaded one every container shares one cgroup weight and a first build was seen killed at
#: one hour with 350 of its objects compiled (docs/kernel-crash.md, "Cost in CI").
BUILD_LIMITS = sandbox.Limits(wall_s=3 * 3600.0, memory_mb=3072, cpus=2.0, pids=1024, output_bytes=4 << 20)

#: Directories kept whole (the rest keeps only what the build read and the build files).
KEEP_DIRS = (
    "include/",
    "lib/",
    "kernel/",
    "mm/",
    "init/",
    "scripts/",
    "arch/um/",
    "arch/x86/",
    "usr/",
    "certs/",
    "tools/testing/kunit/",
    BUILD_DIR + "/",
    KASAN_BUILD_DIR + "/",
)
_BUILD_FILE = re.compile(r"^(Kconfig.*|Makefile.*|Kbuild.*|.*\.mk)$")
#: gcc options clang does not know (it errors on them); dropped from the compile database.
GCC_ONLY = (
    "-fconserve-stack",
    "-fno-allow-store-data-races",
    "-mindirect-branch=thunk-extern",
    "-mindirect-branch-register",
    "-mfunction-return=thunk-extern",
    "-fzero-call-used-regs=used-gpr",
    "-mrecord-mcount",
    "-fno-ipa-sra",
    "-fmin-function-alignment=16",
)


class Layer:
    """A built layer: ``tree`` (the work tree tasks copy) and its record ``info``."""

    def __init__(self, tree: Path, info: dict[str, Any]) -> None:
        self.tree, self.info = tree, info

    @property
    def baseline(self) -> dict[str, str]:
        return dict(self.info["baseline"])


def layer_key(pkg: ksource.KernelPackage, config_text: str, image_id: str, kasan: bool = False) -> str:
    """What identifies a layer: the package, the kunitconfig, the image's toolchain, this recipe."""
    raw = json.dumps(
        [pkg.name, pkg.version, pkg.sha256, config_text, image_id, LAYER_VERSION] + (["kasan"] if kasan else [])
    )
    return hashlib.sha256(raw.encode()).hexdigest()[:16]


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def ensure_layer(
    cache: Path,
    image: str,
    *,
    pkg: ksource.KernelPackage = ksource.LINUX_6_1,
    suites: tuple[Suite, ...] = SUITES,
    kasan: bool = False,
    client: Any = None,
    progress: Callable[[str], None] | None = None,
    extra_config: str = "",
    kernel_args: str = "",
    tag: str = "",
    known_failing: tuple[str, ...] = (),
    build: bool = True,
) -> Layer:
    """The layer for ``pkg`` and ``suites`` built in ``image``, from the cache or built now.

    With ``kasan`` a second build directory holds the same suites under KASAN
    (first build several minutes more): the tasks' sanitize stage.  ``extra_config``
    (debug options appended to the kunitconfig), ``kernel_args`` (the boot's) and ``tag``
    (in the directory's name) make a variant whose one build carries them: the crash
    layer of :mod:`lanser.harness.datasets.kernel.crash`.
    """
    say = progress or (lambda _msg: None)
    image_id = _image_id(image, client)
    config_text = kunitconfig(suites) + extra_config
    key = layer_key(pkg, config_text + (f"kernel_args={kernel_args}\n" if kernel_args else ""), image_id, kasan)
    home = cache / f"linux-{pkg.release}{'-kasan' if kasan else ''}{'-' + tag if tag else ''}-{key}"
    record = home / "layer.json"
    with _locked(cache / f".{home.name}.lock"):
        if record.is_file():
            return Layer(home / "tree", json.loads(record.read_text()))
        if not build:  # a caller that must not pay for (or clobber) a first build: FileNotFoundError
            raise FileNotFoundError(f"no kernel layer at {home}")
        shutil.rmtree(home, ignore_errors=True)
        home.mkdir(parents=True)
        started = time.monotonic()
        say(f"fetching {pkg.name}={pkg.version}")
        deb = ksource.fetch_deb(pkg, cache / "debs")
        say(f"unpacking {deb.name}")
        unpacked = ksource.unpack(pkg, deb, home / "unpack")
        tree = home / "tree"
        unpacked.rename(tree)
        shutil.rmtree(home / "unpack")
        (tree / KUNITCONFIG).write_text(config_text)
        drop_debian_ignore(tree / ".gitignore")
        say("first UML KUnit build and run in the sandbox (a few minutes)")
        build_started = time.monotonic()
        cmd = (
            f"python3 tools/testing/kunit/kunit.py build --build_dir={BUILD_DIR} --kunitconfig={KUNITCONFIG} "
            f"--jobs={int(BUILD_LIMITS.cpus)} && {test_command(kernel_args=kernel_args)}"
        )
        res = sandbox.run(image, cmd, tree, limits=BUILD_LIMITS, client=client, labels={"lanser.stage": "kernel-layer"})
        build_s = time.monotonic() - build_started
        baseline = grading.parse_ktap(res.output)
        if res.exit_code != 0 or not baseline:
            raise InfrastructureError(
                "the first kernel build or run failed", stage=_STAGE, log_tail="\n".join(res.output.splitlines()[-40:])
            )
        # ``known_failing``: cases the variant's configuration cannot pass (recorded, never an oracle).
        failing = sorted(n for n, v in baseline.items() if v != "pass" and n not in known_failing)
        if failing:
            raise InfrastructureError(
                f"the unmodified kernel fails KUnit cases: {', '.join(failing[:10])}", stage=_STAGE
            )
        missing = [s.name for s in suites if s.name not in baseline]
        if missing:
            raise InfrastructureError(f"suites did not run: {', '.join(missing)}", stage=_STAGE)
        kasan_info = _kasan_build(tree, image, suites, client, say) if kasan else None
        say("compilation database")
        wanted = sorted({t[0] for s in suites for t in s.targets} | {s.test_file for s in suites})
        entries = compile_database(tree, wanted)
        (tree / "compile_commands.json").write_text(json.dumps(entries, indent=1) + "\n")
        say("trimming the tree to what the build read")
        before = _tree_bytes(tree)
        keep = keep_set(tree)
        _trim(tree, keep)
        info = {
            "package": pkg.name,
            "version": pkg.version,
            "sha256": pkg.sha256,
            "image_id": image_id,
            "kunitconfig": config_text,
            "key": key,
            "layer_version": LAYER_VERSION,
            "build_and_run_s": round(build_s, 1),
            "total_s": round(time.monotonic() - started, 1),
            "tree_bytes_before_trim": before,
            "tree_bytes": _tree_bytes(tree),
            "baseline": dict(sorted(baseline.items())),
            "compile_database": wanted,
            "kasan": kasan_info,
            **(
                {"tag": tag, "kernel_args": kernel_args, "baseline_reports": grading.parse_sanitizers(res.output)}
                if tag
                else {}
            ),
        }
        record.write_text(json.dumps(info, indent=1, sort_keys=True) + "\n")
        return Layer(tree, info)


def _kasan_build(
    tree: Path, image: str, suites: tuple[Suite, ...], client: Any, say: Callable[[str], None]
) -> dict[str, Any]:
    (tree / KASAN_KUNITCONFIG).write_text(kasan_kunitconfig(suites))
    say("first KASAN build and run in the sandbox (several minutes)")
    started = time.monotonic()
    res = sandbox.run(
        image,
        sanitize_command(),
        tree,
        limits=BUILD_LIMITS,
        client=client,
        labels={"lanser.stage": "kernel-layer-kasan"},
    )
    took = time.monotonic() - started
    results = grading.parse_ktap(res.output)
    if res.exit_code != 0 or not results:
        raise InfrastructureError(
            "the first KASAN kernel build or run failed",
            stage=_STAGE,
            log_tail="\n".join(res.output.splitlines()[-40:]),
        )
    # Reports the unmodified kernel already has are the tasks' baseline, never blamed on an agent.
    return {
        "build_and_run_s": round(took, 1),
        "baseline_reports": grading.parse_sanitizers(res.output),
        "cases": len(results),
    }


_DEBIAN_IGNORE = re.compile(
    r"\n#\n# Debian packaging: ignore everything at the top level[^\n]*\n(?:#[^\n]*\n)*/\*\n!/debian/\n"
)


def drop_debian_ignore(gitignore: Path) -> bool:
    """Remove the stanza Debian's packaging appends to the top-level ``.gitignore``
    (``/*`` then ``!/debian/``): it hides the whole tree from git, so a task's git
    snapshot would be empty and no patch could be taken.  Returns whether it was there."""
    try:
        text = gitignore.read_text()
    except OSError:
        return False
    new = _DEBIAN_IGNORE.sub("\n", text)
    if new != text:
        gitignore.write_text(new)
    return new != text


def _image_id(image: str, client: Any) -> str:
    import docker  # type: ignore[import-untyped, unused-ignore]
    import docker.errors  # type: ignore[import-untyped, unused-ignore]

    owned = client is None
    try:
        if owned:
            client = docker.from_env()
        return str(client.images.get(image).id)
    except docker.errors.ImageNotFound as exc:
        raise InfrastructureError(f"image {image!r} not found (lanser bench images bootstrap)", stage=_STAGE) from exc
    except (docker.errors.DockerException, OSError) as exc:
        raise InfrastructureError(f"cannot inspect image {image!r}: {exc}", stage=_STAGE) from exc
    finally:
        if owned and client is not None:
            client.close()


def compile_database(tree: Path, wanted: Iterable[str]) -> list[dict[str, str]]:
    """clangd's compile commands for the ``wanted`` files (tree-relative), position-independent.

    Runs the kernel's ``gen_compile_commands.py`` over the build directory,
    keeps the wanted translation units, and writes ``directory`` relative to
    the database (clangd resolves it against the database's own directory)
    and ``file`` relative to ``directory``.  Other files of the tree get flags
    clangd interpolates from these (same directory, nearest name).
    """
    out = tree / BUILD_DIR / "compile_commands.full.json"
    try:
        subprocess.run(
            [
                sys.executable,
                "scripts/clang-tools/gen_compile_commands.py",
                "-d",
                BUILD_DIR,
                "-o",
                str(out.relative_to(tree)),
            ],
            cwd=tree,
            check=True,
            capture_output=True,
            text=True,
        )
        raw = json.loads(out.read_text())
    except (OSError, ValueError, subprocess.CalledProcessError) as exc:
        raise InfrastructureError(
            f"gen_compile_commands.py failed: {exc}", stage=_STAGE, log_tail=getattr(exc, "stderr", None)
        ) from exc
    finally:
        out.unlink(missing_ok=True)
    want = set(wanted)
    entries = []
    for e in raw:
        rel = os.path.relpath(e["file"], tree)
        if rel not in want:
            continue
        argv = _clang_argv(shlex.split(e["command"]))
        argv.insert(1, "-Wno-unknown-warning-option")
        entries.append(
            {"directory": BUILD_DIR, "file": os.path.relpath(e["file"], e["directory"]), "command": shlex.join(argv)}
        )
    entries.sort(key=lambda e: e["file"])
    return entries


def _clang_argv(argv: list[str]) -> list[str]:
    """``argv`` without what clang rejects: :data:`GCC_ONLY`, and KASAN's gcc spelling
    (``-fasan-shadow-offset=``, ``--param asan-*``) of the crash layer's build."""
    out: list[str] = []
    skip = False
    for i, a in enumerate(argv):
        if skip:
            skip = False
            continue
        if a == "--param" and i + 1 < len(argv) and argv[i + 1].startswith("asan-"):
            skip = True
            continue
        if a in GCC_ONLY or a.startswith(("-fasan-shadow-offset=", "--param=asan-")):
            continue
        out.append(a)
    return out


_DEP = re.compile(r"(?:^|\s)(?:\$\(wildcard\s+)?\.\./([^\s\\)]+)")


def keep_set(tree: Path) -> set[str]:
    """Tree-relative files outside :data:`KEEP_DIRS` that the build read, from kbuild's
    ``.*.cmd`` dependency lists (paths there are ``../``-relative to the build dir)."""
    keep: set[str] = set()
    cmds = [c for d in (BUILD_DIR, KASAN_BUILD_DIR) if (tree / d).is_dir() for c in (tree / d).rglob(".*.cmd")]
    for cmd in cmds:
        try:
            text = cmd.read_text(errors="replace")
        except OSError:
            continue
        keep.update(m.group(1) for m in _DEP.finditer(text))
    return keep


def _kept(rel: str, keep: set[str]) -> bool:
    return rel.startswith(KEEP_DIRS) or "/" not in rel or rel in keep or bool(_BUILD_FILE.match(rel.rsplit("/", 1)[-1]))


def _trim(tree: Path, keep: set[str]) -> None:
    for build in (BUILD_DIR, KASAN_BUILD_DIR):
        (tree / build / "source").unlink(missing_ok=True)  # kbuild's link back to the tree ("..")
    for dirpath, dirnames, filenames in os.walk(tree, topdown=False):
        base = Path(dirpath)
        for name in filenames:
            p = base / name
            rel = p.relative_to(tree).as_posix()
            if not _kept(rel, keep) or (p.is_symlink() and not p.exists()):
                p.unlink()
        for name in dirnames:
            d = base / name
            if d.is_symlink():
                if not d.exists() or not _kept(d.relative_to(tree).as_posix() + "/", keep):
                    d.unlink()
            elif not _kept(d.relative_to(tree).as_posix() + "/", keep) and not any(d.iterdir()):
                # Only directories emptied by the trim: kbuild needs the empty ones of
                # the build directory (paths like obj/../../../../x resolve through them).
                d.rmdir()


def _tree_bytes(tree: Path) -> int:
    total = 0
    for dirpath, _dirs, files in os.walk(tree):
        for name in files:
            with contextlib.suppress(OSError):
                total += os.lstat(os.path.join(dirpath, name)).st_size
    return total
