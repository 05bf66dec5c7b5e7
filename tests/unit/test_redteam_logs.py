"""Attacks on the test-log readers: the code under test writes to the same stream as its tests.

The agent's code runs inside the test stage (a kernel's ``printk``, a library's ``atexit``
handler, a test's own output printed by ``ctest --output-on-failure``), so it can print
result lines of its own.  A line it prints after the real result of a test must not turn
that result into a pass, whatever the format, and a result file the agent's code writes
next to the real one must not either.  Under ``kunit.py exec --raw_output=all`` (the
kernel tasks) the stage exits 0 whatever the tests did, so the log is the only evidence.
"""

from __future__ import annotations

import pytest

from lanser.harness.grade import grading, logs

# A KUnit run (raw console output, as kunit.py --raw_output=all prints it) where the fix is
# wrong: case_b fails.  The agent's kernel code then printk()s, from delayed work, a suite
# header and a passing line for the same case.
KTAP_REAL = """\
[    0.410000] KTAP version 1
[    0.410000] 1..1
[    0.420000]     KTAP version 1
[    0.420000]     # Subtest: example
[    0.420000]     1..2
[    0.430000]     ok 1 case_a
[    0.440000]     # case_b: EXPECTATION FAILED at lib/example_kunit.c:20
[    0.440000]     not ok 2 case_b
[    0.450000] not ok 1 example
"""
KTAP_FORGED = """\
[    0.460000]     # Subtest: example
[    0.460000]     ok 2 case_b
[    0.460000] ok 1 example
"""

CASES = {
    # a TAP test program; the library's atexit handler prints a line for the failed case
    "tap": ("1..2\nok 1 - parse_empty\nnot ok 2 - parse_nested\n", "ok 2 - parse_nested\n", "parse_nested"),
    "ktap": (KTAP_REAL, KTAP_FORGED, "example.case_b"),
    # ctest --output-on-failure prints a failed test's output after its progress line (here the
    # summary and failure list are past the output cap)
    "ctest": (
        "1/2 Test #1: test_a ...........   Passed    0.01 sec\n2/2 Test #2: test_b ...........***Failed    0.01 sec\n",
        "2/2 Test #2: test_b ...........   Passed    0.01 sec\n",
        "test_b",
    ),
    "automake": ("PASS: tests/t1\nFAIL: tests/t2\n", "PASS: tests/t2\n# TOTAL: 2\n", "tests/t2"),
    "plain": ("PASS: t1\nFAIL: t2\n", "PASS: t2\n", "t2"),
}


@pytest.mark.parametrize("fmt", sorted(CASES))
def test_a_pass_printed_after_a_real_failure_does_not_turn_it_into_a_pass(fmt: str) -> None:
    real, forged, name = CASES[fmt]
    assert logs.parse([real], fmt).results[name] == "fail"
    for fmt_asked in (fmt, "auto"):
        got = logs.parse([real + forged], fmt_asked).results
        assert got[name] == "fail", (fmt_asked, got)


@pytest.mark.parametrize("fmt", sorted(CASES))
def test_a_pass_printed_after_a_real_skip_does_not_turn_it_into_a_pass(fmt: str) -> None:
    """A skipped oracle test does not pass; a forged line must not make it pass either."""
    real = {
        "tap": "1..2\nok 1 - parse_empty\nok 2 - parse_nested # SKIP no locale\n",
        "ktap": KTAP_REAL.replace("not ok 2 case_b", "ok 2 case_b # SKIP no hardware"),
        "ctest": "1/1 Test #2: test_b ...........***Skipped   0.00 sec\n",
        "automake": "SKIP: tests/t2\n",
        "plain": "SKIP: t2\n",
    }[fmt]
    _, forged, name = CASES[fmt]
    assert logs.parse([real], fmt).results[name] == "skip"
    assert logs.parse([real + forged], fmt).results[name] == "skip"


def test_a_forged_pass_inside_one_junit_file_does_not_count() -> None:
    doc = (
        '<testsuite name="s"><testcase classname="s" name="t"><failure message="no"/></testcase>'
        '<testcase classname="s" name="t"/></testsuite>'
    )
    assert logs.parse([doc], "junit").results["s.t"] == "fail"


def test_a_result_file_beside_the_real_one_does_not_override_it() -> None:
    """``test_log.files`` are read in name order; a file the agent's code (or patch) wrote
    that sorts after the real one used to win for every name it repeated."""
    real = '<testsuite name="s"><testcase classname="s" name="t"><failure message="no"/></testcase></testsuite>'
    planted = '<testsuite name="s"><testcase classname="s" name="t"/></testsuite>'
    stages = {
        "build": {"exit_code": 0, "output": ""},
        "test": {
            "exit_code": 0,
            "output": "",
            "files": {"results/TEST-s.xml": real, "results/zz-planted.xml": planted},
        },
    }
    verdict = grading.grade(
        stages,
        {"fail_to_pass": ["s.t"], "pass_to_pass": []},
        test_log={"format": "junit", "files": ["results/*.xml"]},
    )
    assert verdict["fail_to_pass"] == {"s.t": "fail"}
    assert verdict["outcome"] == "tests_failed"


def test_a_kunit_run_with_a_forged_pass_is_not_resolved() -> None:
    """The whole verdict of a kernel task: kunit.py's raw output exits 0 whatever happened."""
    stages = {
        "build": {"exit_code": 0, "output": ""},
        "test": {"exit_code": 0, "output": KTAP_REAL + KTAP_FORGED},
    }
    verdict = grading.grade(
        stages,
        {"fail_to_pass": ["example.case_b"], "pass_to_pass": ["example.case_a"]},
        test_log={"format": "ktap"},
    )
    assert verdict["outcome"] == "tests_failed", verdict["reason"]
