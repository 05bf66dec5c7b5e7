"""The agent format and the output filters (issue 20: compact, filterable output), on real servers.

The agent text must keep what an agent acts on (every location's selector,
the error code, the bundleId) and be much smaller than the bundle; a filter
must say what it left out, and a request without one must give the bundle
it gave before filters existed.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lanser.formats.agent import to_agent

pytestmark = pytest.mark.integration

QUERIES = [
    {"cmd": "definition", "selector": "pkg/report.py@L10:C27"},
    {"cmd": "references", "selector": "py://pkg.shapes#Shape"},
    {"cmd": "symbols", "selector": "pkg/shapes.py"},
    {"cmd": "diagnostics", "selector": "pkg/report.py"},
    {"cmd": "hover", "selector": "pkg/shapes.py@L38:C5"},
    {"cmd": "locate", "selector": "py://pkg.shapes#total_area"},
    {"cmd": "locate", "selector": "py://pkg.shapes#nothing"},
]


def _batch(run_cli, ws: Path, requests: list[dict]) -> list[dict]:
    source = ws / "queries.jsonl"
    source.write_text("".join(json.dumps(r) + "\n" for r in requests))
    _, out, _ = run_cli("-w", str(ws), "batch", str(source))
    return [json.loads(line) for line in out.splitlines()]


def _locations(bundle: dict) -> list[dict]:
    facts = bundle.get("facts") or {}
    return [*(facts.get("definitions") or []), *(facts.get("references") or []), *(facts.get("symbols") or [])]


def test_the_agent_text_keeps_every_selector_and_error_code_at_a_fraction_of_the_size(sample: Path, run_cli) -> None:
    bundles = _batch(run_cli, sample, QUERIES)
    assert [b["status"] for b in bundles] == ["ok"] * 6 + ["error"]
    for bundle in bundles:
        text = to_agent(bundle)
        assert f"bundle {bundle['bundleId'][:23]} (full: --format bundle)" in text  # sha256: and 16 hex digits
        body = text.splitlines()[1:]
        for i, loc in enumerate(_locations(bundle)):  # one line each, in the bundle's order
            assert body[i] == loc["selector"] or body[i].startswith(loc["selector"] + "  "), (loc, body[i])
        full = json.dumps(bundle, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
        # locate's answer is the code it found and the selectors minted for it: half the bundle
        factor = 2 if bundle["request"]["cmd"] == "locate" else 4
        assert len(text) * factor < len(full), (bundle["request"], len(text), len(full))
    definition, references, symbols, diagnostics, hover, locate, missing = (to_agent(b) for b in bundles)
    assert definition.splitlines()[1] == "pkg/shapes.py@L38:C5  def total_area(shapes: list[Shape]) -> float:"
    assert definition.splitlines()[0] == "def: 1 definition"
    assert references.splitlines()[0].startswith("refs: ") and " references in " in references.splitlines()[0]
    assert "pkg/report.py@L14:C18 error reportAssignmentType: " in diagnostics
    assert "(function) def total_area(shapes: list[Shape]) -> float" in hover
    assert "symbol: py://pkg.shapes#total_area" in locate and "| def total_area(" in locate
    assert missing.startswith("E/NOT_FOUND: no definition of pkg.shapes#nothing\n")
    assert "\nexit 3\n" in missing


def test_format_agent_on_the_command_line_and_json_unchanged(
    sample: Path, run_cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    code, out, _ = run_cli("--json", "-w", str(sample), "refs", "py://pkg.shapes#total_area")
    bundle = json.loads(out)
    assert code == 0 and bundle["status"] == "ok"
    code, bundle_out, _ = run_cli("-w", str(sample), "refs", "py://pkg.shapes#total_area", "--format", "bundle")
    assert code == 0 and bundle_out == out  # --format bundle is the --json bundle, byte for byte
    code, text, _ = run_cli("-w", str(sample), "refs", "py://pkg.shapes#total_area", "--format", "agent")
    assert code == 0 and text == to_agent(bundle)
    code, wrapped, _ = run_cli("--json", "-w", str(sample), "refs", "py://pkg.shapes#total_area", "--format", "agent")
    assert json.loads(wrapped) == {"format": "agent", "report": text, "bundleId": bundle["bundleId"]}
    code, text, _ = run_cli("-w", str(sample), "hover", "py://pkg.shapes#nothing", "--format", "agent")
    assert code == 3 and text.startswith("E/NOT_FOUND: ")
    # LANSER_FORMAT sets the format once, but never changes what --json prints (scripts read bundles).
    monkeypatch.setenv("LANSER_FORMAT", "agent")
    assert run_cli("-w", str(sample), "refs", "py://pkg.shapes#total_area")[1] == to_agent(bundle)
    assert run_cli("--json", "-w", str(sample), "refs", "py://pkg.shapes#total_area")[1] == out


def test_a_bundle_without_filters_is_unchanged_and_filters_say_what_they_left_out(sample: Path, run_cli) -> None:
    """Diagnostics' counts stay the file's (what --fail-on-error reads); facts.total and
    facts.truncated say how many there were; the request records the filter."""
    plain, errors, none, warnings_up = _batch(
        run_cli,
        sample,
        [
            {"cmd": "diagnostics", "selector": "pkg/report.py"},
            {"cmd": "diagnostics", "selector": "pkg/report.py", "args": {"severity": "error"}},
            {"cmd": "diagnostics", "selector": "pkg/report.py", "args": {"limit": 0}},
            {"cmd": "diagnostics", "selector": "pkg/report.py", "args": {"severity": "warning", "limit": 50}},
        ],
    )
    assert "total" not in plain["facts"] and "truncated" not in plain["facts"]
    [group] = plain["facts"]["diagnostics"]
    n = len(group["diagnostics"])
    assert n >= 1 and group["counts"]["error"] >= 1
    [g] = errors["facts"]["diagnostics"]
    assert {d["severity"] for d in g["diagnostics"]} == {"error"} and g["counts"] == group["counts"]
    assert errors["facts"]["total"] == n and errors["request"]["args"] == {"severity": "error"}
    assert none["facts"]["diagnostics"][0]["diagnostics"] == [] and none["facts"]["truncated"] is True
    assert none["facts"]["total"] == n and none["bundleId"] != plain["bundleId"]
    assert f"0 shown, {n} left out by the filter" in to_agent(none)
    assert warnings_up["facts"]["truncated"] is False  # the sample has nothing below a warning


def test_symbols_depth_kind_and_locals(sample: Path, run_cli) -> None:
    plain, top, classes, no_locals = _batch(
        run_cli,
        sample,
        [
            {"cmd": "symbols", "selector": "pkg/shapes.py"},
            {"cmd": "symbols", "selector": "pkg/shapes.py", "args": {"depth": 1}},
            {"cmd": "symbols", "selector": "pkg/shapes.py", "args": {"kind": ["class"]}},
            {"cmd": "symbols", "selector": "pkg/shapes.py", "args": {"locals": False}},
        ],
    )
    names = lambda b: [(s.get("container"), s["name"]) for s in b["facts"]["symbols"]]  # noqa: E731
    assert (None, "Shape") in names(plain) and ("Circle.__init__", "radius") in names(plain)
    assert "total" not in plain["facts"]
    assert all(c is None for c, _ in names(top)) and {n for _, n in names(top)} >= {"Shape", "total_area"}
    assert top["facts"]["total"] == len(names(plain)) and top["facts"]["truncated"] is True
    assert names(classes) == [(None, "Shape"), (None, "Circle"), (None, "Square")]
    # Parameters and locals of functions go; class attributes and self.x members stay.
    assert ("Circle.__init__", "radius") not in names(no_locals) and ("total_area", "shapes") not in names(no_locals)
    assert ("Circle", "radius") in names(no_locals) and ("Circle", "name") in names(no_locals)
    assert ("Circle", "area") in names(no_locals)


BUGGY = """import os


def helper(value):
    return value.upper()


def main(flag: bool) -> int:
    if flag:
        result = 1
    print(result)
    missing: int = "x"
    return helper(os.getcwd())
"""


def test_the_agent_profile_hides_strict_noise_unless_the_project_configures_pyright(tmp_path: Path, run_cli) -> None:
    """basedpyright's defaults bury an error among reportAny/reportUnknown*/reportMissingParameterType
    warnings (issue 20: 322 of click core.py's 331); the agent profile keeps errors and the warnings
    that point at bugs (an unused variable), and every warning once the project has its own settings."""
    ws = tmp_path / "ws"
    (ws / "app").mkdir(parents=True)
    (ws / "app" / "main.py").write_text(BUGGY)
    req = [
        {"cmd": "diagnostics", "selector": "app/main.py"},
        {"cmd": "diagnostics", "selector": "app/main.py", "args": {"profile": "agent"}},
    ]
    everything, agent = _batch(run_cli, ws, req)
    rules = lambda b: {d.get("code") for g in b["facts"]["diagnostics"] for d in g["diagnostics"]}  # noqa: E731
    assert {"reportMissingParameterType", "reportUnknownMemberType", "reportUnusedVariable"} <= rules(everything)
    # Errors stay, and a warning that points at a likely bug (a variable assigned and never read).
    assert rules(agent) == {
        "reportPossiblyUnboundVariable",
        "reportAssignmentType",
        "reportReturnType",
        "reportUnusedVariable",
    }
    assert agent["facts"]["truncated"] is True
    (ws / "pyrightconfig.json").write_text('{"typeCheckingMode": "all"}')
    everything, agent = _batch(run_cli, ws, req)
    warned = {
        d.get("code")
        for g in everything["facts"]["diagnostics"]
        for d in g["diagnostics"]
        if d["severity"] in ("error", "warning")
    }
    assert "reportMissingParameterType" in rules(agent) and rules(agent) == warned


def test_format_agent_on_the_mutating_commands(sample: Path, run_cli, tmp_path: Path) -> None:
    """`--format agent` was on the navigation commands only: rename, prepare-rename, action and check
    printed the full text renderer or the bundle, whatever the agent asked for."""
    selector = "py://pkg.shapes#total_area"
    code, out, _ = run_cli("--json", "-w", str(sample), "rename", selector, "sum_areas")
    bundle = json.loads(out)
    assert code == 0 and bundle["edits"]["complete"] is True
    code, text, _ = run_cli("-w", str(sample), "rename", selector, "sum_areas", "--format", "agent")
    assert code == 0 and text == to_agent(bundle)
    assert text.startswith("rename: preview") and "+def sum_areas(" in text
    code, text, _ = run_cli("-w", str(sample), "prepare-rename", selector, "--format", "agent")
    assert code == 0 and '"total_area"' in text
    code, text, _ = run_cli(
        "-w", str(sample), "action", "pkg/report.py@L14:C5", "--id", "000000000000", "--format", "agent"
    )
    assert code == 3 and text.startswith("E/NOT_FOUND: ")
    patch = tmp_path / "insert.patch"
    patch.write_text(
        "--- a/pkg/report.py\n+++ b/pkg/report.py\n@@ -1,1 +1,2 @@\n+# inserted\n"
        + " "
        + (sample / "pkg" / "report.py").read_text().splitlines(keepends=True)[0]
    )
    code, text, err = run_cli("-w", str(sample), "check", str(patch), "--format", "agent")
    assert code == 0 and text.startswith("check: preview") and "+# inserted" in text, (text, err)
