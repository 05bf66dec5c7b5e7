"""The sandbox side of generation: the project built once, the baseline, one candidate's runs.

The project's ``setup`` runs once on a copy of the source; the built tree
is kept (``<cache>/built/<key>``) and every later run starts from a copy
of it, modification times kept, so a candidate costs an incremental
rebuild.  Each run's result is cached by a content key (profile, source
digest, the files changed), so a re-run of the generator is quick.  The keys
name the image by its id, so a rebuilt toolchain is not served old results;
a run that timed out or was killed for memory (a loaded machine, say) is not
cached.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from lanser.harness.grade import grading

from lanser.harness.env import sandbox
from lanser.harness.errors import InfrastructureError
from lanser.harness.datasets.generate.profiles import Profile
from lanser.harness.env.locks import file_lock

__all__ = ["Outcome", "Workbench"]


@dataclass(frozen=True)
class Outcome:
    """What build, test (and sanitize, when run) said about one tree."""

    built: bool
    build_log: str
    tests: dict[str, str]
    test_log: str
    test_timed_out: bool
    sanitizer: list[dict[str, str]] | None  # None: not run
    sanitize_log: str
    seconds: dict[str, float]
    #: A stage timed out or was killed for memory: the outcome may differ on a rerun, so it is not cached.
    transient: bool = False


class Workbench:
    """Runs a profile's commands in the sandbox on copies of one built source tree."""

    def __init__(self, profile: Profile, source: Path, image: str, cache: Path, *, progress: Any = None) -> None:
        from lanser.harness.env.images import image_digest
        from lanser.harness.task.spec import tree_digest

        self.profile, self.source, self.image = profile, source, image
        self.image_id = image_digest(image)
        self.digest = tree_digest(source)
        self.key = _hash({"profile": asdict(self.profile), "source": self.digest, "image": self.image_id})[:16]
        self.cache = cache
        self.progress = progress or (lambda message: None)
        self.limits = sandbox.Limits(wall_s=profile.wall_s, memory_mb=profile.memory_mb, cpus=1.0, pids=256)
        self._built: Path | None = None

    # -- the built tree -----------------------------------------------------

    def built(self) -> Path:
        """The source tree after ``setup`` (plain and sanitized builds), made once."""
        if self._built is not None:
            return self._built
        dest = self.cache / "built" / self.key
        with _lock(dest.parent / f".{self.key}.lock"):  # another generator may be making the same tree
            if not (dest / ".lanser-built").is_file():
                self._setup(dest)
        self._built = dest
        return dest

    def _setup(self, dest: Path) -> None:
        self.progress(f"setup: {self.profile.setup}")
        scratch = Path(tempfile.mkdtemp(prefix="setup-", dir=dest.parent))
        try:
            tree = scratch / "tree"
            shutil.copytree(self.source, tree, symlinks=True)
            limits = sandbox.Limits(wall_s=max(self.profile.wall_s, 1800.0), memory_mb=2048, cpus=2.0, pids=512)
            res = sandbox.run(self.image_id, self.profile.setup, tree, limits=limits, labels={"lanser.stage": "setup"})
            if res.exit_code != 0:
                raise InfrastructureError(
                    f"setup of {self.profile.name} failed (exit {res.exit_code})",
                    stage="setup",
                    log_tail=res.output[-3000:],
                )
            (tree / ".lanser-built").write_text(self.digest + "\n")
            shutil.rmtree(dest, ignore_errors=True)
            tree.rename(dest)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)

    # -- runs -------------------------------------------------------------------

    def evaluate(self, changes: dict[str, bytes], *, sanitize: bool) -> Outcome:
        """Build and test the built tree with ``changes`` (path -> new bytes) written over it;
        sanitize too when asked (or always, when the tests already pass and ``sanitize``)."""
        key = _hash(
            {
                "bench": self.key,
                "changes": {p: hashlib.sha256(b).hexdigest() for p, b in changes.items()},
                "sanitize": sanitize,
            }
        )
        cached = self.cache / "runs" / f"{key}.json"
        if cached.is_file():
            return Outcome(**json.loads(cached.read_text()))
        outcome = self._evaluate(changes, sanitize=sanitize)
        if outcome.transient:
            return outcome
        cached.parent.mkdir(parents=True, exist_ok=True)
        tmp = cached.with_suffix(".tmp")
        tmp.write_text(json.dumps(asdict(outcome)))
        tmp.replace(cached)
        return outcome

    def _evaluate(self, changes: dict[str, bytes], *, sanitize: bool) -> Outcome:
        built = self.built()
        scratch = Path(tempfile.mkdtemp(prefix="cand-", dir=self.cache))
        try:
            copies = {}
            for name in ("plain", "asan") if sanitize else ("plain",):
                tree = scratch / name
                shutil.copytree(built, tree, symlinks=True)  # copy2: mtimes kept, so rebuilds are incremental
                for rel, data in changes.items():
                    (tree / rel).write_bytes(data)
                copies[name] = tree
            seconds: dict[str, float] = {}
            build = self._run("build", self.profile.build, copies["plain"], seconds)
            if build.exit_code != 0:
                return Outcome(
                    False, build.output[-6000:], {}, "", False, None, "", seconds, transient=_transient(build)
                )
            test = self._run("test", self.profile.test, copies["plain"], seconds)
            transient = _transient(test)
            tests = grading.parse_tests(test.output)
            san_reports: list[dict[str, str]] | None = None
            san_log = ""
            if sanitize:
                san = self._run("sanitize", self.profile.sanitize, copies["asan"], seconds)
                san_log = san.output
                san_reports = grading.parse_sanitizers(san.output)
                transient = transient or _transient(san)
                if san.timed_out:
                    san_reports.append(
                        {
                            "tool": "timeout",
                            "kind": "timeout",
                            "frame": "?",
                            "summary": "the sanitized tests ran out of time",
                        }
                    )
            return Outcome(
                True,
                build.output[-2000:],
                tests,
                test.output,
                test.timed_out,
                san_reports,
                san_log[-60000:],
                seconds,
                transient,
            )
        finally:
            shutil.rmtree(scratch, ignore_errors=True)

    def _run(self, stage: str, command: str, tree: Path, seconds: dict[str, float]) -> sandbox.RunResult:
        res = sandbox.run(
            self.image_id, command, tree, limits=self.limits, labels={"lanser.stage": f"generate-{stage}"}
        )
        seconds[stage] = round(res.duration_s, 3)
        return res


def _transient(res: sandbox.RunResult) -> bool:
    return res.timed_out or res.oom_killed


@contextlib.contextmanager
def _lock(path: Path) -> Iterator[None]:
    """An exclusive lock on ``path`` (made if missing), held for the block."""
    with file_lock(path, stage="setup"):
        yield


def _hash(data: Any) -> str:
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()
