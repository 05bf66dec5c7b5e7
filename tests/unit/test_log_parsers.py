"""Each test log parser on logs shaped like real projects' (lanser.harness.grade.logs), detection as the
fallback, and the grading rules that read them (stage exit statuses, task errors, sanitizer frames).

The snippets follow what the tools print: GNU automake 1.16's parallel harness (console lines and
test-suite.log), a TAP stream as ``prove -v`` shows one, CTest 3.25's console, a JUnit XML file as
pytest and GoogleTest write them, and ASan/LSan reports of gcc 12's libasan.
"""

from __future__ import annotations

from lanser.harness.grade import logs
from lanser.harness.grade.grading import grade, parse_sanitizers

AUTOMAKE_CONSOLE = """\
make  check-TESTS
make[2]: Entering directory '/work/tests'
PASS: test_parse
PASS: test_dump
FAIL: test_unpack
XFAIL: test_known_bug
SKIP: test_threads
ERROR: test_valgrind
============================================================================
Testsuite summary for jansson 2.14
============================================================================
# TOTAL: 6
# PASS:  2
# SKIP:  1
# XFAIL: 1
# FAIL:  1
# XPASS: 0
# ERROR: 1
============================================================================
See tests/test-suite.log
"""

AUTOMAKE_SUITE_LOG = """\
=========================================
   json-c 0.17: tests/test-suite.log
=========================================

# TOTAL: 3
# PASS:  2
# SKIP:  0
# XFAIL: 0
# FAIL:  1
# XPASS: 0
# ERROR: 0

.. contents:: :depth: 2

FAIL: test_printbuf
===================

PASS: a check the test printed itself
expected 'abc', got 'ab'
FAIL test_printbuf.test (exit status: 1)

"""

TAP_PROVE = """\
t/00-load.t ..
1..3
ok 1 - use Text::Wrap
ok 2 - wraps at 72 # SKIP no terminal
not ok 3 - keeps indentation # TODO not yet
ok
t/01-basic.t ..
1..4
ok 1 - empty input
not ok 2 - unicode width
#   Failed test 'unicode width'
#   at t/01-basic.t line 14.
ok 3 - trailing space
ok 4
# Looks like you failed 1 test of 4.
Dubious, test returned 1 (wstat 256, 0x100)
"""

CTEST = """\
Test project /work/build
      Start  1: test_array
 1/4 Test  #1: test_array .......................   Passed    0.01 sec
      Start  2: test_object
 2/4 Test  #2: test_object ......................***Failed    0.02 sec
      Start  3: test_load
 3/4 Test  #3: test_load ........................***Exception: SegFault  0.05 sec
      Start  4: test_disabled
 4/4 Test  #4: test_disabled ....................***Not Run (Disabled)   0.00 sec

50% tests passed, 2 tests failed out of 4

Total Test time (real) =   0.09 sec

The following tests did not run:
\t  4 - test_disabled (Disabled)

The following tests FAILED:
\t  2 - test_object (Failed)
\t  3 - test_load (SEGFAULT)
Errors while running CTest
"""

JUNIT = """\
<?xml version="1.0" encoding="utf-8"?>
<testsuites><testsuite name="pytest" errors="0" failures="1" skipped="1" tests="4" time="0.05">
<testcase classname="tests.test_strbuf" name="test_append" time="0.001" />
<testcase classname="tests.test_strbuf" name="test_upper" time="0.001">
  <failure message="AssertionError: assert 'aBC' == 'ABC'">def test_upper(): ...</failure>
</testcase>
<testcase classname="tests.test_strbuf" name="test_unicode" time="0.000">
  <skipped type="pytest.skip" message="no locale">skipped</skipped>
</testcase>
<testcase classname="StrbufTest" name="StrbufTest" time="0.000"><error message="crashed"/></testcase>
</testsuite></testsuites>
"""

PLAIN = """\
Running strbuf tests
PASS: init_empty
PASS: append_one
FAIL: append_grows
  expected len 8, got 5
test_upper ... ok
test_lower (tests.Case) ... FAILED
[       OK ] Strbuf.Append (0 ms)
[  FAILED  ] Strbuf.Grow (1 ms)
[  FAILED  ] 1 test, listed below:
"""

ASAN_OVERFLOW = """\
=================================================================
==42==ERROR: AddressSanitizer: heap-buffer-overflow on address 0x602000000018 at pc 0x7f3c8 bp 0x7ffd sp 0x7ffd
WRITE of size 9 at 0x602000000018 thread T0
    #0 0x7f3c8d4a2c3b in __interceptor_memcpy ../../../../src/libsanitizer/sanitizer_common/sanitizer_common_interceptors.inc:827
    #1 0x55d0c1a0b3f2 in sb_append /work/src/strbuf.c:36
    #2 0x55d0c1a0a5e1 in main tests/test_strbuf.c:44
    #3 0x7f3c8d1c3d09 in __libc_start_main ../csu/libc-start.c:308

0x602000000018 is located 0 bytes to the right of 8-byte region [0x602000000010,0x602000000018)
allocated by thread T0 here:
    #0 0x7f3c8d4d9e8f in __interceptor_realloc ../../../../src/libsanitizer/asan/asan_malloc_linux.cpp:164
    #1 0x55d0c1a0b2a7 in grow /work/src/strbuf.c:22
    #2 0x55d0c1a0b3c1 in sb_append /work/src/strbuf.c:34

SUMMARY: AddressSanitizer: heap-buffer-overflow /work/src/strbuf.c:36 in sb_append
==42==ABORTING
"""

LSAN = """\
=================================================================
==51==ERROR: LeakSanitizer: detected memory leaks

Direct leak of 16 byte(s) in 1 object(s) allocated from:
    #0 0x7f8e2b4b4987 in __interceptor_malloc ../../../../src/libsanitizer/asan/asan_malloc_linux.cpp:145
    #1 0x56412c0d0a1e in json_object_new /work/json_object.c:240
    #2 0x56412c0d0f90 in main /work/tests/test1.c:12

SUMMARY: AddressSanitizer: 16 byte(s) leaked in 1 allocation(s).
"""


def test_automake_console_and_suite_log() -> None:
    assert logs.FORMATS["automake"](AUTOMAKE_CONSOLE) == {
        "test_parse": "pass",
        "test_dump": "pass",
        "test_unpack": "fail",
        "test_known_bug": "pass",
        "test_threads": "skip",
        "test_valgrind": "fail",
    }
    # In test-suite.log only the section headers count, not what a test printed in its output.
    assert logs.FORMATS["automake"](AUTOMAKE_SUITE_LOG) == {"test_printbuf": "fail"}
    assert logs.parse([AUTOMAKE_CONSOLE]).parser == "automake"


def test_tap_stream_of_prove() -> None:
    assert logs.FORMATS["tap"](TAP_PROVE) == {
        "use Text::Wrap": "pass",
        "wraps at 72": "skip",
        "keeps indentation": "pass",
        "empty input": "pass",
        "unicode width": "fail",
        "trailing space": "pass",
    }
    parsed = logs.parse([TAP_PROVE])
    assert (parsed.parser, parsed.declared) == ("tap", False)


def test_ctest_progress_lines_and_failure_list() -> None:
    assert logs.FORMATS["ctest"](CTEST) == {
        "test_array": "pass",
        "test_object": "fail",
        "test_load": "fail",
        "test_disabled": "skip",
    }
    # The failure list alone (progress lines lost to the output cap) still fails the tests.
    tail = CTEST[CTEST.index("50% tests passed") :]
    assert logs.FORMATS["ctest"](tail) == {"test_object": "fail", "test_load": "fail"}
    assert logs.parse([CTEST]).parser == "ctest"


def test_junit_xml_and_a_hostile_document() -> None:
    assert logs.FORMATS["junit"](JUNIT) == {
        "tests.test_strbuf.test_append": "pass",
        "tests.test_strbuf.test_upper": "fail",
        "tests.test_strbuf.test_unicode": "skip",
        "StrbufTest": "fail",
    }
    bomb = '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa">]><testsuite><testcase name="&a;"/></testsuite>'
    assert logs.FORMATS["junit"](bomb) == {}
    assert logs.FORMATS["junit"]("<testsuite><testcase name='x'>") == {}


def test_plain_lines_without_a_summary() -> None:
    """Issue 18: ``PASS:``/``FAIL:`` lines with no automake ``# TOTAL:`` were read as nothing (0/0)."""
    assert logs.FORMATS["plain"](PLAIN) == {
        "init_empty": "pass",
        "append_one": "pass",
        "append_grows": "fail",
        "test_upper": "pass",
        "test_lower (tests.Case)": "fail",
        "Strbuf.Append": "pass",
        "Strbuf.Grow": "fail",
    }
    parsed = logs.parse([PLAIN])
    assert (parsed.parser, parsed.declared) == ("plain", False)
    assert logs.parse([PLAIN], "plain").declared is True


def test_regex_pair_and_nothing_read() -> None:
    text = "TEST grow ... passed\nTEST shrink ... failed (2)\n"
    parsed = logs.parse(
        [text], "regex", {"pass": r"TEST (?P<name>\S+) \.\.\. passed", "fail": r"TEST (?P<name>\S+) \.\.\. failed"}
    )
    assert parsed.results == {"grow": "pass", "shrink": "fail"} and parsed.parser == "regex"
    assert logs.parse(["make: Nothing to be done for 'test'.\n"]) == logs.Parsed(None, False, {})


def test_sanitizer_reports_name_the_projects_frame_and_keep_stacks() -> None:
    """Issue 18: a leak was attributed to ``__interceptor_malloc``; reports lost their stacks."""
    (overflow,) = parse_sanitizers(ASAN_OVERFLOW)
    assert (overflow["kind"], overflow["frame"], overflow["location"]) == (
        "heap-buffer-overflow",
        "sb_append",
        "/work/src/strbuf.c:36",
    )
    assert overflow["stack"][0].startswith("__interceptor_memcpy")
    assert overflow["allocated"][1:] == ["grow /work/src/strbuf.c:22", "sb_append /work/src/strbuf.c:34"]
    assert "0 bytes to the right of 8-byte region" in overflow["text"]
    (leak,) = parse_sanitizers(LSAN)
    assert (leak["tool"], leak["kind"], leak["frame"]) == ("LeakSanitizer", "detected-memory-leaks", "json_object_new")
    # A stack the unwinder cut inside libc (json-c's sprintbuf through vasprintf): no frame of the
    # project's, and the interceptor is not named instead.
    cut = LSAN.replace(
        "    #1 0x56412c0d0a1e in json_object_new /work/json_object.c:240\n"
        "    #2 0x56412c0d0f90 in main /work/tests/test1.c:12\n",
        "    #1 0x7f0c78cc03e1  (/lib/x86_64-linux-gnu/libc.so.6+0x7e3e1)\n",
    )
    (leak,) = parse_sanitizers(cut)
    assert leak["frame"] == "?" and leak["stack"][0].startswith("__interceptor_malloc")
    v = grade(
        {
            "build": {"exit_code": 0, "output": ""},
            "test": {"exit_code": 0, "output": "PASS: a\n"},
            "sanitize": {"exit_code": 1, "output": cut},
        },
        {"fail_to_pass": ["a"]},
    )
    assert v["reason"] == ("LeakSanitizer: detected-memory-leaks (no frame of the project's code in its stack)")


def test_exit_statuses_count_and_an_unread_log_is_the_tasks_error() -> None:
    ok = {"exit_code": 0, "output": ""}
    named = {"fail_to_pass": ["append_grows"], "pass_to_pass": []}
    # No oracles, nothing read, the test stage exits 2: not resolved (it was).
    v = grade({"build": ok, "test": {"exit_code": 2, "output": "make: *** [test] Error 2\n"}}, {})
    assert v["outcome"] == "tests_failed" and "exited with 2" in v["reason"]
    assert v["evidence"]["test_tail"].endswith("Error 2")
    # Every oracle passes but the stage failed without a failing test read: still a failure.
    v = grade({"build": ok, "test": {"exit_code": 1, "output": "PASS: append_grows\nSegmentation fault\n"}}, named)
    assert v["outcome"] == "tests_failed"
    # A failing test outside the oracles explains the exit status; the oracles decide.
    v = grade({"build": ok, "test": {"exit_code": 1, "output": "PASS: append_grows\nFAIL: flaky\n"}}, named)
    assert v["outcome"] == "resolved"
    # Nothing read while the oracles name tests: the task's error, not 0/0 against the agent.
    v = grade({"build": ok, "test": {"exit_code": 0, "output": "all good\n"}}, named)
    assert v["outcome"] == "task_error"
    v = grade(
        {"build": ok, "test": {"exit_code": 0, "output": "PASS: append_grows\n"}}, named, test_log={"format": "tap"}
    )
    assert v["outcome"] == "task_error" and "tap parser" in v["reason"]
    # Nothing read because the code under test crashed before the first result (a generated
    # task's noop: an emptied constructor returning NULL): the agent's failure, not the task's.
    v = grade({"build": ok, "test": {"exit_code": 139, "output": "Segmentation fault (core dumped)\n"}}, named)
    assert v["outcome"] == "tests_failed" and "before any test result was read" in v["reason"]
    assert v["evidence"]["test_tail"].startswith("Segmentation fault")
    # A sanitize stage that fails without a report is not clean.
    v = grade(
        {
            "build": ok,
            "test": {"exit_code": 0, "output": "PASS: append_grows\n"},
            "sanitize": {"exit_code": 2, "output": "cc: error: unrecognized -fsanitize\n"},
        },
        named,
    )
    assert v["outcome"] == "sanitizer_error" and v["evidence"]["sanitize_tail"]
    v = grade({"build": {"exit_code": 2, "output": "x.c:3: error: expected ';'\n"}}, named)
    assert v["outcome"] == "build_failed" and "expected ';'" in v["evidence"]["build_tail"]


def test_verdict_says_what_was_dropped() -> None:
    ok = {"exit_code": 0, "output": "PASS: a\n"}
    v = grade(
        {"build": ok, "test": ok},
        {"fail_to_pass": ["a"]},
        dropped=[{"path": "tests/test_strbuf.c", "why": "protected"}, {"path": "x.o", "why": "build output"}],
    )
    assert v["notes"] == ["edits to tests/test_strbuf.c ignored (protected)"]
    assert v["outcome"] == "resolved" and len(v["dropped"]) == 2
