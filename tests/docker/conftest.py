"""The docker tier: a real Docker engine and lanser's base image, built offline.

``docker_client``
    ``docker.from_env()``, pinged.  An engine that does not answer FAILS the
    tests that need it, with the reason: this tier never skips
    (``./scripts/docker-up`` installs and starts the engine; ``scripts/test``
    runs it first).
``base_image``
    The tag of the base image of the current recipe
    (``lanser-base:<digest[:12]>``), from ``bootstrap_base()``: built with
    debootstrap and ``docker import`` the first time on a machine (about a
    minute, needs root and the Debian mirror), found at once afterwards.

Test modules here mark themselves ``pytestmark = pytest.mark.docker`` (the
marker is registered in pyproject.toml), so ``-m 'not docker'`` leaves the
tier out on purpose.

``interrupt_when``
    ``interrupt_when(proc, ready, act, what)``: waits (at most 300 s) while
    ``proc`` runs until ``ready()``, calls ``act()`` (kill a worker, a
    node...), and returns ``proc``'s (stdout, stderr) once it has ended; a
    ``proc`` still running when the test fails on the way is killed.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

import pytest

Interrupter = Callable[["subprocess.Popen[str]", Callable[[], bool], Callable[[], None], str], tuple[str, str]]


@pytest.fixture
def interrupt_when() -> Interrupter:
    def interrupt(
        proc: subprocess.Popen[str], ready: Callable[[], bool], act: Callable[[], None], what: str
    ) -> tuple[str, str]:
        try:
            deadline = time.monotonic() + 300
            while not ready():
                assert proc.poll() is None, proc.communicate()[1]
                assert time.monotonic() < deadline, what
                time.sleep(0.05)
            act()
            return proc.communicate(timeout=600)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.communicate()

    return interrupt


@pytest.fixture(scope="session")
def docker_client() -> Any:
    import docker
    import docker.errors

    problem = None
    try:
        client = docker.from_env()
        client.ping()
    except (docker.errors.DockerException, OSError) as exc:
        problem = str(exc)
    if problem is not None:  # failed outside the except: no chain of library tracebacks
        pytest.fail(
            f"the docker tier needs a Docker engine and none answers: {problem}\n"
            "start one with ./scripts/docker-up (scripts/test does), or leave the tier out with -m 'not docker'",
            pytrace=False,
        )
    yield client
    client.close()


@pytest.fixture(scope="session")
def base_image(docker_client: Any) -> str:
    from lanser.harness.env.images import bootstrap_base
    from lanser.harness.errors import InfrastructureError

    started = time.monotonic()
    problem = None
    try:
        tag = bootstrap_base(docker_client, progress=_progress)
    except InfrastructureError as exc:
        problem = str(exc)
    if problem is not None:
        pytest.fail(f"cannot make the base image: {problem}", pytrace=False)
    took = time.monotonic() - started
    if took > 5:
        print(f"\nbase image {tag} bootstrapped in {took:.0f} s", file=sys.stderr)
    return tag


def _progress(message: str) -> None:
    # Stage lines only (not every debootstrap line), so a cold first run says
    # what it is doing under `pytest -s`.
    if not message.startswith("debootstrap: "):
        print(f"[base image] {message}", file=sys.stderr, flush=True)
