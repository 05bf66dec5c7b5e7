"""The client SDK against real basedpyright and clangd (issue 21): through the daemon, in-process,
in an in-process session, async, and the CLI's ``--json``: the same bytes for every request."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from lanser import AsyncClient, Client, Requests, __version__

REPO = Path(__file__).resolve().parents[2]

PATCH = """--- a/pkg/report.py
+++ b/pkg/report.py
@@ -1,3 +1,4 @@
+# checked, never written
"""


def _requests(sample: Path) -> list[dict[str, object]]:
    """Edits first: a rename's documentChanges come in the order the server met the files, so each
    side asks it of fresh servers (lanser does not sort them: a finding of its own)."""
    r = Requests()
    head = (sample / "pkg" / "report.py").read_text().splitlines()[:3]
    patch = PATCH + "".join(f" {line}\n" for line in head)
    return [
        r.rename("py://pkg.shapes#total_area", "sum_areas"),
        r.prepare_rename("py://pkg.shapes#total_area"),
        r.actions("pkg/report.py@L14:C5"),
        r.check(patch),
        r.definition("pkg/report.py@L10:C27"),
        r.definition("csrc/main.c@L9:C17"),
        r.references("pkg/shapes.py@L38:C5", limit=2),
        r.references("csrc/geometry.c@L8:C5", include_declaration=False),
        r.hover("pkg/shapes.py@L38:C5"),
        r.hover("csrc/geometry.c@L8:C5"),
        r.symbols("pkg/shapes.py"),
        r.symbols(query="Circle"),
        r.diagnostics("pkg/report.py"),
        r.locate("pkg/shapes.py@R(18,1->25,1)"),
        r.definition("pkg/nope.py@L1:C1"),
    ]


#: The same requests as the CLI's commands build them; edits in a process of their own (fresh servers).
ARGV = [
    ["--no-daemon", "rename", "py://pkg.shapes#total_area", "sum_areas"],
    ["--no-daemon", "prepare-rename", "py://pkg.shapes#total_area"],
    ["--no-daemon", "action", "pkg/report.py@L14:C5"],
    None,
    ["def", "pkg/report.py@L10:C27"],
    ["def", "csrc/main.c@L9:C17"],
    ["refs", "pkg/shapes.py@L38:C5", "--limit", "2"],
    ["refs", "csrc/geometry.c@L8:C5", "--no-declaration"],
    ["hover", "pkg/shapes.py@L38:C5"],
    ["hover", "csrc/geometry.c@L8:C5"],
    ["symbols", "pkg/shapes.py"],
    ["symbols", "--query", "Circle"],
    ["diag", "pkg/report.py"],
    ["locate", "pkg/shapes.py@R(18,1->25,1)"],
    ["def", "pkg/nope.py@L1:C1"],
]


@pytest.fixture
def daemon(sample: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """This test's own runtime directory for daemons, and the sample's daemon stopped at the end."""
    from lanser.daemon import client

    run = tmp_path / "run"
    run.mkdir()
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(run))
    monkeypatch.delenv("LANSER_NO_DAEMON", raising=False)
    yield dict(os.environ)
    client.stop(str(sample), None, __version__)


def test_daemon_in_process_session_async_and_cli_give_identical_bundles(sample: Path, daemon: dict[str, str]) -> None:
    from lanser.daemon import client

    requests = _requests(sample)
    before = {p: p.read_bytes() for p in sample.rglob("*") if p.is_file()}
    through_daemon = [Client(sample).batch([r])[0] for r in requests]  # one at a time, as the CLI asks
    texts = [r.text for r in through_daemon]

    async def go() -> list[str]:
        async with AsyncClient(sample) as lanser:  # the same warm daemon
            return [(await lanser.definition("csrc/main.c@L9:C17")).text, (await lanser.batch(requests[8:10]))[1].text]

    assert asyncio.run(go()) == [texts[5], texts[9]]
    for args, text in zip(ARGV, texts, strict=True):
        if args is None:  # check reads its patch from a file
            continue
        proc = subprocess.run(
            [sys.executable, "-c", "from lanser.cli.main import main; main()", "--json", "-w", str(sample), *args],
            capture_output=True,
            text=True,
            env=daemon,
            cwd=REPO,
            timeout=300,
        )
        assert proc.stdout == text + "\n", (args, proc.stderr)
    client.stop(str(sample), None, __version__)
    in_process = Client(sample, daemon=False).batch(requests)  # fresh servers, read-only requests pipelined
    with Client(sample, daemon=False) as session:
        in_session = [session.batch([r])[0] for r in requests]  # servers kept up between calls
    assert [r.text for r in in_process] == texts
    assert [r.text for r in in_session] == texts
    # The answers are real: servers answered, failures are results, nothing was written.
    assert [r.ok for r in through_daemon] == [True] * 14 + [False]
    assert through_daemon[-1].error is not None and through_daemon[-1].error.code == "E/NOT_FOUND"
    assert through_daemon[-1].exit_code == 3
    assert through_daemon[4].facts["definitions"][0]["path"] == "pkg/shapes.py"
    assert "sum_areas" in through_daemon[0].data["edits"]["diff"]
    assert through_daemon[3].data["processReward"] is not None
    assert through_daemon[4].bundle.bundleId == through_daemon[4].bundle_id
    assert {p: p.read_bytes() for p in sample.rglob("*") if p.is_file() and ".lanser" not in p.parts} == {
        p: b for p, b in before.items() if ".lanser" not in p.parts
    }


def test_lanser_def_through_the_daemon_imports_no_server_libraries(sample: Path, daemon: dict[str, str]) -> None:
    """The CLI goes through lanser.client; a warm `lanser def` must still import neither pydantic,
    lsprotocol nor pygls (they are the in-process path's, and cost the CLI's start time)."""
    probe = (
        "import atexit, sys\n"
        "atexit.register(lambda: sys.stderr.write('HEAVY ' + json.dumps(sorted(m for m in sys.modules "
        "if m.split('.')[0] in ('pydantic', 'lsprotocol', 'pygls'))) + '\\n'))\n"
        "import json\n"
        "from lanser.cli.main import main; main()\n"
    )
    argv = [sys.executable, "-c", probe, "--json", "-w", str(sample), "def", "pkg/report.py@L10:C27"]
    subprocess.run(argv, capture_output=True, text=True, env=daemon, cwd=REPO, timeout=300, check=True)  # warm
    proc = subprocess.run(argv, capture_output=True, text=True, env=daemon, cwd=REPO, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["status"] == "ok"
    heavy = [line for line in proc.stderr.splitlines() if line.startswith("HEAVY ")]
    assert heavy == ["HEAVY []"], proc.stderr
    # And the probe can tell: in-process the same command does import them.
    proc = subprocess.run(
        argv[:3] + ["--no-daemon", *argv[3:]], capture_output=True, text=True, env=daemon, cwd=REPO, timeout=300
    )
    assert "pydantic" in proc.stderr and json.loads(proc.stdout)["status"] == "ok"
