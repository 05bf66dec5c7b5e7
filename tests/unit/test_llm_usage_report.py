"""A model-driven agent's accounting in ``bench show`` and ``bench report`` (markdown, JSON, HTML).

The numbers come from a real :class:`LLMAgent` talking to the scripted Chat Completions server on
loopback (tests/servers/openai_script.py), stored with the attempt as the driver stores it (the
result's ``usage`` key becomes the row's ``extra.usage``) in a real SQLite store; the CLI reads them
back.  The expected totals are the script's own numbers."""

from __future__ import annotations

import json
import re
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from click.testing import CliRunner

from lanser.cli.main import cli
from lanser.harness.report.comparison import format_cost, usage_of, usage_totals
from lanser.harness.run.llm.agent import LLMAgent, LLMConfig
from lanser.harness.run.llm.client import ChatClient
from lanser.harness.run.store import Store
from tests.servers.openai_script import ScriptServer

TASK = SimpleNamespace(
    id="toy/t",
    slug="toy__t",
    language="c",
    problem="count_char counts wrong",
    commands=SimpleNamespace(build="make", test="make test", sanitize=None),
)
DIFF = "--- a/x.c\n+++ b/x.c\n@@ -1,2 +1,2 @@\n int a;\n-int b;\n+int c;\n"
PRICES = {"input": 2.0, "output": 10.0}  # USD per million tokens

#: Attempt 1: three calls.  Attempt 2: a malformed call (a tool error the model recovers from), then two.
SCRIPTS = [
    [
        {
            "tool_calls": [{"name": "definition", "arguments": {"selector": "c://x.c#f"}}],
            "usage": {"prompt_tokens": 100, "completion_tokens": 10},
        },
        {
            "tool_calls": [{"name": "edit", "arguments": {"diff": DIFF}}],
            "usage": {"prompt_tokens": 150, "completion_tokens": 40},
        },
        {"tool_calls": [{"name": "submit", "arguments": {}}], "usage": {"prompt_tokens": 200, "completion_tokens": 5}},
    ],
    [
        {
            "tool_calls": [{"name": "edit", "arguments": "{not json"}],
            "usage": {"prompt_tokens": 1000, "completion_tokens": 100},
        },
        {
            "tool_calls": [{"name": "run", "arguments": {"command": "make test"}}],
            "usage": {"prompt_tokens": 2000, "completion_tokens": 50},
        },
        {"tool_calls": [{"name": "submit", "arguments": {}}], "usage": {"prompt_tokens": 2100, "completion_tokens": 7}},
    ],
]
ANSWERS = {
    "run": {"exitCode": 0, "output": "ok\n", "timedOut": False},
    "edit": {"status": "ok", "processReward": {"r": 0.25}},
    "lanser": {"bundle": {"status": "ok"}},
}


def episode(script: list[dict[str, Any]]) -> dict[str, Any]:
    """One attempt of the real agent against the scripted server, answered as the runner would;
    returns the attempt's result as run_task makes it (steps, usage)."""
    with ScriptServer(script) as srv:
        config = LLMConfig(model="scripted", base_url=srv.base_url, prices=PRICES)
        agent = LLMAgent(config, ChatClient(srv.base_url, None, timeout=30.0, retries=0, sleep=lambda s: None))
        agent.reset(TASK, {"step": 0, "last": None, "reward": 0})
        steps: list[dict[str, Any]] = []
        last: dict[str, Any] | None = None
        while True:
            action = agent.act({"step": len(steps), "last": last, "reward": 0})
            steps.append({"step": len(steps) + 1, "action": action["type"], "reward": 0.0, "cumulative": 0.0})
            if action["type"] == "submit":
                break
            last = ANSWERS[action["type"]]
        agent.close()
        assert not srv.steps, "the script was not played to its end"
    return {"steps": steps, "usage": agent.usage()}


@pytest.fixture(scope="module")
def out(tmp_path_factory: pytest.TempPathFactory) -> str:
    root = tmp_path_factory.mktemp("usage") / "out"
    store = Store(root / "results.sqlite")
    store.start_run("llm-run", "datasets/toy-c", "llm:scripted", "sha256:img")
    for attempt, (script, outcome) in enumerate(zip(SCRIPTS, ("resolved", "tests_failed"), strict=False)):
        result = episode(script)
        store.put(
            f"k{attempt}",
            "llm-run",
            "toy/t",
            "llm:scripted",
            {"outcome": outcome},
            result["steps"],
            {},
            "",
            {},
            attempt=attempt,
            seconds=2.0,
            extra={"usage": result["usage"]},
        )
    store.start_run("oracle-run", "datasets/toy-c", "oracle", "sha256:img")
    store.put("o", "oracle-run", "toy/t", "oracle", {"outcome": "resolved"}, [], {}, "", {}, seconds=1.0)
    return str(root)


def invoke(*args: str) -> Any:
    result = CliRunner().invoke(cli, ["--no-daemon", *args])
    assert result.exit_code == 0, result.output
    return result


COST_1 = 450 * 2.0 / 1e6 + 55 * 10.0 / 1e6
COST_2 = 5100 * 2.0 / 1e6 + 157 * 10.0 / 1e6


def test_bench_show_gives_each_attempts_usage_and_the_total(out: str) -> None:
    rows = json.loads(invoke("--json", "bench", "show", "llm-run", "--out", out).output)
    usage = [r["usage"] for r in rows]
    assert [(u["calls"], u["prompt_tokens"], u["completion_tokens"], u["steps"], u["tool_errors"]) for u in usage] == [
        (3, 450, 55, 4, 0),
        (3, 5100, 157, 3, 1),
    ]  # attempt 1: the layout run, definition, edit, submit
    assert usage[0]["cost"] == pytest.approx(COST_1) and usage[1]["cost"] == pytest.approx(COST_2)
    assert all(u["model"] == "scripted" and u["latency_s"] > 0 for u in usage)
    text = invoke("bench", "show", "llm-run", "--out", out).output
    assert "usage toy/t #1: 3 calls, 450 prompt + 55 completion tokens, $0.00145," in text
    assert "usage toy/t #2: 3 calls, 5100 prompt + 157 completion tokens, $0.01177," in text
    assert "usage total (2 attempts): 6 calls, 5550 prompt + 212 completion tokens, $0.01322," in text
    assert "7 steps, 1 tool errors" in text
    # an agent without an accounting shows none
    assert "usage" not in invoke("bench", "show", "oracle-run", "--out", out).output


def test_markdown_and_json_reports_carry_usage_per_attempt_and_per_run(out: str) -> None:
    md = invoke("bench", "report", "llm-run", "oracle-run", "--out", out, "--format", "md").output
    section = md.split("## Model usage", 1)[1]
    assert "| llm-run | llm:scripted | 2 | 6 | 7 | 5550 | 212 | $0.01322 |" in section
    assert "| toy/t | llm-run | 1 | resolved | 3 | 4 | 450 | 55 | $0.00145 |" in section
    assert "| toy/t | llm-run | 2 | tests_failed | 3 | 3 | 5100 | 157 | $0.01177 |" in section
    assert "oracle" not in section.split("## Why")[0]
    data = json.loads(invoke("bench", "report", "llm-run", "oracle-run", "--out", out, "--format", "json").output)
    llm, oracle = data["summaries"]
    assert (llm["usage"]["attempts"], llm["usage"]["prompt_tokens"], llm["usage"]["completion_tokens"]) == (
        2,
        5550,
        212,
    )
    assert llm["usage"]["cost"] == pytest.approx(COST_1 + COST_2) and oracle["usage"] is None
    attempts = {(a["run"], a["attempt"]): a["usage"] for a in data["tasks"]["toy/t"]}
    assert attempts[("llm-run", 1)]["prompt_tokens"] == 5100 and attempts[("oracle-run", 0)] is None


def test_html_report_has_a_usage_table_and_a_line_per_attempt(out: str, tmp_path: Path) -> None:
    page_path = tmp_path / "r.html"
    invoke("bench", "report", "llm-run", "oracle-run", "--out", out, "--output", str(page_path))
    page = page_path.read_text()
    table = page.split("<h2>Model usage</h2>", 1)[1].split("</table>", 1)[0]
    cells = re.findall(r"<td[^>]*>([^<]*)</td>", table)
    assert cells[:9] == ["llm-run", "llm:scripted", "2", "6", "7", "5550", "212", "$0.01322", cells[8]]
    assert cells[9:] == [str(round((5550 + 212) / 2)), format_cost((COST_1 + COST_2) / 2)]
    assert "oracle-run" not in table
    assert "3 model calls · 450 + 55 tokens · $0.00145" in page
    assert "3 model calls · 5100 + 157 tokens · $0.01177" in page and "1 tool errors" in page


def test_a_hostile_stored_usage_is_read_as_data() -> None:
    """extra.usage is data from the store: strings, booleans, negatives, NaN count 0, the model name is text."""
    row = {
        "steps": [{}],
        "extra": {
            "usage": {
                "calls": "9",
                "prompt_tokens": True,
                "completion_tokens": -4,
                "cost": float("nan"),
                "latency_s": float("inf"),
                "model": "<script>x</script>" * 50,
            }
        },
    }
    u = usage_of(row)
    assert u is not None
    assert (u["calls"], u["prompt_tokens"], u["completion_tokens"], u["cost"], u["latency_s"], u["steps"]) == (
        0,
        0,
        0,
        0.0,
        0.0,
        1,
    )
    assert len(u["model"]) == 200
    assert usage_of({"extra": {"usage": "lots"}}) is None and usage_totals([{"extra": {}}]) is None
    from lanser.harness.report.comparison import Comparison
    from lanser.harness.report.html import render_html
    from lanser.harness.report.passk import summarize

    rows = [
        {
            **row,
            "run_id": "r",
            "task_id": "t",
            "agent": "llm:<b>",
            "attempt": 0,
            "outcome": "resolved",
            "verdict": {"outcome": "resolved"},
            "stages": {},
        }
    ]
    page = render_html(Comparison([{"run_id": "r"}], rows, summarize(rows)))
    assert "<b>" not in page.split("<h2>Model usage</h2>", 1)[1] and "llm:&lt;b&gt;" in page
