"""The KUnit suites the kernel tasks use, and the functions under them.

Every function here lives in a ``.c`` file (never a header): a fault in a
header would rebuild most of the kernel, a fault in one ``.c`` file is an
incremental rebuild of about ten seconds.  Whether a fault in a function is
caught is not assumed from this list: every fault is validated by running
the suite (see :mod:`lanser.harness.datasets.kernel.generate`).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "BUILD_DIR",
    "KASAN_BUILD_DIR",
    "KASAN_KUNITCONFIG",
    "KUNITCONFIG",
    "SUITES",
    "Suite",
    "build_command",
    "kasan_kunitconfig",
    "kunitconfig",
    "sanitize_command",
    "test_command",
]

#: The build directory, inside the tree: kbuild then uses relative paths (srctree "..")
#: in its command files, so the built tree can move (host, sandbox, per-task copies).
BUILD_DIR = ".kunit"
#: The kunitconfig fragment, written at the tree's root.
KUNITCONFIG = "lanser.kunitconfig"
#: The optional second build: the same suites under KASAN (generic, software tags on UML).
KASAN_BUILD_DIR = ".kunit-kasan"
KASAN_KUNITCONFIG = "lanser-kasan.kunitconfig"


@dataclass(frozen=True)
class Suite:
    """A KUnit suite: its KTAP name, the option that builds it, its test file and the
    (file, function) pairs whose faults it is expected to catch."""

    name: str
    config: str
    test_file: str
    targets: tuple[tuple[str, str], ...]


SUITES: tuple[Suite, ...] = (
    Suite(
        "cmdline",
        "CMDLINE_KUNIT_TEST",
        "lib/cmdline_kunit.c",
        (("lib/cmdline.c", "get_option"), ("lib/cmdline.c", "get_options"), ("lib/cmdline.c", "get_range")),
    ),
    Suite("lib_sort", "TEST_SORT", "lib/test_sort.c", (("lib/sort.c", "sort_r"), ("lib/sort.c", "swap_words_64"))),
    Suite(
        "list_sort",
        "TEST_LIST_SORT",
        "lib/test_list_sort.c",
        (("lib/list_sort.c", "merge"), ("lib/list_sort.c", "list_sort")),
    ),
    Suite(
        "linear-ranges-test",
        "LINEAR_RANGES_TEST",
        "lib/test_linear_ranges.c",
        (
            ("lib/linear_ranges.c", "linear_range_values_in_range"),
            ("lib/linear_ranges.c", "linear_range_get_value"),
            ("lib/linear_ranges.c", "linear_range_get_selector_low"),
            ("lib/linear_ranges.c", "linear_range_get_selector_high"),
        ),
    ),
    Suite(
        "time_test_cases", "TIME_KUNIT_TEST", "kernel/time/time_test.c", (("kernel/time/timeconv.c", "time64_to_tm"),)
    ),
    Suite(
        "sysctl_test",
        "SYSCTL_KUNIT_TEST",
        "kernel/sysctl-test.c",
        (("kernel/sysctl.c", "proc_get_long"), ("kernel/sysctl.c", "__do_proc_dointvec")),
    ),
    Suite(
        "hash",
        "HASH_KUNIT_TEST",
        "lib/test_hash.c",
        (("fs/namei.c", "full_name_hash"), ("fs/namei.c", "hashlen_string")),
    ),
)


def kunitconfig(suites: tuple[Suite, ...] = SUITES) -> str:
    """The kunitconfig that builds ``suites`` (and KUnit) into one UML kernel."""
    lines = ["CONFIG_KUNIT=y", *(f"CONFIG_{s.config}=y" for s in suites)]
    return "\n".join(lines) + "\n"


def build_command(jobs: int = 2) -> str:
    """The task's build stage: an incremental kbuild of the UML kernel."""
    return (
        f"python3 tools/testing/kunit/kunit.py build --build_dir={BUILD_DIR} --kunitconfig={KUNITCONFIG} --jobs={jobs}"
    )


def test_command(timeout_s: int = 120, kernel_args: str = "") -> str:
    """The task's test stage: boot the built kernel, print the whole console (KTAP lines,
    and any oops or KASAN report between them).  UML keeps its memory file in ``$TMPDIR``,
    which must allow PROT_EXEC mappings (the sandbox's ``/tmp`` does)."""
    return (
        f"TMPDIR=/tmp python3 tools/testing/kunit/kunit.py exec --build_dir={BUILD_DIR} --raw_output=all "
        f"--timeout={timeout_s}" + (f" --kernel_args={kernel_args}" if kernel_args else "")
    )


def kasan_kunitconfig(suites: tuple[Suite, ...] = SUITES) -> str:
    """The same suites built with KASAN.  In 6.1 a KASAN report fails no KUnit case
    (unless ``CONFIG_KASAN_KUNIT_TEST``): the report is in the console log, and the
    sanitizer stage grades it from there."""
    return kunitconfig(suites) + "CONFIG_KASAN=y\nCONFIG_KASAN_GENERIC=y\n"


def sanitize_command(timeout_s: int = 180, jobs: int = 2) -> str:
    """The task's sanitize stage: rebuild the KASAN kernel incrementally and boot it;
    ``kasan_multi_shot`` makes KASAN print every report, not only the first."""
    return (
        f"python3 tools/testing/kunit/kunit.py build --build_dir={KASAN_BUILD_DIR} "
        f"--kunitconfig={KASAN_KUNITCONFIG} --jobs={jobs} && TMPDIR=/tmp python3 tools/testing/kunit/kunit.py "
        f"exec --build_dir={KASAN_BUILD_DIR} --raw_output=all --timeout={timeout_s} --kernel_args=kasan_multi_shot"
    )
