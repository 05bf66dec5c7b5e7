"""Real projects that nobody here wrote, as git repositories, for the integration tier.

``rich_repo``
    The installed ``rich`` package (a test dependency), copied into a fresh
    git repository.
``c_repo``
    The Brotli C library, from the ``brotli`` sdist on PyPI at a pinned
    version whose sha256 is checked, unpacked into a git repository with a
    ``compile_commands.json`` (relative ``directory`` entries) that the
    fixture writes.  The sdist is cached under ``~/.cache/lanser-tests`` so
    reruns do not fetch it again.  A failed download fails the tests: it
    never skips them.

Commits use a fixed author, committer and date, and git ignores the
user's and the system's configuration, so the same content gives the same
commit id on every machine.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tarfile
from collections.abc import Callable
from pathlib import Path

import pytest

#: The C project: PyPI name, version, sdist file name, its sha256.
C_SDIST = (
    "brotli",
    "1.1.0",
    "Brotli-1.1.0.tar.gz",
    "81de08ac11bcb85841e440c13611c00b67d3bf82698314928d0b676362546724",
)
#: Include directories of the Brotli C library, relative to the sdist root.
C_INCLUDE_DIRS = ("c/include",)
#: What the generated compilation database compiles: the C library and its CLI.
C_SOURCE_DIR = "c"
C_FLAGS = ("-std=c99", "-Wall", "-Wextra")

DOWNLOAD_CACHE = Path.home() / ".cache" / "lanser-tests"

_GIT_ENV = {
    "GIT_AUTHOR_NAME": "lanser tests",
    "GIT_AUTHOR_EMAIL": "tests@lanser.invalid",
    "GIT_AUTHOR_DATE": "2025-01-01T00:00:00+0000",
    "GIT_COMMITTER_NAME": "lanser tests",
    "GIT_COMMITTER_EMAIL": "tests@lanser.invalid",
    "GIT_COMMITTER_DATE": "2025-01-01T00:00:00+0000",
    "GIT_CONFIG_GLOBAL": os.devnull,
    "GIT_CONFIG_NOSYSTEM": "1",
}


def git(root: Path, *args: str) -> str:
    env = {**os.environ, **_GIT_ENV}
    out = subprocess.run(["git", *args], cwd=root, env=env, check=True, capture_output=True, text=True, timeout=300)
    return out.stdout


def make_git_repo(root: Path, message: str) -> str:
    """``git init`` + add everything + one reproducible commit; returns the commit id."""
    git(root, "init", "-q", "-b", "main")
    git(root, "add", "-A")
    git(root, "-c", "commit.gpgsign=false", "commit", "-q", "--no-verify", "-m", message)
    return git(root, "rev-parse", "HEAD").strip()


def copy_tree(src: Path, dst: Path) -> Path:
    """The same repository (work tree and .git) in another directory."""
    shutil.copytree(src, dst, symlinks=True)
    return dst


@pytest.fixture
def daemon_env(tmp_path: Path) -> dict[str, str]:
    """The environment of a CLI subprocess that may start daemons: the default ``--no-daemon``
    of the test suite lifted, sockets and locks in this test's own runtime directory."""
    env = dict(os.environ)
    env.pop("LANSER_NO_DAEMON", None)
    run = tmp_path / "run"
    run.mkdir()
    env["XDG_RUNTIME_DIR"] = str(run)
    return env


@pytest.fixture(scope="session")
def copy_repo(tmp_path_factory: pytest.TempPathFactory) -> Callable[[Path, str], Path]:
    """``copy_repo(src, name)``: the repository ``src`` copied to a new directory."""
    return lambda src, name: copy_tree(src, tmp_path_factory.mktemp(name) / "checkout")


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


# -- rich ---------------------------------------------------------------


@pytest.fixture(scope="session")
def rich_repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    spec = importlib.util.find_spec("rich")
    if spec is None or spec.origin is None:
        pytest.fail("the test dependency 'rich' is not installed (pip install -e '.[test]')")
    package = Path(spec.origin).parent
    root = tmp_path_factory.mktemp("rich-ws")
    shutil.copytree(package, root / "rich", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    make_git_repo(root, "rich, as installed")
    return root


# -- the C project ------------------------------------------------------


def fetch_sdist(name: str, version: str, filename: str, sha256: str) -> Path:
    """The pinned sdist from the download cache, fetched with pip when missing.

    Fails the test (never skips it) when the download fails or the bytes
    are not the pinned ones.
    """
    DOWNLOAD_CACHE.mkdir(parents=True, exist_ok=True)
    cached = DOWNLOAD_CACHE / filename
    if cached.is_file() and sha256_of(cached) != sha256:
        cached.unlink()  # a damaged or foreign file: fetch again
    if not cached.is_file():
        staging = DOWNLOAD_CACHE / f".download-{os.getpid()}"
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir()
        cmd = [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--no-deps",
            "--no-binary",
            ":all:",
            "--disable-pip-version-check",
            f"{name}=={version}",
            "-d",
            str(staging),
        ]
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
        except (OSError, subprocess.TimeoutExpired) as exc:
            shutil.rmtree(staging, ignore_errors=True)
            pytest.fail(f"cannot download the {name}=={version} sdist with pip: {exc}")
        got = staging / filename
        if proc.returncode != 0 or not got.is_file():
            shutil.rmtree(staging, ignore_errors=True)
            pytest.fail(
                f"cannot download the {name}=={version} sdist ({filename}) with pip "
                f"(exit {proc.returncode}); the C integration tests need it.\n"
                f"command: {' '.join(cmd)}\nstdout:\n{proc.stdout[-2000:]}\nstderr:\n{proc.stderr[-2000:]}"
            )
        os.replace(got, cached)
        shutil.rmtree(staging, ignore_errors=True)
    actual = sha256_of(cached)
    if actual != sha256:
        pytest.fail(f"{filename}: sha256 {actual} is not the pinned {sha256}")
    return cached


def c_compile_commands(root: Path, *, absolute: bool) -> list[dict[str, object]]:
    """Entries for every .c file of the C library and its tool.

    ``directory`` is ``"."`` (relative to the database) or the workspace's
    absolute real path; files and flags are relative to it either way.
    """
    sources = sorted(p.relative_to(root).as_posix() for p in (root / C_SOURCE_DIR).rglob("*.c"))
    directory = os.path.realpath(root) if absolute else "."
    includes = [f"-I{d}" for d in C_INCLUDE_DIRS]
    return [
        {
            "directory": directory,
            "file": src,
            "arguments": ["cc", *C_FLAGS, *includes, "-c", src, "-o", src[:-2] + ".o"],
        }
        for src in sources
    ]


def write_cdb(root: Path, out_dir: Path, *, absolute: bool) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / "compile_commands.json"
    path.write_text(json.dumps(c_compile_commands(root, absolute=absolute), indent=1) + "\n")
    return path


@pytest.fixture(scope="session")
def write_compile_commands() -> Callable[..., Path]:
    """``write_compile_commands(root, out_dir, absolute=...)``: a database for ``root`` in ``out_dir``."""
    return write_cdb


@pytest.fixture(scope="session")
def c_sdist() -> Path:
    return fetch_sdist(*C_SDIST)


@pytest.fixture(scope="session")
def c_repo(c_sdist: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The Brotli sdist as a git repository with a relative compile_commands.json."""
    base = tmp_path_factory.mktemp("c-ws")
    with tarfile.open(c_sdist) as tar:
        tar.extractall(base / "unpacked", filter="data")
    (top,) = (base / "unpacked").iterdir()
    root = base / "brotli"
    top.rename(root)
    if not list((root / C_SOURCE_DIR).rglob("*.c")):
        pytest.fail(f"{c_sdist.name} has no C sources under {C_SOURCE_DIR}/")
    write_cdb(root, root, absolute=False)
    make_git_repo(root, f"{C_SDIST[0]} {C_SDIST[1]} sdist, with a compilation database")
    return root
