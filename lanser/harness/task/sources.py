"""Task sources: fetched once, verified by sha256, unpacked once, shared by every task.

:func:`materialize` turns a :class:`~lanser.harness.task.spec.Source` into a
directory holding the unpacked source tree, read-only by convention (the
harness copies it, never writes into it):

``dir``
    ``base / path``, checked against ``sha256`` (:func:`tree_digest`) when given.
``git``
    ``url`` fetched into a bare mirror, ``commit`` exported with ``git
    archive``; ``sha256`` is the :func:`tree_digest` of the exported tree
    (the commit id is SHA-1 and says nothing about ``export-ignore``).
``debian``
    ``apt-get source --download-only PACKAGE=VERSION`` with a private apt
    configuration whose ``deb-src`` entries mirror the machine's ``deb``
    entries for the release (main, updates, security: a version only the
    security suite lists is found too), or, with ``suite`` (``trixie``),
    the same mirrors' entries for that release; one package at a time; then
    ``dpkg-source -x``.  ``sha256`` is of the ``.dsc``: the ``.dsc`` lists
    the checksums of the orig and Debian tarballs and ``dpkg-source``
    checks them, so one digest pins the whole source package (the orig
    tarball alone would not pin Debian's patches, and a native package has
    none).  Debian's patches are applied by default (``skip_patches``
    turns them off): the version then names what Debian ships, security
    fixes and build fixes for the release's toolchain included.
``pypi``
    ``pip download --no-deps --no-binary :all:`` (pip's configured indexes),
    with ``--hash`` so pip itself refuses a different file before preparing
    it; ``sha256`` is of the sdist file.

The cache (``$LANSER_SOURCE_CACHE``, default ``~/.cache/lanser/sources``)
holds ``blobs/<sha256>/`` (downloads), ``trees/<key>/`` (unpacked trees,
keyed by kind, sha256 and options), ``git/`` mirrors and ``apt/`` state.
Trees are unpacked beside their final place and renamed into it, under a
file lock, so concurrent processes never see half a tree.  A digest
mismatch is :class:`~lanser.errors.BadRequest` naming ``source.sha256``;
a failed download is :class:`~lanser.harness.errors.InfrastructureError`.

Sources travel through the image depot (``$LANSER_IMAGE_DEPOT``, see
:mod:`lanser.harness.env.depot`) when one is set: a download or a git tree is
published to ``<depot>/sources/`` by the machine that fetched it, and a
machine that lacks it (a Ray node with no mirror access) copies it from there
instead of fetching.  What comes from the depot is checked against the task's
own pin (the ``.dsc`` or sdist sha256, the git tree digest) before use; an
entry that fails is refused (InfrastructureError), never blamed on the task.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from collections.abc import Iterator
from pathlib import Path

from lanser.errors import BadRequest
from lanser.harness.env.locks import file_lock
from lanser.harness.errors import InfrastructureError
from lanser.harness.task import debpool
from lanser.harness.task.spec import Source, dir_source, tree_digest

__all__ = ["CACHE_ENV", "cache_root", "deb_src_lines", "fetch_hint", "file_sha256", "materialize"]

CACHE_ENV = "LANSER_SOURCE_CACHE"
#: Bump when the unpacking of a kind changes (the trees' cache key has it).
TREE_REVISION = 1
FETCH_TIMEOUT = 30 * 60
_STAGE = "source"
_memo: dict[tuple[str, str, str], Path] = {}


def cache_root() -> Path:
    from lanser.workspace import cache_dir

    return Path(os.environ.get(CACHE_ENV) or cache_dir() / "sources")


def materialize(source: Source, base: Path, *, cache: Path | None = None) -> Path:
    """The unpacked tree of ``source`` (``base``: the dataset directory, for ``dir``).

    Fetched, verified and unpacked on first use; afterwards a lookup (and,
    within one process, a dictionary hit).  Do not write into the result.
    """
    root = cache or cache_root()
    memo_key = (source.model_dump_json(), str(Path(base).resolve()), str(root))
    hit = _memo.get(memo_key)
    if hit is not None and hit.is_dir():
        return hit
    if source.kind == "dir":
        tree = dir_source(source, base)
        if source.sha256:
            _check(source, tree_digest(tree).removeprefix("sha256:"))
    else:
        if source.sha256 is None:
            raise BadRequest(
                f"source.sha256: a {source.kind} source needs its sha256; "
                f"`lanser bench source fetch {source.spec()}` prints it",
                field="source.sha256",
            )
        tree = _tree(source, root)
        _publish_source(source, root)  # also what an earlier run left in the cache
    _memo[memo_key] = tree
    return tree


def fetch_hint(source: Source, *, cache: Path | None = None) -> str:
    """Fetch ``source`` (no sha256 needed) and return the sha256 a task file should pin.

    The download (or, for git, the tree) lands in the cache, so the first
    :func:`materialize` with that sha256 fetches nothing again.
    """
    root = cache or cache_root()
    if source.kind == "dir":
        return tree_digest(Path(str(source.path))).removeprefix("sha256:")
    if source.kind == "git":
        with _scratch(root / "trees") as scratch:
            tree = _git_export(source, root, scratch / "tree")
            digest = tree_digest(tree).removeprefix("sha256:")
            pinned = source.model_copy(update={"sha256": digest})
            with _lock(root, "tree-" + _tree_key(pinned)):
                final = root / "trees" / _tree_key(pinned)
                if not final.is_dir():
                    tree.rename(final)
        return digest
    with _scratch(root / "blobs") as scratch:
        main = _download(source, scratch / "dl", root)
        digest = file_sha256(main)
        with _lock(root, "blob-" + digest):
            final = root / "blobs" / digest
            if not final.is_dir():
                main.parent.rename(final)
    return digest


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


# -- trees and blobs ----------------------------------------------------------


def _tree_key(source: Source) -> str:
    # git: the commit too, so a wrong commit id fails on every machine, not only on a cold cache.
    raw = json.dumps([source.kind, source.sha256, source.skip_patches, source.commit, TREE_REVISION])
    return hashlib.sha256(raw.encode()).hexdigest()[:32]


def _tree(source: Source, root: Path) -> Path:
    key = _tree_key(source)
    final = root / "trees" / key
    if final.is_dir():
        return final
    with _lock(root, "tree-" + key):
        if final.is_dir():  # another process unpacked it while we waited
            return final
        with _scratch(root / "trees") as scratch:
            if source.kind == "git":
                tree = _tree_from_depot(source, key, scratch / "tree") or _git_export(source, root, scratch / "tree")
                _check(source, tree_digest(tree).removeprefix("sha256:"))
            else:
                main = _blob(source, root)
                tree = (
                    _unpack_debian(source, main, scratch)
                    if source.kind == "debian"
                    else _unpack_archive(main, scratch / "x")
                )
            tree.rename(final)
    return final


# -- the depot: sources that travel ------------------------------------------------


def _depot() -> Path | None:
    from lanser.harness.env.depot import depot_dir

    depot = depot_dir()
    return depot / "sources" if depot else None


def _refused(source: Source, why: str) -> InfrastructureError:
    return InfrastructureError(f"the image depot's copy of {source.spec()} is refused: {why}", stage=_STAGE)


def _blob_from_depot(source: Source, dest: Path) -> Path | None:
    """The depot's copy of the download, in ``dest``, its main file checked against the pin; None when absent."""
    depot = _depot()
    entry = depot / "blobs" / str(source.sha256) if depot else None
    if entry is None or not entry.is_dir():
        return None
    try:
        dest.mkdir(parents=True)
        for item in sorted(entry.iterdir()):
            if item.is_symlink() or not item.is_file():
                raise _refused(source, f"{item.name} is not a regular file")
            shutil.copyfile(item, dest / item.name)
    except OSError as exc:
        raise _refused(source, f"cannot copy it: {exc}") from exc
    files = [p for p in dest.iterdir() if p.name.endswith(".dsc")] if source.kind == "debian" else list(dest.iterdir())
    if len(files) != 1:
        raise _refused(source, f"it holds {len(files)} {'.dsc files' if source.kind == 'debian' else 'files'}, not one")
    actual = file_sha256(files[0])
    if actual != source.sha256:  # the .dsc's own checksums then pin the tarballs beside it (dpkg-source checks)
        raise _refused(source, f"{files[0].name} has sha256 {actual}, the task pins {source.sha256}")
    return files[0]


def _tree_from_depot(source: Source, key: str, dest: Path) -> Path | None:
    """The depot's copy of an exported git tree, unpacked into ``dest`` and checked against the pin."""
    depot = _depot()
    tar = depot / "trees" / f"{key}.tar" if depot else None
    if tar is None or not tar.is_file():
        return None
    try:
        dest.mkdir(parents=True)
        with tarfile.open(tar, mode="r:") as archive:
            archive.extractall(dest, filter="data")  # nothing outside dest, no devices, no setuid bits
    except (OSError, tarfile.TarError) as exc:
        raise _refused(source, f"cannot unpack it: {exc}") from exc
    actual = tree_digest(dest).removeprefix("sha256:")
    if actual != source.sha256:
        raise _refused(source, f"its tree has sha256 {actual}, the task pins {source.sha256}")
    return dest


def _publish_source(source: Source, root: Path) -> None:
    """With a depot: the git tree, or the download, of ``source`` from this machine's cache into it."""
    if _depot() is None:
        return
    if source.kind == "git":
        _publish(root / "trees" / _tree_key(source), "trees", _tree_key(source))
    elif (root / "blobs" / str(source.sha256)).is_dir():
        _publish(root / "blobs" / str(source.sha256), "blobs", str(source.sha256))


def _publish(final: Path, kind: str, name: str) -> None:
    """Put a fetched download (a directory) or git tree (as a tarball) into the depot, once; best
    effort (a depot that cannot be written costs other machines a fetch, not this task)."""
    depot = _depot()
    if depot is None:
        return
    target = depot / kind / (f"{name}.tar" if kind == "trees" else name)
    if target.exists():
        return
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        scratch = Path(tempfile.mkdtemp(prefix=".tmp-", dir=target.parent))
        try:
            if kind == "trees":
                with tarfile.open(scratch / "tree.tar", "w") as archive:
                    archive.add(final, arcname=".")
                os.replace(scratch / "tree.tar", target)
            else:
                staged = scratch / name
                shutil.copytree(final, staged, symlinks=True)
                staged.rename(target)  # fails if another machine published it meanwhile: theirs stays
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
    except (OSError, tarfile.TarError):
        pass


def _blob(source: Source, root: Path) -> Path:
    """The verified download of ``source``: the ``.dsc`` (beside its tarballs) or the sdist."""
    assert source.sha256 is not None
    final = root / "blobs" / source.sha256
    with _lock(root, "blob-" + source.sha256):
        if not final.is_dir():
            with _scratch(root / "blobs") as scratch:
                main = _blob_from_depot(source, scratch / "dl") or _download(source, scratch / "dl", root)
                _check(source, file_sha256(main))
                main.parent.rename(final)
    found = (
        [p for p in final.iterdir() if p.name.endswith(".dsc")] if source.kind == "debian" else list(final.iterdir())
    )
    if len(found) != 1:
        raise InfrastructureError(f"the cached download {final} is damaged; remove it and retry", stage=_STAGE)
    return found[0]


def _download(source: Source, dest: Path, root: Path) -> Path:
    dest.mkdir(parents=True)
    if source.kind == "debian":
        return _apt_source(str(source.package), str(source.version), dest, root, source.suite)
    return _pip_download(source, dest)


def _check(source: Source, actual: str) -> None:
    if actual != source.sha256:
        what = {"debian": "the .dsc", "pypi": "the sdist", "git": "the tree", "dir": "the tree"}[source.kind]
        raise BadRequest(
            f"source.sha256: {source.spec()}: {what} has sha256 {actual}, the task says {source.sha256}",
            field="source.sha256",
            expected=source.sha256,
            actual=actual,
        )


@contextlib.contextmanager
def _lock(root: Path, name: str) -> Iterator[None]:
    with file_lock(root / "locks" / f"{name}.lock", stage=_STAGE, what=f"the source cache {root}"):
        yield


@contextlib.contextmanager
def _scratch(parent: Path) -> Iterator[Path]:
    """A temporary directory beside the final place (same file system: rename is atomic)."""
    try:
        parent.mkdir(parents=True, exist_ok=True)
        scratch = Path(tempfile.mkdtemp(prefix=".tmp-", dir=parent))
    except OSError as exc:
        raise InfrastructureError(f"cannot write to the source cache {parent}: {exc}", stage=_STAGE) from exc
    try:
        yield scratch
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _run(argv: list[str], cwd: Path | None = None, what: str = "") -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(
            argv,
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=FETCH_TIMEOUT,
            check=False,
            env={**os.environ, "LC_ALL": "C"},
            stdin=subprocess.DEVNULL,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise InfrastructureError(f"{what or argv[0]}: {exc}", stage=_STAGE) from exc


def _failed(what: str, proc: subprocess.CompletedProcess[str]) -> InfrastructureError:
    tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-20:])
    return InfrastructureError(f"{what} exited with {proc.returncode}", stage=_STAGE, log_tail=tail)


# -- unpacking ------------------------------------------------------------------


def _unpack_archive(archive: Path, dest: Path) -> Path:
    """An sdist unpacked (no member outside ``dest``); its single top directory if it has one."""
    try:
        dest.mkdir(parents=True)
        if archive.name.endswith(".zip"):
            with zipfile.ZipFile(archive) as zf:
                for member in zf.namelist():
                    if member.startswith("/") or ".." in Path(member).parts:
                        raise InfrastructureError(f"{archive.name}: unsafe member {member!r}", stage=_STAGE)
                zf.extractall(dest)
        else:
            with tarfile.open(archive) as tf:
                tf.extractall(dest, filter="data")
    except (OSError, tarfile.TarError, zipfile.BadZipFile) as exc:
        raise InfrastructureError(f"cannot unpack {archive.name}: {exc}", stage=_STAGE) from exc
    entries = list(dest.iterdir())
    return entries[0] if len(entries) == 1 and entries[0].is_dir() else dest


def _unpack_debian(source: Source, dsc: Path, scratch: Path) -> Path:
    if shutil.which("dpkg-source") is None:
        raise InfrastructureError(
            "dpkg-source not installed (apt-get install dpkg-dev; scripts/test does)", stage=_STAGE
        )
    tree = scratch / "tree"
    argv = ["dpkg-source", "--no-copy", "-x", *(["--skip-patches"] if source.skip_patches else []), str(dsc), str(tree)]
    proc = _run(argv, cwd=scratch, what="dpkg-source -x")
    if proc.returncode != 0:
        raise _failed(f"dpkg-source -x {dsc.name}", proc)
    # quilt's bookkeeping: copies of the files before each patch, noise for an agent's grep.
    shutil.rmtree(tree / ".pc", ignore_errors=True)
    return tree


# -- debian ---------------------------------------------------------------------


def deb_src_lines(etc_apt: Path = Path("/etc/apt"), suite: str | None = None) -> list[str]:
    """One-line ``deb-src`` entries mirroring the machine's ``deb`` entries for the release.

    Only suites of :data:`~lanser.harness.env.images.SUITE` (``bookworm``,
    ``bookworm-updates``, ``bookworm-security``): other repositories carry
    no sources.  ``suite`` (a newer release's codename, ``trixie``) asks the
    same mirrors for that release's suites instead (``trixie``,
    ``trixie-updates``, ``trixie-security``; ``sid`` alone).
    ``$LANSER_DEBIAN_MIRROR`` replaces them with that mirror.
    """
    from lanser.harness.env import images
    from lanser.harness.env.apt_sources import ROLLING, deb_entries, release_entries

    release = suite or images.SUITE
    if os.environ.get(images.MIRROR_ENV):
        mirror = os.environ[images.MIRROR_ENV]
        suites = [release] if release in ROLLING else [release, f"{release}-updates"]
        return [f"deb-src {mirror} {s} main" for s in suites]
    lines: list[str] = []
    for entry in release_entries(deb_entries(etc_apt), images.SUITE, release):
        if entry.stanza is not None:  # deb822: its Signed-By, when a path, and Enabled
            if entry.stanza.get("enabled", "yes") == "no":
                continue
            signed_by = entry.stanza.get("signed-by", "")
            options = f"[signed-by={signed_by}] " if signed_by.startswith("/") else ""
            lines.append(f"deb-src {options}{entry.uri} {entry.suite} {entry.components}")
        elif entry.components:
            lines.append(f"deb-src {entry.options}{entry.uri} {entry.suite} {entry.components}")
    if not lines:
        lines = [f"deb-src {images.apt_mirror(etc_apt)} {release} main"]
    return sorted(set(lines))


def _apt_dir(root: Path, suite: str | None = None) -> tuple[Path, list[str]]:
    """The private apt state for the current entries (of ``suite``), and the options that select it."""
    text = "\n".join(deb_src_lines(suite=suite)) + "\n"
    state = root / "apt" / hashlib.sha256(text.encode()).hexdigest()[:12]
    (state / "lists" / "partial").mkdir(parents=True, exist_ok=True)
    (state / "parts").mkdir(exist_ok=True)
    if not (state / "sources.list").is_file() or (state / "sources.list").read_text() != text:
        (state / "sources.list").write_text(text)
    options = {
        "Dir::Etc::SourceList": state / "sources.list",
        "Dir::Etc::SourceParts": state / "parts",
        "Dir::State::Lists": state / "lists",
        "Dir::Cache::pkgcache": "",
        "Dir::Cache::srcpkgcache": "",
        "Acquire::Languages": "none",
        "APT::Get::Only-Source": "true",
    }
    if os.geteuid() == 0:  # the private directories are root's; apt's _apt user could not write them
        options["APT::Sandbox::User"] = "root"
    return state, [arg for k, v in options.items() for arg in ("-o", f"{k}={v}")]


def _apt_source(package: str, version: str, dest: Path, root: Path, suite: str | None = None) -> Path:
    """Download PACKAGE=VERSION's .dsc and tarballs (from ``suite``'s entries) into ``dest``; return the .dsc."""
    if shutil.which("apt-get") is None:
        raise InfrastructureError("apt-get not found: debian sources need Debian's apt", stage=_STAGE)
    with _lock(root, "apt"):
        state, options = _apt_dir(root, suite)
        updated = False
        if not any((state / "lists").glob("*Sources*")):
            _apt_update(options)
            updated = True
        while True:
            proc = _run(
                ["apt-get", *options, "source", "--download-only", f"{package}={version}"],
                cwd=dest,
                what="apt-get source",
            )
            if proc.returncode == 0:
                break
            if updated or "Unable to find a source package" not in proc.stderr + proc.stdout:
                if "Unable to find a source package" in proc.stderr + proc.stdout:
                    # A newer release's update replaced the version in its index; its files may still
                    # be in the pool.  Only for a source that names its release (``@trixie``): the pool
                    # is every release's, and a source without one means the machine's own release.
                    pooled = debpool.fetch(package, version, dest, _mirror_uris(suite)) if suite else None
                    if pooled is not None:
                        return pooled
                    known = _apt_versions(options, package)
                    raise InfrastructureError(
                        f"debian source {package}={version} is not in the configured suites"
                        + (f" of {suite}" if suite else "")
                        + (f"; they list {', '.join(known)}" if known else f"; no source package {package!r}"),
                        stage=_STAGE,
                    )
                raise _failed(f"apt-get source {package}={version}", proc)
            _apt_update(options)  # the index may be older than the version asked for
            updated = True
    upstream = version.split(":", 1)[-1]
    dsc = dest / f"{package}_{upstream}.dsc"
    if not dsc.is_file():
        raise InfrastructureError(f"apt-get source {package}={version} left no {dsc.name}", stage=_STAGE)
    return dsc


def _mirror_uris(suite: str | None) -> list[str]:
    """The mirrors of :func:`deb_src_lines`, in order."""
    uris: list[str] = []
    for line in deb_src_lines(suite=suite):
        words = re.sub(r"\[[^]]*\]\s*", "", line).split()
        if len(words) >= 2 and words[1] not in uris:
            uris.append(words[1])
    return uris


def _apt_update(options: list[str]) -> None:
    proc = _run(["apt-get", *options, "update"], what="apt-get update")
    if proc.returncode != 0:
        raise _failed("apt-get update (deb-src of the machine's Debian entries)", proc)


def _apt_versions(options: list[str], package: str) -> list[str]:
    proc = _run(["apt-cache", *options, "showsrc", package], what="apt-cache showsrc")
    return sorted({m.group(1) for m in re.finditer(r"^Version: (\S+)", proc.stdout, re.M)})


# -- pypi -------------------------------------------------------------------------


def _pip_download(source: Source, dest: Path) -> Path:
    requirement = f"{source.name}=={source.version}"
    if source.sha256:
        requirement += f" --hash=sha256:{source.sha256}"
    (dest.parent / "requirements.txt").write_text(requirement + "\n")
    proc = _run(
        [
            sys.executable,
            "-m",
            "pip",
            "download",
            "-q",
            "--disable-pip-version-check",
            "--no-deps",
            "--no-binary",
            ":all:",
            "-d",
            str(dest),
            "-r",
            str(dest.parent / "requirements.txt"),
        ],
        what="pip download",
    )
    if proc.returncode != 0:
        got = re.search(r"Got\s+([0-9a-f]{64})", proc.stdout + proc.stderr)
        if "DO NOT MATCH THE HASHES" in proc.stdout + proc.stderr and got:
            _check(source, got.group(1))
        raise _failed(f"pip download {requirement}", proc)
    files = [p for p in dest.iterdir() if p.is_file()]
    if len(files) != 1:
        raise InfrastructureError(f"pip download {requirement} gave {len(files)} files, not one sdist", stage=_STAGE)
    return files[0]


# -- git ----------------------------------------------------------------------------


#: Set to 1 to allow ``file://`` urls and local paths as git sources (tests use a local bare repository).
ALLOW_FILE_GIT_ENV = "LANSER_ALLOW_FILE_GIT_SOURCES"


def _git_protocols() -> list[str]:
    """``-c`` options allowing only https, ssh and git transports (``ext::`` and the like never);
    ``file`` too with :data:`ALLOW_FILE_GIT_ENV` set to 1."""
    allowed = ["https", "ssh", "git"] + (["file"] if os.environ.get(ALLOW_FILE_GIT_ENV) == "1" else [])
    return ["-c", "protocol.allow=never", *(a for p in allowed for a in ("-c", f"protocol.{p}.allow=always"))]


def _local_url(url: str) -> bool:
    """A ``file://`` url or a path, as git tells them from ``host:path`` (a slash before any colon)."""
    if "://" in url:
        return url.lower().startswith("file://")
    return ":" not in url or "/" in url.partition(":")[0]


def _git_export(source: Source, root: Path, dest: Path) -> Path:
    """``commit`` of ``url``, fetched into a bare mirror once, exported to ``dest``."""
    url, commit = str(source.url), str(source.commit)
    name = hashlib.sha256(url.encode()).hexdigest()[:16]
    mirror = root / "git" / f"{name}.git"
    git = ["git", "-c", "safe.directory=*", *_git_protocols(), "--git-dir", str(mirror)]
    if url.startswith("-"):  # never an option to git (the model refuses it too)
        raise BadRequest(f"source.url: {url!r} starts with '-'", field="source.url")
    if _local_url(url) and os.environ.get(ALLOW_FILE_GIT_ENV) != "1":
        raise BadRequest(
            f"source.url: {url} is a local repository; git sources are fetched over https, ssh or "
            f"git (set {ALLOW_FILE_GIT_ENV}=1 to allow local ones)",
            field="source.url",
        )
    with _lock(root, "git-" + name):
        if not mirror.is_dir():
            mirror.parent.mkdir(parents=True, exist_ok=True)
            proc = _run(["git", "init", "-q", "--bare", str(mirror)], what="git init")
            if proc.returncode != 0:
                raise _failed("git init --bare", proc)
        if _run([*git, "cat-file", "-e", f"{commit}^{{commit}}"]).returncode != 0:
            proc = _run([*git, "fetch", "-q", "--no-tags", "--", url, commit], what="git fetch")
            if proc.returncode != 0:  # a server that refuses a bare commit id: fetch its branches and tags
                proc = _run(
                    [*git, "fetch", "-q", "--", url, "+refs/heads/*:refs/heads/*", "+refs/tags/*:refs/tags/*"],
                    what="git fetch",
                )
                if proc.returncode != 0:
                    raise _failed(f"git fetch {url}", proc)
            if _run([*git, "cat-file", "-e", f"{commit}^{{commit}}"]).returncode != 0:
                raise InfrastructureError(f"source.commit: {url} has no commit {commit}", stage=_STAGE)
        dest.mkdir(parents=True)
        try:
            with subprocess.Popen(
                [*git, "archive", "--format=tar", commit], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL
            ) as proc_archive:
                assert proc_archive.stdout is not None
                with tarfile.open(fileobj=proc_archive.stdout, mode="r|") as tf:
                    tf.extractall(dest, filter="data")
            if proc_archive.returncode != 0:
                raise InfrastructureError(f"git archive {commit} exited with {proc_archive.returncode}", stage=_STAGE)
        except (OSError, tarfile.TarError) as exc:
            raise InfrastructureError(f"cannot export {commit} of {url}: {exc}", stage=_STAGE) from exc
    return dest
