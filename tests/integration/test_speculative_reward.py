"""Speculative evaluation on real code: rewards rank patches; disk untouched; replay exact."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration


def digest_tree(ws: Path) -> dict[str, str]:
    return {
        p.relative_to(ws).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(ws.rglob("*.py"))
        if ".lanser" not in p.parts
    }


def lanser(ws: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LANSER_")}
    env["LANSER_NO_DAEMON"] = "1"
    return subprocess.run(
        [sys.executable, "-c", "from lanser.cli.main import main; main()", "-w", str(ws), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )


def _patch(path: str, old: str, new: str, text: str) -> str:
    lines = text.splitlines(keepends=True)
    i = next(n for n, ln in enumerate(lines) if ln == old)
    lo, hi = max(i - 2, 0), min(i + 3, len(lines))
    body = "".join((" " + ln) if n != i else ("-" + old + "+" + new) for n, ln in enumerate(lines[lo:hi], lo))
    return f"--- a/{path}\n+++ b/{path}\n@@ -{lo + 1},{hi - lo} +{lo + 1},{hi - lo} @@\n{body}"


def test_breaking_patch_scores_below_its_fix_on_rich(rich_repo: Path, copy_repo, tmp_path: Path, run_json) -> None:
    ws = copy_repo(rich_repo, "reward")
    path = "rich/cells.py"
    text = (ws / path).read_text()
    old = next(ln for ln in text.splitlines(keepends=True) if ln.startswith("def cell_len("))
    new = old.replace("-> int:", "-> str:")
    assert new != old
    breaking = tmp_path / "break.patch"
    breaking.write_text(_patch(path, old, new, text))
    before = digest_tree(ws)
    code, b = run_json("-w", str(ws), "--timeout", "120", "check", str(breaking))
    assert code == 0, b
    assert digest_tree(ws) == before, "a speculative check must not write"
    r_break = b["processReward"]["r"]
    assert b["processReward"]["components"]["d_now"] > b["processReward"]["components"]["d_prev"]
    assert any(path == p and "str" in msg for p, _, _, msg, *_ in b["edits"]["speculative"]["appeared"])
    # Now the error is on disk; the patch that undoes it must score higher.
    assert run_json("-w", str(ws), "check", str(breaking), "--apply", "--allow-dirty")[0] == 0
    fixing = tmp_path / "fix.patch"
    fixing.write_text(_patch(path, new, old, (ws / path).read_text()))
    broken_state = digest_tree(ws)
    code, f = run_json("-w", str(ws), "--timeout", "120", "check", str(fixing))
    assert code == 0, f
    assert digest_tree(ws) == broken_state
    assert f["processReward"]["r"] > r_break
    assert f["processReward"]["components"]["d_now"] < f["processReward"]["components"]["d_prev"]


def test_rename_bundle_carries_the_reward(sample: Path, run_json) -> None:
    code, b = run_json("-w", str(sample), "rename", "py://pkg.shapes#total_area", "sum_areas")
    assert code == 0
    pr = b["processReward"]
    assert pr["components"]["safety"] == 1 and pr["components"]["alpha_conf"] == 1
    assert pr["r"] == 0.4 + 0.5 * pr["components"]["diag_delta"]


def test_multi_step_session_replays_every_reward(sample: Path, tmp_path: Path) -> None:
    fix = tmp_path / "fix.patch"
    fix.write_text(
        "--- a/pkg/report.py\n+++ b/pkg/report.py\n@@ -13,3 +13,3 @@\n-def broken() -> int:\n"
        "-    label: int = describe(1.0, 2.0)  # a str is not an int\n+def broken() -> str:\n"
        "+    label: str = describe(1.0, 2.0)  # a str is not an int\n     return label\n"
    )
    queries = tmp_path / "q.jsonl"
    queries.write_text(
        "\n".join(
            json.dumps(q)
            for q in [
                {"cmd": "check", "args": {"patch": fix.read_text()}},
                {"cmd": "rename", "selector": "py://pkg.shapes#total_area", "args": {"newName": "sum_areas"}},
                {"cmd": "check", "selector": "py://pkg.report#broken", "args": {"patch": fix.read_text()}},
            ]
        )
        + "\n"
    )
    trace = tmp_path / "run.jsonl"
    out = lanser(sample, "--trace-file", str(trace), "batch", str(queries))
    rewards = [json.loads(line)["processReward"]["r"] for line in out.stdout.splitlines()]
    assert rewards[0] == 0.9 and rewards[2] == 0.9
    again = lanser(sample, "--json", "trace", "replay", str(trace), "--verify")
    assert again.returncode == 0, again.stdout + again.stderr
    series = json.loads(lanser(sample, "--json", "reward", "--trace", str(trace)).stdout)
    assert [s["r"] for s in series["steps"]] == rewards
    assert all(s["consistent"] for s in series["steps"])


def test_reward_from_two_diag_bundles(sample: Path, tmp_path: Path, run_json) -> None:
    _, before = run_json("-w", str(sample), "diag", "pkg/report.py")
    report = sample / "pkg" / "report.py"
    report.write_text(
        report.read_text()
        .replace("label: int = describe", "label: str = describe")
        .replace("def broken() -> int:", "def broken() -> str:")
    )
    _, after = run_json("-w", str(sample), "diag", "pkg/report.py")
    (tmp_path / "b.json").write_text(json.dumps(before))
    (tmp_path / "a.json").write_text(json.dumps(after))
    out = lanser(sample, "--json", "reward", str(tmp_path / "b.json"), str(tmp_path / "a.json"))
    assert json.loads(out.stdout)["r"] == 0.9


def test_c_patch_that_breaks_the_build_is_penalised_every_time_in_one_session(sample: Path, tmp_path: Path) -> None:
    """Regression (found by the reward study on toy-c): clangd answers the close of a document with
    an empty, version-less publish that arrived after the reopen and was taken for the patched
    content's diagnostics, so every C step read D_now = 0 and a new error earned a reward."""
    text = (sample / "csrc" / "geometry.c").read_text()
    old = "\treturn absolute(a.x - b.x) + absolute(a.y - b.y);\n"
    broken = _patch("csrc/geometry.c", old, "\treturn absolute(a.x - b.x) + absolute(a.y - missing_y);\n", text)
    other = _patch("csrc/geometry.c", old, "\treturn absolute(a.x - b.x) + absolute(a.y - b.y) + also_missing;\n", text)
    requests = [
        {"cmd": "diagnostics", "selector": "csrc/geometry.c"},
        {"cmd": "check", "args": {"patch": broken}},
        {"cmd": "check", "args": {"patch": other}},
        {"cmd": "check", "args": {"patch": broken}},
    ]
    batch = tmp_path / "steps.jsonl"
    batch.write_text("".join(json.dumps(r) + "\n" for r in requests))
    out = lanser(sample, "--json", "batch", str(batch))
    bundles = [json.loads(line) for line in out.stdout.splitlines()]
    assert [b["status"] for b in bundles] == ["ok"] * 4, out.stderr
    before = bundles[0]["facts"]["diagnostics"][0]["counts"].get("error", 0)
    for b, name in zip(bundles[1:], ["missing_y", "also_missing", "missing_y"], strict=False):
        c = b["processReward"]["components"]
        assert (c["d_prev"], c["d_now"]) == (before, before + 1), c
        assert b["processReward"]["r"] < 0
        appeared = b["edits"]["speculative"]["appeared"]
        assert [a[:2] for a in appeared] == [["csrc/geometry.c", "error"]] and name in appeared[0][3]
    assert (sample / "csrc" / "geometry.c").read_text() == text


@pytest.mark.parametrize("version", ["pr-v1", "pr-v2"])
def test_live_check_records_the_reward_lanser_reward_selects(sample: Path, tmp_path: Path, version: str) -> None:
    path = "pkg/shapes.py"
    text = (sample / path).read_text()
    old = "def total_area(shapes: list[Shape]) -> float:\n"
    patch = tmp_path / "break.patch"
    patch.write_text(_patch(path, old, old.replace("-> float:", "-> str:"), text))
    env = {k: v for k, v in os.environ.items() if not k.startswith("LANSER_")}
    env.update(LANSER_NO_DAEMON="1", LANSER_REWARD=version)
    proc = subprocess.run(
        [sys.executable, "-c", "from lanser.cli.main import main; main()", "--json", "-w", str(sample)]
        + ["--timeout", "120", "check", str(patch)],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    pr = json.loads(proc.stdout)["processReward"]
    assert pr["version"] == version
    # The patch makes an error: pr-v1's D grows, pr-v2's potential falls.
    if version == "pr-v1":
        assert pr["components"]["d_now"] > pr["components"]["d_prev"]
    else:
        assert pr["components"]["phi_now"] < pr["components"]["phi_prev"]
    assert pr["r"] < 0.4
