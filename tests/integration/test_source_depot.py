"""Task sources that travel through the image depot ($LANSER_IMAGE_DEPOT): a machine that fetched a
source publishes it; a machine that cannot fetch (its origin gone, its index unreachable) copies it
from the depot, checked against the task's pin; a depot copy that does not match the pin is refused
and never blamed on the task."""

from __future__ import annotations

import hashlib
import io
import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest

from lanser.harness.env.depot import DEPOT_ENV
from lanser.harness.errors import InfrastructureError
from lanser.harness.task.sources import ALLOW_FILE_GIT_ENV, fetch_hint, materialize
from lanser.harness.task.spec import Source

pytestmark = pytest.mark.integration


def git(cwd: Path, *args: str) -> str:
    env = {
        "GIT_CONFIG_GLOBAL": "/dev/null",
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@t",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@t",
        "PATH": "/usr/bin:/bin",
    }
    return subprocess.run(["git", *args], cwd=cwd, env=env, check=True, capture_output=True, text=True).stdout.strip()


@pytest.fixture
def depot(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv(DEPOT_ENV, str(tmp_path / "depot"))
    return tmp_path / "depot"


def test_a_git_tree_travels_and_a_forged_one_is_refused(
    tmp_path: Path, depot: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(ALLOW_FILE_GIT_ENV, "1")
    work = tmp_path / "work"
    work.mkdir()
    git(work, "init", "-q", "-b", "main")
    (work / "lib.c").write_text("int f(void) { return 1; }\n")
    (work / "run.sh").write_text("#!/bin/sh\n")
    (work / "run.sh").chmod(0o755)
    git(work, "add", "-A")
    git(work, "commit", "-qm", "one")
    bare = tmp_path / "origin.git"
    git(tmp_path, "clone", "-q", "--bare", str(work), str(bare))
    source = Source(kind="git", url=bare.as_uri(), commit=git(work, "rev-parse", "HEAD"))
    pinned = source.model_copy(update={"sha256": fetch_hint(source, cache=tmp_path / "probe")})
    fetched = materialize(pinned, tmp_path, cache=tmp_path / "node-a")
    tars = list((depot / "sources" / "trees").glob("*.tar"))
    assert len(tars) == 1, "the machine that fetched it published it"
    shutil.rmtree(bare)  # the origin is gone for every later machine
    travelled = materialize(pinned, tmp_path, cache=tmp_path / "node-b")
    assert travelled != fetched and (travelled / "lib.c").read_text() == "int f(void) { return 1; }\n"
    assert (travelled / "run.sh").stat().st_mode & 0o111
    # A forged copy (another lib.c): refused against the task's pin, naming the depot.
    forged = io.BytesIO()
    with tarfile.open(fileobj=forged, mode="w") as archive:
        data = b"int f(void) { return 666; }\n"
        info = tarfile.TarInfo("./lib.c")
        info.size = len(data)
        archive.addfile(info, io.BytesIO(data))
    tars[0].write_bytes(forged.getvalue())
    with pytest.raises(InfrastructureError, match=r"the image depot's copy of git:.* is refused: its tree has sha256"):
        materialize(pinned, tmp_path, cache=tmp_path / "node-c")


def test_a_download_travels_and_a_forged_one_is_refused(
    tmp_path: Path, depot: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An sdist some machine downloaded (here: placed in the depot as that machine would) is used by
    a machine whose package index is unreachable; pip is never asked."""
    monkeypatch.setenv("PIP_INDEX_URL", "http://127.0.0.1:9/simple")  # nothing answers there
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    sdist = io.BytesIO()
    with tarfile.open(fileobj=sdist, mode="w:gz") as archive:
        data = b"print('hello')\n"
        info = tarfile.TarInfo("tiny-1.0/tiny.py")
        info.size = len(data)
        archive.addfile(info, io.BytesIO(data))
    digest = hashlib.sha256(sdist.getvalue()).hexdigest()
    entry = depot / "sources" / "blobs" / digest
    entry.mkdir(parents=True)
    (entry / "tiny-1.0.tar.gz").write_bytes(sdist.getvalue())
    source = Source.parse("pypi:tiny==1.0", digest)
    tree = materialize(source, tmp_path, cache=tmp_path / "node-b")
    assert (tree / "tiny.py").read_text() == "print('hello')\n"
    (entry / "tiny-1.0.tar.gz").write_bytes(sdist.getvalue() + b"\0")
    with pytest.raises(InfrastructureError, match="is refused: tiny-1.0.tar.gz has sha256"):
        materialize(source, tmp_path, cache=tmp_path / "node-c")


def test_a_source_already_in_the_cache_is_published_too(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Regression: only a fresh fetch was published, so a driver whose cache held a run's sources from an
    earlier run (no depot then) left the depot without them and mirror-less nodes could not start."""
    from lanser.harness.task import sources

    monkeypatch.delenv(DEPOT_ENV, raising=False)
    sdist = io.BytesIO()
    with tarfile.open(fileobj=sdist, mode="w:gz") as archive:
        info = tarfile.TarInfo("tiny-2.0/tiny.py")
        info.size = 0
        archive.addfile(info, io.BytesIO(b""))
    digest = hashlib.sha256(sdist.getvalue()).hexdigest()
    cache = tmp_path / "driver-cache"
    (cache / "blobs" / digest).mkdir(parents=True)  # as an earlier run's download left it
    (cache / "blobs" / digest / "tiny-2.0.tar.gz").write_bytes(sdist.getvalue())
    source = Source.parse("pypi:tiny==2.0", digest)
    materialize(source, tmp_path, cache=cache)
    monkeypatch.setattr(sources, "_memo", {})  # a later run, in a new process
    monkeypatch.setenv(DEPOT_ENV, str(tmp_path / "depot"))
    materialize(source, tmp_path, cache=cache)
    assert (tmp_path / "depot" / "sources" / "blobs" / digest / "tiny-2.0.tar.gz").read_bytes() == sdist.getvalue()
