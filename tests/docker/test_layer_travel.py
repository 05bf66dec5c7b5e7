"""Project layers that travel: a node that built a task's project layer publishes it to the depot, and a
node whose project cache lacks it loads it instead of running the setup again.

The two "nodes" are two project caches on this machine (``LANSER_PROJECT_CACHE``)
around the Ray task's own steps before and after an attempt
(``executor.node_prepare`` / ``node_publish``); the layer is the real one
``project.prepare`` builds (toy-c with ``make -s`` as its setup, run in the
sandbox).  Ray itself is tests/docker/test_ray_images.py.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from lanser.harness.env import project
from lanser.harness.errors import InfrastructureError
from lanser.harness.run.executor import node_prepare, node_publish
from lanser.harness.task.spec import load_tasks

pytestmark = pytest.mark.docker

REPO = Path(__file__).resolve().parents[2]


def test_a_layer_one_node_built_is_loaded_not_rebuilt_on_another(
    base_image: str, docker_client: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    dataset = tmp_path / "toy-c"
    shutil.copytree(REPO / "datasets" / "toy-c", dataset)
    task = load_tasks(dataset / "tasks.jsonl")[0]
    task = task.model_copy(update={"commands": task.commands.model_copy(update={"setup": "make -s"})})
    image_id = docker_client.images.get(base_image).id
    depot = str(tmp_path / "depot")
    monkeypatch.setenv("LANSER_IMAGE_DEPOT", depot)  # node_prepare sets it for the sources: put back after the test

    # Node A: nothing in the depot; the attempt builds the layer, which is then published.
    monkeypatch.setenv(project.CACHE_ENV, str(tmp_path / "node-a"))
    placement: dict[str, Any] = {}
    layer = node_prepare(task, dataset, base_image, image_id, depot, placement)
    assert layer is not None and placement["layer"] == "here or built"
    built = project.prepare(task, dataset, base_image)
    assert built.setup_seconds is not None and "/textops.o" in built.generated
    node_publish(layer, depot, placement)
    assert placement["layer"] == "built, published"
    record = json.loads((tmp_path / "depot" / "layers" / f"{built.key}.json").read_text())
    assert record["digest"] == built.digest

    # Node B: an empty project cache; the layer comes from the depot, and prepare finds it there.
    monkeypatch.setenv(project.CACHE_ENV, str(tmp_path / "node-b"))
    monkeypatch.setattr(project, "_memo", {})  # one process plays both nodes
    placement = {}
    assert node_prepare(task, dataset, base_image, image_id, depot, placement) == (tmp_path / "node-b", built.key)
    assert placement["layer"] == "loaded"
    again = project.prepare(task, dataset, base_image)
    assert again.path == tmp_path / "node-b" / built.key / "tree"
    assert (again.setup_seconds, again.digest, again.generated) == (
        built.setup_seconds,
        built.digest,
        built.generated,
    ), "loaded, not set up again"
    assert (again.path / "textops.o").is_file()

    # A tampered entry is refused on a third node, naming the depot.
    monkeypatch.setenv(project.CACHE_ENV, str(tmp_path / "node-c"))
    tar = tmp_path / "depot" / "layers" / f"{built.key}.tar"
    tar.write_bytes(tar.read_bytes()[:-512])
    with pytest.raises(InfrastructureError, match=f"project layer {built.key} is refused"):
        node_prepare(task, dataset, base_image, image_id, depot, {})
    assert not (tmp_path / "node-c" / built.key).exists()
