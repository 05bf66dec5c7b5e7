"""Kernel crash tasks (issue 25): the crash report parser, syzbot-style trimming, and the
kGym outcomes mapped onto the harness's, graded from stage records alone."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from lanser.harness.datasets.kernel import crash
from lanser.harness.grade import grading

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "kernel_crash"

OK_KTAP = (
    "KTAP version 1\n1..1\n    # Subtest: damon\n    KTAP version 1\n    1..1\n    ok 1 damon_test_target\nok 1 damon\n"
)
CRASH = {
    "tool": "KASAN",
    "kind": "use-after-free",
    "frame": "damon_merge_two_regions",
    "title": "KASAN: use-after-free Write in damon_merge_two_regions",
}


def stages(test_output: str, build_exit: int = 0) -> dict[str, dict[str, Any]]:
    return {
        "build": {"exit_code": build_exit, "output": "make: ..."},
        "test": {"exit_code": 0, "output": test_output, "test_log": {"format": "ktap"}},
    }


def oracles(**extra: Any) -> dict[str, Any]:
    return {
        "fail_to_pass": [],
        "pass_to_pass": ["damon.damon_test_target"],
        "known_sanitizer_reports": [],
        "crash": CRASH,
        **extra,
    }


def kasan(kind: str, func: str, access: str = "Write") -> str:
    return (
        "==================================================================\n"
        f"BUG: KASAN: {kind} in {func}+0x4a/0x90\n"
        f"{access} of size 8 at addr 000000006143a5c8 by task kunit_try_catch/37\n\n"
        "CPU: 0 PID: 37 Comm: kunit_try_catch Tainted: G    N 6.1.176 #1\n"
        "Stack:\n 60a3bd70 60a3bd70 00000000 00000001\n 6143a5c8 6058a3e0 00000000 600a1c3e\n"
        "Call Trace:\n [<6005a1b2>] ? show_stack+0x12/0x34\n [<6005a1b2>] dump_stack_lvl+0x12/0x34\n"
        " [<6005a1b2>] print_report+0x12/0x34\n [<6005a1b2>] kasan_report+0x12/0x34\n"
        f" [<6005a1b2>] {func}+0x4a/0x90\n [<6005a1b2>] damon_test_merge_two+0x12/0x34\n\n"
        "Freed by task 37:\n kasan_save_stack+0x12/0x34\n damon_destroy_region+0x12/0x34\n\n"
        "Memory state around the buggy address:\n 000000006143a480: fa fb fb fb\n"
        "==================================================================\n"
    )


def test_a_kasan_report_is_titled_and_trimmed_like_syzbot() -> None:
    (c,) = crash.parse_crashes(
        "[    1.234567] booting\n"
        + kasan("use-after-free", "damon_merge_two_regions")
        + kasan("use-after-free", "damon_merge_two_regions")
        + OK_KTAP
    )
    assert c["title"] == "KASAN: use-after-free Write in damon_merge_two_regions"
    assert (c["tool"], c["kind"], c["frame"]) == ("KASAN", "use-after-free", "damon_merge_two_regions")
    report = c["report"]
    assert " damon_merge_two_regions+0x4a/0x90" in report and "Freed by task" in report
    assert "show_stack" not in report, "an unreliable (?) frame is dropped"
    assert "6143a5c8" not in report and "[<" not in report and "60a3bd70" not in report
    assert "Memory state" not in report


def test_the_crash_outcomes_map_onto_the_harness_outcomes() -> None:
    fixed = grading.grade(stages(OK_KTAP), oracles())
    assert fixed["outcome"] == "resolved" and fixed["crash"]["outcome"] == "crash_fixed"
    assert fixed["crash"]["before"]["title"] == CRASH["title"] and fixed["crash"]["after"] == []
    remains = grading.grade(stages(kasan("use-after-free", "damon_merge_two_regions") + OK_KTAP), oracles())
    assert (remains["outcome"], remains["crash"]["outcome"]) == ("tests_failed", "crash_remains")
    new = grading.grade(stages(kasan("slab-out-of-bounds", "damon_split_region_at", "Read") + OK_KTAP), oracles())
    assert (new["outcome"], new["crash"]["outcome"]) == ("sanitizer_error", "new_crash")
    assert new["crash"]["after"][0]["title"] == "KASAN: slab-out-of-bounds Read in damon_split_region_at"
    broken = grading.grade(stages("", build_exit=2), oracles())
    assert (broken["outcome"], broken["crash"]["outcome"]) == ("build_failed", "build_failed")
    failing = grading.grade(stages(OK_KTAP.replace("    ok 1", "    not ok 1")), oracles())
    assert (failing["outcome"], failing["crash"]["outcome"]) == ("tests_failed", "tests_failed")


def test_a_report_the_unmodified_kernel_makes_is_not_blamed() -> None:
    known = [{"tool": "KASAN", "kind": "slab-out-of-bounds", "frame": "damon_split_region_at"}]
    v = grading.grade(
        stages(kasan("slab-out-of-bounds", "damon_split_region_at", "Read") + OK_KTAP),
        oracles(known_sanitizer_reports=known),
    )
    assert v["crash"]["outcome"] == "crash_fixed"


def test_tasks_without_a_crash_oracle_grade_and_hash_as_before() -> None:
    """Adding ``oracles.crash`` must not change other tasks' verdicts or result keys."""
    from lanser.harness.task.spec import TaskSpec

    plain = {k: v for k, v in oracles().items() if k != "crash"}
    v = grading.grade(stages(kasan("use-after-free", "f") + OK_KTAP), plain)
    assert "crash" not in v and v["outcome"] == "resolved"  # no sanitize stage: KTAP alone, as before
    spec = {
        "id": "t/x",
        "language": "c",
        "source": {"kind": "dir", "path": "p"},
        "commands": {"build": "true", "test": "true"},
        "problem": "p",
        "gold_patch": "",
    }
    base = TaskSpec.model_validate(spec)
    assert base.key() == TaskSpec.model_validate({**spec, "oracles": {"crash": None}}).key()
    with_crash = TaskSpec.model_validate({**spec, "oracles": {"crash": CRASH}})
    assert with_crash.key() != base.key()


@pytest.mark.parametrize("fault", crash.CRASH_FAULTS, ids=lambda f: f"{f.function}-{f.name}")
def test_every_fault_applies_once_inside_its_function(fault: crash.CrashFault) -> None:
    layer = sorted(Path.home().glob(".cache/lanser-tests/kernel/linux-6.1*/tree"))
    if not layer:
        pytest.skip("no kernel layer on this machine")
    data = (layer[0] / fault.path).read_bytes()
    out = crash.apply_fault(data, fault)
    assert out is not None and out != data


def test_the_html_report_shows_the_crash_before_and_after() -> None:
    from lanser.harness.report import html as report_html

    want = {**CRASH, "report": "KASAN: use-after-free Write in damon_merge_two_regions\n\nCall Trace: ..."}
    remains = grading.grade(stages(kasan("use-after-free", "damon_merge_two_regions") + OK_KTAP), oracles(crash=want))
    html = report_html._evidence({"outcome": remains["outcome"], "verdict": remains})
    assert "Crash (crash_remains): before" in html and "Call Trace: ..." in html
    assert "Freed by task" in html  # the report after the patch, trimmed
    fixed = grading.grade(stages(OK_KTAP), oracles(crash=want))
    html = report_html._evidence({"outcome": fixed["outcome"], "verdict": fixed})
    assert "Crash (crash_fixed): before" in html and "no crash" in html


def test_the_unmodified_crash_kernels_console_has_one_known_warning() -> None:
    """A real console of the crash layer's kernel (UML, KASAN, DEBUG_LIST): UML's unwinder marks
    every frame ``?``, so dropping ``?`` frames (as syzbot does on x86) would leave no stack."""
    console = (FIXTURES / "unmodified-console.txt").read_text()
    (warning,) = crash.parse_crashes(console)
    assert warning["title"] == "WARNING in um_pci_init" and warning["frame"] == "um_pci_init"
    stack = warning["report"].split("Call Trace:\n", 1)[1].splitlines()
    assert stack[0] == " logic_iomem_add_region+0x150/0x1e0" and " do_one_initcall+0x133/0x299" in stack
    assert not any("+0x0/" in f or "warn_slowpath" in f or "?" in f for f in stack)
    assert grading.parse_ktap(console)["damon.damon_test_ops_registration"] == "fail"
    assert set(crash.CRASH_KNOWN_FAILING) == {n for n, v in grading.parse_ktap(console).items() if v != "pass"}


def test_the_compile_database_drops_kasans_gcc_spelling() -> None:
    """The crash layer's KASAN flags in gcc's spelling made clangd report one diagnostic on every
    unmodified kernel file (d_now 1 in every oracle step of the first run of kernel-crash-6.1)."""
    from lanser.harness.datasets.kernel.layer import _clang_argv

    argv = [
        "gcc",
        "-fsanitize=kernel-address",
        "-fasan-shadow-offset=0x100000000000",
        "--param",
        "asan-globals=1",
        "--param",
        "asan-stack=1",
        "--param",
        "max-inline-insns=10",
        "-fconserve-stack",
        "-c",
        "x.c",
    ]
    assert _clang_argv(argv) == ["gcc", "-fsanitize=kernel-address", "--param", "max-inline-insns=10", "-c", "x.c"]


def test_the_ci_layer_keeps_the_crash_options_and_cuts_the_tasks_oracles_to_its_cases() -> None:
    import json

    assert set(crash.CRASH_CONFIG.splitlines()) <= set(crash.CI_CONFIG.splitlines())
    assert crash.CI_SUITES == (crash.DAMON,) and crash.CI_TAG != crash.CRASH_TAG
    dataset = Path(__file__).resolve().parents[2] / "datasets" / "kernel-crash-6.1" / "tasks.jsonl"
    tasks = [json.loads(line) for line in dataset.read_text().splitlines() if line.strip()]
    (task,) = [t for t in tasks if t["id"].endswith("/" + crash.CI_TASK)]
    assert any(not n.startswith("damon.") for n in task["oracles"]["pass_to_pass"])
    baseline = {"damon": "pass", "damon.damon_test_target": "pass", "damon.damon_test_ops_registration": "fail"}
    cut = crash.for_layer(task, baseline)
    assert set(cut["oracles"]["pass_to_pass"]) <= {"damon.damon_test_target"}
    assert all(n in baseline for n in cut["oracles"]["fail_to_pass"])
    assert cut["oracles"]["crash"] == task["oracles"]["crash"] and cut["start_patch"] == task["start_patch"]
    assert task["oracles"]["pass_to_pass"] != cut["oracles"]["pass_to_pass"], "the record itself is not changed"


def test_project_is_the_layer_tree_inside_the_dataset(tmp_path: Path) -> None:
    """Task loading refuses a ``dir`` source that leads out of the dataset through a link; the
    kernel datasets' ``project`` is the cached layer's tree hard-linked in, which it accepts."""
    from lanser.errors import BadRequest
    from lanser.harness.datasets.kernel.dataset import link_project
    from lanser.harness.datasets.kernel.layer import Layer
    from lanser.harness.task.spec import Source, dir_source

    tree = tmp_path / "cache" / "tree"
    (tree / ".kunit").mkdir(parents=True)
    (tree / "lanser.kunitconfig").write_text("CONFIG_KUNIT=y\n")
    (tree / "mm").mkdir()
    (tree / "mm" / "core.c").write_text("int x;\n")
    data = tmp_path / "data"
    data.mkdir()
    source = Source(kind="dir", path="project")
    (data / "project").symlink_to(tree, target_is_directory=True)  # what --layer-only made before
    with pytest.raises(BadRequest):
        dir_source(source, data)

    made = link_project(Layer(tree, {}), data)
    assert made == data / "project" and not made.is_symlink()
    assert dir_source(source, data) == made.resolve()
    assert (made / "mm" / "core.c").stat().st_ino == (tree / "mm" / "core.c").stat().st_ino
    (tree / "mm" / "new.c").write_text("int y;\n")  # a layer rebuilt: the next call replaces the tree
    link_project(Layer(tree, {}), data)
    assert (data / "project" / "mm" / "new.c").is_file()

    foreign = tmp_path / "other"
    (foreign / "project").mkdir(parents=True)
    with pytest.raises(FileExistsError):
        link_project(Layer(tree, {}), foreign)
