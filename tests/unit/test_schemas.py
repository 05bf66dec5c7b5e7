"""The published schemas: committed copies match the models; validation works."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lanser.bundle.schemas import KINDS, generate, render, validate

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("kind", KINDS)
def test_committed_schema_matches_models(kind: str) -> None:
    """Fails when a model changes and `lanser schema export lanser/schemas` was not rerun."""
    committed = (REPO / "lanser" / "schemas" / f"{kind}.schema.json").read_text()
    assert committed == render(generate()[kind])


def test_schema_export_and_validate_cli(tmp_path: Path, run_cli) -> None:
    code, out, _ = run_cli("schema", "export", str(tmp_path / "s"))
    assert code == 0 and len(out.splitlines()) == 5
    (tmp_path / "in").mkdir()
    good = tmp_path / "in" / "good.jsonl"
    good.write_text(json.dumps({"cmd": "definition", "selector": "a.py@L1:C1"}) + "\n")
    bad = tmp_path / "in" / "bad.jsonl"
    bad.write_text(json.dumps({"cmd": "teleport"}) + "\nnot json\n")
    assert run_cli("schema", "validate", str(good))[0] == 0
    code, out, _ = run_cli("--json", "schema", "validate", str(bad), "--kind", "request")
    report = json.loads(out)
    assert code == 2 and report["checked"] == 2
    assert report["results"][0]["errors"][0].startswith("cmd: 'teleport' is not one of")
    assert report["results"][1]["errors"][0].startswith("not JSON")
    code, out, _ = run_cli("--json", "schema", "validate-batch", str(tmp_path / "in"))
    assert code == 2 and json.loads(out)["checked"] == 3


def test_error_bundles_validate(tmp_path: Path, run_json) -> None:
    code, bundle = run_json("-w", str(tmp_path), "def", "a.py@L0:C1")
    assert code == 2
    assert validate(bundle, "bundle") == []
    broken = dict(bundle, status="maybe")
    assert validate(broken, "bundle") == ["status: 'maybe' is not one of ['ok', 'error']"]


def test_selector_specs_validate() -> None:
    from lanser.selectors import parse_selector

    spec = parse_selector("py://pkg.mod#Class.method:body").model_dump(mode="json")
    assert validate(spec, "selector") == []
    assert validate({"kind": "cursor", "path": "a.py", "line": 0, "col": 1}, "selector")


def test_task_files_validate() -> None:
    import json as _json

    tasks_file = REPO / "datasets" / "toy-c" / "tasks.jsonl"
    for line in tasks_file.read_text().splitlines():
        assert validate(_json.loads(line), "task") == []
    assert validate({"id": "x", "language": "cobol"}, "task")
