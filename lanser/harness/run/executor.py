"""Executors: where the attempts of a benchmark run are placed.

::

    Executor (protocol: open, submit, pending, next_finished, close)
    ├── LocalExecutor   this machine: in the driver's process (1 worker) or a process pool
    └── RayExecutor     a Ray cluster: one Ray task per attempt, placed by resource requests

Every placement runs the same task function (:func:`lanser.harness.run.runner.run_attempt`)
and hands back a :class:`Finished`; the driver (:mod:`lanser.harness.run.driver`) alone writes
the store, shows progress and decides on retries.  An attempt that never
produced a result (its node died, its worker process crashed) comes back with
``result=None`` and the reason, so a lost node costs a retry, never the run.

Ray is optional (``pip install 'lanser[ray]'``): this module imports it only
inside :class:`RayExecutor`, so the local executor needs nothing more.

A Ray cluster runs whatever code a client sends it, as the user running its
nodes, next to a Docker socket: the Ray executor submits only to a cluster
that refuses clients without its token (Ray's token authentication,
``RAY_AUTH_MODE=token``, Ray 2.52 or later).  The driver's token comes from
``RAY_AUTH_TOKEN``, the file ``RAY_AUTH_TOKEN_PATH`` names, or
``~/.ray/auth_token`` (Ray's own order), never from a command line; before
the first submit an unauthenticated probe (a separate process with no token)
must be refused by the cluster, else the run stops (:func:`check_cluster_refuses_strangers`).
"""

from __future__ import annotations

import contextlib
import os
import re
from collections import deque
from collections.abc import Mapping
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Protocol

from lanser.errors import BadRequest, UnsupportedCap
from lanser.harness.errors import InfrastructureError
from lanser.harness.task.spec import TaskSpec

__all__ = [
    "Attempt",
    "Executor",
    "Finished",
    "Job",
    "LocalExecutor",
    "RayExecutor",
    "check_cluster_refuses_strangers",
    "make_executor",
    "ray_options",
    "require_token",
    "task_resources",
]

#: The custom Ray resource every task asks for: a node advertises it (``ray start
#: --resources '{"docker": N}'``) when it has a Docker engine for N tasks at once.
DOCKER_RESOURCE = "docker"
#: Image families that need a node capability beyond Docker: the resource named
#: here is requested too (a kernel task lands only on nodes started with ``kernel``).
IMAGE_RESOURCES: Mapping[str, str] = {"kernel": "kernel"}
#: How long the Ray executor waits with nothing finishing before it checks that
#: every pending attempt still has a live node that could run it.
STARVATION_CHECK_S = 20.0
#: The environment variables of Ray's token authentication (Ray reads them in this order).
AUTH_MODE_ENV, AUTH_TOKEN_ENV, AUTH_TOKEN_PATH_ENV = "RAY_AUTH_MODE", "RAY_AUTH_TOKEN", "RAY_AUTH_TOKEN_PATH"
#: How long the unauthenticated probe may take (it imports Ray and makes one connection).
PROBE_TIMEOUT_S = 60.0


@dataclass(frozen=True)
class Job:
    """What every attempt of one run shares, as plain data (it crosses process and node boundaries)."""

    dataset_dir: Path
    image: str
    workroot: Path
    labels: Mapping[str, str]
    agent_spec: str | None


@dataclass(frozen=True)
class Attempt:
    """One try at one task: ``number`` counts retries from 1; ``avoid`` names nodes where earlier
    tries failed.  ``sample`` is which of the run's independent attempts at the task this is
    (``--attempts K``: 0..K-1), and ``agent_spec`` the spec its agent is made from when that is
    not the job's (a stochastic agent seeded for the sample)."""

    index: int
    task: TaskSpec
    key: str
    number: int = 1
    avoid: tuple[str, ...] = ()
    sample: int = 0
    agent_spec: str | None = None

    def retry(self, failed_on: str | None) -> Attempt:
        avoid = self.avoid + ((failed_on,) if failed_on and failed_on not in self.avoid else ())
        return replace(self, number=self.number + 1, avoid=avoid)

    def workroot(self, job: Job) -> Path:
        """A fresh directory per sample and per retry: attempts running at once, or what a lost
        attempt left running, never share a work area."""
        root = job.workroot / f"sample-{self.sample}" if self.sample else job.workroot
        return root if self.number == 1 else root / f"retry-{self.number}"

    def spec(self, job: Job) -> str | None:
        """The agent spec this attempt's agent is made from."""
        return self.agent_spec or job.agent_spec


@dataclass(frozen=True)
class Finished:
    """An attempt that is over: its result record, or ``result=None`` and why it was lost."""

    attempt: Attempt
    result: dict[str, Any] | None
    node: str | None = None
    lost: str | None = None

    def infrastructure_failure(self) -> str | None:
        """Why this attempt failed for reasons that are not the agent's, or None."""
        if self.result is None:
            return self.lost or "the attempt was lost"
        verdict = self.result.get("verdict") or {}
        if verdict.get("outcome") == "infra_error":
            return str(verdict.get("error") or "infrastructure failure")
        return None


class Executor(Protocol):
    name: str

    def open(self, job: Job, agent: Any) -> None: ...
    def submit(self, attempt: Attempt) -> None: ...
    def pending(self) -> int: ...
    def next_finished(self) -> Finished: ...
    def close(self) -> None: ...


def make_executor(name: str, *, workers: int = 1, ray_address: str | None = None) -> Executor:
    """The executor called ``name`` (``local`` or ``ray``)."""
    if name == "local":
        return LocalExecutor(workers)
    if name == "ray":
        return RayExecutor(ray_address)  # the image depot, if any, from $LANSER_IMAGE_DEPOT
    raise BadRequest(f"unknown executor {name!r}: local or ray", field="executor")


# -- local ---------------------------------------------------------------------


class LocalExecutor:
    """This machine: attempts run one by one in the driver, or ``workers`` at a time in a process pool.

    In the pool each worker process makes its own agent from the job's agent
    spec; in the driver the caller's agent object is used.  A worker process
    that dies loses its attempts (and breaks the pool, which is made anew on
    the next submit).
    """

    name = "local"

    def __init__(self, workers: int = 1) -> None:
        self.workers = max(1, workers)
        self._job: Job | None = None
        self._agent: Any = None
        self._queue: deque[Attempt] = deque()
        self._pool: ProcessPoolExecutor | None = None
        self._futures: dict[Future[dict[str, Any]], Attempt] = {}
        self._lost = False

    def open(self, job: Job, agent: Any) -> None:
        self._job, self._agent = job, agent

    def submit(self, attempt: Attempt) -> None:
        job = self._require_job()
        spec = attempt.spec(job)
        if self.workers == 1 or job.agent_spec is None or spec is None:
            self._queue.append(attempt)
            return
        from lanser.harness.run.runner import run_attempt

        if self._pool is None:
            self._pool = ProcessPoolExecutor(max_workers=self.workers)
        future = self._pool.submit(
            run_attempt,
            attempt.task.model_dump(mode="json"),
            str(job.dataset_dir),
            spec,
            job.image,
            str(attempt.workroot(job)),
            dict(job.labels),
        )
        self._futures[future] = attempt

    def pending(self) -> int:
        return len(self._queue) + len(self._futures)

    def next_finished(self) -> Finished:
        job = self._require_job()
        if self._queue:
            from lanser.harness.run.runner import run_attempt

            attempt = self._queue.popleft()
            agent: Any = self._agent
            if attempt.agent_spec is not None and attempt.agent_spec != job.agent_spec:
                agent = attempt.agent_spec  # a seeded sample: run_attempt makes its own agent
            return Finished(
                attempt,
                run_attempt(attempt.task, job.dataset_dir, agent, job.image, attempt.workroot(job), dict(job.labels)),
            )
        if not self._futures:
            raise RuntimeError("nothing is pending")
        done, _ = wait(self._futures, return_when=FIRST_COMPLETED)
        future = next(iter(done))
        attempt = self._futures.pop(future)
        try:
            return Finished(attempt, future.result())
        except BrokenProcessPool as exc:
            self._drop_pool()
            self._lost = True
            return Finished(attempt, None, lost=f"the worker process died: {exc}")

    def close(self) -> None:
        # Attempts still running when the run ends are an interrupted run's (Ctrl-C, SIGTERM): their
        # workers are stopped, not waited for, or they would go on making containers after the
        # driver removed the run's, and hold its exit until their attempts end.
        running = any(not future.done() for future in self._futures)
        self._futures.clear()
        self._queue.clear()
        self._drop_pool(stop_workers=running)
        if self._lost and self._job is not None:
            _remove_leftovers(self._job)

    def _drop_pool(self, *, stop_workers: bool = False) -> None:
        if self._pool is None:
            return
        # The pool's worker processes: no public accessor before Python 3.14's kill_workers().
        # SIGKILL, not SIGTERM: a forked worker inherits the front door's SIGTERM handler, and an
        # attempt that takes the KeyboardInterrupt it raises for its own cleanup goes on running.
        # Nothing in a worker is worth saving: its attempt is run again on resume, its language
        # servers die with it (PDEATHSIG), and the caller removes the run's containers after this.
        # Their futures are not cancelled first: the pool's own thread, seeing its workers die, fails
        # every attempt it still holds, and a future cancelled under it raised InvalidStateError
        # there. That thread is waited for, so nothing of the pool outlives close().
        workers = list((getattr(self._pool, "_processes", None) or {}).values()) if stop_workers else []
        for process in workers:
            if process.is_alive():
                process.kill()
        for process in workers:
            process.join(timeout=10)
        manager = getattr(self._pool, "_executor_manager_thread", None) if workers else None
        if manager is not None:
            manager.join(timeout=10)
        self._pool.shutdown(wait=False, cancel_futures=not workers)
        self._pool = None

    def _require_job(self) -> Job:
        if self._job is None:
            raise RuntimeError("open() the executor first")
        return self._job


# -- ray -------------------------------------------------------------------------


def task_resources(task: TaskSpec) -> dict[str, float]:
    """The custom Ray resources ``task`` needs on its node: ``docker``, plus its image family's."""
    resources = {DOCKER_RESOURCE: 1.0}
    family = task.image.split(":", 1)[0].split("-", 1)[0]
    if family in IMAGE_RESOURCES:
        resources[IMAGE_RESOURCES[family]] = 1.0
    return resources


def ray_options(task: TaskSpec, avoid: tuple[str, ...] = ()) -> dict[str, Any]:
    """Ray task options for one attempt: the task's limits as resource requests, no Ray-side retries
    (the driver retries, so it can count attempts and move them off a failed node)."""
    options: dict[str, Any] = {
        "num_cpus": task.limits.cpus,
        "memory": task.limits.memory_mb * 1024 * 1024,
        "resources": task_resources(task),
        "max_retries": 0,
        "retry_exceptions": False,
    }
    if avoid:
        options["label_selector"] = {"ray.io/node-id": f"!in({','.join(avoid)})"}
    return options


def _fits(node: Mapping[str, Any], options: Mapping[str, Any]) -> bool:
    """Whether a node's total resources could ever hold one attempt with ``options``."""
    total: Mapping[str, float] = node.get("Resources") or {}
    wanted = {"CPU": float(options["num_cpus"]), "memory": float(options["memory"]), **options["resources"]}
    return bool(node.get("Alive")) and all(total.get(name, 0.0) >= amount for name, amount in wanted.items())


_NODE_ID = re.compile(r"node ID: ([0-9a-f]{16,})")


def _ray_attempt(
    task: dict[str, Any],
    dataset_dir: str,
    agent_spec: str,
    image: str,
    workroot: str,
    labels: dict[str, str],
    image_id: str | None = None,
    depot: str | None = None,
) -> tuple[str, dict[str, Any]]:
    """The Ray task: the run's image made available on this node (found, or loaded from the image
    depot and checked against ``image_id``) and the task's project layer loaded from the depot when
    another node built it, then the same task function as locally; returns the node it ran on and
    the result, with ``placement`` (how the image and layer came, when the task started)."""
    import time

    from lanser.harness.run.runner import run_attempt

    started_at = time.time()
    node = str(_import_ray().get_runtime_context().get_node_id())
    placement: dict[str, Any] = {"node": node, "started_at": round(started_at, 3)}
    spec = TaskSpec.model_validate(task)
    try:
        layer = node_prepare(spec, Path(dataset_dir), image, image_id, depot, placement)
    except InfrastructureError as exc:
        # A depot entry that fails its checks: this node cannot run the attempt (another may).
        return node, {
            "task_id": spec.id,
            "agent": agent_spec,
            "verdict": {"outcome": "infra_error", "error": str(exc)},
            "steps": [],
            "stages": {},
            "patch": "",
            "seconds": 0.0,
            "reward_total": 0.0,
            "environment": {},
            "placement": placement,
        }
    result = run_attempt(task, dataset_dir, agent_spec, image, workroot, labels)
    node_publish(layer, depot, placement)
    placement["ended_at"] = round(time.time(), 3)
    return node, {**result, "placement": placement}


def node_prepare(
    task: TaskSpec, dataset_dir: Path, image: str, image_id: str | None, depot: str | None, placement: dict[str, Any]
) -> tuple[Path, str] | None:
    """Before an attempt on a node: the run's image (:func:`lanser.harness.env.depot.ensure`), and the
    task's project layer from the depot if the node lacks it and the image is the run's very image
    (the layer's key names the image id).  Notes how in ``placement``; returns the layer's (cache,
    key) for :func:`node_publish`, or None.  InfrastructureError when a depot entry is refused."""
    import time

    from lanser.harness.env import depot as depots

    if depot:  # task sources travel through it too (lanser.harness.task.sources reads it from the environment)
        os.environ[depots.DEPOT_ENV] = depot
    where = depots.depot_dir(depot) if depot else None
    try:
        placement.update(depots.ensure(image, image_id, where))
    except InfrastructureError:
        placement["image"] = "refused"
        raise
    if where is None or image_id is None or not task.commands.setup or placement["image"] == "missing":
        return None
    from lanser.harness.env import project
    from lanser.harness.task.sources import materialize
    from lanser.harness.task.spec import tree_digest

    source_id = (
        f"{task.source.kind}:{task.source.sha256}"
        if task.source.sha256
        else tree_digest(materialize(task.source, dataset_dir))
    )  # as project.prepare names it
    root, key = project.cache_root(), project.layer_key(source_id, image_id, task.commands.setup)
    started = time.monotonic()
    try:
        placement["layer"] = "loaded" if depots.load_layer(root, key, where) else "here or built"
        placement["layer_s"] = round(time.monotonic() - started, 3)
    except InfrastructureError:
        placement["layer"] = "refused"
        raise
    return root, key


def node_publish(layer: tuple[Path, str] | None, depot: str | None, placement: dict[str, Any]) -> None:
    """After an attempt: the project layer this node built, into the depot (best effort: a depot that
    cannot be written costs other nodes a build, not this attempt its result)."""
    import time

    from lanser.harness.env import depot as depots

    if layer is None or not depot:
        return
    started = time.monotonic()
    try:
        if depots.publish_layer(layer[0], layer[1], depots.depot_dir(depot) or Path(depot)):
            placement["layer"] = "built, published"
            placement["layer_publish_s"] = round(time.monotonic() - started, 3)
    except InfrastructureError as exc:
        placement["layer_error"] = str(exc)


@dataclass(frozen=True)
class _Flight:
    attempt: Attempt
    options: dict[str, Any]
    submitted_at: float


class RayExecutor:
    """A Ray cluster at ``address`` (``host:port`` of its head, or ``auto`` on a node of it).

    Each attempt is one Ray task asking for the task's CPUs and memory and
    the custom resources of :func:`task_resources`, so it lands only on a
    node that advertises them.  The task makes or finds the base image on
    its node (``bootstrap_base``: content-addressed, so every node agrees on
    what the image is) and runs the task loop there.  The dataset directory
    and the work directory must be reachable at the same paths on every node
    (a shared file system, or the same checkout), and lanser of the same
    version installed where the Ray workers run.
    """

    name = "ray"

    def __init__(self, address: str | None, *, depot: str | Path | None = None) -> None:
        import importlib.util

        if not address:
            raise BadRequest(
                "--executor ray needs the cluster's address: --ray-address HOST:PORT (or RAY_ADDRESS;"
                " 'auto' on a node of the cluster)",
                field="ray_address",
            )
        if importlib.util.find_spec("ray") is None:
            raise UnsupportedCap("the Ray executor needs Ray: pip install 'lanser[ray]'")
        require_token()
        from lanser.harness.env.depot import depot_dir

        self.address = address
        self.depot = depot_dir(str(depot) if depot else None)
        self.image_id: str | None = None
        self._job: Job | None = None
        self._remote: Any = None
        self._ray: Any = None
        self._flights: dict[Any, _Flight] = {}
        self._lost = False

    def open(self, job: Job, agent: Any) -> None:
        if job.agent_spec is None:
            raise BadRequest("the Ray executor makes each attempt's agent from its spec; none was given", field="agent")
        require_token()
        ray = _import_ray()
        _token_mode_on(ray)
        _check_reachable(self.address)
        _cluster_errors_to_stderr()
        import logging

        try:
            ray.init(address=self.address, logging_level=logging.ERROR, log_to_driver=False, configure_logging=True)
        except ray.exceptions.AuthenticationError as exc:
            raise InfrastructureError(
                f"the Ray cluster at {self.address} refused this driver's token "
                f"(${AUTH_TOKEN_ENV}, ${AUTH_TOKEN_PATH_ENV} or ~/.ray/auth_token): "
                f"{_first_sentence(str(exc))}",
                stage="ray",
            ) from exc
        except (ConnectionError, RuntimeError, ValueError) as exc:
            raise InfrastructureError(
                f"cannot connect to the Ray cluster at {self.address}: {exc}", stage="ray"
            ) from exc
        self._ray = ray
        try:
            check_cluster_refuses_strangers(str(ray.get_runtime_context().gcs_address))
        except BaseException:
            self.close()
            raise
        self._remote = ray.remote(_ray_attempt)
        self._job = replace(
            job,
            agent_spec=_portable_agent_spec(job.agent_spec),
            dataset_dir=job.dataset_dir.resolve(),
            workroot=job.workroot.resolve(),
        )
        try:
            self._publish(job.image)
        except BaseException:
            self.close()
            raise
        if not any(
            _fits(node, {"num_cpus": 0, "memory": 0, "resources": {DOCKER_RESOURCE: 1.0}}) for node in ray.nodes()
        ):
            self.close()
            raise InfrastructureError(
                f"no live node of the Ray cluster at {self.address} advertises the resource "
                f"{DOCKER_RESOURCE!r}: start nodes that have a Docker engine with "
                f"ray start --resources '{{\"{DOCKER_RESOURCE}\": N}}'",
                stage="ray",
            )

    def _publish(self, image: str) -> None:
        """The run's image id (every node is asked for that very image) and, with a depot, the image
        published there from this machine, which made it."""
        from lanser.harness.env import depot
        from lanser.harness.env.images import image_digest

        with contextlib.suppress(InfrastructureError):  # a driver without Docker: nodes find or build it
            self.image_id = image_digest(image)
        if self.depot is not None:
            if self.image_id is None:
                raise InfrastructureError(
                    f"the image depot {self.depot} is set, but this machine has no image {image} to publish",
                    stage="image",
                )
            depot.publish(self.image_id, self.depot)

    def submit(self, attempt: Attempt) -> None:
        job = self._require_job()
        nodes = self._ray.nodes()
        options = ray_options(attempt.task)
        able = [n["NodeID"] for n in nodes if _fits(n, options)]
        if not able:
            raise InfrastructureError(
                f"no live node of the Ray cluster can run {attempt.task.id}: it asks for {_describe(options)}",
                stage="ray",
            )
        # Avoid the nodes that failed this task before, unless that leaves nowhere to go.
        avoid = tuple(n for n in attempt.avoid if n in able)
        if avoid and len(avoid) < len(able):
            options = ray_options(attempt.task, avoid)
        spec = _portable_agent_spec(attempt.spec(job))
        assert spec is not None
        import time

        ref = self._remote.options(**options).remote(
            attempt.task.model_dump(mode="json"),
            str(job.dataset_dir),
            spec,
            job.image,
            str(attempt.workroot(job)),
            dict(job.labels),
            self.image_id,
            str(self.depot) if self.depot else None,
        )
        self._flights[ref] = _Flight(attempt, options, time.time())

    def pending(self) -> int:
        return len(self._flights)

    def next_finished(self) -> Finished:
        ray = self._ray
        if not self._flights:
            raise RuntimeError("nothing is pending")
        while True:
            ready, _ = ray.wait(list(self._flights), num_returns=1, timeout=STARVATION_CHECK_S)
            if ready:
                ref = ready[0]
                flight = self._flights.pop(ref)
                try:
                    node, result = ray.get(ref)
                except ray.exceptions.RayTaskError as exc:
                    # An exception raised by the task function itself: a harness bug, not a lost
                    # node; it ends the run as it would locally (the cause, not Ray's wrapper).
                    raise exc.as_instanceof_cause() from None
                except ray.exceptions.RayError as exc:  # node died, worker crashed, object lost
                    match = _NODE_ID.search(str(exc))
                    self._lost = True
                    return Finished(
                        flight.attempt,
                        None,
                        node=match.group(1) if match else None,
                        lost=f"{type(exc).__name__}: {_first_sentence(str(exc))}",
                    )
                placement = result.get("placement")
                if isinstance(placement, dict) and "started_at" in placement:
                    # Submit to start: Ray's scheduling, a worker process and the task's arguments.
                    placement["submitted_at"] = round(flight.submitted_at, 3)
                    placement["scheduling_s"] = round(float(placement["started_at"]) - flight.submitted_at, 3)
                return Finished(flight.attempt, result, node=node)
            starved = self._starved()
            if starved is not None:
                return starved

    def _starved(self) -> Finished | None:
        """A pending attempt that no live node can run any more (its nodes died), given up as lost."""
        nodes = self._ray.nodes()
        for ref, flight in list(self._flights.items()):
            if not any(_fits(n, flight.options) for n in nodes):
                self._ray.cancel(ref, force=True)
                del self._flights[ref]
                self._lost = True
                return Finished(
                    flight.attempt, None, lost=f"no live node can run it any more ({_describe(flight.options)})"
                )
        return None

    def close(self) -> None:
        if self._ray is not None:
            for ref in self._flights:
                try:
                    self._ray.cancel(ref, force=True)
                except Exception:  # noqa: BLE001 - best effort on the way out; the job's end stops them too
                    pass
            self._flights.clear()
            self._ray.shutdown()
            self._ray = None
        if self._lost and self._job is not None:
            _remove_leftovers(self._job)

    def _require_job(self) -> Job:
        if self._job is None or self._ray is None:
            raise RuntimeError("open() the executor first")
        return self._job


def require_token() -> None:
    """Token authentication for this driver: ``RAY_AUTH_MODE`` set to ``token`` (an explicit other
    mode is refused) and a token where Ray looks for one; :class:`BadRequest` otherwise."""
    mode = os.environ.get(AUTH_MODE_ENV)
    if mode is not None and mode.lower() != "token":
        raise BadRequest(
            f"{AUTH_MODE_ENV}={mode}: the Ray executor submits only to a cluster with token "
            f"authentication; unset it or set {AUTH_MODE_ENV}=token (docs/ray.md)",
            field="ray_auth",
        )
    if not _token_available():
        raise BadRequest(
            f"the Ray executor submits only to a cluster with token authentication, and this driver "
            f"has no token: put the cluster's token in ~/.ray/auth_token (mode 0600) or name its file "
            f"in ${AUTH_TOKEN_PATH_ENV} (or set ${AUTH_TOKEN_ENV}); never on a command line "
            f"(docs/ray.md)",
            field="ray_auth",
        )
    os.environ[AUTH_MODE_ENV] = "token"


def _token_available() -> bool:
    if os.environ.get(AUTH_TOKEN_ENV, "").strip():
        return True
    path = os.environ.get(AUTH_TOKEN_PATH_ENV)
    candidate = Path(path) if path else Path.home() / ".ray" / "auth_token"
    try:
        return bool(candidate.read_text().strip())
    except (OSError, UnicodeDecodeError):
        return False


def _token_mode_on(ray: Any) -> None:
    """Ray reads ``RAY_AUTH_MODE`` into its configuration when it is first imported; a process that
    imported Ray before :func:`require_token` set it has its configuration read again (as
    Ray itself does when it turns token mode on for a local cluster)."""
    import importlib

    raylet = importlib.import_module("ray._raylet")
    if raylet.get_authentication_mode() != raylet.AuthenticationMode.TOKEN:
        raylet.Config.initialize("")
    if raylet.get_authentication_mode() != raylet.AuthenticationMode.TOKEN:
        raise InfrastructureError(
            f"Ray {ray.__version__} did not turn token authentication on "
            f"({AUTH_MODE_ENV}=token): the Ray executor needs Ray 2.52 or later",
            stage="ray",
        )


#: Run in a separate process with no token: exits 0 when the GCS refuses it, 3 when it lets it in.
_PROBE = """
import sys
from ray._raylet import GcsClient
from ray.exceptions import AuthenticationError
try:
    GcsClient(address=sys.argv[1])
except AuthenticationError:
    sys.exit(0)
sys.exit(3)
"""


def check_cluster_refuses_strangers(gcs_address: str) -> None:
    """Connect to the cluster's GCS as a client with no token (a process of its own, with token mode
    off and an empty home): the cluster must refuse it.  InfrastructureError when it lets it in
    (its nodes run without ``RAY_AUTH_MODE=token``) or when the probe cannot tell."""
    import subprocess
    import sys
    import tempfile

    with tempfile.TemporaryDirectory(prefix="lanser-ray-probe-") as home:
        env = {k: v for k, v in os.environ.items() if k not in (AUTH_TOKEN_ENV, AUTH_TOKEN_PATH_ENV)}
        env.update({AUTH_MODE_ENV: "disabled", "HOME": home, "RAY_USAGE_STATS_ENABLED": "0"})
        try:
            proc = subprocess.run(
                [sys.executable, "-c", _PROBE, gcs_address],
                env=env,
                capture_output=True,
                text=True,
                timeout=PROBE_TIMEOUT_S,
                stdin=subprocess.DEVNULL,
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise InfrastructureError(
                f"cannot check that the Ray cluster at {gcs_address} requires a token: {exc}", stage="ray"
            ) from exc
    if proc.returncode == 3:
        raise InfrastructureError(
            f"the Ray cluster at {gcs_address} accepts clients without a token (its nodes run "
            f"without token authentication): anyone who reaches it can run code on its nodes "
            f"next to their Docker engines; restart every node with {AUTH_MODE_ENV}=token and "
            f"the cluster's token (docs/ray.md); nothing was submitted",
            stage="ray",
        )
    if proc.returncode != 0:
        tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-10:])
        raise InfrastructureError(
            f"cannot check that the Ray cluster at {gcs_address} requires a token "
            f"(the probe exited with {proc.returncode})",
            stage="ray",
            log_tail=tail,
        )


def _remove_leftovers(job: Job) -> None:
    """A lost attempt's sandbox has no process left to remove it: once nothing of the run is
    running, remove what the run left on this machine's engine.  Best effort: the driver may have
    no engine of its own, and other machines' engines are out of its reach."""
    from lanser.harness.env.sandbox import cleanup

    run = job.labels.get("lanser.run")
    if run:
        with contextlib.suppress(InfrastructureError):
            cleanup(run)


def _import_ray() -> Any:
    """Ray, untyped on purpose: it is optional, and lanser's type check need not walk it."""
    import importlib

    try:
        return importlib.import_module("ray")
    except ImportError:
        raise UnsupportedCap("the Ray executor needs Ray: pip install 'lanser[ray]'") from None


def _cluster_errors_to_stderr() -> None:
    """Ray's driver prints the cluster's error messages (a raylet that died, with its last 20 log
    lines) on stdout, where ``--json`` puts the run's result: send their first line to stderr."""
    import importlib

    worker = importlib.import_module("ray._private.worker")
    original = getattr(worker, "print_to_stdstream", None)
    if original is None or getattr(original, "lanser_wrapped", False):
        return

    def to_stderr(data: dict[str, Any], ignore_prefix: bool) -> None:
        lines = [str(line).splitlines()[0] for line in data.get("lines", []) if str(line).strip()]
        original({**data, "lines": lines, "is_err": True}, ignore_prefix)

    # setattr: neither a function's nor Ray's module's type declares these attributes.
    setattr(to_stderr, "lanser_wrapped", True)  # noqa: B010 - a mark on the function, so a second open wraps once
    setattr(worker, "print_to_stdstream", to_stderr)  # noqa: B010 - looked up by its callers at call time


def _check_reachable(address: str) -> None:
    """Fail fast on a head that does not answer: ``ray.init`` would wait for it without end."""
    import socket

    host, sep, port = address.rpartition(":")
    if address == "auto" or "://" in address or not sep or not port.isdigit():
        return  # Ray resolves these itself, and fails at once when it cannot
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=10).close()
    except OSError as exc:
        raise InfrastructureError(f"no Ray cluster answers at {address}: {exc}", stage="ray") from exc


def _first_sentence(text: str) -> str:
    line = text.strip().splitlines()[0] if text.strip() else ""
    return line.split(". ", 1)[0]


def _describe(options: Mapping[str, Any]) -> str:
    wanted = {"CPU": options["num_cpus"], "memory_mb": options["memory"] // (1024 * 1024), **options["resources"]}
    return ", ".join(f"{name}={amount:g}" for name, amount in wanted.items())


def _portable_agent_spec(spec: str | None) -> str | None:
    """``replay:FILE`` with FILE relative to this process's directory, made absolute: Ray workers
    run elsewhere (a FILE relative to the dataset stays relative, the workers resolve it there)."""
    if spec and spec.startswith("replay:"):
        path = Path(spec[len("replay:") :])
        if not path.is_absolute() and path.exists():
            return f"replay:{path.resolve()}"
    return spec
