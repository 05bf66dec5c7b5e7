"""Issue 17, findings 4 and 5: Ctrl-C and a dying daemon, with real processes.

A real ``lanser`` client, a real daemon and real basedpyright on a small git
repository.  Two seams make the interruption land at a known point, so no
test depends on timing:

* ``tests/servers/hold_proxy.py`` sits between lanser and basedpyright and
  holds one request (``textDocument/rename``) until the test releases it:
  the request is then known to be in the middle of its server work;
* ``LANSER_DAEMON_PAUSE=<stage>:<dir>`` stops the daemon at a stage of a
  mutating request (``commit``: the request is recorded, nothing written;
  ``applied``: written, answer not recorded; ``answered``: answer recorded,
  not sent), writes ``<dir>/<stage>`` with its pid, and goes on when
  ``<dir>/<stage>.go`` exists.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from gitrepo import commit_all, snapshot

pytestmark = pytest.mark.integration

PROXY = Path(__file__).resolve().parent.parent / "servers" / "hold_proxy.py"
ENTRY = "from lanser.cli.main import main; main()"
RENAME = ("rename", "py://pkg.shapes#total_area", "sum_areas", "--apply")
#: Files the rename touches (tests/integration/test_rename.py).
RENAMED = ("pkg/__init__.py", "pkg/report.py", "pkg/shapes.py")
INSERTED = "# inserted by lanser check\n"


@pytest.fixture
def repo(sample: Path) -> Path:
    return commit_all(sample)


@pytest.fixture
def control(tmp_path: Path) -> Path:
    path = tmp_path / "control"
    path.mkdir()
    return path


@pytest.fixture
def env(daemon_env: dict[str, str], tmp_path: Path, control: Path) -> dict[str, str]:
    """Real basedpyright behind the holding proxy; the daemon's records in this test's state directory."""
    from lanser.lsp.registry import _basedpyright

    real = _basedpyright()
    overrides = tmp_path / "overrides.json"
    overrides.write_text(
        json.dumps(
            {
                "python": {
                    "name": real.name,
                    "version": real.version,
                    "command": ["{python}", str(PROXY), str(control), "textDocument/rename", "--", *real.command],
                }
            }
        )
    )
    return {**daemon_env, "LANSER_SERVER_OVERRIDES": str(overrides), "XDG_STATE_HOME": str(tmp_path / "state")}


@pytest.fixture
def stop_daemon(env: dict[str, str], repo: Path):
    """Clients to kill and this workspace's daemons to stop after the test.  By pid: a daemon's
    socket name hashes lanser's own source files, which change under a developer's editor."""
    procs: list[subprocess.Popen[str]] = []
    yield procs
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    for pid in daemon_pids(repo):  # SIGKILL: a daemon held by the pause hook cannot act on SIGTERM
        os.kill(pid, signal.SIGKILL)


def daemon_socket(ws: Path) -> Path:
    """The socket of the one daemon serving ``ws`` (from its command line)."""
    (pid,) = daemon_pids(ws)
    args = Path(f"/proc/{pid}/cmdline").read_bytes().decode().split("\0")
    return Path(args[args.index("--socket") + 1])


def daemon_pids(ws: Path) -> list[int]:
    """Live daemons serving ``ws`` (from their command lines)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            args = (entry / "cmdline").read_bytes().split(b"\0")
            state = (entry / "stat").read_text().split(") ", 1)[1][0]
        except (OSError, IndexError):
            continue
        if b"lanser.daemon.server" in args and os.fsencode(os.path.realpath(ws)) in args and state != "Z":
            pids.append(int(entry.name))
    return pids


def start(env: dict[str, str], repo: Path, *args: str) -> subprocess.Popen[str]:
    # A process group of its own, as a shell gives a foreground job: the terminal's Ctrl-C goes to it.
    return subprocess.Popen(
        [sys.executable, "-c", ENTRY, "--json", "-w", str(repo), *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        process_group=0,
    )


def run(env: dict[str, str], repo: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", ENTRY, "--json", "-w", str(repo), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def wait_for(path: Path, proc: subprocess.Popen[str]) -> None:
    """Until ``path`` exists; the bound only keeps a broken build from hanging the suite."""
    end = time.monotonic() + 300
    while not path.exists():
        if proc.poll() is not None:
            out, err = proc.communicate()
            pytest.fail(f"the client exited ({proc.returncode}) before {path.name}: {out}\n{err}")
        if time.monotonic() > end:
            pytest.fail(f"{path.name} never appeared")
        time.sleep(0.02)


def one_json(out: str) -> dict:
    assert out.count("\n") == 1, f"expected exactly one JSON object on stdout, got {out!r}"
    return json.loads(out)


def finish(proc: subprocess.Popen[str]) -> tuple[int, dict, str]:
    out, err = proc.communicate(timeout=300)
    return proc.returncode, one_json(out), err


# -- finding 4: Ctrl-C ---------------------------------------------------


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
@pytest.mark.parametrize("daemon", [True, False], ids=["daemon", "in-process"])
def test_interrupt_mid_rename_cancels_and_writes_nothing(
    repo: Path, env, control: Path, stop_daemon, sig: int, daemon: bool
) -> None:
    """Issue 17 finding 4: SIGINT during ``rename --apply`` through the daemon printed "Aborted!"
    (exit 1) and the daemon went on to rewrite every file.  Now the client cancels its request in
    the daemon and exits 73 with one JSON error object, and nothing is ever written."""
    if not daemon:
        env = {**env, "LANSER_NO_DAEMON": "1"}
    before = snapshot(repo)
    proc = start(env, repo, *RENAME)
    stop_daemon.append(proc)
    wait_for(control / "held", proc)  # the rename request is at the server
    proc.send_signal(sig)
    code, bundle, err = finish(proc)
    assert code == 73, (bundle, err)
    assert bundle["status"] == "error" and bundle["error"]["code"] == "E/REQUEST_CANCELLED"
    assert snapshot(repo) == before
    (control / "release").write_text("")
    if daemon:
        # The server answers the abandoned rename; then the same daemon is asked something behind it
        # (the proxy keeps the order): it has had every chance to write by the time this answers.
        from lanser.daemon import client

        refs = client.call(
            daemon_socket(repo),
            {"op": "run", "request": {"cmd": "references", "selector": "py://pkg.shapes#total_area"}},
        )
        assert refs["status"] == "ok" and refs["facts"]["total"] == 5, refs
    assert snapshot(repo) == before


@pytest.mark.parametrize("daemon", [True, False], ids=["daemon", "in-process"])
def test_ctrl_c_at_a_terminal_cancels(repo: Path, env, control: Path, stop_daemon, daemon: bool) -> None:
    """Issue 17 finding 4 as a terminal does it: SIGINT to the client's whole process group (the
    daemon and its servers are not in it; in-process servers are, and die with it): the request
    is cancelled, and reported so, not as a crash."""
    if not daemon:
        env = {**env, "LANSER_NO_DAEMON": "1"}
    before = snapshot(repo)
    proc = start(env, repo, *RENAME)
    stop_daemon.append(proc)
    wait_for(control / "held", proc)
    os.killpg(proc.pid, signal.SIGINT)
    code, bundle, err = finish(proc)
    assert code == 73 and bundle["error"]["code"] == "E/REQUEST_CANCELLED", (bundle, err)
    assert snapshot(repo) == before


@pytest.mark.parametrize("daemon", [True, False], ids=["daemon", "in-process"])
def test_interrupt_after_the_commit_point_reports_the_commit(
    repo: Path, env, control: Path, stop_daemon, daemon: bool
) -> None:
    """Issue 17 finding 4, the other side of the commit point: an interrupt that arrives once the
    edit is written is not reported as a cancellation (that would be a lie); the client waits
    for the bundle, exits 0 and says the edit was committed."""
    (control / "release").write_text("")
    env = {**env, "LANSER_DAEMON_PAUSE": f"applied:{control}"}
    if not daemon:
        env["LANSER_NO_DAEMON"] = "1"
    before = snapshot(repo)
    proc = start(env, repo, *RENAME)
    stop_daemon.append(proc)
    wait_for(control / "applied", proc)  # written, not yet answered
    proc.send_signal(signal.SIGINT)
    (control / "applied.go").write_text("")
    code, bundle, err = finish(proc)
    assert code == 0, (bundle, err)
    assert bundle["edits"]["applied"] is True
    assert "committed" in err
    after = snapshot(repo)
    assert sorted(p for p in after if after[p] != before[p]) == list(RENAMED)


def test_interrupted_batch_runs_nothing_more(repo: Path, env, control: Path, stop_daemon) -> None:
    """Issue 17 finding 4, through ``lanser batch``: Ctrl-C while a batch's edit line is at the server
    cancels that line and runs none after it; every line still gets its bundle, nothing is written."""
    before = snapshot(repo)
    lines = [
        {"cmd": "hover", "selector": "pkg/shapes.py@L38:C5"},
        {"cmd": "rename", "selector": "py://pkg.shapes#total_area", "args": {"newName": "sum_areas", "apply": True}},
        {"cmd": "check", "args": {"patch": PATCH, "apply": True, "allowDirty": True}},
    ]
    queries = control.parent / "queries.jsonl"
    queries.write_text("".join(json.dumps(line) + "\n" for line in lines))
    proc = subprocess.Popen(
        [sys.executable, "-c", ENTRY, "-w", str(repo), "batch", str(queries)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    stop_daemon.append(proc)
    wait_for(control / "held", proc)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=300)
    bundles = [json.loads(line) for line in out.splitlines()]
    assert [b["status"] for b in bundles] == ["ok", "error", "error"], err
    assert [b["error"]["code"] for b in bundles[1:]] == ["E/REQUEST_CANCELLED"] * 2
    assert proc.returncode == 73
    assert snapshot(repo) == before
    from lanser.daemon import client

    (control / "release").write_text("")  # the server answers the abandoned rename; then ask behind it
    refs = client.call(
        daemon_socket(repo), {"op": "run", "request": {"cmd": "references", "selector": "py://pkg.shapes#total_area"}}
    )
    assert refs["status"] == "ok" and refs["facts"]["total"] == 5, refs
    assert snapshot(repo) == before


def test_a_killed_client_cancels_its_request_in_the_daemon(repo: Path, env, control: Path, stop_daemon) -> None:
    """Issue 17 finding 4: the daemon must notice that its client is gone.  A client killed mid-rename
    (SIGKILL: no chance to send a cancellation) leaves nothing written once the server answers."""
    from lanser.daemon import client

    before = snapshot(repo)
    proc = start(env, repo, "--timeout", "600", *RENAME)  # the held rename must not time out instead
    stop_daemon.append(proc)
    wait_for(control / "held", proc)
    sock = daemon_socket(repo)
    proc.kill()
    proc.communicate()
    end = time.monotonic() + 300  # a hang guard, not a timing assumption: the daemon has to notice
    while client.call(sock, {"op": "status"})["cancelled"] < 1:
        assert time.monotonic() < end, "the daemon never noticed its client was gone"
        time.sleep(0.02)
    (control / "release").write_text("")
    refs = client.call(sock, {"op": "run", "request": {"cmd": "references", "selector": "py://pkg.shapes#total_area"}})
    assert refs["status"] == "ok" and refs["facts"]["total"] == 5, refs
    assert snapshot(repo) == before


# -- finding 5: the daemon dies mid-request --------------------------------


def kill_daemon(marker: Path) -> None:
    pid = int(marker.read_text())
    os.kill(pid, signal.SIGKILL)


PATCH = """--- a/pkg/report.py
+++ b/pkg/report.py
@@ -1,1 +1,2 @@
+# inserted by lanser check
 \"\"\"A report over shapes; it has one deliberate type error for `lanser diag`.\"\"\"
"""


@pytest.mark.parametrize("stage", ["commit", "applied", "answered"])
def test_daemon_killed_mid_check_apply_edits_at_most_once(
    repo: Path, env, control: Path, stop_daemon, stage: str, tmp_path: Path
) -> None:
    """Issue 17 finding 5: SIGKILL of the daemon during ``check PATCH --apply`` made the client run
    the edit again in-process (the line was inserted twice, exit 0).  Now the client asks the new
    daemon whether its request committed: never two edits, and the report says what happened."""
    report = repo / "pkg" / "report.py"
    first_line = report.read_text().splitlines()[0]
    assert first_line in PATCH, first_line  # the patch's context
    patch = tmp_path / "insert.patch"
    patch.write_text(PATCH)
    env = {**env, "LANSER_DAEMON_PAUSE": f"{stage}:{control}"}
    proc = start(env, repo, "check", str(patch), "--apply", "--allow-dirty")
    stop_daemon.append(proc)
    wait_for(control / stage, proc)
    kill_daemon(control / stage)
    code, bundle, err = finish(proc)
    inserted = report.read_text().count(INSERTED)
    if stage == "commit":  # recorded, nothing written: the client says so and does not run it again
        assert inserted == 0
        assert code == 73 and bundle["error"]["code"] == "E/REQUEST_CANCELLED", (bundle, err)
        assert "nothing was written" in bundle["error"]["message"]
    else:
        assert inserted == 1
        assert code == 0 and bundle["status"] == "ok", f"{bundle.get('error', {}).get('message')} | {err}"
        assert bundle["edits"]["applied"] is True
    if stage == "answered":  # the bundle the dead daemon had recorded, as it would have sent it
        assert bundle["edits"]["diff"].count(INSERTED) == 1


@pytest.mark.parametrize("stage", ["held", "applied"])
def test_daemon_killed_mid_rename_apply_is_not_run_again(
    repo: Path, env, control: Path, stop_daemon, stage: str
) -> None:
    """Issue 17 finding 5: a rename whose daemon died after applying was run again and reported
    E/NOT_FOUND (the old name was gone).  Killed at the server (before the commit point) it writes
    nothing and says so; killed after writing it reports the rename as applied, once."""
    before = snapshot(repo)
    if stage == "applied":
        (control / "release").write_text("")
        env = {**env, "LANSER_DAEMON_PAUSE": f"applied:{control}"}
    proc = start(env, repo, *RENAME)
    stop_daemon.append(proc)
    wait_for(control / stage, proc)
    if stage == "held":
        (pid,) = daemon_pids(repo)
        os.kill(pid, signal.SIGKILL)
    else:
        kill_daemon(control / stage)
    (control / "release").write_text("")
    code, bundle, err = finish(proc)
    after = snapshot(repo)
    if stage == "held":
        assert code == 73 and bundle["error"]["code"] == "E/REQUEST_CANCELLED", (bundle, err)
        assert after == before
    else:
        assert code == 0 and bundle["status"] == "ok", f"{bundle.get('error', {}).get('message')} | {err}"
        assert bundle["edits"]["applied"] is True
        assert sorted(p for p in after if after[p] != before[p]) == list(RENAMED)
        assert "sum_areas" in after["pkg/report.py"].decode() and b"total_area" not in after["pkg/report.py"]


@pytest.mark.parametrize("stage", ["commit", "answered"])
def test_daemon_killed_mid_batch_edit_is_not_run_again(repo: Path, env, control: Path, stop_daemon, stage: str) -> None:
    """Issue 17 finding 5, through ``lanser batch``: the lines a dead daemon did not answer were all
    run again in-process, the edit being answered included.  Now the edit line gets what became of
    it (its recorded answer, or "nothing was written"), and only the lines after it run."""
    report = repo / "pkg" / "report.py"
    lines = [
        {"cmd": "hover", "selector": "pkg/shapes.py@L38:C5"},
        {"cmd": "check", "args": {"patch": PATCH, "apply": True, "allowDirty": True}},
        {"cmd": "hover", "selector": "pkg/shapes.py@L38:C5"},
    ]
    env = {**env, "LANSER_DAEMON_PAUSE": f"{stage}:{control}"}
    queries = control.parent / "queries.jsonl"
    queries.write_text("".join(json.dumps(line) + "\n" for line in lines))
    proc = subprocess.Popen(
        [sys.executable, "-c", ENTRY, "-w", str(repo), "batch", str(queries)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    stop_daemon.append(proc)
    wait_for(control / stage, proc)
    kill_daemon(control / stage)
    out, err = proc.communicate(timeout=300)
    bundles = [json.loads(line) for line in out.splitlines()]
    assert [b["status"] for b in bundles][::2] == ["ok", "ok"], err
    if stage == "commit":
        assert report.read_text().count(INSERTED) == 0
        assert bundles[1]["error"]["code"] == "E/REQUEST_CANCELLED", err
        assert "nothing was written" in bundles[1]["error"]["message"]
        assert proc.returncode == 73
    else:
        assert report.read_text().count(INSERTED) == 1
        assert bundles[1]["status"] == "ok" and bundles[1]["edits"]["applied"] is True, err
        assert proc.returncode == 0


def test_an_apply_waiting_for_the_workspace_lock_does_not_stall_the_daemon(
    repo: Path, env, control: Path, stop_daemon, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An apply waiting for another process's workspace lock waited with time.sleep on the daemon's
    event loop: every other client of that daemon got no answer until the lock came free or the
    wait (LANSER_LOCK_WAIT_S) ran out.  Now the wait yields: a references request is answered while
    the apply still waits, and the apply goes through once the lock is released."""
    from lanser.edits.lock import WorkspaceLock
    from lanser.state import workspace_state

    patch = tmp_path / "insert.patch"
    patch.write_text(PATCH)
    env = {**env, "LANSER_LOCK_WAIT_S": "600", "LANSER_DAEMON_PAUSE": f"lock-wait:{control}"}
    (control / "lock-wait.go").write_text("")  # the hook only marks the point; it does not hold the apply
    assert run(env, repo, "refs", "py://pkg.shapes#total_area").returncode == 0  # a warm daemon
    monkeypatch.setenv("XDG_STATE_HOME", env["XDG_STATE_HOME"])
    state = workspace_state(repo, create=True)
    assert state is not None
    lock = WorkspaceLock(state).acquire(wait_s=0)  # another lanser process's apply, as it were
    try:
        proc = start(env, repo, "check", str(patch), "--apply", "--allow-dirty")
        stop_daemon.append(proc)
        wait_for(control / "lock-wait", proc)  # the apply is waiting for the lock
        other = run(env, repo, "hover", "py://pkg.shapes#total_area")
        assert other.returncode == 0, other.stdout + other.stderr
        assert proc.poll() is None, "the apply did not wait for the lock"
    finally:
        lock.release()
    code, bundle, err = finish(proc)
    assert code == 0 and bundle["edits"]["applied"] is True, (bundle.get("error"), err)
    assert (repo / "pkg" / "report.py").read_text().count(INSERTED) == 1
