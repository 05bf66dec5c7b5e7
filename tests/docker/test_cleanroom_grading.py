"""Clean-room grading on a task written as a stranger would write one, with the real engine.

``data/strbuf-c/project`` is a small C library with a ``make build`` / ``make
test`` / ``make san`` Makefile whose test program prints ``PASS: name`` /
``FAIL: name`` lines (no automake ``# TOTAL:``), TAP or a JUnit XML file, and
exits 1 on a failure.  The start patch breaks ``sb_append``; the verdicts of
the oracle, noop, a patch with a heap overflow and agents that tamper with
the grading (issue 18) and attack the host through the work area's git
config (issue 17, finding 1) are checked over several log formats.
"""

from __future__ import annotations

import json
import shutil
import uuid
from pathlib import Path
from typing import Any

import pytest

from lanser.harness.grade.cleanroom import unified_diff
from lanser.harness.task.spec import TaskSpec

pytestmark = pytest.mark.docker

DATA = Path(__file__).resolve().parent / "data" / "strbuf-c"
SOURCE = (DATA / "project" / "src" / "strbuf.c").read_text()
RIGHT = "\tmemcpy(sb->buf + sb->len, s, n + 1);\n"
BROKEN = SOURCE.replace(RIGHT, "\tmemcpy(sb->buf, s, n + 1);\n")
#: Fixes the bug and writes the terminating NUL one byte past the buffer when the string fills it:
#: every test passes, and ASan sees the overflow.
OVERFLOW = SOURCE.replace("if (grow(sb, sb->len + n + 1))", "if (grow(sb, sb->len + n))")
TESTS = ["init_empty", "append_one", "append_grows", "append_many", "upper", "free_resets"]


def task(fmt: str, **extra: Any) -> TaskSpec:
    test = f"make -s test FORMAT={fmt}"
    cls = "strbuf." if fmt == "junit" else ""  # JUnit names are classname.name
    return TaskSpec.model_validate(
        {
            "id": f"strbuf/append-{fmt}",
            "language": "c",
            "source": {"kind": "dir", "path": "project"},
            "commands": {"build": "make -s build", "test": test, "sanitize": f"make -s san FORMAT={fmt}"},
            "problem": "sb_append overwrites the buffer instead of appending to it.",
            "start_patch": unified_diff("src/strbuf.c", SOURCE, BROKEN),
            "gold_patch": unified_diff("src/strbuf.c", BROKEN, SOURCE),
            "oracles": {
                "fail_to_pass": [cls + t for t in ("append_grows", "append_many", "upper")],
                "pass_to_pass": [cls + t for t in ("init_empty", "append_one", "free_resets")],
            },
            "limits": {"wall_s": 120, "memory_mb": 512, "pids": 128, "max_steps": 10},
            **extra,
        }
    )


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory, base_image: str) -> Any:
    from lanser.harness.env.sandbox import cleanup

    root = tmp_path_factory.mktemp("cleanroom")
    shutil.copytree(DATA / "project", root / "dataset" / "project")
    label = f"test-cleanroom-{uuid.uuid4().hex[:8]}"

    def run(spec: TaskSpec, agent: str | list[dict[str, Any]]) -> dict[str, Any]:
        from lanser.harness.run.agents import make_agent
        from lanser.harness.run.runner import run_task

        if isinstance(agent, list):
            trajectory = root / f"{uuid.uuid4().hex[:8]}.jsonl"
            trajectory.write_text("".join(json.dumps(a) + "\n" for a in agent))
            agent = f"replay:{trajectory}"
        return run_task(
            spec,
            root / "dataset",
            make_agent(agent),
            base_image,
            root / "work" / uuid.uuid4().hex[:8],
            labels={"lanser.run": label},
        )

    run.root = root  # type: ignore[attr-defined]
    yield run
    cleanup(label)


def edit(path: str, old: str, new: str) -> dict[str, Any]:
    return {"type": "edit", "patch": unified_diff(path, old, new)}


@pytest.mark.parametrize("fmt, declared", [("plain", "plain"), ("plain", "auto"), ("tap", "tap"), ("junit", "junit")])
def test_oracle_resolves_and_noop_does_not_in_every_log_format(env: Any, fmt: str, declared: str) -> None:
    log = {"format": declared, **({"files": ["tests/results.xml"]} if fmt == "junit" else {})}
    spec = task(fmt, test_log=log)
    oracle = env(spec, "oracle")["verdict"]
    assert oracle["outcome"] == "resolved", oracle
    assert oracle["parser"] == (fmt if declared == "auto" else declared)
    assert oracle["parser_declared"] is (declared != "auto")
    names = {f"strbuf.{t}" for t in TESTS} if fmt == "junit" else set(TESTS)
    assert set(oracle["tests"]) == names and oracle["tests_passed"] == 6
    if fmt != "plain" or declared != "plain":
        return
    noop = env(spec, "noop")
    assert noop["verdict"]["outcome"] == "tests_failed"
    assert noop["verdict"]["fail_to_pass"] == {"append_grows": "fail", "append_many": "fail", "upper": "fail"}
    assert "FAIL: append_grows" in noop["verdict"]["evidence"]["failing_tests"]
    assert noop["patch"] == ""


def test_a_log_no_parser_reads_is_a_task_error_not_a_silent_zero(env: Any) -> None:
    """Issue 18: ``PASS:`` lines without automake's ``# TOTAL:`` were read as nothing and the oracle
    was graded tests_failed 0/0.  A declared format that reads nothing while the oracles name
    tests is the task's error, said as such."""
    verdict = env(task("plain", test_log={"format": "tap"}), "oracle")["verdict"]
    assert verdict["outcome"] == "task_error" and "no test result was read" in verdict["reason"]
    assert "PASS: append_grows" in verdict["evidence"]["test_tail"]


def test_heap_overflow_patch_is_a_sanitizer_error_named_in_project_code(env: Any) -> None:
    result = env(task("plain"), [edit("src/strbuf.c", BROKEN, OVERFLOW), {"type": "submit"}])
    verdict = result["verdict"]
    assert verdict["outcome"] == "sanitizer_error", verdict
    assert verdict["tests_passed"] == 6
    report = verdict["sanitizer"]["reports"][0]
    assert (report["tool"], report["kind"], report["frame"]) == (
        "AddressSanitizer",
        "heap-buffer-overflow",
        "sb_append",
    )
    assert report["allocated"] and any("grow" in f for f in report["allocated"])
    assert "sb->len + n))" in result["patch"]


@pytest.mark.parametrize("fmt", ["plain", "tap"])
def test_editing_the_tests_to_pass_is_dropped(env: Any, fmt: str) -> None:
    tests = (DATA / "project" / "tests" / "test_strbuf.c").read_text()
    lying = (
        tests.replace('ok ? "PASS" : "FAIL"', '"PASS"')
        .replace('ok ? "" : "not "', '""')
        .replace("return failed ? 1 : 0;", "return 0;")
    )
    # Through lanser the edit is refused outright; through the shell it lands in the work area,
    # and the grader leaves it out.
    shell = (
        'sed -i -e \'s/ok ? "PASS" : "FAIL"/"PASS"/\' -e \'s/ok ? "" : "not "/""/\' '
        "-e 's/return failed ? 1 : 0;/return 0;/' tests/test_strbuf.c && grep -c 'return 0;' tests/test_strbuf.c"
    )
    actions = [edit("tests/test_strbuf.c", tests, lying), {"type": "run", "command": shell}, {"type": "submit"}]
    result = env(task(fmt, test_log={"format": fmt}), actions)
    refused, ran = result["steps"][0]["result"], result["steps"][1]["result"]
    assert refused["status"] == "error" and "protected" in refused["error"]["message"], refused
    assert ran["exitCode"] == 0, ran
    verdict = result["verdict"]
    assert verdict["outcome"] == "tests_failed"
    assert "edits to tests/test_strbuf.c ignored (protected)" in verdict["notes"]
    assert result["patch"] == ""


def test_planted_test_binary_and_touched_outputs_are_not_graded(env: Any) -> None:
    fake = "".join(f"echo PASS: {t}; " for t in TESTS)
    plant = (
        f"make -s build && printf '#!/bin/sh\\n{fake}\\n' > tests/run_tests && chmod +x tests/run_tests "
        "&& touch tests/run_tests"
    )
    result = env(task("plain"), [{"type": "run", "command": plant}, {"type": "submit"}])
    assert result["steps"][0]["result"]["exitCode"] == 0, result["steps"][0]
    assert result["verdict"]["outcome"] == "tests_failed"
    assert result["patch"] == ""
    # A correct object compiled aside and dated after the broken source: an incremental build
    # in the agent's tree would link it and say "Nothing to be done".
    fixed = (
        "sed 's/memcpy(sb->buf, s/memcpy(sb->buf + sb->len, s/' src/strbuf.c > /tmp/ok.c && "
        "cc -std=c99 -O1 -Isrc -c /tmp/ok.c -o src/strbuf.o && ar rcs libstrbuf.a src/strbuf.o && "
        "touch -d '+1 hour' src/strbuf.o libstrbuf.a && make -s test"
    )
    result = env(task("plain"), [{"type": "run", "command": fixed}, {"type": "submit"}])
    assert "PASS: append_grows" in result["steps"][0]["result"]["output"]  # it fools its own tree
    assert result["verdict"]["outcome"] == "tests_failed"
    assert {d["path"] for d in result["verdict"]["dropped"]} >= {"src/strbuf.o", "libstrbuf.a"}


def test_git_config_planted_by_the_agent_runs_nothing_on_the_host(env: Any) -> None:
    """Issue 17, finding 1: a ``run`` step appended ``core.fsmonitor = "touch SENTINEL"`` to the work
    area's .git/config and grading ran ``git -c safe.directory=* add -A`` there as root."""
    sentinels = [env.root / f"SENTINEL_{n}" for n in ("fsmonitor", "filter", "hook")]
    plant = (
        f'printf \'[core]\\n\\tfsmonitor = "touch {sentinels[0]}"\\n[filter "x"]\\n\\tclean = "touch '
        f'{sentinels[1]}"\\n\\tsmudge = "touch {sentinels[1]}"\\n\' >> .git/config && '
        "echo '* filter=x' > .gitattributes && mkdir -p .git/hooks && "
        f"printf '#!/bin/sh\\ntouch {sentinels[2]}\\n' > .git/hooks/pre-commit && chmod +x .git/hooks/pre-commit"
    )
    result = env(
        task("plain"),
        [
            {"type": "run", "command": plant},
            edit("src/strbuf.c", BROKEN, SOURCE),
            {"type": "lanser", "request": {"cmd": "symbols", "args": {"file": "src/strbuf.c"}}},
            {"type": "submit"},
        ],
    )
    assert result["steps"][0]["result"]["exitCode"] == 0, result["steps"][0]
    assert [s for s in sentinels if s.exists()] == []
    assert result["verdict"]["outcome"] == "resolved"
