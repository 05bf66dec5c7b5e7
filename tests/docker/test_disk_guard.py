"""A command in the sandbox cannot fill the host's disk through its work area (attack tests).

The container's root is read-only and its tmpfs mounts are sized, but its work area is a host
directory: a ``run`` step of the agent (or a build its changes drive while graded) that writes
without end filled the host's disk until the wall limit stopped it.  Docker has no quota for a
bind mount; :mod:`lanser.harness.env.diskguard` watches and stops the command.  The writers
sleep between chunks so that the test itself never writes more than a few hundred MiB.
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from pathlib import Path
from typing import Any

import pytest

from lanser.harness.env import diskguard, sandbox

pytestmark = pytest.mark.docker

#: Writes 8 MiB files, one every 50 ms, until stopped.
FILL = "i=0; while :; do head -c 8388608 /dev/zero > f$i; i=$((i+1)); sleep 0.05; done"
#: Makes empty files until stopped.
MANY = "i=0; while :; do : > n$i; i=$((i+1)); done"
LIMITS = sandbox.Limits(wall_s=60.0, memory_mb=256, pids=64)


def test_a_command_filling_its_work_area_is_stopped_at_its_cap(tmp_path: Path, base_image: str) -> None:
    cap = diskguard.cap_over(tmp_path, 64, 10_000)
    res = sandbox.run(base_image, FILL, tmp_path, limits=LIMITS, disk_cap=cap)
    assert res.disk_exceeded is not None and "over its cap" in res.disk_exceeded, res
    assert not res.timed_out and res.exit_code is None
    assert diskguard.usage(tmp_path).bytes > cap.bytes  # it did write past the cap, and was stopped there


def test_a_command_making_files_without_end_is_stopped_at_its_inode_cap(tmp_path: Path, base_image: str) -> None:
    cap = diskguard.cap_over(tmp_path, 64, 2_000)
    res = sandbox.run(base_image, MANY, tmp_path, limits=LIMITS, disk_cap=cap)
    assert res.disk_exceeded is not None and "files, over its cap" in res.disk_exceeded, res
    assert not res.timed_out


def test_without_a_cap_the_disk_floor_still_stops_a_writer(tmp_path: Path, base_image: str) -> None:
    """The floor is always on: here it is set 96 MiB below the free space the disk has now."""
    st = os.statvfs(tmp_path)
    free_mb = st.f_bavail * st.f_frsize // diskguard.MIB
    limits = sandbox.Limits(wall_s=60.0, memory_mb=256, pids=64, disk_floor_mb=free_mb - 96)
    res = sandbox.run(base_image, FILL, tmp_path, limits=limits)
    assert res.disk_exceeded is not None and "below the floor" in res.disk_exceeded, res
    assert not res.timed_out


def test_a_command_within_its_cap_runs_to_its_end(tmp_path: Path, base_image: str) -> None:
    cap = diskguard.cap_over(tmp_path, 64, 10_000)
    res = sandbox.run(base_image, "head -c 16777216 /dev/zero > f && sleep 3 && echo done", tmp_path, disk_cap=cap)
    assert res.exit_code == 0 and res.disk_exceeded is None and "done" in res.output


DATA = Path(__file__).resolve().parent / "data" / "strbuf-c"


def test_the_agents_allowance_is_for_the_episode_not_for_each_step(
    tmp_path: Path, base_image: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each ``run`` step writes 40 MiB, under a 64 MiB allowance on its own: the second step is
    stopped, because the cap is the work area's size after reset plus one allowance."""
    from lanser.harness.env.sandbox import cleanup
    from lanser.harness.grade.cleanroom import unified_diff
    from lanser.harness.run import runner
    from lanser.harness.run.agents import make_agent
    from lanser.harness.task.spec import TaskSpec

    monkeypatch.setattr(runner, "RUN_DISK", (64, 10_000))
    source = (DATA / "project" / "src" / "strbuf.c").read_text()
    broken = source.replace("\tmemcpy(sb->buf + sb->len, s, n + 1);\n", "\tmemcpy(sb->buf, s, n + 1);\n")
    assert broken != source
    shutil.copytree(DATA / "project", tmp_path / "dataset" / "project")
    spec = TaskSpec.model_validate(
        {
            "id": "strbuf/disk",
            "language": "c",
            "source": {"kind": "dir", "path": "project"},
            "commands": {"build": "make -s build", "test": "make -s test FORMAT=plain"},
            "problem": "sb_append overwrites the buffer instead of appending to it.",
            "start_patch": unified_diff("src/strbuf.c", source, broken),
            "gold_patch": unified_diff("src/strbuf.c", broken, source),
            "oracles": {"fail_to_pass": ["append_grows"], "pass_to_pass": ["init_empty"]},
            "limits": {"wall_s": 120, "memory_mb": 512, "pids": 128, "max_steps": 10},
        }
    )
    write = "for i in 1 2 3 4 5; do head -c 8388608 /dev/zero > big-$1-$i; sleep 0.3; done; sleep 2; echo wrote"
    steps = [{"type": "run", "command": f"sh -c '{write}' - {n}"} for n in (1, 2)]
    trajectory = tmp_path / "t.jsonl"
    trajectory.write_text("".join(json.dumps(a) + "\n" for a in [*steps, {"type": "submit"}]))
    label = f"test-disk-{uuid.uuid4().hex[:8]}"
    try:
        result: dict[str, Any] = runner.run_task(
            spec,
            tmp_path / "dataset",
            make_agent(f"replay:{trajectory}"),
            base_image,
            tmp_path / "work",
            labels={"lanser.run": label},
        )
    finally:
        cleanup(label)
    first, second = (s["result"] for s in result["steps"][:2])
    assert first["exitCode"] == 0 and "diskExceeded" not in first, first
    assert second["exitCode"] is None and "over its cap" in second["diskExceeded"], second
    assert result["verdict"]["outcome"] == "tests_failed"  # graded as ever: the big files are not the agent's change
