"""The image depot (lanser/harness/env/depot.py) on the real Docker engine, with small images of its own.

Each test builds a tiny image (``FROM scratch``, one file, a label unique to
the test, so its id is its own), publishes it, removes it from the engine and
loads it back; a depot entry that does not hold what the run asks for is
refused before ``docker load`` and leaves no image behind.
"""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import docker.errors
import pytest

from lanser.harness.env import depot
from lanser.harness.errors import InfrastructureError

pytestmark = pytest.mark.docker


@pytest.fixture
def tiny(docker_client: Any, tmp_path: Path) -> Iterator[tuple[str, str]]:
    """(tag, id) of a fresh tiny image; removed afterwards."""
    context = tmp_path / "context"
    context.mkdir()
    marker = uuid.uuid4().hex
    (context / "hello").write_text(f"hello {marker}\n")
    (context / "Dockerfile").write_text(f"FROM scratch\nCOPY hello /hello\nLABEL lanser.test.depot={marker}\n")
    tag = f"lanser-test-depot-{marker[:12]}:1"
    image, _ = docker_client.images.build(path=str(context), tag=tag, network_mode="none", pull=False, rm=True)
    try:
        yield tag, image.id
    finally:
        for ref in (tag, image.id, f"lanser-test-depot-{marker[:12]}:other"):
            try:
                docker_client.images.remove(ref, force=True)
            except docker.errors.ImageNotFound:
                pass


def gone(client: Any, ref: str) -> bool:
    try:
        client.images.get(ref)
    except docker.errors.ImageNotFound:
        return True
    return False


def test_an_image_travels_through_the_depot(docker_client: Any, tiny: tuple[str, str], tmp_path: Path) -> None:
    tag, image_id = tiny
    store = tmp_path / "depot"
    assert depot.ensure(tag, image_id, store, docker_client)["image"] == "present, published"
    record = json.loads((store / "images" / f"{image_id[7:]}.json").read_text())
    assert record["id"] == image_id and tag in record["tags"]
    assert depot.ensure(tag, image_id, store, docker_client)["image"] == "present"
    docker_client.images.remove(tag)
    assert gone(docker_client, image_id)
    assert depot.ensure(tag, image_id, None, docker_client)["image"] == "missing"  # no depot: built as before
    assert depot.ensure(tag, image_id, store, docker_client)["image"] == "loaded"
    assert docker_client.images.get(tag).id == image_id


def _rewrite(tar: Path, change: dict[str, bytes]) -> None:
    """Replace members of a docker save archive, then make the record's sha256 match again
    (an attacker who can write the depot can write both)."""
    members: list[tuple[tarfile.TarInfo, bytes | None]] = []
    with tarfile.open(tar) as archive:
        for member in archive.getmembers():
            data = archive.extractfile(member).read() if member.isfile() else None  # type: ignore[union-attr]
            members.append((member, change.get(member.name, data)))
    with tarfile.open(tar, "w") as archive:
        for member, data in members:
            if data is not None:
                member.size = len(data)
            archive.addfile(member, io.BytesIO(data) if data is not None else None)
    record = tar.with_suffix(".json")
    entry = json.loads(record.read_text())
    entry["sha256"] = hashlib.sha256(tar.read_bytes()).hexdigest()
    record.write_text(json.dumps(entry))


def _config_name(tar: Path) -> str:
    with tarfile.open(tar) as archive:
        return str(json.loads(archive.extractfile("manifest.json").read())[0]["Config"])  # type: ignore[union-attr]


@pytest.mark.parametrize("attack", ["truncated", "config", "tags"])
def test_a_depot_entry_that_is_not_the_run_s_image_is_refused(
    docker_client: Any, tiny: tuple[str, str], tmp_path: Path, attack: str
) -> None:
    """A truncated tarball (its sha256 differs from its record), an image configuration that is not
    the one the run's image id names (a changed label), or an archive that names tags (docker load
    would point them, say ``lanser-base:latest``, at it on the node): refused before docker load."""
    tag, image_id = tiny
    store = tmp_path / "depot"
    depot.publish(tag, store, docker_client)
    docker_client.images.remove(tag)
    tar = store / "images" / f"{image_id[7:]}.tar"
    if attack == "truncated":
        tar.write_bytes(tar.read_bytes()[:-1024])
        why = "its sha256 is"
    elif attack == "config":
        name = _config_name(tar)
        with tarfile.open(tar) as archive:
            config = archive.extractfile(name).read()  # type: ignore[union-attr]
        _rewrite(tar, {name: config.replace(b"lanser.test.depot", b"lanser.test.depoT")})
        why = "its image configuration has digest"
    else:
        with tarfile.open(tar) as archive:
            manifest = json.loads(archive.extractfile("manifest.json").read())  # type: ignore[union-attr]
        manifest[0]["RepoTags"] = ["lanser-base:latest"]
        _rewrite(tar, {"manifest.json": json.dumps(manifest).encode()})
        why = "it names tags (lanser-base:latest)"
    with pytest.raises(InfrastructureError, match="refused") as caught:
        depot.ensure(tag, image_id, store, docker_client)
    assert why in str(caught.value)
    assert gone(docker_client, image_id) and gone(docker_client, tag)
