"""Real task sources: a Debian source package through apt-get source + dpkg-source, a PyPI
sdist through pip, a git commit from a bare repository made here.  Downloads are cached
under ~/.cache/lanser-tests/sources, so reruns fetch nothing; a failed download fails."""

from __future__ import annotations

import subprocess
import threading
from pathlib import Path

import pytest
from pydantic import ValidationError

from lanser.errors import BadRequest
from lanser.harness.errors import InfrastructureError
from lanser.harness.task.sources import ALLOW_FILE_GIT_ENV, fetch_hint, materialize
from lanser.harness.task.spec import Source, tree_digest

pytestmark = pytest.mark.integration

CACHE = Path.home() / ".cache" / "lanser-tests" / "sources"
#: cJSON as bookworm-security ships it (361 kB): a version only the security suite lists.
CJSON = Source.parse(
    "debian:cjson=1.7.15-1+deb12u4", "764c2de141d680f4fb4cada30c526dacaa30ead061b9b9c34f2b81e2df0f8439"
)
SIX = Source.parse("pypi:six==1.16.0", "1e61c37477a1626458e36f7b1d82aa5c9b094fa4802892072e49de9c60c4c926")


def test_debian_source_package_is_fetched_verified_and_unpacked_with_its_patches(tmp_path: Path) -> None:
    tree = materialize(CJSON, tmp_path, cache=CACHE)
    assert (tree / "cJSON.c").is_file() and (tree / "debian" / "changelog").is_file()
    assert "1.7.15-1+deb12u4" in (tree / "debian" / "changelog").read_text().splitlines()[0]
    assert not (tree / ".pc").exists(), "quilt's bookkeeping is dropped"
    assert (CACHE / "blobs" / str(CJSON.sha256) / "cjson_1.7.15-1+deb12u4.dsc").is_file()
    assert materialize(CJSON, tmp_path, cache=CACHE) == tree


def test_debian_wrong_sha256_is_refused_naming_the_field(tmp_path: Path) -> None:
    wrong = CJSON.model_copy(update={"sha256": "0" * 64})
    with pytest.raises(
        BadRequest, match="source.sha256: debian:cjson=1.7.15-1\\+deb12u4: the .dsc has sha256 764c2"
    ) as err:
        materialize(wrong, tmp_path, cache=tmp_path / "cache")
    assert err.value.details["actual"] == CJSON.sha256
    assert not list((tmp_path / "cache" / "trees").iterdir()), "nothing unpacked"
    assert not list((tmp_path / "cache" / "blobs").iterdir()), "nothing kept"


def test_debian_version_not_in_the_suites_says_which_are(tmp_path: Path) -> None:
    gone = Source.parse("debian:cjson=1.7.14-1", "0" * 64)
    with pytest.raises(InfrastructureError, match="not in the configured suites; they list 1.7.15-1"):
        materialize(gone, tmp_path, cache=CACHE)


def test_fetch_hint_prints_what_the_task_pins() -> None:
    assert fetch_hint(CJSON.model_copy(update={"sha256": None}), cache=CACHE) == CJSON.sha256


def test_pypi_sdist(tmp_path: Path) -> None:
    tree = materialize(SIX, tmp_path, cache=CACHE)
    assert (tree / "six.py").is_file(), "the sdist's top directory is the tree"
    with pytest.raises(BadRequest, match="source.sha256: pypi:six==1.16.0: the sdist has sha256 1e61c"):
        materialize(SIX.model_copy(update={"sha256": "1" * 64}), tmp_path, cache=tmp_path / "cache")


def git(cwd: Path, *args: str) -> str:
    env = {
        "GIT_CONFIG_GLOBAL": "/dev/null",
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@t",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@t",
        "GIT_AUTHOR_DATE": "2020-01-01T00:00:00Z",
        "GIT_COMMITTER_DATE": "2020-01-01T00:00:00Z",
        "PATH": "/usr/bin:/bin",
    }
    return subprocess.run(["git", *args], cwd=cwd, env=env, check=True, capture_output=True, text=True).stdout.strip()


@pytest.fixture
def bare_repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[str, str, str]:
    """A bare repository with two commits; returns (url, first commit, its tree digest).
    Local git sources are allowed for the test (they are refused by default)."""
    monkeypatch.setenv(ALLOW_FILE_GIT_ENV, "1")
    work = tmp_path / "work"
    work.mkdir()
    git(work, "init", "-q", "-b", "main")
    (work / "lib.c").write_text("int f(void) { return 1; }\n")
    (work / "run.sh").write_text("#!/bin/sh\n")
    (work / "run.sh").chmod(0o755)
    git(work, "add", "-A")
    git(work, "commit", "-qm", "one")
    first = git(work, "rev-parse", "HEAD")
    (work / "lib.c").write_text("int f(void) { return 2; }\n")
    git(work, "commit", "-qam", "two")
    bare = tmp_path / "origin.git"
    git(tmp_path, "clone", "-q", "--bare", str(work), str(bare))
    export = tmp_path / "expected"
    export.mkdir()
    (export / "lib.c").write_text("int f(void) { return 1; }\n")
    (export / "run.sh").write_text("#!/bin/sh\n")
    (export / "run.sh").chmod(0o755)
    return bare.as_uri(), first, tree_digest(export).removeprefix("sha256:")


def test_git_commit_from_a_bare_repository(tmp_path: Path, bare_repo: tuple[str, str, str]) -> None:
    url, commit, digest = bare_repo
    cache = tmp_path / "cache"
    source = Source(kind="git", url=url, commit=commit)
    assert fetch_hint(source, cache=cache) == digest
    tree = materialize(source.model_copy(update={"sha256": digest}), tmp_path, cache=cache)
    assert (tree / "lib.c").read_text() == "int f(void) { return 1; }\n", "the pinned commit, not the branch tip"
    assert (tree / "run.sh").stat().st_mode & 0o111
    with pytest.raises(BadRequest, match="source.sha256: git:.*: the tree has sha256"):
        materialize(source.model_copy(update={"sha256": "2" * 64}), tmp_path, cache=tmp_path / "other")
    with pytest.raises(InfrastructureError, match="has no commit"):
        materialize(source.model_copy(update={"commit": "3" * 40, "sha256": digest}), tmp_path, cache=cache)


def test_git_url_that_is_an_option_is_refused_and_runs_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    marker = tmp_path / "pwned"
    url = f"--upload-pack=touch {marker};"
    with pytest.raises(ValidationError, match="source.url must not start with '-'"):
        Source(kind="git", url=url, commit="a" * 40)
    monkeypatch.setenv(ALLOW_FILE_GIT_ENV, "1")  # even with local sources allowed
    unchecked = Source.model_construct(kind="git", url=url, commit="a" * 40, sha256="1" * 64)
    with pytest.raises(BadRequest, match="source.url"):
        materialize(unchecked, tmp_path, cache=tmp_path / "cache")
    assert not marker.exists()


def test_git_transports_other_than_https_ssh_git_are_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    marker = tmp_path / "pwned"
    monkeypatch.setenv(ALLOW_FILE_GIT_ENV, "1")
    source = Source(kind="git", url=f"ext::sh -c touch% {marker}", commit="a" * 40, sha256="1" * 64)
    with pytest.raises(InfrastructureError, match="git fetch"):
        materialize(source, tmp_path, cache=tmp_path / "cache")
    assert not marker.exists()


def test_local_git_source_needs_the_opt_in(
    tmp_path: Path, bare_repo: tuple[str, str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    url, commit, digest = bare_repo
    monkeypatch.delenv(ALLOW_FILE_GIT_ENV)
    for u in (url, url.removeprefix("file://")):
        with pytest.raises(BadRequest, match=f"source.url: .* is a local repository.*{ALLOW_FILE_GIT_ENV}=1"):
            materialize(Source(kind="git", url=u, commit=commit, sha256=digest), tmp_path, cache=tmp_path / "c")
    assert not (tmp_path / "c" / "git").exists() or not any((tmp_path / "c" / "git").iterdir())


def test_concurrent_materialize_unpacks_once(tmp_path: Path, bare_repo: tuple[str, str, str]) -> None:
    url, commit, digest = bare_repo
    source = Source(kind="git", url=url, commit=commit, sha256=digest)
    cache = tmp_path / "cache"
    found: list[Path] = []

    def worker() -> None:
        from lanser.harness.task import sources

        sources._memo.clear()
        found.append(materialize(source, tmp_path, cache=cache))

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(found)) == 1 and len(found) == 4
    assert [p.name for p in (cache / "trees").iterdir()] == [found[0].name], "no leftover scratch directories"


def test_cli_fetch_prints_the_pin_and_refuses_a_wrong_one(run_cli, run_json, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LANSER_SOURCE_CACHE", str(CACHE))
    code, out, err = run_cli("bench", "source", "fetch", CJSON.spec())
    assert (code, out) == (0, f"{CJSON.sha256}\n")
    assert '"source": {"kind":"debian","package":"cjson","sha256":"764c2' in err
    code, data = run_json("bench", "source", "fetch", SIX.spec(), "--sha256", "1" * 64)
    assert code == 2 and data["error"]["details"]["field"] == "source.sha256"
    code, _, err = run_cli("bench", "source", "fetch", "debian:cjson")
    assert code == 2 and "debian:PACKAGE=VERSION" in err
