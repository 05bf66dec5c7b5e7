"""The evidence lines a verdict shows under "failing tests" name the failing tests, not their passing
neighbours (a KUnit suite's name used to match every line of its passing cases)."""

from __future__ import annotations

from lanser.harness.grade.logs import failing_lines, parse

KTAP = """KTAP version 1
1..1
    # Subtest: damon
    1..3
    ok 1 damon_test_target
    ok 2 damon_test_regions
    # damon_test_ops_registration: EXPECTATION FAILED at mm/damon/core-test.h:270
    not ok 3 damon_test_ops_registration
# damon: pass:2 fail:1 skip:0 total:3
not ok 1 damon
"""


def test_a_failing_suite_and_case_show_their_failure_lines_only() -> None:
    failed = sorted(name for name, result in parse([KTAP], "ktap").results.items() if result == "fail")
    assert failed == ["damon", "damon.damon_test_ops_registration"]
    lines = failing_lines(KTAP, failed)
    assert "not ok 1 damon" in lines
    assert "not ok 3 damon_test_ops_registration" in lines
    assert not any(line.startswith("ok ") for line in lines), lines


def test_a_name_is_a_whole_word_and_failure_lines_come_first() -> None:
    log = "PASS: tests/jqtest2\nrunning tests/jqtest\nFAIL: tests/jqtest\n"
    assert failing_lines(log, ["tests/jqtest"]) == ["FAIL: tests/jqtest", "running tests/jqtest"]
