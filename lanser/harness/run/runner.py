"""The task loop: prepare, let the agent act step by step, grade what it left.

An agent's edits are applied by lanser on the host (``check --apply``: the
patch is evaluated speculatively first, so every edit step has its process
reward), its shell commands run in the sealed sandbox on the same work
area, its lanser requests are answered by the same warm orchestrator.
lanser runs on the host, not in the image: the image then needs no Python
packages, so it can be bootstrapped offline from the Debian mirror alone.
On submit the grader takes the agent's changes from the work area without
running anything there (no git: its config is the agent's to write), keeps
those the task allows, applies them as one patch to a fresh copy of the
project layer (:mod:`lanser.harness.grade.cleanroom`), and builds, tests and
sanitizes that; grading reads only the stage logs (docs/grading.md).
"""

from __future__ import annotations

import os
import secrets
import shutil
import stat
import string
import time
from collections.abc import MutableMapping
from pathlib import Path
from typing import Any

from lanser import gitsafe
from lanser.harness.env import diskguard, project, sandbox
from lanser.harness.env.project import ProjectTree
from lanser.harness.errors import InfrastructureError
from lanser.harness.grade import cleanroom, grading
from lanser.harness.run import startstate
from lanser.harness.run.agents import Agent
from lanser.harness.run.driver import lost_result
from lanser.harness.task import worktree
from lanser.harness.task.spec import TaskSpec

__all__ = ["TaskEnv", "harden_git_env", "reseal_git", "run_attempt", "run_dataset", "run_task"]

RUN_LIMITS = sandbox.Limits(wall_s=60.0, memory_mb=512, cpus=1.0, pids=128, output_bytes=64 * 1024)
#: What the agent's ``run`` steps may add to the work area over a whole episode (MiB, files), and what
#: a graded build or test may add to its tree: the agent's code drives both (:mod:`~lanser.harness.env.diskguard`).
RUN_DISK = (2048, 100_000)
GRADE_DISK = (4096, 200_000)


#: Git settings every git this process starts takes over any repository's config (``GIT_CONFIG_COUNT``
#: has the command line's precedence): lanser answers the agent's requests in its work area on the
#: host, and lanser's workspace lists files with ``git ls-files`` there, which would run a
#: ``core.fsmonitor`` command the agent wrote into ``.git/config`` (when git trusts the directory:
#: a harness run by a non-root user owns the work area).
_GIT_OVERRIDES = gitsafe.OVERRIDES


def harden_git_env(env: MutableMapping[str, str] = os.environ) -> None:
    """Add :data:`_GIT_OVERRIDES` to ``env``'s ``GIT_CONFIG_COUNT`` list (once)."""
    count = int(env.get("GIT_CONFIG_COUNT") or 0)
    have = {env.get(f"GIT_CONFIG_KEY_{i}") for i in range(count)}
    for key, value in _GIT_OVERRIDES:
        if key not in have:
            env[f"GIT_CONFIG_KEY_{count}"], env[f"GIT_CONFIG_VALUE_{count}"] = key, value
            count += 1
    env["GIT_CONFIG_COUNT"] = str(count)


def reseal_git(work: Path, config: bytes) -> None:
    """Give the work area's repository back the configuration the harness wrote, after the
    agent's shell ran there: a ``filter.*.clean`` command (with a ``.gitattributes`` naming
    it), ``include.path``, ``core.worktree``, a ``commondir`` or a ``.git`` link or file
    pointing at a repository the agent made would otherwise act the next time lanser runs
    git in the work area on the host.  A ``.git`` that is no longer a directory is removed
    (lanser then lists files without git)."""
    dotgit = work / ".git"
    try:
        st = os.lstat(dotgit)
    except FileNotFoundError:
        return
    if not stat.S_ISDIR(st.st_mode):
        dotgit.unlink()
        return
    for name in ("config", "commondir", "config.worktree", "gitdir"):
        path = dotgit / name
        try:
            if os.path.isdir(path) and not os.path.islink(path):
                shutil.rmtree(path)
            else:
                path.unlink()
        except FileNotFoundError:
            pass
    fd = os.open(dotgit / "config", os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
    with os.fdopen(fd, "wb") as f:
        f.write(config)


#: The grader's copies of the fresh tree, under the task directory (never mounted for the agent).
_GRADE_TREES = {"build": "grade", "test": "grade", "sanitize": "grade-sanitize"}


class TaskEnv:
    """A gym-style environment over one task: ``reset()`` then ``step(action)`` until done."""

    def __init__(
        self,
        task: TaskSpec,
        dataset_dir: Path,
        image: str,
        workroot: Path,
        *,
        labels: dict[str, str] | None = None,
        client: Any = None,
        image_id: str | None = None,
    ) -> None:
        self.task, self.dataset_dir, self.image, self.image_id = task, dataset_dir, image, image_id
        self.project: ProjectTree | None = None
        self.taskdir = workroot / task.slug
        self.work = self.taskdir / "work"
        self.labels = labels or {}
        self.client = client
        self.lanser: Any = None  # a lanser.client.Client session on the work area, from reset() to grading
        self.collected: cleanroom.Collected | None = None
        self._git_config = b""
        self._tracked: frozenset[str] | None = None
        self.start_build: dict[str, Any] | None = None  # what reset rebuilt: see startstate.rebuild
        self.disk_cap: diskguard.DiskCap | None = None  # what the work area may hold while the agent acts
        self.steps: list[dict[str, Any]] = []
        self.total = 0.0
        self.done = False

    # -- gym API -----------------------------------------------------------

    def reset(self) -> dict[str, Any]:
        from lanser.client import Client

        self.close()
        # The project layer (source + setup, built once and shared); the copy keeps
        # modification times, so the builds of the agent and the grader are incremental.
        self.project = project.prepare(
            self.task, self.dataset_dir, self.image, image_id=self.image_id, client=self.client, labels=self.labels
        )
        self.image_id = self.project.image_id
        shutil.rmtree(self.taskdir, ignore_errors=True)
        self.taskdir.mkdir(parents=True)
        # A built layer (one with a setup) comes with its files indexed in a fresh repository;
        # without a setup the layer is the source itself, whose own .git (and history) stays out.
        indexed = self.task.commands.setup is not None
        worktree.copy_tree(self.project.path, self.work, exclude=() if indexed else (".git",))
        if not indexed:
            worktree.init_repo(self.work)
        if self.task.start_patch:
            originals = cleanroom.apply_start_patch(self.work, self.task.start_patch)
            if indexed:
                worktree.forget_blobs(self.work, originals)
        # The last git the harness runs in the work area: the agent has not acted yet.
        worktree.git(self.work, "add", "-A")
        worktree.git(self.work, "commit", "-qm", "start")
        self._git_config = (self.work / ".git" / "config").read_bytes()
        # What the start commit holds, listed before the agent acts: the rest of the layer is output.
        self._tracked = frozenset(p for p in worktree.git(self.work, "ls-files", "-z").split("\0") if p)
        # The layer's outputs were compiled before the start patch: rebuilt (or deleted) here, so
        # that no object, archive or binary in the work area holds the code the agent must write.
        self.start_build = startstate.rebuild(
            self.task, self.work, self.image, self._tracked, labels=self.labels, client=self.client
        )
        if self.start_build is not None:
            reseal_git(self.work, self._git_config)  # the project's build system ran there
        self.disk_cap = diskguard.cap_over(self.work, *RUN_DISK)
        harden_git_env()  # before lanser first runs git in the work area
        self.lanser = Client(self.work, daemon=False, timeout=120.0, cache=False).open()
        self.steps, self.total, self.done = [], 0.0, False
        return self._observation(None)

    def step(self, action: dict[str, Any]) -> tuple[dict[str, Any], float, bool, dict[str, Any]]:
        if self.done:
            raise RuntimeError("the episode is over; call reset()")
        started = time.monotonic()
        kind = action.get("type")
        reward = 0.0
        result: dict[str, Any]
        if kind == "edit":
            result = self._edit(str(action.get("patch", "")))
            reward = float(result["processReward"]["r"])
        elif kind == "lanser":
            request = action.get("request") or {}
            if isinstance(request, dict) and isinstance(request.get("args"), dict) and request["args"].get("apply"):
                result = {"bundle": self._apply_through_lanser(request)}
            else:
                result = {"bundle": self._lanser(request)}
        elif kind == "run":
            res = sandbox.run(
                self.image,
                str(action.get("command", "true")),
                self.work,
                limits=RUN_LIMITS,
                labels=self.labels,
                client=self.client,
                disk_cap=self.disk_cap,
            )
            result = {"exitCode": res.exit_code, "output": res.output[-8000:], "timedOut": res.timed_out}
            if res.disk_exceeded:
                result["diskExceeded"] = res.disk_exceeded
            reseal_git(self.work, self._git_config)  # before lanser runs git there again
        elif kind == "submit":
            self.done = True
            result = {"submitted": True}
        else:
            result = {"error": f"unknown action type {kind!r}: edit, lanser, run or submit"}
        self.total += reward
        record = {
            "step": len(self.steps) + 1,
            "action": kind,
            "reward": reward,
            "cumulative": round(self.total, 9),
            "seconds": round(time.monotonic() - started, 3),
            "result": _brief(result),
        }
        self.steps.append(record)
        if len(self.steps) >= self.task.limits.max_steps:
            self.done = True
        return self._observation(result), reward, self.done, record

    def close(self) -> None:
        if self.lanser is not None:
            self.lanser.close()
            self.lanser = None

    # -- grading -------------------------------------------------------------

    def grade(self) -> tuple[dict[str, Any], dict[str, Any], str]:
        """Grade in a clean room; returns (verdict, stages, the graded patch).

        The agent's work area is only read (in Python, links never followed): its
        changes that the task allows are applied as one patch to a fresh copy of
        the project layer with the start patch, and build, test and sanitize run
        on copies of that (see :mod:`lanser.harness.grade.cleanroom`)."""
        self.close()
        assert self.project is not None, "reset() first"
        fresh = self.taskdir / _GRADE_TREES["build"]  # built in place; the sanitizer's copy is taken first
        started = time.monotonic()
        for name in ("ignore-check", *set(_GRADE_TREES.values())):
            shutil.rmtree(self.taskdir / name, ignore_errors=True)
        try:
            worktree.copy_tree(self.project.path, fresh, exclude=(".git", ".lanser", ".cache"))
            if self.task.start_patch:
                cleanroom.apply_start_patch(fresh, self.task.start_patch)
            collected = cleanroom.collect(
                self.work,
                fresh,
                self.task.protected_globs,
                self.project.generated,
                tracked=self._tracked,
                ignored=lambda paths: worktree.ignored_paths(fresh, self.taskdir / "ignore-check", paths),
            )
            cleanroom.apply(fresh, collected)
            if self.task.test_patch:  # hidden tests: the grader's, after the agent's changes (docs/mining.md)
                cleanroom.apply_start_patch(fresh, self.task.test_patch, "test_patch")
        except OSError as exc:
            raise InfrastructureError(f"cannot make the graded tree: {exc}", stage="grade") from exc
        self.collected = collected
        commands = self.task.commands
        plan = [("build", commands.build), ("test", commands.test)]
        if commands.sanitize:
            plan.append(("sanitize", commands.sanitize))
        for copy in sorted({_GRADE_TREES[name] for name, _ in plan} - {_GRADE_TREES["build"]}):
            worktree.copy_tree(fresh, self.taskdir / copy)
        canary = self._plant_canary(fresh)  # in the tree the tests run in, after the sanitizer's copy
        # The clean room is the first stage: what the grader kept and dropped of the agent's
        # changes, so that grading.grade() re-grades from the stages alone.
        stages: dict[str, Any] = {
            "clean_room": {
                "seconds": round(time.monotonic() - started, 3),
                "kept": sorted(collected.files),
                "dropped": collected.dropped,
                "dropped_more": collected.dropped_more,
            }
        }
        limits = sandbox.Limits(
            wall_s=self.task.limits.wall_s,
            memory_mb=self.task.limits.memory_mb,
            cpus=self.task.limits.cpus,
            pids=self.task.limits.pids,
        )
        for name, command in plan:
            tree = self.taskdir / _GRADE_TREES[name]
            try:
                res = sandbox.run(
                    self.image,
                    command,
                    tree,
                    limits=limits,
                    labels={**self.labels, "lanser.stage": name},
                    client=self.client,
                    disk_cap=diskguard.cap_over(tree, *GRADE_DISK),
                )
                stages[name] = {
                    "exit_code": res.exit_code,
                    "output": res.output,
                    "timed_out": res.timed_out,
                    "oom_killed": res.oom_killed,
                    "seconds": round(res.duration_s, 3),
                    **self.environment(res.image_id),
                }
                if res.disk_exceeded:
                    stages[name]["disk_exceeded"] = res.disk_exceeded
            except InfrastructureError as exc:
                stages[name] = {"infra_error": str(exc)}
                break
            if name == "test":  # how the log is read, kept with it: a verdict re-grades from its stages alone
                stages[name]["test_log"] = self.task.test_log.model_dump(mode="json", exclude_defaults=True)
                if canary is not None:
                    stages[name]["canary"] = canary
                if self.task.test_log.files:
                    stages[name]["files"] = grading.read_result_files(tree, self.task.test_log.files)
            if name == "build" and res.exit_code != 0:
                break
        oracles = self.task.oracles.model_dump(mode="json")
        verdict = grading.grade(stages, oracles, baseline_sanitizer=oracles["known_sanitizer_reports"])
        return verdict, stages, collected.patch

    def _plant_canary(self, tree: Path) -> str | None:
        """Apply the task's canary under a name drawn now (see :class:`~lanser.harness.task.spec.Canary`);
        return the name the test log will give it."""
        from lanser.harness.task.spec import CANARY_SLOT

        if self.task.canary is None:
            return None
        name = "".join(secrets.choice(string.ascii_lowercase) for _ in range(12))
        try:
            cleanroom.apply_start_patch(tree, self.task.canary.patch.replace(CANARY_SLOT, name), "canary")
        except OSError as exc:
            raise InfrastructureError(f"cannot plant the canary: {exc}", stage="grade") from exc
        return self.task.canary.test.replace(CANARY_SLOT, name)

    def environment(self, image_id: str | None = None) -> dict[str, Any]:
        """What the task ran on, by digest: the image id and the project layer's tree digest."""
        layer = self.project
        return {
            "image_id": image_id or self.image_id,
            "project_digest": layer.digest if layer else None,
            "setup_seconds": layer.setup_seconds if layer else None,
        }

    # -- helpers ---------------------------------------------------------------

    def _edit(self, patch: str) -> dict[str, Any]:
        """An ``edit`` step.  A patch that leaves the jail or touches a protected path (the task's
        tests, build recipes) or lanser's own files is refused whole, before anything else.  A patch
        whose files all have a language server is ``check --apply``:
        evaluated speculatively (its reward), then written.  A patch touching a file no server
        serves (a grammar, a ``.jq`` prelude, a ``config.h.in``) is written as text
        (:mod:`lanser.edits.text`: the same jail and transaction); the
        files of it that have a server are still evaluated speculatively first, and the record
        names the files that had none (``noServer``)."""
        from lanser.edits import text
        from lanser.edits.plan import ChangeSet
        from lanser.errors import LanserError
        from lanser.lsp.registry import LANGUAGE_OF_SUFFIX
        from lanser.reward import process_reward

        def served(rel: str) -> bool:
            return Path(rel).suffix.lower() in LANGUAGE_OF_SUFFIX

        refused = process_reward(0, 0, False, 1.0)  # refused before evaluation: nothing safe happened
        guard = cleanroom.compile_globs(self.task.protected_globs)
        try:  # one gate for both paths: the jail, lanser's own files, the task's protected paths
            changes = text.plan_text(self.work, patch, protected=lambda rel: bool(guard and guard.match(rel)))
        except LanserError as exc:
            return {
                "status": "error",
                "error": exc.to_dict(),
                "processReward": refused,
                "appeared": [],
                "disappeared": [],
            }
        if all(served(c.new_path or c.path) for c in changes.changes):
            bundle = self._lanser({"cmd": "check", "args": {"patch": patch, "apply": True, "allowDirty": True}})
            speculative = (bundle.get("edits") or {}).get("speculative", {})
            return {
                "status": bundle["status"],
                "error": bundle.get("error"),
                "processReward": bundle.get("processReward") or refused,
                "appeared": speculative.get("appeared", []),
                "disappeared": speculative.get("disappeared", []),
            }
        with_server = [c for c in changes.changes if served(c.new_path or c.path)]
        no_server = sorted(
            {c.new_path or c.path for c in changes.changes} - {c.new_path or c.path for c in with_server}
        )
        reward, appeared, disappeared = process_reward(0, 0, True, 1.0), [], []
        if with_server:  # the language-server facts of the files that have one, before anything is written
            bundle = self._lanser({"cmd": "check", "args": {"patch": ChangeSet(with_server).diff()}})
            if bundle["status"] != "ok":
                return {
                    "status": bundle["status"],
                    "error": bundle.get("error"),
                    "processReward": bundle.get("processReward") or refused,
                    "appeared": [],
                    "disappeared": [],
                    "noServer": no_server,
                }
            speculative = (bundle.get("edits") or {}).get("speculative", {})
            reward = bundle.get("processReward") or reward
            appeared, disappeared = speculative.get("appeared", []), speculative.get("disappeared", [])
        try:
            text.apply_text(self.work, changes)
        except LanserError as exc:
            return {
                "status": "error",
                "error": exc.to_dict(),
                "processReward": refused,
                "appeared": [],
                "disappeared": [],
            }
        return {
            "status": "ok",
            "error": None,
            "processReward": reward,
            "appeared": appeared,
            "disappeared": disappeared,
            "noServer": no_server,
            "note": f"no language server for {', '.join(no_server)}: applied as text, no facts for "
            + ("it" if len(no_server) == 1 else "them"),
        }

    def _apply_through_lanser(self, request: dict[str, Any]) -> dict[str, Any]:
        """A rename, code action or check the agent asks lanser to write: previewed first, and
        refused whole if it would write a protected path (a rename reaching into the task's tests
        would be cut in two by the grader, which keeps no edit to them)."""
        from lanser.edits import text
        from lanser.errors import FsPermissions

        preview = self._lanser({**request, "args": {**request["args"], "apply": False}})
        if preview.get("status") != "ok":
            return preview
        guard = cleanroom.compile_globs(self.task.protected_globs)
        diff = (preview.get("edits") or {}).get("diff") or ""
        blocked = [p for p in text.patch_paths(diff) if guard and guard.match(p)]
        if blocked:
            refusal = FsPermissions(
                f"{blocked[0]} is protected (the task's tests or build recipes); the edit would write "
                f"{len(blocked)} protected file(s), refused whole",
                path=blocked[0],
            )
            return {"status": "error", "bundleId": None, "error": refusal.to_dict()}
        return self._lanser({**request, "args": {**request["args"], "allowDirty": True}})

    def _lanser(self, raw: dict[str, Any]) -> dict[str, Any]:
        # One request through the SDK (a line that is not a Request: its E/BAD_REQUEST bundle).
        data: dict[str, Any] = self.lanser.batch([raw])[0].data
        return data

    def _observation(self, last: dict[str, Any] | None) -> dict[str, Any]:
        return {
            "task": {
                "id": self.task.id,
                "problem": self.task.problem,
                "language": self.task.language,
                # The rules of the episode: how many actions it may take, and what it may not edit.
                "max_steps": self.task.limits.max_steps,
                "protected": list(self.task.protected_globs),
            },
            "step": len(self.steps),
            "last": last,
            "reward": round(self.total, 9),
        }


def _brief(result: dict[str, Any]) -> dict[str, Any]:
    out = dict(result)
    if "bundle" in out:
        b = out.pop("bundle")
        out["bundle"] = {"status": b.get("status"), "bundleId": b.get("bundleId"), "error": b.get("error")}
    return out


def run_task(
    task: TaskSpec,
    dataset_dir: Path,
    agent: Agent,
    image: str,
    workroot: Path,
    *,
    labels: dict[str, str] | None = None,
    client: Any = None,
    image_id: str | None = None,
) -> dict[str, Any]:
    """One attempt of ``agent`` at ``task``: steps with rewards, stages, verdict, final patch,
    and the environment it ran on (image id, project layer digest)."""
    env = TaskEnv(task, dataset_dir, image, workroot, labels=labels, client=client, image_id=image_id)
    started = time.monotonic()
    try:
        obs = env.reset()
        agent.reset(task, obs)
        done = False
        while not done:
            obs, _, done, _ = env.step(agent.act(obs))
        verdict, stages, patch = env.grade()
    except InfrastructureError as exc:
        verdict, stages, patch = {"outcome": "infra_error", "error": str(exc)}, {}, ""
    finally:
        agent.close()
        env.close()
    result = {
        "task_id": task.id,
        "agent": agent.name,
        "verdict": verdict,
        "steps": env.steps,
        "stages": stages,
        "patch": patch,
        "seconds": round(time.monotonic() - started, 3),
        "reward_total": round(sum(s["reward"] for s in env.steps), 9),
        "environment": env.environment(),
    }
    if env.start_build is not None:
        result["environment"]["start_build"] = env.start_build
    usage = getattr(agent, "usage", None)  # a model-driven agent's tokens, cost and latency, stored with the result
    if callable(usage):
        result["usage"] = usage()
    return result


def run_dataset(
    tasks: list[TaskSpec],
    dataset_dir: Path,
    agent: Agent,
    image: str,
    image_id: str,
    store: Any,
    run_id: str,
    workroot: Path,
    **kwargs: Any,
) -> list[dict[str, Any]]:
    """A run's attempts, stored as they finish: the driver lives in :mod:`lanser.harness.run.driver`
    (runs own their rows, attempts, reuse, retries); this name stays for its callers."""
    from lanser.harness.run.driver import run_dataset as drive

    return drive(tasks, dataset_dir, agent, image, image_id, store, run_id, workroot, **kwargs)


def run_attempt(
    task: TaskSpec | dict[str, Any],
    dataset_dir: Path | str,
    agent: Agent | str,
    image: str,
    workroot: Path | str,
    labels: dict[str, str],
) -> dict[str, Any]:
    """The task function every executor places: make sure ``image`` is on this machine, then
    :func:`run_task`.  Plain-data arguments (a task dict, an agent spec) when it runs in another
    process or on another node; the base image is built there or found by its recipe digest."""
    from lanser.harness.env.images import BASE_REPOSITORY, base_tag, bootstrap_base, image_digest
    from lanser.harness.run.agents import make_agent

    spec = task if isinstance(task, TaskSpec) else TaskSpec.model_validate(task)
    the_agent = make_agent(agent, base=Path(dataset_dir)) if isinstance(agent, str) else agent
    try:
        if image.startswith(f"{BASE_REPOSITORY}:") and image not in (base_tag(), f"{BASE_REPOSITORY}:latest"):
            raise InfrastructureError(
                f"this machine's lanser makes the base image {base_tag()}, the run uses "
                f"{image}: install the same lanser version everywhere",
                stage="image",
            )
        if bootstrap_base() != image:
            image_digest(image)  # a layer image: it must be here already
    except InfrastructureError as exc:
        the_agent.close()
        return lost_result(spec, the_agent.name, str(exc))
    return run_task(spec, Path(dataset_dir), the_agent, image, Path(workroot), labels=labels)
