"""The base image, bootstrapped offline, and layers built on it with no network."""

from __future__ import annotations

import hashlib
import json
import re
import textwrap
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from lanser.harness.env import images
from lanser.harness.errors import InfrastructureError

pytestmark = pytest.mark.docker

REPO = Path(__file__).resolve().parents[2]


# -- helpers ------------------------------------------------------------------


def run_sealed(client: Any, image: str, script: str, timeout: float = 180) -> tuple[int, str]:
    """Run ``sh -c script`` as the image's user, sealed as the harness seals a
    task: no network, read-only root, all capabilities dropped,
    no-new-privileges, an executable tmpfs on /tmp, pids and memory limits.
    Returns (exit code, stdout + stderr); the container is always removed."""
    container = client.containers.run(
        image,
        ["sh", "-c", script],
        detach=True,
        network_mode="none",
        read_only=True,
        tmpfs={"/tmp": "rw,exec,size=256m"},
        cap_drop=["ALL"],
        security_opt=["no-new-privileges"],
        pids_limit=256,
        mem_limit="1g",
        labels={"lanser.test": "images"},
    )
    try:
        status = container.wait(timeout=timeout)
        output = container.logs(stdout=True, stderr=True).decode(errors="replace")
        return int(status["StatusCode"]), output
    finally:
        container.remove(force=True)


@pytest.fixture
def layer_tag(docker_client: Any) -> Iterator[str]:
    tag = f"lanser-test-layer:{uuid.uuid4().hex[:12]}"
    yield tag
    try:
        docker_client.images.remove(tag, force=True)
    except Exception:  # noqa: BLE001 - the build may have failed before tagging
        pass


# -- recipe, mirror, Dockerfile (no engine needed, but part of this tier) ------


def test_recipe_digest_is_the_sha256_of_the_canonical_recipe(monkeypatch: pytest.MonkeyPatch) -> None:
    digest = images.base_recipe_digest()
    canonical = json.dumps(images.base_recipe(), sort_keys=True, separators=(",", ":"))
    assert digest == hashlib.sha256(canonical.encode()).hexdigest()
    assert images.base_tag() == f"lanser-base:{digest[:12]}"
    # Package order does not matter; a package more does.
    monkeypatch.setattr(images, "BASE_PACKAGES", tuple(reversed(images.BASE_PACKAGES)))
    assert images.base_recipe_digest() == digest
    monkeypatch.setattr(images, "BASE_PACKAGES", (*images.BASE_PACKAGES, "clang"))
    assert images.base_recipe_digest() != digest


def test_mirror_comes_from_the_hosts_apt_sources(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(images.MIRROR_ENV, raising=False)
    etc = tmp_path / "apt"
    (etc / "sources.list.d").mkdir(parents=True)
    with pytest.raises(InfrastructureError, match=images.MIRROR_ENV):  # no built-in fallback
        images.apt_mirror(etc)
    (etc / "sources.list").write_text(
        "# a comment\n"
        "deb [signed-by=/usr/share/keyrings/x.gpg] http://security.example/debian-security bookworm-security main\n"
        "deb [arch=amd64 signed-by=/k.gpg] http://old.example/debian/ bookworm main\n"
    )
    assert images.apt_mirror(etc) == "http://old.example/debian"
    (etc / "sources.list.d" / "debian.sources").write_text(
        textwrap.dedent(
            """\
            Types: deb
            URIs: http://security.example/debian-security
            Suites: bookworm-security
            Components: main

            Types: deb deb-src
            # http://archive.example/debian/20250520T000000Z
            URIs: http://mirror.example/debian/
            Suites: bookworm bookworm-updates
            Components: main
            """
        )
    )
    assert images.apt_mirror(etc) == "http://mirror.example/debian"
    monkeypatch.setenv(images.MIRROR_ENV, "file:///srv/mirror/debian")
    assert images.apt_mirror(etc) == "file:///srv/mirror/debian"


def test_registry_dockerfile_installs_the_same_packages_and_user() -> None:
    dockerfile = (REPO / "harness" / "images" / "base" / "Dockerfile").read_text()
    # the package list: every continuation line after `apt-get install ... \` up to the `&&`
    install = re.search(r"apt-get install[^\n]*\\\n((?:\s*[^\n\\&]+\\\n)+)", dockerfile)
    assert install is not None, "no apt-get install line in the base Dockerfile"
    assert sorted(install.group(1).replace("\\", " ").split()) == sorted(images.BASE_PACKAGES)
    assert f"--uid {images.AGENT_UID}" in dockerfile and f"--gid {images.AGENT_GID}" in dockerfile
    assert f"USER {images.AGENT_UID}:{images.AGENT_GID}" in dockerfile
    assert f"WORKDIR {images.WORKDIR}" in dockerfile
    assert f"PATH={images.IMAGE_PATH}" in dockerfile


# -- the base image -----------------------------------------------------------


def test_bootstrap_gives_a_tagged_image_labelled_with_its_recipe(docker_client: Any, base_image: str) -> None:
    digest = images.base_recipe_digest()
    assert base_image == f"lanser-base:{digest[:12]}"
    image = docker_client.images.get(base_image)
    assert image.labels[images.RECIPE_LABEL] == digest
    assert image.labels["lanser.base.suite"] == "bookworm"
    assert docker_client.images.get(images.BASE_LATEST).id == image.id
    config = image.attrs["Config"]
    assert config["User"] == "1000:1000"
    assert config["WorkingDir"] == "/work"
    assert "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" in config["Env"]
    assert images.image_digest(base_image, docker_client) == image.id
    assert image.id.startswith("sha256:")


def test_second_bootstrap_returns_at_once_without_rebuilding(
    docker_client: Any, base_image: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = images.image_digest(base_image, docker_client)

    def no_rebuild(*_args: Any, **_kwargs: Any) -> None:
        raise AssertionError("bootstrap_base ran debootstrap although the image exists")

    monkeypatch.setattr(images, "_debootstrap", no_rebuild)
    tag = images.bootstrap_base(docker_client)  # debootstrap, if called, fails the test
    assert tag == base_image
    assert images.image_digest(tag, docker_client) == before


def test_image_digest_of_a_missing_image_is_an_infrastructure_error(docker_client: Any) -> None:
    with pytest.raises(InfrastructureError, match="not available"):
        images.image_digest(f"lanser-no-such-image:{uuid.uuid4().hex[:8]}", docker_client)


def test_inside_the_user_is_agent_1000_with_its_home_and_work_area(docker_client: Any, base_image: str) -> None:
    code, out = run_sealed(
        docker_client, base_image, 'echo "$(id -u):$(id -g):$(id -un):$HOME:$(pwd):$(stat -c %u:%g /work)"'
    )
    assert code == 0, out
    assert out.strip() == "1000:1000:agent:/home/agent:/work:1000:1000"


def test_the_manifest_records_recipe_and_package_versions(docker_client: Any, base_image: str) -> None:
    code, out = run_sealed(docker_client, base_image, f"cat /{images.MANIFEST_PATH}")
    if code != 0:
        pytest.fail(f"no manifest in {base_image} (built from harness/images/base/Dockerfile?): {out}")
    manifest = json.loads(out)
    assert manifest["digest"] == images.base_recipe_digest()
    assert manifest["recipe"] == images.base_recipe()
    for package in images.BASE_PACKAGES:
        assert manifest["installed"].get(package), f"{package} not installed"


ASAN_PROGRAM = r"""
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv) {
    const char *mode = argc > 1 ? argv[1] : "clean";
    char *buf = malloc(8);
    if (strcmp(mode, "overflow") == 0) {
        buf[8] = 'x';                      /* one past the end */
    } else if (strcmp(mode, "ubsan") == 0) {
        volatile int big = INT_MAX;
        printf("%d\n", big + argc);        /* signed overflow */
    } else {
        memset(buf, 0, 8);
    }
    printf("%s done\n", mode);
    free(buf);
    return 0;
}
"""


def test_sanitizers_work_in_a_sealed_container(docker_client: Any, base_image: str) -> None:
    script = (
        "set -e; cd /tmp; cat > t.c <<'EOF'\n" + ASAN_PROGRAM + "EOF\n"
        "gcc -g -O0 -fsanitize=address,undefined -fno-omit-frame-pointer -o t t.c\n"
        "echo '== clean'; ./t clean; echo \"rc=$?\"\n"
        "echo '== ubsan'; ./t ubsan 2>&1 || echo \"rc=$?\"\n"
        "echo '== overflow'; ./t overflow 2>&1 || echo \"rc=$?\"\n"
    )
    code, out = run_sealed(docker_client, base_image, script)
    assert code == 0, out
    clean, ubsan, overflow = (part for part in out.split("== ")[1:])
    # A clean run exits 0: ASan and LeakSanitizer work without capabilities.
    assert "clean done" in clean and "rc=0" in clean, clean
    assert "runtime error: signed integer overflow" in ubsan, ubsan
    assert "ERROR: AddressSanitizer: heap-buffer-overflow" in overflow, overflow
    assert "WRITE of size 1" in overflow and re.search(r"in main /tmp/t\.c:\d+", overflow), overflow
    assert "overflow done" not in overflow and "rc=0" not in overflow, overflow


# -- layers ---------------------------------------------------------------------


def test_build_layer_builds_offline_from_the_base(
    docker_client: Any, base_image: str, layer_tag: str, tmp_path: Path
) -> None:
    (tmp_path / "hello.txt").write_text("hello from the context\n")
    (tmp_path / "Dockerfile").write_text(
        "FROM lanser-base:latest\n"
        "ARG GREETING\n"
        "COPY hello.txt /opt/hello.txt\n"
        'RUN test "$(cat /opt/hello.txt)" = "$GREETING"\n'
    )
    image_id = images.build_layer(tmp_path, layer_tag, docker_client, buildargs={"GREETING": "hello from the context"})
    assert image_id.startswith("sha256:")
    assert images.image_digest(layer_tag, docker_client) == image_id
    image = docker_client.images.get(image_id)
    assert image.labels["lanser.layer"] == layer_tag
    assert image.labels[images.RECIPE_LABEL] == images.base_recipe_digest()  # inherited from the base
    code, out = run_sealed(docker_client, layer_tag, "id -u; cat /opt/hello.txt")
    assert (code, out) == (0, "1000\nhello from the context\n")
    # Unchanged context: the build cache gives the same image.
    assert (
        images.build_layer(tmp_path, layer_tag, docker_client, buildargs={"GREETING": "hello from the context"})
        == image_id
    )


def test_build_layer_has_no_network_and_failures_are_infrastructure_errors(
    docker_client: Any, base_image: str, layer_tag: str, tmp_path: Path
) -> None:
    (tmp_path / "Dockerfile").write_text(
        "FROM lanser-base:latest\n"
        'RUN python3 -c \'import socket; socket.create_connection(("1.1.1.1", 53), 3); print("NETWORK" + " REACHED")\'\n'
    )
    with pytest.raises(InfrastructureError) as caught:
        images.build_layer(tmp_path, layer_tag, docker_client)
    assert caught.value.stage == "build"
    assert caught.value.log_tail and "Network is unreachable" in caught.value.log_tail
    assert "NETWORK REACHED" not in (caught.value.log_tail or "")


def test_a_layer_inheriting_the_recipe_label_is_not_taken_for_the_base(
    docker_client: Any, base_image: str, layer_tag: str, tmp_path: Path
) -> None:
    other_recipe = hashlib.sha256(b"another recipe").hexdigest()
    (tmp_path / "Dockerfile").write_text(f"FROM lanser-base:latest\nLABEL {images.RECIPE_LABEL}={other_recipe}\n")
    images.build_layer(tmp_path, layer_tag, docker_client)
    assert docker_client.images.list(filters={"label": f"{images.RECIPE_LABEL}={other_recipe}"})
    assert images.find_base(docker_client, other_recipe) is None
    assert images.find_base(docker_client).id == images.image_digest(base_image, docker_client)


def test_build_layer_without_a_dockerfile_says_so(docker_client: Any, tmp_path: Path) -> None:
    with pytest.raises(InfrastructureError, match="no Dockerfile"):
        images.build_layer(tmp_path, "lanser-test-layer:none", docker_client)
