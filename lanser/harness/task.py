"""Task files: one ``TaskSpec`` per JSONL line, validated with the line and field at fault.

A task names its source (a directory next to the task file for now; git,
Debian source and PyPI sdists are the next source kinds), how to build,
test and sanitize it, the problem statement, the patch that creates its
starting state from the source (``start_patch``), the gold patch, the test
oracles and its resource limits.  Specs are frozen and derive a content key
that the result store uses, so a changed task is never confused with the
old one.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from lanser.errors import BadRequest

__all__ = ["Commands", "Limits", "Oracles", "Source", "TaskSpec", "load_tasks", "tree_digest"]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Source(_Frozen):
    kind: Literal["dir"] = "dir"
    path: str
    #: sha256 of the source tree (``tree_digest``); checked when given.
    sha256: str | None = None


class Commands(_Frozen):
    setup: str | None = None
    build: str
    test: str
    sanitize: str | None = None


class Oracles(_Frozen):
    fail_to_pass: tuple[str, ...] = ()
    pass_to_pass: tuple[str, ...] = ()


class Limits(_Frozen):
    wall_s: float = Field(default=300.0, gt=0)
    memory_mb: int = Field(default=1024, ge=32)
    cpus: float = Field(default=1.0, gt=0)
    pids: int = Field(default=256, ge=8)
    max_steps: int = Field(default=50, ge=1)


class TaskSpec(_Frozen):
    id: str = Field(min_length=1, pattern=r"^[A-Za-z0-9._/-]+$")
    language: Literal["c", "python"]
    image: str = "base"
    source: Source
    commands: Commands
    problem: str
    start_patch: str | None = None
    gold_patch: str
    oracles: Oracles = Oracles()
    limits: Limits = Limits()

    def key(self) -> str:
        """Content hash of the whole spec: the identity results are stored under."""
        return hashlib.sha256(json.dumps(self.model_dump(mode="json"), sort_keys=True).encode()).hexdigest()

    @property
    def slug(self) -> str:
        return self.id.replace("/", "__")


def tree_digest(root: Path) -> str:
    """sha256 over (relative path, content) of every file under ``root``, in path order."""
    h = hashlib.sha256()
    for p in sorted(root.rglob("*")):
        if p.is_file():
            h.update(p.relative_to(root).as_posix().encode() + b"\0" + p.read_bytes() + b"\0")
    return "sha256:" + h.hexdigest()


def load_tasks(path: Path) -> list[TaskSpec]:
    """Every task of a JSONL file; a bad line is E/BAD_REQUEST naming the line and the field."""
    tasks: list[TaskSpec] = []
    seen: set[str] = set()
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            raw = json.loads(line)
        except ValueError as exc:
            raise BadRequest(f"{path}:{n}: not JSON: {exc}", line=n) from None
        try:
            task = TaskSpec.model_validate(raw)
        except ValidationError as exc:
            first = exc.errors()[0]
            field = ".".join(str(p) for p in first["loc"]) or "task"
            raise BadRequest(f"{path}:{n}: {field}: {first['msg']}", line=n, field=field) from None
        if task.id in seen:
            raise BadRequest(f"{path}:{n}: duplicate task id {task.id!r}", line=n, field="id")
        seen.add(task.id)
        src = path.parent / task.source.path
        if not src.is_dir():
            raise BadRequest(f"{path}:{n}: source.path: {src} is not a directory", line=n, field="source.path")
        if task.source.sha256 and tree_digest(src) != task.source.sha256:
            raise BadRequest(f"{path}:{n}: source.sha256: the source tree does not match", line=n,
                             field="source.sha256")
        tasks.append(task)
    return tasks
