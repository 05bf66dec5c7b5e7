"""`lanser bench report --format junit`: one test case per task and attempt, validated against
the Jenkins xUnit plugin's JUnit XSD shipped in tests/data/schemas (nothing fetched)."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
import xmlschema
from click.testing import CliRunner

from lanser.cli.main import cli
from lanser.harness.report.comparison import load_comparison
from lanser.harness.report.junit import render_junit
from lanser.harness.run.store import Store

XSD = Path(__file__).resolve().parents[1] / "data" / "schemas" / "junit-10.xsd"
STAGES = {"build": {"exit_code": 0, "seconds": 1.0}, "test": {"exit_code": 0, "seconds": 0.5}}
ASAN = {
    "tool": "AddressSanitizer",
    "kind": "heap-buffer-overflow",
    "frame": "reverse_bytes",
    "location": "/work/textops.c:18",
    "stack": ["reverse_bytes /work/textops.c:18", "main t.c:25"],
}


def steps(*rewards: float) -> list[dict[str, Any]]:
    return [
        {"step": i, "action": "edit", "reward": r, "cumulative": r, "seconds": 0.1} for i, r in enumerate(rewards, 1)
    ]


@pytest.fixture
def store(tmp_path: Path) -> Store:
    store = Store(tmp_path / "out" / "results.sqlite")
    store.start_run("nightly", "datasets/toy-c", "cmd:my agent", "sha256:img")
    put = store.put
    put(
        "a0",
        "nightly",
        "toy/a",
        "cmd:my agent",
        {"outcome": "resolved", "tests_passed": 2, "tests_total": 2},
        steps(0.4),
        STAGES,
        "",
        {},
        seconds=3.5,
    )
    put(
        "a1",
        "nightly",
        "toy/a",
        "cmd:my agent",
        {
            "outcome": "sanitizer_error",
            "tests_passed": 2,
            "tests_total": 2,
            "reason": "AddressSanitizer: heap-buffer-overflow in reverse_bytes",
            "sanitizer": {"clean": False, "reports": [ASAN]},
            "evidence": {"failing_tests": ["not ok 2 - odd"]},
        },
        steps(1.0),
        STAGES,
        "",
        {},
        seconds=4.0,
        attempt=1,
    )
    put(
        "b0",
        "nightly",
        "toy/b",
        "cmd:my agent",
        {"outcome": "build_failed", "evidence": {"build_tail": "x.c:29: error: 'nn' undeclared \x1b[0m\x00"}},
        steps(0.5),
        STAGES,
        "",
        {},
        seconds=1.0,
    )
    put(
        "c0",
        "nightly",
        "toy/c",
        "cmd:my agent",
        {"outcome": "task_error", "reason": "the oracle tests fail on the gold patch ]]> <x/>"},
        steps(),
        STAGES,
        "",
        {},
        seconds=2.0,
    )
    return store


def test_the_xsd_can_fail() -> None:
    schema = xmlschema.XMLSchema(str(XSD))
    assert not schema.is_valid('<testsuites><testsuite name="x"><testcase name="t"/></testsuite></testsuites>')


def test_junit_validates_and_maps_verdicts(store: Store) -> None:
    text = render_junit(load_comparison(store, ["nightly"]))
    xmlschema.XMLSchema(str(XSD)).validate(text)
    root = ET.fromstring(text)
    assert (root.get("tests"), root.get("failures"), root.get("errors")) == ("4", "2", "1")
    [suite] = root.findall("testsuite")
    assert suite.get("name") == "nightly"
    props = {p.get("name"): p.get("value") for p in suite.iter("property")}
    assert props["dataset"] == "datasets/toy-c"
    cases = {c.get("name"): c for c in suite.findall("testcase")}
    assert set(cases) == {"toy/a #1", "toy/a #2", "toy/b #1", "toy/c #1"}
    assert {c.get("classname") for c in cases.values()} == {"datasets/toy-c/cmd:my agent"}
    assert list(cases["toy/a #1"]) == [] and cases["toy/a #1"].get("time") == "3.500"
    failure = cases["toy/a #2"].find("failure")
    assert failure is not None and failure.get("type") == "sanitizer_error"
    assert failure.get("message", "").startswith("sanitizer_error (2/2 tests): AddressSanitizer")
    assert "not ok 2 - odd" in (failure.text or "") and "reverse_bytes /work/textops.c:18" in (failure.text or "")
    build = cases["toy/b #1"].find("failure")
    assert build is not None and "'nn' undeclared" in (build.text or "")
    error = cases["toy/c #1"].find("error")
    assert error is not None and error.get("type") == "task_error" and "]]> <x/>" in error.get("message", "")


def test_cli_writes_junit(store: Store, tmp_path: Path) -> None:
    target = tmp_path / "nightly.xml"
    result = CliRunner().invoke(
        cli,
        ["bench", "report", "nightly", "--out", str(tmp_path / "out"), "--format", "junit", "--output", str(target)],
    )
    assert result.exit_code == 0, result.output
    xmlschema.XMLSchema(str(XSD)).validate(str(target))
    stdout = CliRunner().invoke(
        cli, ["bench", "report", "nightly", "--out", str(tmp_path / "out"), "--format", "junit"]
    )
    assert stdout.exit_code == 0 and stdout.output.startswith("<?xml")
