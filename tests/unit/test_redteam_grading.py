"""Attacks on the clean room through the files the grader reads after the test stage.

``test_log.files`` are read from the graded tree, which holds the agent's patch: a new file
the agent wrote (by its patch, an ``edit`` step or a ``run`` step) with a name the task's
result patterns match was kept by the clean room, and read by the grader as if the tests
had written it.  A task's result files are protected: never the agent's to write.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from lanser.harness.grade import cleanroom
from lanser.harness.task.spec import load_tasks

REPO = Path(__file__).resolve().parents[2]
GOOD = (REPO / "datasets" / "toy-c" / "tasks.jsonl").read_text().splitlines()[0]

PLANTED = '<testsuite name="s"><testcase classname="s" name="t"/></testsuite>\n'


def test_a_result_file_the_agent_writes_is_not_in_the_graded_patch(tmp_path: Path) -> None:
    raw = json.loads(GOOD)
    raw["test_log"] = {"format": "junit", "files": ["build/results/*.xml"]}
    raw["protected"] = ["tests/**"]
    path = tmp_path / "tasks.jsonl"
    (tmp_path / "project").mkdir()
    path.write_text(json.dumps(raw) + "\n")
    (task,) = load_tasks(path)
    fresh, work = tmp_path / "fresh", tmp_path / "work"
    (fresh / "src").mkdir(parents=True)
    (fresh / "src" / "a.c").write_text("int a;\n")
    shutil.copytree(fresh, work)
    (work / "src" / "a.c").write_text("int a = 1;\n")
    (work / "build" / "results").mkdir(parents=True)
    (work / "build" / "results" / "zz-planted.xml").write_text(PLANTED)
    got = cleanroom.collect(work, fresh, task.protected_globs)
    assert sorted(got.files) == ["src/a.c"]
    assert "build/results/zz-planted.xml" not in got.patch
    assert {"path": "build/results/zz-planted.xml", "why": "protected"} in got.dropped


# -- code that runs outside the tests, or turns the sanitizer off ----------------------------------
#
# The test program links the agent's code, so the agent's code can act before the first test
# (a constructor printing every PASS line and exiting 0: tests/docker/test_redteam_selfgrading.py)
# or tell the sanitizer to look away.  Neither belongs in a fix (none of the 121 gold patches of
# the shipped datasets has one); such a change is dropped, with its reason.

FIX = "int a(void)\n{\n\treturn 2;\n}\n"
HOSTILE = {
    "constructor": '__attribute__((constructor)) static void early(void) { puts("PASS: t"); _exit(0); }\n',
    "destructor": "static void __attribute__ ((destructor)) late(void) { }\n",
    "init_array": '__attribute__((section(".init_array"))) static void (*run)(void) = early;\n',
    "no_sanitize": '__attribute__((no_sanitize("address"))) int b(char *p) { return p[8]; }\n',
    "asan_options": 'const char *__asan_default_options(void) { return "detect_leaks=0"; }\n',
    "lsan_off": "int __lsan_is_turned_off(void) { return 1; }\n",
    "kasan_off": "void b(void) { kasan_disable_current(); }\n",
    "initcall": "static int __init early(void) { return 0; }\nlate_initcall(early);\n",
    "exit_early": "void b(void) { _exit(0); }\n",
    # the same forgery inside an ordinary function: the result lines are in its string literals
    "prints_plain": 'void b(void) { printf("PASS: %s\\n", "append_grows"); exit(0); }\n',
    "prints_tap": 'void b(int i) { printf("ok %d - %s\\n", i, "parse"); }\n',
    "prints_ktap": 'void b(void) { pr_info("    ok 2 case_b\\n"); }\n',
    "prints_ctest": 'void b(void) { puts("1/1 Test #1: t ....   Passed    0.01 sec"); }\n',
    "powers_off": "void b(void) { kernel_power_off(); }\n",
}


def _one_change(tmp_path: Path, rel: str, old: str | None, new: str) -> cleanroom.Collected:
    fresh, work = tmp_path / "fresh", tmp_path / "work"
    (fresh / "src").mkdir(parents=True)
    (fresh / "src" / "a.c").write_text("int a(void)\n{\n\treturn 1;\n}\n")
    if old is not None:
        (fresh / rel).parent.mkdir(parents=True, exist_ok=True)
        (fresh / rel).write_text(old)
    shutil.copytree(fresh, work)
    (work / "src" / "a.c").write_text(FIX)
    (work / rel).parent.mkdir(parents=True, exist_ok=True)
    (work / rel).write_text(new)
    return cleanroom.collect(work, fresh, ("tests/**",))


@pytest.mark.parametrize("what", sorted(HOSTILE))
def test_a_change_that_acts_outside_the_tests_is_dropped(tmp_path: Path, what: str) -> None:
    got = _one_change(tmp_path, "src/b.c", "int b;\n", "int b;\n" + HOSTILE[what])
    assert sorted(got.files) == ["src/a.c"], what
    (drop,) = [d for d in got.dropped if d["path"] == "src/b.c"]
    assert any(w in drop["why"] for w in ("outside the tests", "sanitizer", "test results")), drop


def test_a_new_header_with_a_constructor_is_dropped(tmp_path: Path) -> None:
    got = _one_change(tmp_path, "src/early.h", None, HOSTILE["constructor"])
    assert sorted(got.files) == ["src/a.c"]


@pytest.mark.parametrize(
    "name", ["conftest.py", "src/conftest.py", "sitecustomize.py", "src/usercustomize.py", "x.pth"]
)
def test_a_python_start_up_or_test_runner_hook_is_dropped(tmp_path: Path, name: str) -> None:
    hook = (
        "import pytest\n\n@pytest.hookimpl(hookwrapper=True)\ndef pytest_runtest_makereport(item, call):\n    yield\n"
    )
    got = _one_change(tmp_path, name, None, hook)
    assert sorted(got.files) == ["src/a.c"], got.dropped


def test_removing_such_code_is_kept(tmp_path: Path) -> None:
    """Only what a change adds is judged: a fix may delete a constructor."""
    got = _one_change(tmp_path, "src/b.c", "int b;\n" + HOSTILE["constructor"], "int b;\n")
    assert sorted(got.files) == ["src/a.c", "src/b.c"]


# -- a graded tree the agent's changes make impossible: infra_error, never counted -------------------
#
# A clean room that cannot apply the kept changes (or the hidden tests after them) raised, and the
# runner graded the attempt infra_error: "never the agent's", left out of the resolve rate and
# tried again.  An agent that cannot fix a task could so turn each failure into no result at all.
# Whatever the agent's tree holds, the graded tree must be made.


def _room(tmp_path: Path) -> tuple[Path, Path]:
    fresh, work = tmp_path / "fresh", tmp_path / "work"
    (fresh / "src" / "foo").mkdir(parents=True)
    (fresh / "src" / "foo" / "test_bar.c").write_text("int t;\n")
    (fresh / "src" / "foo" / "impl.c").write_text("int i;\n")
    (fresh / "src" / "tests.c").write_text("int ts;\n")
    (fresh / "src" / "a.c").write_text("int a(void)\n{\n\treturn 1;\n}\n")
    (fresh / "real").mkdir()
    (fresh / "real" / "x.c").write_text("int x;\n")
    (fresh / "alias").symlink_to("real", target_is_directory=True)
    shutil.copytree(fresh, work, symlinks=True)
    (work / "src" / "a.c").write_text(FIX)
    return fresh, work


def _graded(fresh: Path, work: Path, protected: tuple[str, ...] = ("**/test_*", "src/tests.c")) -> cleanroom.Collected:
    got = cleanroom.collect(work, fresh, protected)
    cleanroom.apply(fresh, got)  # raised before: the attempt was an infra_error
    assert got.files.get("src/a.c") == FIX.encode()
    assert (fresh / "src" / "a.c").read_text() == FIX
    return got


def test_a_directory_holding_a_protected_file_replaced_by_a_file(tmp_path: Path) -> None:
    fresh, work = _room(tmp_path)
    shutil.rmtree(work / "src" / "foo")
    (work / "src" / "foo").write_text("in the way\n")
    got = _graded(fresh, work)
    assert (fresh / "src" / "foo" / "test_bar.c").read_text() == "int t;\n"
    assert "src/foo" not in got.files


def test_a_protected_file_replaced_by_a_directory(tmp_path: Path) -> None:
    fresh, work = _room(tmp_path)
    (work / "src" / "tests.c").unlink()
    (work / "src" / "tests.c").mkdir()
    (work / "src" / "tests.c" / "x.c").write_text("int y;\n")
    _graded(fresh, work)
    assert (fresh / "src" / "tests.c").read_text() == "int ts;\n"


def test_a_linked_directory_replaced_by_a_real_one(tmp_path: Path) -> None:
    fresh, work = _room(tmp_path)
    (work / "alias").unlink()
    (work / "alias").mkdir()
    (work / "alias" / "new.c").write_text("int n;\n")
    _graded(fresh, work)
    assert not (fresh / "real" / "new.c").exists()


def test_hidden_tests_written_where_the_agent_put_a_file_or_a_directory(tmp_path: Path) -> None:
    fresh, work = _room(tmp_path)
    (work / "src" / "new").write_text("a file where the hidden tests need a directory\n")
    (work / "src" / "test_new.c").mkdir()
    (work / "src" / "test_new.c" / "x.c").write_text("int z;\n")
    _graded(fresh, work, ("src/new/**", "**/test_*"))
    hidden = (
        "--- /dev/null\n+++ b/src/new/test_hidden.c\n@@ -0,0 +1 @@\n+int hidden;\n"
        "--- /dev/null\n+++ b/src/test_new.c\n@@ -0,0 +1 @@\n+int hidden2;\n"
    )
    cleanroom.apply_start_patch(fresh, hidden, "test_patch")
    assert (fresh / "src" / "new" / "test_hidden.c").read_text() == "int hidden;\n"
    assert (fresh / "src" / "test_new.c").read_text() == "int hidden2;\n"


def test_messages_that_are_no_test_result_are_kept(tmp_path: Path) -> None:
    """Reporting a failure, or text that only looks like a word of a result line, is no forgery."""
    kept = (
        'void b(void) { fprintf(stderr, "%s: FAILED\\n", name); puts("ok"); puts("PASS"); }\n'
        'const char *msg = "not ok";\n'
    )
    got = _one_change(tmp_path, "src/b.c", "int b;\n", "int b;\n" + kept)
    assert sorted(got.files) == ["src/a.c", "src/b.c"], got.dropped
