"""Images that travel: a Ray node with no image and no mirror access runs a task whose image the driver made.

Two nodes on this machine: the head (no ``docker`` resource, so no task
lands there) and node 1, whose Debian mirror is an address nothing answers
(``LANSER_DEBIAN_MIRROR``, as the harness's bootstrap reads it), so it could
not bootstrap or build anything.  One Docker engine serves both, so the
run's image is one of this test's own (the base image with a label unique to
the test, hence its own image id) and is removed from the engine after the
driver publishes it to the depot: when node 1's attempt starts, the engine
does not have it.  The attempt must load it from the depot, checked against
the id the driver sent, and resolve the task as the local executor does.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import docker.errors
import pytest

from lanser.harness.run.executor import Attempt, Job, RayExecutor
from lanser.harness.run.ray_local import LocalRayCluster
from lanser.harness.task.spec import load_tasks

pytestmark = pytest.mark.docker

REPO = Path(__file__).resolve().parents[2]
TOY = REPO / "datasets" / "toy-c"
DENIED_MIRROR = "http://127.0.0.1:9/debian"


@pytest.fixture
def run_image(docker_client: Any, base_image: str, tmp_path: Path) -> Iterator[tuple[str, str]]:
    """(tag, id): the base image plus a label of this test's own."""
    context = tmp_path / "image"
    context.mkdir()
    marker = uuid.uuid4().hex
    (context / "Dockerfile").write_text(f"FROM {base_image}\nLABEL lanser.test.travel={marker}\n")
    tag = f"lanser-test-travel-{marker[:12]}:1"
    image, _ = docker_client.images.build(path=str(context), tag=tag, network_mode="none", pull=False, rm=True)
    try:
        yield tag, image.id
    finally:
        for ref in (tag, image.id):
            try:
                docker_client.images.remove(ref, force=True)
            except docker.errors.ImageNotFound:
                pass


@pytest.fixture
def cluster(base_image: str) -> Iterator[LocalRayCluster]:
    ray_cluster = LocalRayCluster(
        2,
        cpus=1,
        resources={"docker": 1},
        node_resources={0: {}},
        node_env={1: {"LANSER_DEBIAN_MIRROR": DENIED_MIRROR}},
    )
    ray_cluster.start()
    try:
        yield ray_cluster
    finally:
        assert ray_cluster.stop() == []


def _environ(pid: int) -> dict[str, str]:
    raw = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    return dict(item.decode(errors="replace").split("=", 1) for item in raw if b"=" in item)


def test_a_node_without_the_image_or_the_mirror_loads_it_from_the_depot(
    cluster: LocalRayCluster,
    run_image: tuple[str, str],
    docker_client: Any,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    tag, image_id = run_image
    assert _environ(cluster.raylets[1]).get("LANSER_DEBIAN_MIRROR") == DENIED_MIRROR
    monkeypatch.delenv("RAY_AUTH_TOKEN", raising=False)
    for name, value in cluster.client_env().items():
        monkeypatch.setenv(name, value)
    depot = tmp_path / "depot"
    task = load_tasks(TOY / "tasks.jsonl")[0]
    executor = RayExecutor(cluster.address, depot=depot)
    executor.open(Job(TOY, tag, tmp_path / "work", {"lanser.run": f"travel-{uuid.uuid4().hex[:8]}"}, "oracle"), None)
    try:
        assert executor.image_id == image_id
        assert (depot / "images" / f"{image_id[7:]}.json").is_file()  # the driver, which made it, published it
        docker_client.images.remove(tag)
        with pytest.raises(docker.errors.ImageNotFound):
            docker_client.images.get(image_id)
        executor.submit(Attempt(1, task, "travel"))
        finished = executor.next_finished()
    finally:
        executor.close()
    assert finished.result is not None
    placement = finished.result["placement"]
    assert placement["image"] == "loaded", placement
    assert finished.node == placement["node"]
    assert finished.result["verdict"]["outcome"] == "resolved", finished.result["verdict"]
    assert finished.result["environment"].get("image_id") == image_id, finished.result["environment"]
    assert docker_client.images.get(tag).id == image_id
