"""The project layer: a task's source with ``commands.setup`` already run, built once.

Real projects take 10 s to minutes to configure and build (autotools,
cmake, a kernel); a task must start from a tree where that has happened, so
that the agent's and the grader's builds are incremental.

Why a cached host tree and not a Docker image layer: lanser runs on the
host and reads the agent's work area there, so the work area is a host
directory bind-mounted at ``/work``, and a mount hides whatever an image
holds at ``/work``.  A built tree inside an image would have to be copied
out before every task anyway, and through ``docker cp`` (a tar stream)
rather than a local copy.  So the setup runs once in the sandbox (the task's
image, ``--network none``, the task's limits with ``setup_wall_s``) on a
copy of the materialized source mounted at ``/work``, and the built tree is
kept under ``~/.cache/lanser/projects/<key>/``, where ``key`` is a sha256 of
(source identity, image id, setup command, harness version): content
addressed, and shared by every task and run with the same inputs.  Every
later stage mounts a copy at the same ``/work``, so absolute paths the build
recorded (Makefiles, CMakeCache) stay valid.  :func:`copy_tree` copies it
with modification times kept, so make sees sources older than their objects
and rebuilds only what ``start_patch`` or the agent changes.

The layer also holds a git repository with every source file indexed (no
commit), under settings that make a ``cp -a`` copy clean, so a task's
``git add -A`` reads only what the start patch changed; the start patch's
original blobs are deleted from each task's copy
(:func:`~lanser.harness.task.worktree.forget_blobs`),
so the agent cannot read the code it is to restore from git.

The layer's manifest records its tree digest (:func:`~lanser.harness.task.spec.tree_digest`),
the image id, the setup's duration and the paths the setup created (kept
out of the task's git history and patches).  ``compile_commands.json``
files the setup wrote with container paths (``/work/...``) are rewritten
relative to themselves, so clangd on the host finds the files (lanser's
workspace makes relative databases absolute for clangd).

A failed setup is the dataset's or the infrastructure's failure, never an
agent's: :class:`~lanser.harness.errors.InfrastructureError` (stage ``setup``),
remembered for the process so that the next task of the same layer does not
run it again.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lanser.harness.env import sandbox
from lanser.harness.env.locks import file_lock
from lanser.harness.errors import InfrastructureError
from lanser.harness.task import worktree
from lanser.harness.task.spec import TaskSpec, tree_digest
from lanser.harness.task.worktree import copy_tree

__all__ = ["CACHE_ENV", "ProjectTree", "SetupFailed", "copy_tree", "layer_key", "prepare", "prepare_all"]

CACHE_ENV = "LANSER_PROJECT_CACHE"
#: Bump when what :func:`prepare` puts into a layer changes for the same inputs.
LAYER_REVISION = 2
_memo: dict[str, ProjectTree] = {}
_failed: dict[str, SetupFailed] = {}


class SetupFailed(InfrastructureError):
    """The setup command ran and exited non-zero, timed out or was OOM-killed: the same
    every time for this layer key, so it is remembered for the process (unlike an engine
    or file-system error, which a retry may get past), and its error says so."""

    retryable = False


@dataclass(frozen=True)
class ProjectTree:
    """A project layer: ``path`` is copied into each task's work area (never written).

    ``path`` is the materialized source itself when the task has no setup.
    """

    key: str
    path: Path
    digest: str
    image_id: str
    generated: tuple[str, ...] = ()
    setup_seconds: float | None = None


def cache_root() -> Path:
    from lanser.workspace import cache_dir

    return Path(os.environ.get(CACHE_ENV) or cache_dir() / "projects")


def layer_key(source_id: str, image_id: str, setup: str | None) -> str:
    from lanser.harness.run.store import HARNESS_VERSION

    raw = json.dumps([source_id, image_id, setup, HARNESS_VERSION, LAYER_REVISION])
    return hashlib.sha256(raw.encode()).hexdigest()[:32]


def prepare(
    task: TaskSpec,
    dataset_dir: Path,
    image: str,
    *,
    image_id: str | None = None,
    client: Any = None,
    labels: dict[str, str] | None = None,
    cache: Path | None = None,
) -> ProjectTree:
    """The project layer of ``task`` on ``image``: built on first use, then found.

    Raises :class:`~lanser.errors.BadRequest` for a source that does not
    match its sha256 and :class:`InfrastructureError` for a fetch or a setup
    that fails.
    """
    from lanser.harness.env.images import image_digest
    from lanser.harness.task.sources import materialize

    source_tree = materialize(task.source, dataset_dir)
    source_id = f"{task.source.kind}:{task.source.sha256}" if task.source.sha256 else _digest_of(source_tree)
    image_id = image_id or image_digest(image, client)
    setup = task.commands.setup
    key = layer_key(source_id, image_id, setup)
    if setup is None:  # nothing to build: the layer is the source itself
        return ProjectTree(key=key, path=source_tree, digest=_digest_of(source_tree), image_id=image_id)
    if key in _failed:
        raise _failed[key]
    hit = _memo.get(key)
    if hit is not None and hit.path.is_dir():
        return hit
    root = cache or cache_root()
    final = root / key
    with _lock(root, key):
        manifest = _read_manifest(final)
        if manifest is None:
            try:
                manifest = _build(task, source_tree, image, image_id, final, client, labels, key)
            except SetupFailed as exc:
                _failed[key] = exc
                raise
    layer = ProjectTree(
        key=key,
        path=final / "tree",
        digest=manifest["digest"],
        image_id=image_id,
        generated=tuple(manifest.get("generated", ())),
        setup_seconds=manifest.get("setup_seconds"),
    )
    _memo[key] = layer
    return layer


def prepare_all(
    tasks: list[TaskSpec],
    dataset_dir: Path,
    image: str,
    *,
    image_id: str | None = None,
    build: bool = True,
    labels: dict[str, str] | None = None,
    say: Callable[[str], None] | None = None,
) -> dict[str, ProjectTree | Path]:
    """Each distinct source of ``tasks`` materialized once, and with ``build`` each distinct
    (source, setup) layer prepared once, before a run: a bad pin or a failing setup
    stops the run at its start, and the tasks find everything in the cache.
    Returns, by task id, the layer (or, without ``build``, the source tree)."""
    from lanser.harness.task.sources import materialize

    out: dict[str, ProjectTree | Path] = {}
    seen: dict[tuple[str, str | None], ProjectTree | Path] = {}
    for task in tasks:
        ident = (task.source.model_dump_json(), task.commands.setup if build else None)
        if ident not in seen:
            if build and task.commands.setup and say:
                say(f"project layer of {task.source.spec()}: {task.commands.setup}")
            seen[ident] = (
                prepare(task, dataset_dir, image, image_id=image_id, labels=labels)
                if build
                else materialize(task.source, dataset_dir)
            )
            layer = seen[ident]
            if say and isinstance(layer, ProjectTree) and layer.setup_seconds is not None:
                say(f"project layer {layer.key[:12]}: {layer.digest[:19]} (setup took {layer.setup_seconds:.1f} s)")
        out[task.id] = seen[ident]
    return out


# -- building a layer --------------------------------------------------------------


def _build(
    task: TaskSpec,
    source_tree: Path,
    image: str,
    image_id: str,
    final: Path,
    client: Any,
    labels: dict[str, str] | None,
    key: str,
) -> dict[str, Any]:
    final.parent.mkdir(parents=True, exist_ok=True)
    setup = str(task.commands.setup)
    scratch = Path(tempfile.mkdtemp(prefix=".tmp-", dir=final.parent))
    try:
        tree = scratch / "tree"
        worktree.copy_tree(source_tree, tree)
        limits = sandbox.Limits(
            wall_s=task.limits.setup_wall_s,
            memory_mb=task.limits.memory_mb,
            cpus=task.limits.cpus,
            pids=task.limits.pids,
        )
        res = sandbox.run(
            image_id, setup, tree, limits=limits, client=client, labels={**(labels or {}), "lanser.stage": "setup"}
        )
        (scratch / "setup.log").write_text(res.output, encoding="utf-8")
        if res.exit_code != 0:
            why = (
                f"timed out after {limits.wall_s:.0f} s"
                if res.timed_out
                else ("was killed by the OOM killer" if res.oom_killed else f"exited with {res.exit_code}")
            )
            raise SetupFailed(
                f"setup of {task.source.spec()} ({setup!r}) {why}",
                stage="setup",
                log_tail="\n".join(res.output.splitlines()[-40:]),
            )
        dotgit = tree / ".git"  # the source's own repository: its history is not the agent's to read
        if dotgit.is_dir() and not dotgit.is_symlink():
            shutil.rmtree(dotgit)
        elif dotgit.exists() or dotgit.is_symlink():
            dotgit.unlink()
        for cdb in worktree.databases(tree):
            worktree.portable_compile_commands(cdb, tree)
        generated = _generated(source_tree, tree)
        manifest: dict[str, Any] = {
            "key": key,
            "digest": tree_digest(tree),
            "image_id": image_id,
            "setup": setup,
            "setup_seconds": round(res.duration_s, 3),
            "generated": generated,
            "source": task.source.model_dump(mode="json", exclude_defaults=True),
        }
        worktree.index_tree(tree, generated)
        (scratch / "manifest.json").write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")
        shutil.rmtree(final, ignore_errors=True)  # a manifest-less leftover of a killed build
        scratch.rename(final)
        return manifest
    except OSError as exc:
        raise InfrastructureError(f"cannot build the project layer in {final.parent}: {exc}", stage="setup") from exc
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _generated(source: Path, built: Path) -> list[str]:
    """Paths (``/``-rooted, directories with a trailing ``/``) the setup created."""
    out: list[str] = []
    for dirpath, dirnames, filenames in os.walk(built):
        rel = Path(dirpath).relative_to(built)
        for name in sorted(dirnames):
            if not (source / rel / name).exists() and not (source / rel / name).is_symlink():
                out.append(f"/{(rel / name).as_posix()}/")
        dirnames[:] = sorted(d for d in dirnames if (source / rel / d).is_dir())
        for name in sorted(filenames):
            if not (source / rel / name).exists() and not (source / rel / name).is_symlink():
                out.append(f"/{(rel / name).as_posix()}")
    return sorted(out)


# -- helpers ---------------------------------------------------------------------------


_digests: dict[str, str] = {}


def _digest_of(tree: Path) -> str:
    """An unpinned ``dir`` source's identity: its tree digest (once per process)."""
    key = str(tree)
    if key not in _digests:
        _digests[key] = tree_digest(tree)
    return _digests[key]


def _read_manifest(final: Path) -> dict[str, Any] | None:
    try:
        manifest: dict[str, Any] = json.loads((final / "manifest.json").read_text())
    except (OSError, ValueError):
        return None
    return manifest if (final / "tree").is_dir() else None


@contextlib.contextmanager
def _lock(root: Path, key: str) -> Iterator[None]:
    with file_lock(root / f".{key}.lock", stage="setup", what=f"the project cache {root}"):
        yield
