"""`lanser diag --format sarif|gitlab` on real server diagnostics, checked against the
official SARIF 2.1.0 JSON Schema shipped in tests/data/schemas (nothing fetched)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest

pytestmark = pytest.mark.integration

SCHEMAS = Path(__file__).resolve().parents[1] / "data" / "schemas"


def sarif_validator() -> jsonschema.Draft4Validator:
    schema = json.loads((SCHEMAS / "sarif-schema-2.1.0.json").read_text(encoding="utf-8"))
    return jsonschema.Draft4Validator(schema)


def test_the_shipped_schema_rejects_what_sarif_forbids() -> None:
    """The validator must be able to fail: a level SARIF does not know, a 0 line."""
    bad = {
        "version": "2.1.0",
        "runs": [
            {
                "tool": {"driver": {"name": "x"}},
                "results": [
                    {
                        "message": {"text": "m"},
                        "level": "fatal",
                        "locations": [{"physicalLocation": {"region": {"startLine": 0}}}],
                    }
                ],
            }
        ],
    }
    assert len(list(sarif_validator().iter_errors(bad))) >= 2


def test_sarif_of_the_sample_validates_and_locates_the_error(sample: Path, run_cli) -> None:
    (sample / "pkg" / "odd name%#.py").write_text("x: int = 'a'\n", encoding="utf-8")
    code, out, err = run_cli("-w", str(sample), "diag", "--format", "sarif")
    assert code == 0, err
    log: dict[str, Any] = json.loads(out)
    sarif_validator().validate(log)
    run = log["runs"][0]
    assert run["tool"]["driver"]["name"] == "lanser"
    assert {e["name"] for e in run["tool"]["extensions"]} == {"basedpyright", "clangd"}
    assert run["properties"]["bundleId"].startswith("sha256:")
    assert run["columnKind"] == "utf16CodeUnits"
    by_uri = {r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]: r for r in run["results"]}
    result = by_uri["pkg/report.py"]
    rules = run["tool"]["driver"]["rules"]
    assert result["ruleId"] == "reportAssignmentType" == rules[result["ruleIndex"]]["id"]
    assert result["level"] == "error"
    loc = result["locations"][0]["physicalLocation"]
    assert loc["artifactLocation"]["uriBaseId"] == "SRCROOT"
    # 1-based: the sample's `label: int = describe(...)` is line 14, `describe` at column 18
    assert loc["region"] == {"startLine": 14, "startColumn": 18, "endLine": 14, "endColumn": 36}
    assert "pkg/odd%20name%25%23.py" in by_uri  # a hostile file name is an escaped relative URI
    # the text lines of the same run say the same place
    _, text, _ = run_cli("-w", str(sample), "diag", "pkg/report.py")
    assert "pkg/report.py:14:18: error:" in text


def test_sarif_columns_follow_index_io_and_utf8_has_none(sample: Path, run_cli) -> None:
    code, out, _ = run_cli("-w", str(sample), "--index-io", "utf-8", "diag", "pkg/report.py", "--format", "sarif")
    assert code == 0
    log = json.loads(out)
    sarif_validator().validate(log)
    region = log["runs"][0]["results"][0]["locations"][0]["physicalLocation"]["region"]
    assert "startColumn" not in region and "columnKind" not in log["runs"][0]


def test_gitlab_report_and_its_fingerprints_survive_a_shift(sample: Path, run_cli) -> None:
    code, out, _ = run_cli("-w", str(sample), "diag", "pkg/report.py", "--format", "gitlab", "--fail-on-error")
    assert code == 1  # the gate still decides the exit status
    [issue] = json.loads(out)
    assert issue["check_name"] == "reportAssignmentType" and issue["severity"] == "major"
    assert issue["location"]["path"] == "pkg/report.py" and issue["location"]["lines"]["begin"] == 14
    assert issue["description"].startswith('Type "str" is not assignable')
    report = sample / "pkg" / "report.py"
    report.write_text("# a line above moves the finding\n" + report.read_text(encoding="utf-8"), encoding="utf-8")
    _, out2, _ = run_cli("-w", str(sample), "diag", "pkg/report.py", "--format", "gitlab")
    [moved] = json.loads(out2)
    assert moved["location"]["lines"]["begin"] == 15 and moved["fingerprint"] == issue["fingerprint"]


def test_a_failure_stays_lansers_error_not_an_empty_report(sample: Path, run_cli) -> None:
    code, out, err = run_cli("-w", str(sample), "diag", "pkg/missing.py", "--format", "sarif")
    assert code == 3 and "E/NOT_FOUND" in err and out == ""


def test_under_json_the_report_is_inside_one_object(sample: Path, run_cli) -> None:
    """--json promises one JSON object per outcome; a GitLab report is an array, so it is wrapped."""
    code, out, _ = run_cli("-w", str(sample), "--json", "diag", "pkg/report.py", "--format", "gitlab")
    data = json.loads(out)
    assert code == 0 and data["format"] == "gitlab" and data["report"][0]["check_name"] == "reportAssignmentType"
    code, out, _ = run_cli("-w", str(sample), "--json", "diag", "pkg/missing.py", "--format", "gitlab")
    assert code == 3 and json.loads(out)["error"]["code"] == "E/NOT_FOUND"
