"""KUnit's KTAP output graded per test case, and the kernel generator's pure parts.

The logs below are cut from real UML runs of Linux 6.1.176 (Debian's
linux-source-6.1): result lines there carry no ``-`` before the name, suites
are nested by four spaces, a failed expectation is a ``#`` line followed by
unprefixed detail lines, and the console may print anything in between.
"""

from __future__ import annotations

from pathlib import Path

from lanser.harness.datasets.kernel import faults
from lanser.harness.datasets.kernel.generate import failing_lines
from lanser.harness.datasets.kernel.suites import SUITES, kunitconfig
from lanser.harness.grade.grading import grade, parse_ktap, parse_sanitizers, parse_tests

PASSING = """\
printk: console [mc-1] enabled
KTAP version 1
1..2
    KTAP version 1
    # Subtest: time_test_cases
    1..1
    ok 1 time64_to_tm_test_date_range
ok 1 time_test_cases
    KTAP version 1
    # Subtest: cmdline
    1..4
    ok 1 cmdline_test_noint
    ok 2 cmdline_test_lead_int
    ok 3 cmdline_test_tail_int
    ok 4 cmdline_test_range
# cmdline: pass:4 fail:0 skip:0 total:4
# Totals: pass:4 fail:0 skip:0 total:4
ok 2 cmdline
reboot: System halted
"""

FAILING = """\
KTAP version 1
1..1
    KTAP version 1
    # Subtest: cmdline
    1..4
    ok 1 cmdline_test_noint
    # cmdline_test_lead_int: EXPECTATION FAILED at lib/cmdline_kunit.c:50
    Expected ret == rc, but
        ret == 1
        rc == 2
Pattern: 232,
    not ok 2 cmdline_test_lead_int
    ok 3 cmdline_test_tail_int
    ok 4 cmdline_test_range # SKIP not on this arch
# cmdline: pass:2 fail:1 skip:1 total:4
not ok 1 cmdline
"""

#: Parameterised cases nest one level deeper; a dotted name addresses them.
PARAMS = """\
    KTAP version 1
    # Subtest: example
    1..2
        KTAP version 1
        # Subtest: example_params_test
        ok 1 example value 3
        not ok 2 example value 2
    not ok 1 example_params_test
    ok 2 example_simple_test
not ok 1 example
"""

#: The kernel died in the middle of a suite: the cases before are still results.
CRASHED = """\
KTAP version 1
1..2
    KTAP version 1
    # Subtest: lib_sort
    1..1
    ok 1 test_sort
ok 1 lib_sort
    KTAP version 1
    # Subtest: list_sort
    1..1
Kernel panic - not syncing: Segfault with no mm
"""


def test_ktap_names_are_suite_dot_case() -> None:
    results = parse_ktap(PASSING)
    assert results == {
        "time_test_cases.time64_to_tm_test_date_range": "pass",
        "time_test_cases": "pass",
        "cmdline.cmdline_test_noint": "pass",
        "cmdline.cmdline_test_lead_int": "pass",
        "cmdline.cmdline_test_tail_int": "pass",
        "cmdline.cmdline_test_range": "pass",
        "cmdline": "pass",
    }


def test_ktap_failures_skips_and_details() -> None:
    results = parse_ktap(FAILING)
    assert results["cmdline.cmdline_test_lead_int"] == "fail"
    assert results["cmdline.cmdline_test_range"] == "skip"
    assert results["cmdline.cmdline_test_noint"] == "pass"
    assert results["cmdline"] == "fail"
    assert len(results) == 5  # no "# cmdline:" totals line, no detail line taken for a result


def test_ktap_parameterised_cases_and_crashes() -> None:
    results = parse_ktap(PARAMS)
    assert results["example.example_params_test.example value 2"] == "fail"
    assert results["example.example_params_test.example value 3"] == "pass"
    assert results["example.example_params_test"] == "fail"
    assert results["example.example_simple_test"] == "pass"  # the param group closed at its result line
    crashed = parse_ktap(CRASHED)
    assert crashed == {"lib_sort.test_sort": "pass", "lib_sort": "pass"}


def test_ktap_console_timestamps_are_ignored() -> None:
    stamped = "\n".join(f"[    0.{i:06d}] {line}" for i, line in enumerate(FAILING.splitlines()))
    assert parse_ktap(stamped) == parse_ktap(FAILING)


def test_parse_tests_picks_ktap_or_flat_tap() -> None:
    assert "cmdline.cmdline_test_lead_int" in parse_tests(FAILING)
    assert parse_tests("ok 1 - a\nnot ok 2 - b\n") == {"a": "pass", "b": "fail"}


def test_grade_reads_kunit_oracles_and_kasan_from_the_log() -> None:
    oracles = {"fail_to_pass": ["cmdline.cmdline_test_lead_int"], "pass_to_pass": ["cmdline.cmdline_test_noint"]}
    build = {"exit_code": 0, "output": ""}
    assert grade({"build": build, "test": {"exit_code": 0, "output": PASSING}}, oracles)["outcome"] == "resolved"
    failed = grade({"build": build, "test": {"exit_code": 0, "output": FAILING}}, oracles)
    assert failed["outcome"] == "tests_failed"
    assert failed["fail_to_pass"] == {"cmdline.cmdline_test_lead_int": "fail"}
    missing = grade({"build": build, "test": {"exit_code": 0, "output": CRASHED}}, oracles)
    assert missing["fail_to_pass"] == {"cmdline.cmdline_test_lead_int": "missing"}
    # In 6.1 a KASAN report fails no case without CONFIG_KASAN_KUNIT_TEST: the log decides.
    kasan = PASSING.replace(
        "    ok 2 cmdline_test_lead_int",
        "BUG: KASAN: slab-out-of-bounds in get_options+0x3c/0x1a0\n    ok 2 cmdline_test_lead_int",
    )
    verdict = grade(
        {"build": build, "test": {"exit_code": 0, "output": kasan}, "sanitize": {"exit_code": 0, "output": kasan}},
        oracles,
    )
    assert verdict["outcome"] == "sanitizer_error"
    assert [(r["tool"], r["frame"]) for r in parse_sanitizers(kasan)] == [("KASAN", "get_options")]


def test_failing_lines_keep_every_not_ok_and_bounded_details() -> None:
    lines = failing_lines(FAILING)
    assert lines[0].strip() == "# cmdline_test_lead_int: EXPECTATION FAILED at lib/cmdline_kunit.c:50"
    assert "        ret == 1" in lines and "Pattern: 232," in lines
    assert lines[-2:] == ["    not ok 2 cmdline_test_lead_int", "not ok 1 cmdline"]
    many = FAILING.replace("        rc == 2\n", "        rc == 2\n" * 50)
    bounded = failing_lines(many, limit=10)
    assert "    [...]" in bounded and bounded[-1] == "not ok 1 cmdline" and len(bounded) == 10 + 1 + 2


SOURCE = b"""\
/* Count the set bits below n. */
static int below(const int *v, int n)
{
\tint i, k = 0;

\tfor (i = 0; i < n; i++)
\t\tif (v[i] != 0)
\t\t\tk = k + 1;
\treturn k;
}

static void clear(int *v)
{
\t*v = 0;
}

char *pick(char *a, char *b)
{
\treturn a ? a : b;
}
"""


def test_faults_empty_a_body_per_return_type() -> None:
    below = faults.find_functions(SOURCE, "below")
    assert len(below) == 1 and below[0].returns == "value" and below[0].line == 2
    assert below[0].signature == "static int below(const int *v, int n)"
    assert below[0].comment == "/* Count the set bits below n. */"
    emptied = faults.empty_body("lib/x.c", SOURCE, below[0])
    assert emptied is not None and b"\treturn 0;\n}" in emptied.text and b"k = k + 1" not in emptied.text
    assert faults.find_functions(SOURCE, "clear")[0].returns == "void"
    pick = faults.find_functions(SOURCE, "pick")[0]
    assert pick.returns == "pointer"
    assert b"return NULL;" in faults.empty_body("lib/x.c", SOURCE, pick).text  # type: ignore[union-attr]


def test_faults_flip_operators_and_round_trip_as_patches() -> None:
    fn = faults.find_functions(SOURCE, "below")[0]
    flips = faults.mutations("lib/x.c", SOURCE, fn)
    assert [f.detail for f in flips] == ["line 6: `<` -> `<=`", "line 7: `!=` -> `==`", "line 8: `+` -> `-`"]
    start = faults.unified_diff("lib/x.c", SOURCE, flips[0].text)
    assert start.startswith("--- a/lib/x.c\n+++ b/lib/x.c\n")
    assert "-\tfor (i = 0; i < n; i++)\n+\tfor (i = 0; i <= n; i++)\n" in start
    gold = faults.unified_diff("lib/x.c", flips[0].text, SOURCE)
    assert "+\tfor (i = 0; i < n; i++)\n" in gold


def test_kunitconfig_builds_every_suite() -> None:
    text = kunitconfig()
    assert text.splitlines()[0] == "CONFIG_KUNIT=y"
    assert all(f"CONFIG_{s.config}=y" in text for s in SUITES)
    assert len({s.name for s in SUITES}) == len(SUITES) >= 4


def test_debian_gitignore_stanza_is_dropped(tmp_path: Path) -> None:
    """Regression: Debian's linux-source appends ``/*`` + ``!/debian/`` to the top-level
    .gitignore; left in place, a task's git snapshot was empty and its first commit failed."""
    from lanser.harness.datasets.kernel.layer import drop_debian_ignore

    gi = tmp_path / ".gitignore"
    gi.write_text(
        ".*\n*.o\n\n# Rust analyzer configuration\n/rust-project.json\n\n#\n"
        "# Debian packaging: ignore everything at the top level, since it isn't\n"
        "# included in our repository\n#\n/*\n!/debian/\n"
    )
    assert drop_debian_ignore(gi)
    assert gi.read_text() == ".*\n*.o\n\n# Rust analyzer configuration\n/rust-project.json\n\n"
    assert not drop_debian_ignore(gi)


def test_keep_set_reads_kbuild_dependency_lists(tmp_path: Path) -> None:
    from lanser.harness.datasets.kernel.layer import keep_set

    obj = tmp_path / ".kunit" / "drivers" / "base"
    obj.mkdir(parents=True)
    (obj / ".core.o.cmd").write_text(
        "savedcmd_drivers/base/core.o := gcc -c -o drivers/base/core.o ../drivers/base/core.c\n\n"
        "source_drivers/base/core.o := ../drivers/base/core.c\n\n"
        "deps_drivers/base/core.o := \\\n  ../include/linux/kconfig.h \\\n"
        "    $(wildcard include/config/CPU_BIG_ENDIAN) \\\n  ../drivers/base/base.h \\\n"
        "    $(wildcard ../drivers/base/maybe.h) \\\n"
    )
    assert keep_set(tmp_path) == {
        "drivers/base/core.c",
        "include/linux/kconfig.h",
        "drivers/base/base.h",
        "drivers/base/maybe.h",
    }


def test_kernel_doc_one_blank_line_above_counts() -> None:
    data = b"/**\n * f - do it\n */\n\nint f(int x)\n{\n\treturn x;\n}\n"
    assert faults.find_functions(data, "f")[0].comment == "/**\n * f - do it\n */"
