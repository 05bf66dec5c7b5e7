"""`lanser bench study` end to end on the toy C dataset: real agents' runs in Docker, real clangd,
and numbers that agree with the result store they were computed from."""

from __future__ import annotations

import json
import subprocess
import sys
import xml.dom.minidom
from pathlib import Path
from typing import Any

import pytest

from lanser.harness.run.store import Store
from lanser.harness.study.analysis import auroc, spearman

pytestmark = pytest.mark.docker

REPO = Path(__file__).resolve().parents[2]
TOY = REPO / "datasets" / "toy-c"
FILES = {"results.json", "summary.md", "scatter.svg", "curves.svg", "predictors.svg", "hard.json", "hard.md"}


def study(out: Path, store: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            "-c",
            "from lanser.cli.main import main; main()",
            "--no-daemon",
            "--json",
            "bench",
            "study",
            str(TOY),
            "--seeds",
            "2",
            "--bootstrap",
            "100",
            "--out",
            str(out),
            "--store",
            str(store),
        ],
        capture_output=True,
        text=True,
        timeout=1200,
        cwd=REPO,
    )


@pytest.fixture(scope="module")
def ran(tmp_path_factory: pytest.TempPathFactory, base_image: str) -> dict[str, Any]:
    root = tmp_path_factory.mktemp("study")
    proc = study(root / "out", root / "store")
    assert proc.returncode == 0, proc.stderr
    return {
        "root": root,
        "stdout": json.loads(proc.stdout),
        "stderr": proc.stderr,
        "results": json.loads((root / "out" / "results.json").read_text()),
    }


def test_writes_every_file(ran: dict[str, Any]) -> None:
    out = ran["root"] / "out"
    assert {p.name for p in out.iterdir()} == FILES
    assert sorted(ran["stdout"]["files"]) == sorted(FILES)
    for name in ("scatter.svg", "curves.svg", "predictors.svg"):
        doc = xml.dom.minidom.parse(str(out / name))
        assert doc.documentElement.tagName == "svg"
    assert "<circle" in (out / "scatter.svg").read_text() and "<polyline" in (out / "curves.svg").read_text()
    summary = (out / "summary.md").read_text()
    assert "stand in for real agents" in summary and "| oracle | 3 | 3 |" in summary


def test_trajectories_agree_with_the_store(ran: dict[str, Any]) -> None:
    rows = {r["key"]: r for r in Store(ran["root"] / "store" / "results.sqlite").results()}
    trajectories = ran["results"]["trajectories"]
    assert len(trajectories) == ran["results"]["analysis"]["n"] == ran["stdout"]["n"]
    assert len({(t["task"], t["agent"]) for t in trajectories}) == len(trajectories)
    for t in trajectories:
        row = rows[t["key"]]
        assert (row["task_id"], row["agent"], row["outcome"]) == (t["task"], t["agent"], t["outcome"])
        assert t["cumulative"] == pytest.approx(sum(s["reward"] for s in row["steps"]))
        assert t["rewards"] == [s["reward"] for s in row["steps"]]
        oracles = [*row["verdict"].get("fail_to_pass", {}).values(), *row["verdict"].get("pass_to_pass", {}).values()]
        assert t["all_pass"] == (bool(oracles) and all(v == "pass" for v in oracles))
        assert t["all_pass"] == (row["outcome"] in ("resolved", "sanitizer_error"))


def test_synthetic_agents_do_what_they_say(ran: dict[str, Any]) -> None:
    by_family: dict[str, list[dict[str, Any]]] = {}
    for t in ran["results"]["trajectories"]:
        by_family.setdefault(t["agent"].split(":")[0], []).append(t)
    assert set(by_family) == {"oracle", "noop", "partial", "corrupt", "shuffle"}
    assert all(t["outcome"] == "resolved" for t in by_family["oracle"] + by_family["shuffle"]), (
        "shuffle reverts its fault: it ends in the gold state"
    )
    assert not any(t["all_pass"] for t in by_family["partial"] + by_family["noop"])
    assert any(not t["all_pass"] for t in by_family["corrupt"])
    assert all(any(n.startswith("revert") for n in t["notes"]) for t in by_family["shuffle"])
    for t in by_family["oracle"]:
        assert t["d_final"] == 0, "the gold state of every toy task is free of diagnostics"


def test_statistics_recompute_from_the_trajectories(ran: dict[str, Any]) -> None:
    ts = ran["results"]["trajectories"]
    reward = ran["results"]["analysis"]["predictors"]["reward_cumulative"]
    assert reward["auroc_all_pass"]["value"] == pytest.approx(
        auroc([t["cumulative"] for t in ts], [t["all_pass"] for t in ts]), abs=1e-6
    )
    assert reward["spearman_pass_rate"]["value"] == pytest.approx(
        spearman([t["cumulative"] for t in ts], [t["pass_rate"] for t in ts]), abs=1e-6
    )
    ci = reward["auroc_all_pass"]["ci"]
    assert ci["lo"] <= reward["auroc_all_pass"]["value"] <= ci["hi"]
    fresh = ran["results"]["analysis"]["predictors"]["ablation_diagnostics_remeasured"]
    assert fresh["n"] == len(ts)


def test_a_rerun_resumes_and_reproduces(ran: dict[str, Any]) -> None:
    root = ran["root"]
    proc = study(root / "again", root / "store")
    assert proc.returncode == 0, proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if ln.startswith("[")]
    assert lines and all(ln.endswith("done before, skipped") for ln in lines)
    again = json.loads((root / "again" / "results.json").read_text())
    first = ran["results"]
    assert again["trajectories"] == first["trajectories"]
    assert again["analysis"] == first["analysis"], "the bootstrap is seeded"
