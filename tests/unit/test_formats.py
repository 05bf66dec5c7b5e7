"""The CI converters as pure functions over hand-made diagnostics bundles: hostile paths,
diagnostics without a code, every severity, each position encoding, error bundles refused."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from lanser.formats import to_gitlab, to_sarif
from lanser.formats.common import NotDiagnostics, findings

SCHEMA = json.loads(
    (Path(__file__).resolve().parents[1] / "data" / "schemas" / "sarif-schema-2.1.0.json").read_text(encoding="utf-8")
)


def bundle(groups: list[dict[str, Any]], index_io: str = "utf-16") -> dict[str, Any]:
    return {
        "bundleId": "sha256:" + "0" * 64,
        "status": "ok",
        "request": {"cmd": "diagnostics", "selector": None, "args": {}, "indexIo": index_io},
        "environment": {"lanser": "0.1.0", "servers": [{"name": "clangd", "version": "22.1.1"}]},
        "facts": {"diagnostics": groups},
    }


def diag(code: str | None, severity: str, message: str, rng: list[int], source: str = "clangd") -> dict[str, Any]:
    d: dict[str, Any] = {"message": message, "range": rng, "severity": severity, "source": source}
    if code is not None:
        d["code"] = code
    return d


GROUPS = [
    {
        "path": "src/a b#?%.c",
        "contentHash": "sha256:" + "1" * 64,
        "counts": {},
        "diagnostics": [
            diag("undeclared_var_use", "error", "use of undeclared identifier 'x'", [0, 4, 0, 5]),
            diag(None, "hint", "unused", [2, 0, 2, 0]),
            diag("undeclared_var_use", "error", "use of undeclared identifier 'x'", [9, 4, 9, 5]),
        ],
    },
    {
        "path": "src/ünï.c",
        "contentHash": "sha256:" + "2" * 64,
        "counts": {},
        "diagnostics": [
            diag("-Wunused", "warning", "", [1, 1, 1, 3]),
            diag("x", "information", "m\nsecond line", [0, 0, 1, 0]),
        ],
    },
]


@pytest.mark.parametrize("index_io", ["utf-16", "codepoint", "utf-8"])
def test_sarif_validates_for_every_encoding(index_io: str) -> None:
    log = to_sarif(bundle(GROUPS, index_io))
    jsonschema.Draft4Validator(SCHEMA).validate(log)
    run = log["runs"][0]
    assert [r["level"] for r in run["results"]] == ["error", "note", "error", "warning", "note"]
    assert [r["id"] for r in run["tool"]["driver"]["rules"]] == [
        "undeclared_var_use",
        "clangd/uncoded",
        "-Wunused",
        "x",
    ]
    uris = [r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] for r in run["results"]]
    assert uris[0] == "src/a%20b%23%3F%25.c" and uris[3] == "src/%C3%BCn%C3%AF.c"
    region = run["results"][0]["locations"][0]["physicalLocation"]["region"]
    if index_io == "utf-8":
        assert region == {"startLine": 1, "endLine": 1} and "columnKind" not in run
    else:
        assert region == {"startLine": 1, "startColumn": 5, "endLine": 1, "endColumn": 6}
    assert run["artifacts"][1]["hashes"] == {"sha-256": "2" * 64}


def test_identical_findings_differ_and_fingerprints_ignore_lines() -> None:
    first = findings(bundle(GROUPS))
    assert first[0].fingerprint != first[2].fingerprint  # same rule and message, twice in one file
    moved = json.loads(json.dumps(GROUPS))
    for d in moved[0]["diagnostics"]:
        d["range"] = [d["range"][0] + 7, d["range"][1], d["range"][2] + 7, d["range"][3]]
    assert [f.fingerprint for f in findings(bundle(moved))] == [f.fingerprint for f in first]


def test_gitlab_fields() -> None:
    issues = to_gitlab(bundle(GROUPS))
    assert [i["severity"] for i in issues] == ["major", "info", "major", "minor", "info"]
    assert issues[3]["description"] == "-Wunused"  # an empty message still says something
    assert issues[4]["description"] == "m" and issues[4]["location"] == {
        "path": "src/ünï.c",
        "lines": {"begin": 1, "end": 2},
    }
    assert len({i["fingerprint"] for i in issues}) == 5


def test_error_and_other_bundles_are_refused() -> None:
    with pytest.raises(NotDiagnostics):
        to_sarif({"status": "error", "request": {"cmd": "diagnostics"}, "error": {"code": "E/NOT_FOUND"}})
    with pytest.raises(NotDiagnostics):
        to_gitlab({**bundle(GROUPS), "request": {"cmd": "references"}})
