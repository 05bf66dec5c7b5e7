"""Reports of runs: the HTML page (shared plot scale, axes and values, evidence, no external asset,
hostile text escaped), markdown and JSON, and the CLI over a real SQLite store."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from lanser.cli.main import cli
from lanser.harness.report.comparison import comparison_json, evidence, load_comparison, render_markdown, stage_order
from lanser.harness.report.html import nice_ticks, render_html, reward_plot, shared_scale
from lanser.harness.run.store import Store

ASAN_REPORT = {
    "tool": "AddressSanitizer",
    "kind": "heap-buffer-overflow",
    "frame": "reverse_bytes",
    "location": "/work/textops.c:18",
    "summary": "ERROR: AddressSanitizer: heap-buffer-overflow",
    "stack": ["reverse_bytes /work/textops.c:18", "main tests/test_textops.c:25"],
    "allocated": ["__interceptor_malloc asan_malloc_linux.cpp:69", "main tests/test_textops.c:23"],
}


def steps(*rewards: float) -> list[dict[str, Any]]:
    out, total = [], 0.0
    for i, r in enumerate(rewards, 1):
        total += r
        out.append({"step": i, "action": "edit", "reward": r, "cumulative": round(total, 9), "seconds": 0.1})
    return out


def fill(store: Store) -> None:
    """Two runs, two agents: oracle resolves both tasks; the other fails them with evidence."""
    store.start_run("oracle-run", "datasets/toy-c", "oracle", "sha256:img")
    store.start_run("agent-run", "datasets/toy-c", "cmd:my agent", "sha256:img")
    stages = {
        "test": {"exit_code": 0, "seconds": 0.5, "output": "ok 1 - a"},
        "build": {"exit_code": 0, "seconds": 1.0},
        "sanitize": {"exit_code": 0, "seconds": 2.0},
    }
    for task in ("toy/a", "toy/b"):
        store.put(
            f"o-{task}",
            "oracle-run",
            task,
            "oracle",
            {"outcome": "resolved", "tests_passed": 2, "tests_total": 2},
            steps(0.4),
            stages,
            "gold",
            {},
            seconds=3.5,
        )
    store.put(
        "x-a",
        "agent-run",
        "toy/a",
        "cmd:my agent",
        {
            "outcome": "sanitizer_error",
            "tests_passed": 2,
            "tests_total": 2,
            "reason": "AddressSanitizer: heap-buffer-overflow in reverse_bytes",
            "parser": "tap",
            "sanitizer": {"clean": False, "reports": [ASAN_REPORT]},
            "notes": ["edits to tests/test_textops.c ignored (protected)"],
            "evidence": {"failing_tests": ["not ok 2 - reverse_odd"]},
        },
        steps(4.0, -1.0),
        stages,
        "--- a/textops.c\n+++ b/textops.c\n@@ -1 +1 @@\n-old\n+new <script>\n",
        {},
        seconds=4.0,
    )
    store.put(
        "x-a1",
        "agent-run",
        "toy/a",
        "cmd:my agent",
        {"outcome": "tests_failed"},
        steps(0.1),
        stages,
        "",
        {},
        seconds=1.0,
        attempt=1,
    )
    store.put(
        "x-b",
        "agent-run",
        "toy/b",
        "cmd:my agent",
        {
            "outcome": "build_failed",
            "compiled": False,
            "evidence": {"build_tail": "textops.c:29: error: 'nn' undeclared"},
        },
        steps(0.5),
        {"build": {"exit_code": 2, "seconds": 0.7, "output": "boom"}},
        "",
        {},
        seconds=1.0,
        attempt=0,
    )
    store.put(
        "x-b1",
        "agent-run",
        "toy/b",
        "cmd:my agent",
        {"outcome": "resolved"},
        steps(0.5),
        stages,
        "",
        {},
        seconds=2.0,
        attempt=1,
    )


@pytest.fixture
def store(tmp_path: Path) -> Store:
    store = Store(tmp_path / "out" / "results.sqlite")
    fill(store)
    return store


def bar_heights(svg: str) -> list[float]:
    return [float(h) for h in re.findall(r'<rect x="[^"]+" y="[^"]+" width="[^"]+" height="([^"]+)"', svg)]


def test_every_plot_shares_one_scale_so_equal_heights_are_equal_rewards(store: Store) -> None:
    """Regression: each row's sparkline had its own scale (a reward of 0.4 and one of 4.0 looked
    the same) and no axis or value."""
    c = load_comparison(store, ["oracle-run", "agent-run"])
    scale = shared_scale(c.results)
    assert scale.lo <= -1.0 and scale.hi >= 4.0 and scale.steps == 2
    small = bar_heights(reward_plot(steps(0.4), scale))
    large = bar_heights(reward_plot(steps(4.0), scale))
    assert large[0] == pytest.approx(10 * small[0], rel=0.05)
    page = render_html(c)
    plots = re.findall(r'<svg class="plot".*?</svg>', page, re.S)
    assert len(plots) == 6
    ticks = {tuple(re.findall(r'class="ytick">([^<]+)<', p)) for p in plots}
    assert len(ticks) == 1  # the same y axis everywhere
    (axis,) = ticks
    assert "0" in axis and "4" in axis and float(axis[0]) <= -1
    plot = reward_plot(steps(4.0, -1.0), scale)
    assert ">4</text>" in plot and ">-1</text>" in plot and "Σ 3" in plot  # values on the bars, and the sum
    assert 'class="xtick">1<' in plot and 'class="xtick">2<' in plot and ">step<" in plot
    assert "<polyline" in plot and "cumulative 3" in plot


def test_the_page_compares_runs_and_shows_the_evidence_one_click_away(store: Store) -> None:
    page = render_html(load_comparison(store, ["oracle-run", "agent-run"]))
    assert page.index("oracle-run") < page.index("agent-run")
    # Side by side: resolve rate, pass@1 and pass@k (agent-run has two attempts at toy/b).
    assert "2/2 (100%)" in page and "1/4 (25%)" in page and "pass@2 = 0.500" in page
    details = re.findall(r"<details.*?</details>", page, re.S)
    assert len(details) == 5  # an attempt with nothing to show has no <details>
    why = next(d for d in details if "heap-buffer-overflow" in d)
    assert why.startswith("<details open>")  # the first failure's evidence is shown
    for shown in (
        "not ok 2 - reverse_odd",
        "#0 reverse_bytes /work/textops.c:18",
        "allocated by",
        "#1 main tests/test_textops.c:23",
        "edits to tests/test_textops.c ignored (protected)",
        "tap parser",
        "+new &lt;script&gt;",
    ):
        assert shown in why, shown
    build = next(d for d in details if "undeclared" in d)
    assert "Build error" in build and not build.startswith("<details open>")
    # Stages in the order they ran, not the store's sorted keys.
    body = page[page.index("toy/a</h3>") :]
    assert body.index("build 1.00s") < body.index("test 0.50s") < body.index("sanitize 2.00s")


def test_the_page_is_self_contained_and_escapes_what_agents_wrote(tmp_path: Path) -> None:
    store = Store(tmp_path / "r.sqlite")
    store.start_run("<img src=x onerror=alert(1)>", "d", "a", "i")
    store.put(
        "k",
        "<img src=x onerror=alert(1)>",
        "t/<script>alert(1)</script>",
        'a"><script>',
        {"outcome": "tests_failed", "reason": "<iframe src=//evil>", "evidence": {"failing_tests": ["<b>"]}},
        [{"reward": "NaN"}, {"reward": None, "cumulative": "x"}],
        {"test": {"seconds": "?", "exit_code": "<1>"}},
        "<script>",
    )
    page = render_html(load_comparison(store, ["<img src=x onerror=alert(1)>"]))
    assert "<script" not in page and "<img" not in page and "<iframe" not in page
    tags = re.findall(r"<[a-zA-Z][^>]*>", page)
    assert not [t for t in tags if re.search(r"\s(src|srcset|action|xlink:href)=", t)]
    assert {h for t in tags for h in re.findall(r'\shref="([^"]*)"', t) if not h.startswith("#")} == set()
    assert "url(" not in page and "@import" not in page
    assert "&lt;script&gt;" in page


def test_missing_evidence_keys_are_left_out() -> None:
    row = {
        "run_id": "r",
        "agent": "a",
        "task_id": "t",
        "outcome": "tests_failed",
        "verdict": {"outcome": "tests_failed"},
        "steps": [],
        "stages": {},
        "patch": "",
    }
    ev = evidence(row)
    assert ev.empty() and ev.to_dict() == {}
    # An older row: the stage logs stand in for what the grader did not record.
    old = {
        **row,
        "outcome": "build_failed",
        "verdict": {"outcome": "build_failed"},
        "stages": {"build": {"exit_code": 2, "output": "line 1\nerror: nope\n"}},
    }
    assert evidence(old).build_error == "line 1\nerror: nope"
    oracle = {
        **row,
        "verdict": {
            "outcome": "tests_failed",
            "fail_to_pass": {"x": "fail", "y": "pass"},
            "pass_to_pass": {"z": "missing"},
        },
    }
    assert evidence(oracle).failing_tests == ["x: fail", "z: missing"]
    assert [n for n, _ in stage_order({"sanitize": {}, "zeta": {}, "build": {}, "test": {}, "bad": 3})] == [
        "build",
        "test",
        "sanitize",
        "zeta",
    ]


def test_markdown_and_json(store: Store) -> None:
    c = load_comparison(store, ["oracle-run", "agent-run"])
    md = render_markdown(c)
    assert "| oracle-run | oracle | 2 | 2 | 2/2 (100%) | 1.000 | - | 0.400 | 7.0s |" in md
    assert "| agent-run | cmd:my agent | 2 | 4 | 1/4 (25%) | 0.250 | pass@2 0.500 |" in md
    assert "| toy/b | resolved 2/2 | build_failed, resolved |" in md
    assert "toy/a · agent-run #1: sanitizer_error: AddressSanitizer: heap-buffer-overflow in reverse_bytes" in md
    assert "  - AddressSanitizer heap-buffer-overflow in reverse_bytes /work/textops.c:18" in md
    data = json.loads(json.dumps(comparison_json(c)))
    assert [s["run_id"] for s in data["summaries"]] == ["oracle-run", "agent-run"]
    assert data["summaries"][1]["pass_at"] == {"1": 0.25, "2": 0.5}
    (a,) = [r for r in data["tasks"]["toy/a"] if r["run"] == "agent-run" and r["attempt"] == 0]
    assert [s["name"] for s in a["stages"]] == ["build", "test", "sanitize"]
    assert a["evidence"]["sanitizer"][0]["stack"][0] == "reverse_bytes /work/textops.c:18"
    assert [s["reward"] for s in a["steps"]] == [4.0, -1.0]


def test_nice_ticks_cover_the_range_with_round_values() -> None:
    assert nice_ticks(0.0, 1.0) == [0.0, 0.25, 0.5, 0.75, 1.0]
    assert nice_ticks(-1.0, 4.0) == [-2.0, 0.0, 2.0, 4.0]
    assert nice_ticks(0.0, 2.3) == [0.0, 1.0, 2.0, 3.0]
    ticks = nice_ticks(-0.13, 2.3)
    assert ticks[0] <= -0.13 and ticks[-1] >= 2.3 and 0.0 in ticks
    assert nice_ticks(0.0, 0.0)[-1] > 0


def invoke(*args: str) -> Any:
    return CliRunner().invoke(cli, ["--no-daemon", *args])


def test_cli_report_in_three_formats_and_a_missing_run_is_not_found(store: Store, tmp_path: Path) -> None:
    out = str(tmp_path / "out")
    md = invoke("bench", "report", "oracle-run", "agent-run", "--out", out, "--format", "md")
    assert md.exit_code == 0, md.output
    assert md.output.startswith("# lanser bench: oracle-run vs agent-run")
    wrapped = invoke("--json", "bench", "report", "oracle-run", "--out", out, "--format", "md")
    assert json.loads(wrapped.output)["text"].startswith("# lanser bench: oracle-run\n")
    js = invoke("bench", "report", "oracle-run", "agent-run", "--out", out, "--format", "json")
    assert js.exit_code == 0 and set(json.loads(js.output)) == {"runs", "summaries", "tasks"}
    page = invoke("--json", "bench", "report", "oracle-run", "agent-run", "--out", out)
    assert page.exit_code == 0, page.output
    target = Path(json.loads(page.output)["html"])
    assert target == tmp_path / "out" / "report-oracle-run-vs-agent-run.html" and "<svg" in target.read_text()
    missing = invoke("--json", "bench", "report", "oracle-run", "nope", "--out", out)
    assert missing.exit_code == 3
    assert json.loads(missing.output)["error"]["code"] == "E/NOT_FOUND" and "'nope'" in missing.output
    shown = invoke("--json", "bench", "show", "agent-run", "--out", out)
    assert shown.exit_code == 0 and len(json.loads(shown.output)) == 4
    assert invoke("bench", "show", "nope", "--out", out).exit_code == 3
