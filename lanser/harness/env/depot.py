"""Images that travel: a shared directory of ``docker save`` tarballs named by image id.

A Ray node that lacks the run's image (the base image, bootstrapped from the
Debian mirror in minutes, or a layer built on it) loads it from the depot
instead of rebuilding it; a node with no mirror access can then run tasks.
The driver publishes the image it computed the run's image id from (so every
node runs the very image the result keys name), and a node that has the image
publishes it when the depot lacks it.

Layout of the depot (``$LANSER_IMAGE_DEPOT``, a directory every node mounts
at the same path, writable only by the user running the cluster)::

    images/<hex>.tar     docker save of the image sha256:<hex>, saved by id (no tags inside)
    images/<hex>.json    {"id", "sha256", "bytes", "tags"}: written last, so its presence commits the entry
    layers/<key>.tar     a project layer's cache entry (see below), layers/<key>.json its record
    sources/             task sources (lanser.harness.task.sources)
    locks/               one lock per image: a node publishes or loads it once at a time

Trust is anchored in the image id the driver sends with each attempt, never in
the depot: before ``docker load`` the tarball's sha256 must match its record,
it must hold exactly one image with no tags (``docker load`` would otherwise
move tags such as ``lanser-base:latest`` on the node), and that image's
configuration must hash to the expected id; Docker itself checks every layer
against the configuration's ``diff_ids`` while loading; after the load the
engine must know the image by that id.  Only then is the run's tag pointed at it.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tarfile
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import docker.errors  # type: ignore[import-untyped, unused-ignore]

from lanser.harness.errors import InfrastructureError

__all__ = ["DEPOT_ENV", "depot_dir", "ensure", "has", "load", "load_layer", "publish", "publish_layer"]

DEPOT_ENV = "LANSER_IMAGE_DEPOT"
_STAGE = "image"
_CHUNK = 1 << 20


def depot_dir(value: str | None = None) -> Path | None:
    """The depot named by ``value`` or ``$LANSER_IMAGE_DEPOT`` (absolute), or None."""
    raw = value or os.environ.get(DEPOT_ENV)
    return Path(raw).resolve() if raw else None


def _hex(image_id: str) -> str:
    hexdigest = image_id.removeprefix("sha256:")
    if len(hexdigest) != 64 or any(c not in "0123456789abcdef" for c in hexdigest):
        raise InfrastructureError(f"not an image id: {image_id!r}", stage=_STAGE)
    return hexdigest


def _paths(depot: Path, image_id: str) -> tuple[Path, Path]:
    hexdigest = _hex(image_id)
    return depot / "images" / f"{hexdigest}.tar", depot / "images" / f"{hexdigest}.json"


def has(depot: Path, image_id: str) -> bool:
    """Whether the depot holds a committed entry for ``image_id``."""
    tar, record = _paths(depot, image_id)
    return record.is_file() and tar.is_file()


@contextlib.contextmanager
def _lock(depot: Path, image_id: str) -> Iterator[None]:
    from lanser.harness.env.locks import file_lock

    with file_lock(depot / "locks" / f"{_hex(image_id)}.lock", stage=_STAGE, what=f"the image depot {depot}"):
        yield


def publish(ref: str, depot: Path, client: Any = None) -> str:
    """``docker save`` the image ``ref`` (a tag or an id) into the depot, once; returns its id."""
    from lanser.harness.env.images import docker_client

    client = client or docker_client()
    try:
        image = client.images.get(ref)
    except (docker.errors.DockerException, OSError) as exc:
        raise InfrastructureError(f"cannot publish {ref!r}: {exc}", stage=_STAGE) from exc
    image_id: str = image.id
    if has(depot, image_id):
        return image_id
    tar, record = _paths(depot, image_id)
    try:
        tar.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InfrastructureError(f"cannot write to the image depot {depot}: {exc}", stage=_STAGE) from exc
    with _lock(depot, image_id):
        if has(depot, image_id):  # another node published it while we waited
            return image_id
        fd, scratch = tempfile.mkstemp(prefix=".tmp-", suffix=".tar", dir=tar.parent)
        digest, size = hashlib.sha256(), 0
        try:
            with os.fdopen(fd, "wb") as out:
                # Saved by id, so the tarball names no tag: loading it moves no tag on any node.
                for chunk in client.api.get_image(image_id, chunk_size=_CHUNK):
                    out.write(chunk)
                    digest.update(chunk)
                    size += len(chunk)
            os.chmod(scratch, 0o644)
            os.replace(scratch, tar)
            entry = {"id": image_id, "sha256": digest.hexdigest(), "bytes": size, "tags": sorted(image.tags)}
            _write_json(record, entry)
        except (docker.errors.DockerException, OSError) as exc:
            raise InfrastructureError(
                f"cannot publish {ref!r} to the image depot {depot}: {exc}", stage=_STAGE
            ) from exc
        finally:
            with contextlib.suppress(OSError):
                os.unlink(scratch)
    return image_id


def _write_json(path: Path, data: dict[str, Any]) -> None:
    fd, scratch = tempfile.mkstemp(prefix=".tmp-", suffix=".json", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as out:
            json.dump(data, out, sort_keys=True)
        os.chmod(scratch, 0o644)
        os.replace(scratch, path)
    finally:
        with contextlib.suppress(OSError):
            os.unlink(scratch)


def load(image_id: str, depot: Path, client: Any = None, *, tag: str | None = None) -> bool:
    """Load ``image_id`` from the depot, checked (module docstring), and point ``tag`` at it.

    False when the depot has no entry for it; InfrastructureError when the entry fails a check.
    """
    from lanser.harness.env.images import docker_client

    if not has(depot, image_id):
        return False
    client = client or docker_client()
    tar, record = _paths(depot, image_id)
    with _lock(depot, image_id):
        if not _present(client, image_id):
            check_tarball(tar, record, image_id)
            try:
                with tar.open("rb") as data:
                    for message in client.api.load_image(data, quiet=True):  # a stream: read to its end
                        if isinstance(message, dict) and message.get("error"):
                            raise InfrastructureError(f"docker load of {tar}: {message['error']}", stage=_STAGE)
            except (docker.errors.DockerException, OSError) as exc:
                raise InfrastructureError(f"docker load of {tar} failed: {exc}", stage=_STAGE) from exc
            if not _present(client, image_id):
                raise InfrastructureError(f"docker load of {tar} did not give the image {image_id}", stage=_STAGE)
    if tag:
        point_tag(client, image_id, tag)
    return True


def check_tarball(tar: Path, record: Path, image_id: str) -> None:
    """The checks before ``docker load`` (module docstring); InfrastructureError naming the first that fails."""
    expected = _hex(image_id)

    def refuse(why: str) -> InfrastructureError:
        return InfrastructureError(f"the image depot's {tar.name} is refused: {why}", stage=_STAGE)

    try:
        entry = json.loads(record.read_text())
        digest = hashlib.sha256()
        with tar.open("rb") as data:
            while chunk := data.read(_CHUNK):
                digest.update(chunk)
    except (OSError, ValueError) as exc:
        raise refuse(f"cannot read it: {exc}") from exc
    if not isinstance(entry, dict) or entry.get("id") != f"sha256:{expected}":
        raise refuse("its record names another image")
    if digest.hexdigest() != entry.get("sha256"):
        raise refuse(f"its sha256 is {digest.hexdigest()}, its record says {entry.get('sha256')}")
    try:
        with tarfile.open(tar, mode="r:") as archive:
            manifest = json.loads(_member(archive, "manifest.json"))
            if not isinstance(manifest, list) or len(manifest) != 1 or not isinstance(manifest[0], dict):
                raise refuse("it does not hold exactly one image")
            if manifest[0].get("RepoTags"):
                raise refuse(f"it names tags ({', '.join(map(str, manifest[0]['RepoTags']))})")
            with contextlib.suppress(KeyError):
                if json.loads(_member(archive, "repositories") or b"{}"):
                    raise refuse("it names repositories")
            config = _member(archive, str(manifest[0].get("Config", "")))
    except (OSError, ValueError, KeyError, tarfile.TarError) as exc:
        raise refuse(f"not a docker save archive: {exc}") from exc
    actual = hashlib.sha256(config).hexdigest()
    if actual != expected:
        raise refuse(f"its image configuration has digest sha256:{actual}, the run asks for sha256:{expected}")


def _member(archive: tarfile.TarFile, name: str) -> bytes:
    member = archive.getmember(name)  # KeyError when absent
    if not member.isfile() or member.size > 16 * _CHUNK:
        raise ValueError(f"{name} is not a small regular file")
    handle = archive.extractfile(member)
    if handle is None:
        raise ValueError(f"cannot read {name}")
    return handle.read()


def _present(client: Any, image_id: str) -> bool:
    try:
        client.images.get(image_id)
    except docker.errors.ImageNotFound:
        return False
    except (docker.errors.DockerException, OSError) as exc:
        raise InfrastructureError(f"cannot inspect image {image_id}: {exc}", stage=_STAGE) from exc
    return True


def point_tag(client: Any, image_id: str, tag: str) -> None:
    """Make ``tag`` name ``image_id`` on this engine (a node's own build of the same recipe loses the tag)."""
    repository, _, name = tag.rpartition(":")
    if not repository or "/" in name:
        repository, name = tag, "latest"
    try:
        image = client.images.get(image_id)
        if tag not in image.tags:
            image.tag(repository, name)
    except (docker.errors.DockerException, OSError) as exc:
        raise InfrastructureError(f"cannot tag {image_id} as {tag}: {exc}", stage=_STAGE) from exc


def ensure(image: str, image_id: str | None, depot: Path | None, client: Any = None) -> dict[str, Any]:
    """Make the run's image (tag ``image``, id ``image_id``) available on this node before an attempt.

    Returns how: ``present`` (published to the depot too when it lacked it), ``loaded`` (from the
    depot, checked), or ``missing`` (the caller builds it as before: ``bootstrap_base``); with
    ``seconds`` it took.  Without an id or a depot nothing is checked (``unchecked``).
    """
    from lanser.harness.env.images import docker_client

    started = time.monotonic()
    if image_id is None:
        return {"image": "unchecked", "image_s": 0.0}
    client = client or docker_client()
    how = "missing"
    if _present(client, image_id):
        point_tag(client, image_id, image)
        how = "present"
        if depot is not None and not has(depot, image_id):
            publish(image_id, depot, client)
            how = "present, published"
    elif depot is not None and load(image_id, depot, client, tag=image):
        how = "loaded"
    return {"image": how, "image_s": round(time.monotonic() - started, 3)}


# -- project layers ------------------------------------------------------------------
#
# A project layer (lanser.harness.env.project: a task's source after its setup, a host tree in the
# project cache, keyed by source, image id and setup) travels as a tarball of its cache entry,
# ``layers/<key>.tar`` with its record ``layers/<key>.json``.  Unlike an image, a layer has no
# digest the driver knows in advance (the setup runs on a node), so a layer from the depot is
# trusted as the shared file system holding the dataset is: its tarball must match its record,
# its manifest must name the key, and nothing in it may land outside its directory.


def _layer_paths(depot: Path, key: str) -> tuple[Path, Path]:
    if not key or any(c not in "0123456789abcdef" for c in key):
        raise InfrastructureError(f"not a project layer key: {key!r}", stage=_STAGE)
    return depot / "layers" / f"{key}.tar", depot / "layers" / f"{key}.json"


@contextlib.contextmanager
def _project_lock(root: Path, key: str) -> Iterator[None]:
    """The project cache's own lock for ``key`` (the file :func:`lanser.harness.env.project.prepare`
    locks), so a load and a build of the same layer on one machine never overlap."""
    from lanser.harness.env.locks import file_lock

    with file_lock(root / f".{key}.lock", stage="setup", what=f"the project cache {root}"):
        yield


def publish_layer(root: Path, key: str, depot: Path) -> bool:
    """Put the project layer ``key`` of the cache ``root`` into the depot, once; False when this
    machine has no such layer or the depot has it already."""
    entry = root / key
    tar, record = _layer_paths(depot, key)
    if record.is_file() or not (entry / "manifest.json").is_file() or not (entry / "tree").is_dir():
        return False
    try:
        tar.parent.mkdir(parents=True, exist_ok=True)
        fd, scratch = tempfile.mkstemp(prefix=".tmp-", suffix=".tar", dir=tar.parent)
        try:
            with os.fdopen(fd, "wb") as out, tarfile.open(fileobj=out, mode="w") as archive:
                archive.add(entry, arcname=key)
            digest = hashlib.sha256()
            with open(scratch, "rb") as data:
                while chunk := data.read(_CHUNK):
                    digest.update(chunk)
            os.chmod(scratch, 0o644)
            os.replace(scratch, tar)
            manifest = json.loads((entry / "manifest.json").read_text())
            _write_json(
                record,
                {
                    "key": key,
                    "sha256": digest.hexdigest(),
                    "bytes": tar.stat().st_size,
                    "digest": manifest.get("digest"),
                },
            )
        finally:
            with contextlib.suppress(OSError):
                os.unlink(scratch)
    except (OSError, ValueError, tarfile.TarError) as exc:
        raise InfrastructureError(
            f"cannot publish project layer {key} to the image depot {depot}: {exc}", stage=_STAGE
        ) from exc
    return True


def load_layer(root: Path, key: str, depot: Path) -> bool:
    """Unpack the depot's project layer ``key`` into the cache ``root`` unless it is there; False when
    the depot has none (or the cache had it), InfrastructureError when the entry fails a check."""
    tar, record = _layer_paths(depot, key)
    if not record.is_file() or not tar.is_file():
        return False

    def refuse(why: str) -> InfrastructureError:
        return InfrastructureError(f"the image depot's project layer {key} is refused: {why}", stage=_STAGE)

    root.mkdir(parents=True, exist_ok=True)
    with _project_lock(root, key):
        if (root / key / "manifest.json").is_file():
            return False
        try:
            entry = json.loads(record.read_text())
            digest = hashlib.sha256()
            with tar.open("rb") as data:
                while chunk := data.read(_CHUNK):
                    digest.update(chunk)
        except (OSError, ValueError) as exc:
            raise refuse(f"cannot read it: {exc}") from exc
        if not isinstance(entry, dict) or entry.get("key") != key or digest.hexdigest() != entry.get("sha256"):
            raise refuse("its tarball does not match its record")
        scratch = Path(tempfile.mkdtemp(prefix=".tmp-", dir=root))
        try:
            with tarfile.open(tar, mode="r:") as archive:
                names = {m.name.split("/", 1)[0] for m in archive.getmembers()}
                if names != {key}:
                    raise refuse("it holds more than the layer's directory")
                # "tar", not "data": a built tree may hold absolute symbolic links (into the image's
                # /usr), which are the container's business; members still stay inside scratch.
                archive.extractall(scratch, filter="tar")
            manifest = json.loads((scratch / key / "manifest.json").read_text())
            if manifest.get("key") != key or not (scratch / key / "tree").is_dir():
                raise refuse("its manifest names another layer")
            shutil.rmtree(root / key, ignore_errors=True)  # a manifest-less leftover of a killed build
            (scratch / key).rename(root / key)
        except (OSError, ValueError, tarfile.TarError) as exc:
            raise refuse(str(exc)) from exc
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
    return True
