"""A warm daemon answers only calls made under the environment it was started in, and a
cached bundle only requests made under the settings it was made with.

A call made with LANSER_SANDBOX=require reached a daemon started with LANSER_SANDBOX=off and
was answered by an unsandboxed server, its bundle saying ``none: LANSER_SANDBOX=off``; a call
made with LANSER_REWARD=pr-v2 got the reward of the daemon's pr-v1.  With a daemon of its own,
each still got the other's bundle from the workspace's bundle cache.  Real CLI processes, real
basedpyright.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
from pathlib import Path

import pytest
from clirun import run_cli

pytestmark = pytest.mark.integration


def lanser(env: dict[str, str], ws: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run_cli(env, "--json", "-w", str(ws), *args)


def daemons(ws: Path) -> dict[int, dict[str, str]]:
    """The live daemons serving ``ws`` and their environments, by pid (from /proc: a daemon's
    socket name hashes lanser's own source files, which others may be editing meanwhile)."""
    out = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            args = (entry / "cmdline").read_bytes().split(b"\0")
            state = (entry / "stat").read_text().split(") ", 1)[1][0]
            environ = (entry / "environ").read_bytes().split(b"\0")
        except (OSError, IndexError):
            continue
        if b"lanser.daemon.server" in args and os.fsencode(os.path.realpath(ws)) in args and state != "Z":
            pairs = (item.decode(errors="replace").partition("=") for item in environ if item)
            out[int(entry.name)] = {k: v for k, _, v in pairs}
    return out


@pytest.fixture
def stop_daemons(sample: Path):
    yield
    for pid in daemons(sample):
        os.kill(pid, signal.SIGTERM)


def test_the_sandbox_mode_of_the_call_is_the_one_answering(
    daemon_env: dict[str, str], sample: Path, stop_daemons: None
) -> None:
    off = {**daemon_env, "LANSER_SANDBOX": "off"}
    required = {**daemon_env, "LANSER_SANDBOX": "require"}
    first = lanser(off, sample, "hover", "pkg/shapes.py@L38:C5")
    assert first.returncode == 0, first.stderr
    assert json.loads(first.stdout)["environment"]["host"]["sandbox"] == "none: LANSER_SANDBOX=off"
    second = json.loads(lanser(required, sample, "hover", "pkg/shapes.py@L38:C5").stdout)
    modes = sorted(env.get("LANSER_SANDBOX", "") for env in daemons(sample).values())
    assert modes == ["off", "require"]
    _sandboxed_or_refused(second)


def _sandboxed_or_refused(bundle: dict) -> None:
    """Sandboxed, or refused because it cannot be: never an unsandboxed server's answer."""
    if bundle["status"] == "ok":
        assert bundle["environment"]["host"]["sandbox"] == "bwrap"
    else:
        assert bundle["error"]["code"] == "E/FS_PERMISSIONS", bundle["error"]


PATCH = """\
--- a/pkg/shapes.py
+++ b/pkg/shapes.py
@@ -38 +38 @@
-def total_area(shapes: list[Shape]) -> float:
+def total_area(shapes: list[Shape]) -> str:
"""


def test_the_reward_version_of_the_call_is_the_one_computed(
    daemon_env: dict[str, str], sample: Path, tmp_path: Path, stop_daemons: None
) -> None:
    line = (sample / "pkg" / "shapes.py").read_text().splitlines()[37]
    assert line == "def total_area(shapes: list[Shape]) -> float:", line
    patch = tmp_path / "break.patch"
    patch.write_text(PATCH)
    versions = ("pr-v1", "pr-v2")
    for version in versions:
        env = {**daemon_env, "LANSER_SANDBOX": "off", "LANSER_REWARD": version}
        proc = lanser(env, sample, "check", str(patch))
        assert proc.returncode == 0, proc.stderr
        assert json.loads(proc.stdout)["processReward"]["version"] == version
    assert sorted(env.get("LANSER_REWARD", "") for env in daemons(sample).values()) == list(versions)
