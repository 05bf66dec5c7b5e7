"""``lanser bench generate history --test-log``: a format name, or the tasks' whole ``test_log``
as a JSON object (the ``regex`` format's patterns: expat's ``runtests -v`` prints ``PASS: name``
and ``FAIL [context]: name (...)``, which no built-in parser reads as it is)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from mining_fixture import invoke_history

from lanser.harness.grade.logs import regex
from lanser.harness.task.spec import TestLog

EXPAT_LOG = {
    "format": "regex",
    "pass_re": r"^PASS: (?P<name>\w+)$",
    "fail_re": r"^FAIL \[[^]]*\]: (?P<name>\w+) ",
}


def _invoke(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, *extra: str) -> tuple[Any, dict[str, Any]]:
    return invoke_history(tmp_path, monkeypatch, *extra)


def test_a_format_name_is_the_format(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    result, got = _invoke(tmp_path, monkeypatch)
    assert result.exit_code == 0, result.output
    assert got["test_log"] == TestLog(format="ctest")
    result, got = _invoke(tmp_path, monkeypatch, "--test-log", "automake")
    assert result.exit_code == 0 and got["test_log"] == TestLog(format="automake")


def test_a_json_object_is_the_whole_test_log(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import json

    result, got = _invoke(tmp_path, monkeypatch, "--test-log", json.dumps(EXPAT_LOG))
    assert result.exit_code == 0, result.output
    assert got["test_log"] == TestLog.model_validate(EXPAT_LOG)


@pytest.mark.parametrize(
    "bad",
    ['{"format": "regex", "pass_re": "^PASS: (?P<name>\\\\w+)$"}', '{"format": "regex"', "nonsense"],
)
def test_a_bad_test_log_is_a_usage_error_before_anything_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, bad: str
) -> None:
    result, got = _invoke(tmp_path, monkeypatch, "--test-log", bad)
    assert result.exit_code == 2 and not got
    assert "--test-log" in result.output


def test_expat_runtests_log_reads_pass_and_fail_per_test() -> None:
    """A test failing in one of runtests' contexts (chunk size, reparse deferral) and passing in
    the others reads ``fail``: the worst result of the name."""
    log = (
        "Expat version: expat_2.7.1\n"
        "PASS: test_nul_byte\n"
        "FAIL [chunksize=0 deferral=0]: test_zombie_prefix (during actual test at nsalloc_tests.c:1590)\n"
        "PASS: test_nul_byte\n"
        "PASS: test_zombie_prefix\n"
        "100%: Checks: 2, Failed: 1\n"
    )
    got = regex.parse(log, {"pass": EXPAT_LOG["pass_re"], "fail": EXPAT_LOG["fail_re"]})
    assert got == {"test_nul_byte": "pass", "test_zombie_prefix": "fail"}
