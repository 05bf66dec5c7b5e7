"""The sandbox against a real Docker engine: what a command inside can and cannot do.

Runs in the base image (``base_image`` of ``tests/docker/conftest.py``);
no Docker engine fails these tests, never skips them.

Each test labels its containers with its own ``lanser.run`` value and checks,
after it, that none of them is left; checking the bare ``lanser.harness=1``
label would also see other harness runs sharing the engine.
"""

from __future__ import annotations

import ipaddress
import json
import signal
import subprocess
import sys
import textwrap
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from lanser.harness.env import sandbox
from lanser.harness.env.sandbox import Limits, RunResult
from lanser.harness.errors import InfrastructureError

pytestmark = pytest.mark.docker

REPO = Path(__file__).resolve().parents[2]

# -- fixtures -----------------------------------------------------------------


@pytest.fixture
def client(docker_client: Any) -> Any:
    return docker_client


@pytest.fixture
def image(base_image: str) -> str:
    return base_image


@pytest.fixture
def run_label(client: Any) -> Iterator[str]:
    """A ``lanser.run`` label of this test's own; after the test, none of its
    containers may remain."""
    label = f"test-sandbox-{uuid.uuid4().hex[:12]}"
    yield label
    left = _containers(client, label)
    if left:
        sandbox.cleanup(label, client=client)
        pytest.fail(f"containers left behind: {left}")


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    work = tmp_path / "work"
    work.mkdir()
    (work / "hello.txt").write_text("hello from the host\n")
    return work


@pytest.fixture
def run_in(client: Any, image: str, run_label: str, workdir: Path) -> Callable[..., RunResult]:
    def run(command: str | list[str], **kwargs: Any) -> RunResult:
        kwargs.setdefault("limits", Limits(wall_s=60))
        return sandbox.run(
            image,
            command,
            kwargs.pop("workdir", workdir),
            labels={sandbox.RUN_LABEL: run_label},
            client=client,
            **kwargs,
        )

    return run


def _containers(client: Any, run_label: str) -> list[str]:
    found = client.containers.list(
        all=True, filters={"label": [f"{sandbox.HARNESS_LABEL}=1", f"{sandbox.RUN_LABEL}={run_label}"]}
    )
    return [c.name for c in found]


def _python(code: str) -> list[str]:
    return ["python3", "-c", textwrap.dedent(code)]


def _json_lines(result: RunResult) -> Any:
    """The last line of the output, which the probe scripts print as JSON."""
    return json.loads(result.output.strip().splitlines()[-1])


# -- ordinary runs ----------------------------------------------------------


def test_output_and_exit_code_come_back(run_in: Callable[..., RunResult], client: Any, image: str) -> None:
    result = run_in("echo to-stdout; echo to-stderr >&2; exit 3")
    assert result.exit_code == 3
    assert "to-stdout" in result.output and "to-stderr" in result.output
    assert not (result.timed_out or result.oom_killed or result.pids_exhausted)
    assert result.image_id == client.images.get(image).id
    assert 0 < result.duration_s < 30


def test_argv_env_and_workdir(run_in: Callable[..., RunResult], workdir: Path) -> None:
    result = run_in(
        _python("""
            import json, os
            print(json.dumps({"cwd": os.getcwd(), "home": os.environ["HOME"], "foo": os.environ["FOO"],
                              "hello": open("hello.txt").read()}))
            open("made-inside.txt", "w").write("from the container")
        """),
        env={"FOO": "bar baz"},
    )
    assert result.exit_code == 0, result.output
    assert _json_lines(result) == {
        "cwd": "/work",
        "home": "/home/agent",
        "foo": "bar baz",
        "hello": "hello from the host\n",
    }
    assert (workdir / "made-inside.txt").read_text() == "from the container"
    assert (workdir / "made-inside.txt").stat().st_uid == sandbox.AGENT_UID


def test_output_is_cut_in_the_middle_with_a_marker(run_in: Callable[..., RunResult]) -> None:
    result = run_in(
        _python("""
            import sys
            sys.stdout.write("H" * 3000 + "M" * 50000 + "T" * 3000)
        """),
        limits=Limits(wall_s=60, output_bytes=1000),
    )
    assert result.exit_code == 0
    assert result.output.startswith("H" * 500) and result.output.endswith("T" * 500)
    assert "[lanser: 55000 bytes of output omitted]" in result.output
    assert len(result.output) < 1100


# -- the seal ----------------------------------------------------------------


def test_network_is_unreachable(run_in: Callable[..., RunResult], client: Any) -> None:
    # The default bridge's gateway is the Docker host as a bridged container sees it;
    # older engines leave "Gateway" out of the IPAM config: it is the subnet's first host.
    ipam = client.networks.get("bridge").attrs["IPAM"]["Config"][0]
    gateway = ipam.get("Gateway") or str(next(ipaddress.ip_network(ipam["Subnet"]).hosts()))
    result = run_in(
        _python(f"""
            import json, os, socket
            out = {{"interfaces": sorted(os.listdir("/sys/class/net"))}}
            for name, addr in [("dns", ("1.1.1.1", 53)), ("web", ("1.1.1.1", 443)),
                               ("gateway", ({gateway!r}, 2375)), ("gateway_http", ({gateway!r}, 80))]:
                try:
                    socket.create_connection(addr, timeout=3).close()
                    out[name] = "connected"
                except OSError as exc:
                    out[name] = type(exc).__name__ + ": " + str(exc)
            try:
                socket.getaddrinfo("example.org", 80)
                out["resolve"] = "resolved"
            except OSError as exc:
                out["resolve"] = str(exc)
            print(json.dumps(out))
        """)
    )
    assert result.exit_code == 0, result.output
    probe = _json_lines(result)
    assert probe["interfaces"] == ["lo"]
    for name in ("dns", "web", "gateway", "gateway_http"):
        assert "unreachable" in probe[name].lower(), probe
    assert probe["resolve"] != "resolved"


def test_only_the_work_area_is_writable(run_in: Callable[..., RunResult]) -> None:
    result = run_in(
        _python("""
            import json, os, subprocess
            out = {}
            for path in ["/x", "/etc/x", "/usr/x", "/usr/bin/x", "/var/x", "/root/x",
                         "/var/tmp/x", "/run/lock/x", "/work/x", "/tmp/x", "/home/agent/x"]:
                try:
                    with open(path, "w") as f:
                        f.write("#!/bin/sh\\necho ran\\n")
                    out[path] = "written"
                except OSError as exc:
                    out[path] = exc.strerror
            os.chmod("/tmp/x", 0o755)
            out["exec_tmp"] = subprocess.run(["/tmp/x"], capture_output=True, text=True).stdout.strip()
            print(json.dumps(out))
        """)
    )
    assert result.exit_code == 0, result.output
    probe = _json_lines(result)
    for path in ("/x", "/etc/x", "/usr/x", "/usr/bin/x", "/var/x", "/root/x"):
        assert probe[path] in {"Read-only file system", "Permission denied"}, probe
    # World-writable in the image: only the read-only root filesystem stops these.
    for path in ("/var/tmp/x", "/run/lock/x"):
        assert probe[path] == "Read-only file system", probe
    for path in ("/work/x", "/tmp/x", "/home/agent/x"):
        assert probe[path] == "written", probe
    assert probe["exec_tmp"] == "ran"


def test_read_only_workdir_cannot_be_written(run_in: Callable[..., RunResult], workdir: Path) -> None:
    result = run_in("cat hello.txt && touch new.txt; echo > hello.txt; echo status=$?", read_only_workdir=True)
    assert "hello from the host" in result.output
    assert "Read-only file system" in result.output
    assert not (workdir / "new.txt").exists()
    assert (workdir / "hello.txt").read_text() == "hello from the host\n"


def test_unprivileged_user_without_capabilities(run_in: Callable[..., RunResult]) -> None:
    result = run_in("id -u; id -g; grep -E '^(Cap|NoNewPrivs)' /proc/self/status")
    assert result.exit_code == 0, result.output
    lines = result.output.split()
    assert lines[:2] == ["1000", "1000"]
    fields = dict(zip(lines[2::2], lines[3::2], strict=True))
    for cap in ("CapInh:", "CapPrm:", "CapEff:", "CapBnd:", "CapAmb:"):
        assert int(fields[cap], 16) == 0, result.output
    assert fields["NoNewPrivs:"] == "1"


# -- the limits ----------------------------------------------------------------


def test_limits_are_the_containers_cgroup_limits(run_in: Callable[..., RunResult]) -> None:
    """Memory with no swap on top, pids and CPUs, as the kernel enforces them
    (cgroup v1 or v2), whether or not the machine has swap to test with."""
    result = run_in(
        _python("""
            import json, os
            def read(*paths):
                for path in paths:
                    if os.path.exists(path):
                        return open(path).read().split()
                return None
            g = "/sys/fs/cgroup/"
            print(json.dumps({
                "v2": os.path.exists(g + "cgroup.controllers"),
                "memory": read(g + "memory.max", g + "memory/memory.limit_in_bytes"),
                "memsw": read(g + "memory/memory.memsw.limit_in_bytes"),
                "swap": read(g + "memory.swap.max"),
                "pids": read(g + "pids.max", g + "pids/pids.max"),
                "cpu": read(g + "cpu.max"),
                "quota": read(g + "cpu/cpu.cfs_quota_us", g + "cpu,cpuacct/cpu.cfs_quota_us"),
                "period": read(g + "cpu/cpu.cfs_period_us", g + "cpu,cpuacct/cpu.cfs_period_us"),
            }))
        """),
        limits=Limits(wall_s=60, memory_mb=200, pids=77, cpus=0.5),
    )
    assert result.exit_code == 0, result.output
    probe = _json_lines(result)
    assert probe["memory"] == [str(200 << 20)]
    assert probe["pids"] == ["77"]
    if probe["v2"]:
        assert probe["swap"] == ["0"]
        quota, period = probe["cpu"]
    else:
        # memsw is there only with swap accounting on (swapaccount=1); without
        # it the kernel cannot give a container swap to begin with.
        assert probe["memsw"] in (None, [str(200 << 20)])
        [quota], [period] = probe["quota"], probe["period"]
    assert int(quota) / int(period) == 0.5


def test_fork_bomb_ends_as_a_result(run_in: Callable[..., RunResult], client: Any, run_label: str) -> None:
    # The bounds below are not speed goals: they say the wall-clock limit is
    # enforced (a hung run would exceed them many times over).
    started = time.monotonic()
    result = run_in(["python3", "-c", "import os\nwhile True: os.fork()"], limits=Limits(wall_s=20, pids=64))
    assert time.monotonic() - started < 40
    assert result.pids_exhausted or result.timed_out, result
    assert result.exit_code != 0
    assert _containers(client, run_label) == []


_STUBBORN_BOMBS = {
    # Silent: pids_exhausted comes from the pids count at the wall time.
    "python": _python("""
        import os
        while True:
            try:
                os.fork()
            except OSError:
                pass
    """),
    # Says "Cannot fork".  The top shell is PID 1, whose end would end them all,
    # and a non-interactive dash exits when a fork fails: so it forks once, first
    # (calling bomb itself would fork twice, racing the bomb's first child), then
    # spins on builtins only.
    "shell": "bomb() { bomb | bomb & }; (bomb) & while :; do :; done",
}


@pytest.mark.parametrize("kind", sorted(_STUBBORN_BOMBS))
def test_stubborn_fork_bomb_is_killed_at_its_wall_time(
    run_in: Callable[..., RunResult], client: Any, run_label: str, kind: str
) -> None:
    """A bomb that survives failed forks never ends by itself: the wall time ends it."""
    bomb = _STUBBORN_BOMBS[kind]
    started = time.monotonic()
    result = run_in(bomb, limits=Limits(wall_s=4, pids=64))
    assert time.monotonic() - started < 25
    assert result.timed_out and result.exit_code is None
    assert result.pids_exhausted
    assert _containers(client, run_label) == []


@pytest.mark.parametrize("as_shell", [False, True], ids=["argv", "shell"])
def test_memory_hog_is_oom_killed(run_in: Callable[..., RunResult], as_shell: bool) -> None:
    hog = "x = b'x' * (400 << 20)\nprint('survived')"
    command: str | list[str] = f'python3 -c "{hog}"' if as_shell else ["python3", "-c", hog]
    result = run_in(command, limits=Limits(wall_s=60, memory_mb=128))
    assert result.oom_killed, result
    assert result.exit_code == 137
    assert "survived" not in result.output
    assert not result.timed_out


def test_sleep_times_out(run_in: Callable[..., RunResult]) -> None:
    started = time.monotonic()
    result = run_in("sleep 100", limits=Limits(wall_s=2))
    assert time.monotonic() - started < 15
    assert result.timed_out and result.exit_code is None
    assert 2 <= result.duration_s < 15
    assert not result.oom_killed


# -- removal -------------------------------------------------------------------

_INTERRUPTED_RUN = """
import signal
import sys
from pathlib import Path
from lanser.harness.env import sandbox
# Ctrl-C as at a terminal: a shell starting the test suite in the background (`cmd &`, no job
# control) makes its children ignore SIGINT, and a child of theirs inherits that.
signal.signal(signal.SIGINT, signal.default_int_handler)
sandbox.run(sys.argv[1], "sleep 100", Path(sys.argv[2]), labels={"lanser.run": sys.argv[3]},
            limits=sandbox.Limits(wall_s=90))
"""


def test_interrupted_run_leaves_no_container(client: Any, image: str, run_label: str, workdir: Path) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-c", _INTERRUPTED_RUN, image, str(workdir), run_label],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        running = {"label": f"{sandbox.RUN_LABEL}={run_label}", "status": "running"}
        while not client.containers.list(filters=running):
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "the sandboxed sleep never started"
            time.sleep(0.1)
        time.sleep(0.3)  # into container.wait()
        proc.send_signal(signal.SIGINT)
        _out, err = proc.communicate(timeout=60)  # a hang guard: 0.1 s here
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode != 0
    assert "KeyboardInterrupt" in err
    assert _containers(client, run_label) == []


def test_cleanup_removes_a_runs_containers_only(client: Any, image: str, run_label: str) -> None:
    other = f"{run_label}-other"
    try:
        for label in (run_label, run_label, other):
            client.containers.create(
                image, ["true"], labels={sandbox.HARNESS_LABEL: "1", sandbox.RUN_LABEL: label}, network_mode="none"
            )
        assert sandbox.cleanup(run_label, client=client) == 2
        assert _containers(client, run_label) == []
        assert len(_containers(client, other)) == 1
        assert sandbox.cleanup(other) == 1  # with a client of its own
    finally:
        sandbox.cleanup(other, client=client)


# -- infrastructure errors -----------------------------------------------------


def test_missing_image_or_workdir_is_an_infrastructure_error(
    run_in: Callable[..., RunResult], client: Any, tmp_path: Path
) -> None:
    with pytest.raises(InfrastructureError, match="not found"):
        sandbox.run("lanser-no-such-image:never", "true", tmp_path, client=client)
    with pytest.raises(InfrastructureError, match="does not exist"):
        run_in("true", workdir=tmp_path / "missing")


def test_limits_are_validated() -> None:
    with pytest.raises(ValueError, match="wall_s"):
        Limits(wall_s=0)
    with pytest.raises(ValueError, match="pids"):
        Limits(pids=-1)
