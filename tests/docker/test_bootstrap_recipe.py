"""The one bootstrap of harness/images.py (``_bootstrap`` with a ``_Recipe``), end to end on the real engine.

debootstrap is the only stand-in (it needs the mirror and minutes): it
writes a tiny tree as debootstrap would (passwd, dpkg's status, apt's cache,
documentation).  Everything after it is real: the recipe's preparation
(here the slim recipe's trimming), the common finish, packing, ``docker
import`` with the recipe's labels, the tags, and a second bootstrap that
finds the image without running debootstrap again.
"""

from __future__ import annotations

import dataclasses
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

from lanser.harness.env import images

pytestmark = pytest.mark.docker


def fake_debootstrap(root: Path, mirror: str, say: Any, packages: tuple[str, ...]) -> None:
    for rel, text in {
        "etc/passwd": "root:x:0:0:root:/root:/bin/sh\n",
        "etc/group": "root:x:0:\n",
        "etc/hostname": "builder\n",
        "etc/resolv.conf": "nameserver 10.0.0.1\n",
        "var/lib/dpkg/status": "Package: tiny\nStatus: install ok installed\nVersion: 1.0\n\n"
        "Package: gone\nStatus: deinstall ok config-files\nVersion: 2\n",
        "var/cache/apt/archives/tiny_1.0.deb": "deb",
        "usr/share/doc/tiny/copyright": "(c)\n",
        "usr/share/doc/tiny/README": "read me\n",
        "usr/share/man/man1/tiny.1": ".TH\n",
    }.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)


@pytest.fixture
def recipe(docker_client: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    marker = uuid.uuid4().hex
    repository = f"lanser-test-recipe-{marker[:8]}"

    def find(client: Any, digest: str) -> Any | None:
        found = [i for i in client.images.list(name=repository) if i.labels.get(images.SLIM_RECIPE_LABEL) == digest]
        return found[0] if found else None

    monkeypatch.setattr(images, "_debootstrap", fake_debootstrap)
    monkeypatch.setattr(images.rootfs, "check_bootstrap_tools", lambda: None)
    yield dataclasses.replace(
        images._SLIM, repository=repository, find=find, digest=lambda: hashlib.sha256(marker.encode()).hexdigest()
    )
    for image in docker_client.images.list(name=repository):
        for tag in image.tags:
            docker_client.images.remove(tag, force=True)


def read_from(client: Any, image: str, path: str) -> dict[str, bytes]:
    """The regular files under ``path`` in ``image`` (a container created, never started)."""
    container = client.containers.create(image, command="none")
    try:
        stream, _ = container.get_archive(path)
        with tarfile.open(fileobj=io.BytesIO(b"".join(stream))) as archive:
            return {m.name: archive.extractfile(m).read() for m in archive.getmembers() if m.isfile()}  # type: ignore[union-attr]
    finally:
        container.remove(force=True)


def test_one_bootstrap_prepares_finishes_imports_and_tags(
    docker_client: Any, recipe: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    said: list[str] = []
    tag = images._bootstrap(
        recipe, docker_client, mirror="http://mirror.invalid/debian", force=False, progress=said.append
    )
    digest = recipe.digest()
    assert tag == f"{recipe.repository}:{digest[:12]}"
    image = docker_client.images.get(tag)
    assert f"{recipe.repository}:latest" in image.tags
    assert image.labels[images.SLIM_RECIPE_LABEL] == digest
    assert image.labels["lanser.base.mirror"] == "http://mirror.invalid/debian"  # LABEL's JSON quoting undone
    assert said[1:] == [
        "trimming documentation and apt's caches",
        "packing the root file system",
        f"docker import as {tag}",
        f"slim base image {tag} ({image.id})",
    ]
    manifest = json.loads(read_from(docker_client, tag, f"/{images.SLIM_MANIFEST_PATH}")["slim.json"])
    assert manifest["digest"] == digest and manifest["installed"] == {"tiny": "1.0"}
    etc = read_from(docker_client, tag, "/etc")  # (hostname and resolv.conf: a container shows Docker's own)
    assert b"path-exclude /usr/share/man/*" in etc["etc/dpkg/dpkg.cfg.d/lanser-slim"]
    assert set(read_from(docker_client, tag, "/usr/share/doc")) == {"doc/tiny/copyright"}
    with pytest.raises(docker.errors.NotFound):
        read_from(docker_client, tag, "/var/cache/apt/archives/tiny_1.0.deb")

    def no_rebuild(*_args: Any) -> None:
        raise AssertionError("the image exists: debootstrap must not run again")

    monkeypatch.setattr(images, "_debootstrap", no_rebuild)
    assert images._bootstrap(recipe, docker_client, mirror=None, force=False, progress=None) == tag
    assert docker_client.images.get(tag).id == image.id
