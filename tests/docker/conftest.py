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
"""

from __future__ import annotations

import sys
import time
from typing import Any

import pytest


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
    from lanser.harness.errors import InfrastructureError
    from lanser.harness.images import bootstrap_base

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
