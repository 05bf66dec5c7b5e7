"""LocalRayCluster's process bookkeeping without Ray: fake raylets (processes whose command line
reads like a raylet's) of this cluster and of another cluster on the same machine."""

from __future__ import annotations

import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from lanser.harness.run import ray_local
from lanser.harness.run.ray_local import LocalRayCluster


class Fakes:
    def __init__(self) -> None:
        self.procs: list[subprocess.Popen[str]] = []

    def raylet(self, temp_dir: Path, *, ignore_term: bool = False) -> subprocess.Popen[str]:
        """A process with a raylet's path and ``temp_dir`` on its command line; running once this returns."""
        code = (
            "import signal, time\n"
            + ("signal.signal(signal.SIGTERM, signal.SIG_IGN)\n" if ignore_term else "")
            + "print('ready', flush=True)\ntime.sleep(600)\n"
        )
        proc = subprocess.Popen(
            [
                sys.executable,
                "-c",
                code,
                "/opt/ray/core/src/ray/raylet/raylet",
                f"--temp_dir={temp_dir}",
                f"--session_dir={temp_dir}/session_1",
            ],
            stdout=subprocess.PIPE,
            text=True,
        )
        self.procs.append(proc)
        assert proc.stdout is not None and proc.stdout.readline() == "ready\n"
        return proc


@pytest.fixture
def fakes() -> Iterator[Fakes]:
    made = Fakes()
    try:
        yield made
    finally:
        for proc in made.procs:
            if proc.poll() is None:
                proc.kill()
            proc.wait()
            assert proc.stdout is not None
            proc.stdout.close()


def test_a_cluster_s_raylets_are_those_of_its_temp_dir(fakes: Fakes, tmp_path: Path) -> None:
    """Regression: every raylet on the machine counted, so a concurrent cluster's raylet could be taken
    for the one just started (and later SIGKILLed by kill_node)."""
    mine, theirs, longer = tmp_path / "lanser-ray-a", tmp_path / "lanser-ray-b", tmp_path / "lanser-ray-ab"
    own = fakes.raylet(mine)
    others = {fakes.raylet(theirs).pid, fakes.raylet(longer).pid}
    assert ray_local._raylets(mine) == [own.pid]
    assert others.isdisjoint(ray_local._raylets(mine))


def test_stop_ends_this_cluster_only_sigterm_first(
    fakes: Fakes, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Regression: ``ray stop`` ended every Ray process of the user (another cluster's too) and the
    cluster's own processes got SIGKILL; now they get SIGTERM, and SIGKILL only if they ignore it."""
    monkeypatch.setattr(ray_local, "STOP_GRACE_S", 0.5)  # the stubborn one ignores SIGTERM: no race
    cluster = LocalRayCluster()
    cluster.temp_dir = tmp_path / "lanser-ray-a"
    cluster.temp_dir.mkdir()
    polite = fakes.raylet(cluster.temp_dir)
    stubborn = fakes.raylet(cluster.temp_dir, ignore_term=True)
    other = fakes.raylet(tmp_path / "lanser-ray-b")
    cluster.raylets = [polite.pid, stubborn.pid]
    assert cluster.stop() == [stubborn.pid]
    assert polite.wait() == -signal.SIGTERM
    assert stubborn.wait() == -signal.SIGKILL
    assert other.poll() is None  # another cluster's process is left alone
    assert cluster.alive() == [] and cluster.raylets == [] and not cluster.temp_dir.exists()
