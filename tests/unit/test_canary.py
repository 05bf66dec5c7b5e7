"""The canary (TaskSpec.canary): its spec's rules and how the grader reads it (pure; the
container side is tests/docker/test_redteam_selfgrading.py)."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from lanser.harness.grade import grading
from lanser.harness.grade.cleanroom import unified_diff
from lanser.harness.task.spec import TaskSpec

ORACLES = {"fail_to_pass": ["a"], "pass_to_pass": ["b"], "known_sanitizer_reports": []}
PATCH = unified_diff("tests/t.c", "x\n", 'x\ncheck(0, "@CANARY@");\n')


def spec(**canary: Any) -> TaskSpec:
    return TaskSpec.model_validate(
        {
            "id": "t/canary",
            "language": "c",
            "source": {"kind": "dir", "path": "project"},
            "commands": {"build": "make", "test": "make test"},
            "problem": "p",
            "gold_patch": "",
            "canary": canary,
        }
    )


def test_a_canary_holds_the_slot_and_writes_only_protected_files() -> None:
    assert spec(patch=PATCH, test="@CANARY@").canary is not None
    with pytest.raises(ValidationError, match="must both hold @CANARY@"):
        spec(patch=PATCH, test="fixed_name")
    with pytest.raises(ValidationError, match="not protected"):
        spec(patch=unified_diff("src/lib.c", "x\n", "x\n/* @CANARY@ */\n"), test="@CANARY@")


def test_a_task_without_a_canary_keeps_its_key() -> None:
    plain = spec(patch=PATCH, test="@CANARY@").model_copy(update={"canary": None})
    data = plain.model_dump(mode="json")
    del data["canary"]
    assert TaskSpec.model_validate(data).key() == plain.key()
    assert spec(patch=PATCH, test="@CANARY@").key() != plain.key()


def stages(log: str, exit_code: int, canary: str | None = "qwertyuiopas") -> dict[str, Any]:
    test: dict[str, Any] = {"exit_code": exit_code, "output": log, "test_log": {"format": "plain"}}
    if canary:
        test["canary"] = canary
    return {"build": {"exit_code": 0, "output": ""}, "test": test}


def test_the_canary_failing_is_read_apart_and_its_exit_status_expected() -> None:
    verdict = grading.grade(stages("PASS: a\nPASS: b\nFAIL: qwertyuiopas\n", 2), ORACLES)
    assert verdict["outcome"] == "resolved", verdict
    assert verdict["canary"] == {"test": "qwertyuiopas", "result": "fail"}
    assert set(verdict["tests"]) == {"a", "b"}
    # Without a canary, the same non-zero exit with nothing failing is a failure.
    assert grading.grade(stages("PASS: a\nPASS: b\n", 2, canary=None), ORACLES)["outcome"] == "tests_failed"


@pytest.mark.parametrize(
    "log, seen", [("PASS: a\nPASS: b\n", "missing"), ("PASS: a\nPASS: b\nPASS: qwertyuiopas\n", "pass")]
)
def test_a_canary_not_read_as_failing_means_forged_results(log: str, seen: str) -> None:
    verdict = grading.grade(stages(log, 0), ORACLES)
    assert verdict["outcome"] == "tests_failed"
    assert verdict["canary"] == {"test": "qwertyuiopas", "result": seen, "forged": True}
    assert "made to fail on purpose" in verdict["reason"]


def test_a_real_failure_is_reported_as_such_not_as_a_forgery() -> None:
    verdict = grading.grade(stages("FAIL: a\nPASS: b\n", 2), ORACLES)
    assert verdict["outcome"] == "tests_failed" and "forged" not in verdict["canary"]
    assert "oracle tests not passing: a (fail)" in verdict["reason"]
