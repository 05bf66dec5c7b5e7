"""Failure paths of the navigation core, end to end through the CLI.

Misbehaving servers (``tests/servers/fake_lsp.py``) are put in place of
basedpyright through ``LANSER_SERVER_OVERRIDES``; the selector and jail
failures use the real registry (they fail before any server is asked).
Each test checks the exit code, that ``--json`` prints exactly one JSON
object, its error code and the evidence in ``details``, and what the fake
server saw (its event log counts starts and requests across restarts).
"""

from __future__ import annotations

import asyncio
import inspect
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from lanser.cli.main import cli
from lanser.lsp.pool import ServerPool
from lanser.selectors.parse import escape

pytestmark = pytest.mark.integration

FAKE = Path(__file__).resolve().parent.parent / "servers" / "fake_lsp.py"
SOURCE = 'x = 1\nprint(x)\ns = "é"\n'
ENTRY = "from lanser.cli.main import main; main()"


# -- fixtures and helpers ------------------------------------------------


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Settings from the developer's shell must not leak into the tests."""
    for name in (
        "LANSER_SERVER_OVERRIDES",
        "LANSER_WORKSPACE",
        "LANSER_INDEX_IO",
        "LANSER_TIMEOUT",
        "LANSER_PYTHON",
        "LANSER_DEBUG",
    ):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def ws(tmp_path: Path) -> Path:
    root = tmp_path / "ws"
    root.mkdir()
    (root / "a.py").write_text(SOURCE, encoding="utf-8")
    return root


class Fake:
    """One fake server configuration and the log its processes append to."""

    def __init__(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        self.monkeypatch = monkeypatch
        self.log = tmp_path / "fake.log"
        self.overrides = tmp_path / "overrides.json"

    def use(self, mode: str) -> Fake:
        entry = {"name": "fake", "version": "1.0", "command": ["{python}", str(FAKE), mode, str(self.log)]}
        self.overrides.write_text(json.dumps({"python": entry}))
        self.monkeypatch.setenv("LANSER_SERVER_OVERRIDES", str(self.overrides))
        return self

    def events(self) -> list[tuple[str, str, int]]:
        """(event, method, pid) per line; method is "" for ``start``."""
        if not self.log.exists():
            return []
        out = []
        for line in self.log.read_text().splitlines():
            parts = line.split()
            if parts[0] == "start":
                out.append(("start", "", int(parts[1])))
            else:
                out.append((parts[0], parts[1], int(parts[2])))
        return out

    def pids(self) -> list[int]:
        return [pid for event, _, pid in self.events() if event == "start"]

    def received(self, method: str) -> int:
        return sum(1 for event, m, _ in self.events() if event == "recv" and m == method)


@pytest.fixture
def fake(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Fake:
    return Fake(tmp_path, monkeypatch)


def invoke(ws: Path, *args: str, timeout: str = "2", json_mode: bool = True, index_io: str | None = None):
    opts = ["--json"] if json_mode else []
    if index_io:
        opts += ["--index-io", index_io]
    return CliRunner().invoke(cli, [*opts, "-w", str(ws), "--timeout", timeout, *args])


def one_json(result: Any) -> dict[str, Any]:
    """stdout must be exactly one JSON object (json.loads rejects trailing data)."""
    assert result.exception is None or isinstance(result.exception, SystemExit), f"CLI raised {result.exception!r}"
    assert result.stdout.endswith("\n") and result.stdout.count("\n") == 1, result.stdout
    data = json.loads(result.stdout)
    assert isinstance(data, dict)
    assert "Traceback" not in result.stderr
    return data


def failed(result: Any, code: str, exit_code: int) -> dict[str, Any]:
    """The error block of a failure bundle, after checking the envelope."""
    data = one_json(result)
    assert result.exit_code == exit_code, (result.exit_code, data.get("error"))
    assert data["status"] == "error"
    assert data["meta"]["exit_code"] == exit_code
    assert data["bundleId"].startswith("sha256:")
    error = data["error"]
    assert error["code"] == code, error
    assert error["exitCode"] == exit_code
    assert error["message"]
    return error


def alive(pid: int) -> bool:
    """Running (a zombie has exited: it only waits to be reaped)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def wait_until(predicate: Any, bound: float, what: str) -> None:
    deadline = time.monotonic() + bound
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail(f"gave up after {bound}s waiting for: {what}")
        time.sleep(0.05)


def assert_all_gone(fake: Fake) -> None:
    pids = fake.pids()
    assert pids, "the fake server never started"
    wait_until(lambda: not any(alive(p) for p in pids), 10, f"fake servers {pids} to exit")


def run_lanser(
    ws: Path, *args: str, env_extra: dict[str, str] | None = None, timeout: str = "2"
) -> subprocess.CompletedProcess[str]:
    """lanser as a user runs it: its own process, through the console entry point."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("LANSER_")}
    env["LANSER_NO_DAEMON"] = "1"  # the server must be this process's child
    env.update(env_extra or {})
    return subprocess.run(
        [sys.executable, "-c", ENTRY, "-w", str(ws), "--timeout", timeout, *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )


# -- the fake server itself ------------------------------------------------


def test_ok_fake_answers_definition(ws: Path, fake: Fake) -> None:
    """Baseline: the seam works, so the failures below are the fake's doing."""
    fake.use("ok")
    result = invoke(ws, "def", "a.py@L2:C7")
    data = one_json(result)
    assert result.exit_code == 0, data.get("error")
    assert data["status"] == "ok"
    assert [d["path"] for d in data["facts"]["definitions"]] == ["a.py"]
    assert data["facts"]["definitions"][0]["range"] == [0, 0, 0, 1]
    assert data["environment"]["server"]["name"] == "fake"
    assert data["environment"]["server"]["reported"] == "1.0"
    assert len(fake.pids()) == 1
    assert fake.received("textDocument/definition") == 1
    assert fake.received("shutdown") == 1 and fake.received("exit") == 1
    assert_all_gone(fake)


# -- misbehaving servers ---------------------------------------------------


def test_timeout_is_64_and_not_retried(ws: Path, fake: Fake) -> None:
    fake.use("hang")
    error = failed(invoke(ws, "def", "a.py@L2:C7", timeout="2"), "E/LS_TIMEOUT", 64)
    assert error["retryable"] is True
    assert error["details"]["method"] == "textDocument/definition"
    assert error["details"]["timeout"] == 2
    assert len(fake.pids()) == 1, "a timeout must not restart the server"
    assert fake.received("textDocument/definition") == 1
    assert fake.received("$/cancelRequest") == 1, "the timed-out request was not cancelled on the server"
    assert_all_gone(fake)


def test_crash_on_request_is_65_after_one_restart(ws: Path, fake: Fake) -> None:
    fake.use("crash-on-request")
    error = failed(invoke(ws, "def", "a.py@L2:C7"), "E/LS_CRASH", 65)
    details = error["details"]
    assert details["attempts"] == 2
    assert any("crashing on a definition request" in line for line in details["stderrTail"]), details
    assert len(fake.pids()) == 2, "expected the first start and exactly one restart"
    assert fake.received("textDocument/definition") == 2
    assert_all_gone(fake)


@pytest.mark.parametrize(
    ("mode", "code", "said"),
    [
        pytest.param("crash-on-request", 3, "crashing on a definition request", id="crash-on-request"),
        pytest.param("die-at-start", 4, "dying before initialize", id="die-at-start"),
    ],
)
def test_crash_reports_the_exit_code(ws: Path, fake: Fake, mode: str, code: int, said: str) -> None:
    """A crashed server's exit code and stderr are in the error, as the session promises.

    Whether lanser first sees the server's stdout close or its exit is a
    race, so one crash proves little: this crashes the fake many times,
    through the session (cheaper per crash than the whole CLI).
    """
    from lsprotocol import types as lsp

    from lanser.errors import LsCrash
    from lanser.lsp.registry import server_for_language
    from lanser.lsp.session import LspSession

    fake.use(mode)
    spec = server_for_language("python")

    async def crash() -> LsCrash:
        session = LspSession(spec, ws)
        try:
            with pytest.raises(LsCrash) as info:
                await session.start(10)
                doc = session.sync_document("a.py", "python")
                params = lsp.DefinitionParams(
                    text_document=lsp.TextDocumentIdentifier(uri=doc.uri), position=lsp.Position(line=1, character=6)
                )
                await session.request("textDocument/definition", params, timeout=10)
            return info.value
        finally:
            await session.close()

    async def crashes() -> list[LsCrash]:
        return [await crash() for _ in range(40)]

    seen = asyncio.run(crashes())
    assert len(fake.pids()) == len(seen)
    assert all(any(said in line for line in e.details.get("stderrTail", [])) for e in seen)
    wrong = [
        (e.message, e.details.get("exitCode"))
        for e in seen
        if (e.message, e.details.get("exitCode")) != (f"fake exited with code {code}", code)
    ]
    assert not wrong, (
        f"{len(wrong)} of {len(seen)} crashes lost the exit code, e.g. {wrong[0]}; all: {sorted(set(wrong))}"
    )
    assert_all_gone(fake)


def test_crash_once_succeeds_after_restart(ws: Path, fake: Fake) -> None:
    fake.use("crash-once")
    result = invoke(ws, "def", "a.py@L2:C7")
    data = one_json(result)
    assert result.exit_code == 0, data.get("error")
    assert data["status"] == "ok"
    assert [d["path"] for d in data["facts"]["definitions"]] == ["a.py"]
    assert len(fake.pids()) == 2
    assert fake.received("textDocument/definition") == 2
    assert_all_gone(fake)


def test_an_error_answer_is_asked_again_without_a_restart(ws: Path, fake: Fake) -> None:
    """A server that answers with an internal error is alive: asked again, it answers; no restart
    (basedpyright answers some references with "Debug Failure" every time; a restart made every
    request after it wait for a cold server)."""
    fake.use("internal-error-once")
    result = invoke(ws, "def", "a.py@L2:C7")
    data = one_json(result)
    assert result.exit_code == 0, data.get("error")
    assert len(fake.pids()) == 1
    assert fake.received("textDocument/definition") == 2
    assert_all_gone(fake)


@pytest.mark.parametrize("mode", ["garbage", "garbage-json"])
def test_garbage_on_the_wire_is_65(ws: Path, fake: Fake, mode: str) -> None:
    fake.use(mode)
    error = failed(invoke(ws, "def", "a.py@L2:C7"), "E/LS_CRASH", 65)
    assert "broke the protocol" in error["message"], error["message"]
    assert error["details"]["attempts"] == 2
    assert len(fake.pids()) == 2
    assert_all_gone(fake)


def test_content_modified_is_74_after_retries(ws: Path, fake: Fake) -> None:
    fake.use("content-modified")
    error = failed(invoke(ws, "def", "a.py@L2:C7"), "E/CONTENT_MODIFIED", 74)
    assert error["details"]["method"] == "textDocument/definition"
    retries = inspect.signature(ServerPool.__init__).parameters["content_modified_retries"].default
    assert retries >= 1
    assert fake.received("textDocument/definition") == 1 + retries
    assert len(fake.pids()) == 1, "ContentModified is not a crash: no restart"
    assert_all_gone(fake)


def test_cancelled_by_server_is_73(ws: Path, fake: Fake) -> None:
    fake.use("cancelled")
    error = failed(invoke(ws, "def", "a.py@L2:C7"), "E/REQUEST_CANCELLED", 73)
    assert error["details"]["method"] == "textDocument/definition"
    assert fake.received("textDocument/definition") == 1
    assert_all_gone(fake)


def test_missing_capability_is_72_and_nothing_is_sent(ws: Path, fake: Fake) -> None:
    fake.use("no-definition")
    error = failed(invoke(ws, "def", "a.py@L2:C7"), "E/UNSUPPORTED_CAP", 72)
    assert error["retryable"] is False
    assert error["details"]["method"] == "textDocument/definition"
    assert fake.received("initialize") == 1, "the fake never started"
    assert fake.received("textDocument/definition") == 0
    assert_all_gone(fake)


def test_version_skew_is_10(ws: Path, fake: Fake) -> None:
    fake.use("skew")
    error = failed(invoke(ws, "def", "a.py@L2:C7"), "E/VERSION_SKEW", 10)
    assert "9.9" in error["message"] and "1.0" in error["message"]
    assert error["details"]["server"] == "fake"
    assert fake.received("textDocument/definition") == 0
    assert_all_gone(fake)


def test_die_at_start_is_65(ws: Path, fake: Fake) -> None:
    fake.use("die-at-start")
    error = failed(invoke(ws, "def", "a.py@L2:C7"), "E/LS_CRASH", 65)
    assert error["details"]["attempts"] == 2
    assert any("dying before initialize" in line for line in error["details"]["stderrTail"])
    assert len(fake.pids()) == 2
    assert fake.received("initialize") == 0
    assert_all_gone(fake)


# -- a pipelined batch (several requests in flight) -------------------------


def pipelined_batch(ws: Path, selectors: list[str], *, window: int, timeout: str) -> list[dict[str, Any]]:
    """``lanser batch --pipeline WINDOW`` of one definition per selector; every bundle must be ok."""
    queries = "".join(json.dumps({"cmd": "definition", "selector": sel}) + "\n" for sel in selectors)
    result = CliRunner().invoke(
        cli, ["--json", "-w", str(ws), "--timeout", timeout, "batch", "--pipeline", str(window), "-"], input=queries
    )
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    bundles = [json.loads(line) for line in result.stdout.splitlines()]
    assert result.exit_code == 0, [b.get("error") for b in bundles]
    assert [b["status"] for b in bundles] == ["ok"] * len(selectors)
    assert [b["request"]["selector"] for b in bundles] == selectors
    return bundles


def test_pipelined_batch_keeps_requests_in_flight_and_input_order(
    ws: Path, fake: Fake, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The fake answers only once it holds three definitions, newest first: a batch that
    waited for each answer would time out; this one gets every answer, each in its place."""
    monkeypatch.setenv("FAKE_GATHER", "3")
    fake.use("gather")
    asked = [(line, col) for line in (1, 2, 3) for col in (1, 2)]
    bundles = pipelined_batch(ws, [f"a.py@L{line}:C{col}" for line, col in asked], window=3, timeout="20")
    assert [b["facts"]["definitions"][0]["range"][0] for b in bundles] == [line - 1 for line, _ in asked]
    assert [e for e in fake.events() if e[0] == "answered"] == [("answered", "3", fake.pids()[0])] * 2
    assert_all_gone(fake)


def test_a_crash_with_requests_in_flight_restarts_the_server_once(ws: Path, fake: Fake) -> None:
    """Four definitions in flight when the server dies: one restart, and every one is answered."""
    fake.use("crash-once")
    pipelined_batch(ws, [f"a.py@L1:C{col}" for col in (1, 2, 3, 4)], window=4, timeout="20")
    assert len(fake.pids()) == 2, "one crash, one restart"
    assert_all_gone(fake)


def test_a_request_timed_out_in_the_window_is_asked_again_alone(
    ws: Path, fake: Fake, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The server takes 0.6 s a request, one at a time; with four in flight and a 1.5 s timeout the
    last ones time out waiting behind the others, and are asked again alone, as a sequential batch
    would have asked them: every answer arrives."""
    monkeypatch.setenv("FAKE_DELAY", "0.6")
    fake.use("slow")
    pipelined_batch(ws, [f"a.py@L1:C{col}" for col in (1, 2, 3, 4)], window=4, timeout="1.5")
    assert fake.received("textDocument/definition") > 4, "nothing timed out: the test proves nothing"
    assert fake.received("$/cancelRequest") >= 1
    assert len(fake.pids()) == 1, "a timeout must not restart the server"
    assert_all_gone(fake)


def test_a_reader_gone_mid_batch_leaves_a_healthy_daemon(
    ws: Path, fake: Fake, daemon_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Through a real daemon: the batch's reader goes away after the first bundle; the daemon
    stops waiting for the requests in flight (their answers are dropped, not cached), sends the
    server no $/cancelRequest (basedpyright mishandles them), restarts nothing, and answers the
    same batch in full next time."""
    monkeypatch.setenv("FAKE_DELAY", "0.5")
    fake.use("slow")
    env = {**daemon_env, "LANSER_SERVER_OVERRIDES": str(fake.overrides), "FAKE_DELAY": "0.5"}
    queries = "".join(
        json.dumps({"cmd": "definition", "selector": f"a.py@L2:C{col}"}) + "\n" for col in range(1, 9)
    )  # print(x)
    argv = [sys.executable, "-c", ENTRY, "--json", "-w", str(ws), "--timeout", "20"]
    try:
        proc = subprocess.Popen(
            [*argv, "batch", "--pipeline", "8", "-"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env=env,
            text=True,
        )
        assert proc.stdin is not None and proc.stdout is not None
        proc.stdin.write(queries)
        proc.stdin.close()
        first = json.loads(proc.stdout.readline())
        assert first["status"] == "ok"
        proc.kill()  # the reader goes away with seven answers to come
        proc.wait(timeout=30)
        again = subprocess.run(
            [*argv, "batch", "-"], input=queries, capture_output=True, text=True, env=env, timeout=120
        )
        assert again.returncode == 0, again.stderr
        assert [json.loads(line)["status"] for line in again.stdout.splitlines()] == ["ok"] * 8
        # The abandoned ones were not cached: the second batch asked them again.
        assert fake.received("textDocument/definition") > 8
        assert fake.received("$/cancelRequest") == 0
        assert len(fake.pids()) == 1, "a reader going away must not restart the server"
    finally:
        subprocess.run([*argv, "daemon", "stop"], env=env, capture_output=True, timeout=60)
    assert_all_gone(fake)


# -- failures before any server is asked (real registry, no override) -------


def test_bad_selector_is_2_with_column_and_caret(ws: Path) -> None:
    error = failed(invoke(ws, "def", "a.py@L1:Cx"), "E/BAD_SELECTOR_SYNTAX", 2)
    assert error["details"]["selector"] == "a.py@L1:Cx"
    assert error["details"]["column"] == 10
    assert error["details"]["caret"] == "a.py@L1:Cx\n" + " " * 9 + "^"


def test_missing_file_is_3(ws: Path) -> None:
    error = failed(invoke(ws, "def", "nope.py@L1:C1"), "E/NOT_FOUND", 3)
    assert "nope.py" in error["message"]


def test_missing_line_is_3(ws: Path) -> None:
    error = failed(invoke(ws, "def", "a.py@L99:C1"), "E/NOT_FOUND", 3)
    assert "99" in error["message"]


@pytest.mark.parametrize("how", ["dotdot", "absolute", "symlink"])
def test_path_outside_workspace_is_71(ws: Path, how: str) -> None:
    outside = ws.parent / "x.py"
    outside.write_text("secret = 1\n")
    if how == "dotdot":
        path = "../x.py"
    elif how == "absolute":
        path = escape(str(outside))
    else:
        (ws / "link.py").symlink_to(outside)
        path = "link.py"
    error = failed(invoke(ws, "def", f"{path}@L1:C1"), "E/FS_PERMISSIONS", 71)
    assert error["retryable"] is False
    assert "outside the workspace" in error["message"]
    assert "secret" not in json.dumps(error)


def test_utf8_column_inside_a_character_is_75(ws: Path) -> None:
    line = SOURCE.splitlines()[2]  # s = "é": é is bytes 6-7 (1-based) in UTF-8
    assert line.encode()[5:7] == "é".encode()
    error = failed(invoke(ws, "def", "a.py@L3:C7", index_io="utf-8"), "E/INDEXING_UNSUPPORTED", 75)
    assert error["details"]["column"] == 7
    assert error["details"]["indexing"] == "utf-8"
    # The same column counted in code points is a character boundary (the closing quote).
    result = invoke(ws, "locate", "a.py@L3:C7", index_io="codepoint")
    data = one_json(result)
    assert result.exit_code == 0 and data["status"] == "ok", data.get("error")


# -- text mode: one readable line on stderr, nothing on stdout ---------------


@pytest.mark.parametrize("case", ["missing", "outside", "utf8", "crash", "timeout", "unsupported"])
def test_text_mode_error_is_one_stderr_line(ws: Path, fake: Fake, case: str) -> None:
    cases = {
        "missing": (None, "nope.py@L1:C1", [], "E/NOT_FOUND", 3),
        "outside": (None, "../x.py@L1:C1", [], "E/FS_PERMISSIONS", 71),
        "utf8": (None, "a.py@L3:C7", ["--index-io", "utf-8"], "E/INDEXING_UNSUPPORTED", 75),
        "crash": ("crash-on-request", "a.py@L2:C7", [], "E/LS_CRASH", 65),
        "timeout": ("hang", "a.py@L2:C7", [], "E/LS_TIMEOUT", 64),
        "unsupported": ("no-definition", "a.py@L2:C7", [], "E/UNSUPPORTED_CAP", 72),
    }
    mode, selector, opts, code, exit_code = cases[case]
    (ws.parent / "x.py").write_text("y = 2\n")
    env = {}
    if mode is not None:
        fake.use(mode)
        env["LANSER_SERVER_OVERRIDES"] = str(fake.overrides)
    proc = run_lanser(ws, *opts, "def", selector, env_extra=env, timeout="1")
    assert proc.returncode == exit_code, proc.stderr
    assert proc.stdout == ""
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith(f"lanser: {code}: ")
    if mode is not None:
        assert_all_gone(fake)


def test_text_mode_bad_selector_shows_caret(ws: Path) -> None:
    proc = run_lanser(ws, "def", "a.py@L1:Cx")
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.splitlines()
    assert lines[0].startswith("lanser: E/BAD_SELECTOR_SYNTAX: ")
    assert lines[1:] == ["  a.py@L1:Cx", "  " + " " * 9 + "^"]


# -- no server outlives lanser ---------------------------------------------


def test_server_dies_with_a_killed_lanser(ws: Path, fake: Fake) -> None:
    fake.use("hang")
    env = {k: v for k, v in os.environ.items() if not k.startswith("LANSER_")}
    env["LANSER_NO_DAEMON"] = "1"  # the server must be this process's child
    env["LANSER_SERVER_OVERRIDES"] = str(fake.overrides)
    proc = subprocess.Popen(
        [sys.executable, "-c", ENTRY, "--json", "-w", str(ws), "--timeout", "600", "def", "a.py@L2:C7"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    try:
        wait_until(
            lambda: fake.received("textDocument/definition") == 1,
            60,
            "lanser to send the definition request to the hanging fake",
        )
        [pid] = fake.pids()
        assert alive(pid)
        status = Path(f"/proc/{pid}/status").read_text()
        ppid = int(next(line for line in status.splitlines() if line.startswith("PPid:")).split()[1])
        assert ppid == proc.pid, "the fake must be lanser's direct child for this test to mean anything"
        proc.send_signal(signal.SIGKILL)
        assert proc.wait(timeout=30) == -signal.SIGKILL
        wait_until(lambda: not alive(pid), 10, f"fake server {pid} to die with lanser")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        for pid in fake.pids():  # never leave a stray server behind a failing test
            if alive(pid):
                os.kill(pid, signal.SIGKILL)
