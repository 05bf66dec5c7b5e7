"""Attack: the agent's code grades itself from inside the test program's process.

The clean room keeps the agent's source changes, and the test program links them: a
function of the library runs before ``main`` (a constructor) or inside the first test.
Such code can print every result line the task's parser reads and end the process with
status 0 before a single real check runs.  The tests are protected and rebuilt from the
fresh tree, the logs are read worst-first, and none of that helps: every line the grader
reads was printed by the agent.  ``strbuf-c`` (as in ``test_cleanroom_grading.py``) with
the bug left in and such a constructor added.

Two ways in.  A constructor (code before ``main``) is dropped by the clean room, with
everything else a fix never adds that runs outside the tests or turns a sanitizer off
(``cleanroom.outside_the_tests``): graded, the bug is still there and the tests fail.  The
same forgery inside the library's first function, ending with ``exit(0)``, is not caught
(xfail, strict): no reading of the log can tell these lines from the tests' own.  What
would: a canary run in the grader (the same tree with one oracle test made to fail on
purpose, through a task-supplied patch of the protected tests: a canary that still passes
means the results were forged), or results taken from a process the agent's code does not
run in.  Reported to the lead (runner.py and the task format are not this helper's).
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
TESTS = ["init_empty", "append_one", "append_grows", "append_many", "upper", "free_resets"]
LINE = {"plain": '"PASS: %s\\n", names[i]', "tap": '"ok %d - %s\\n", (int)i + 1, names[i]'}


def forged(fmt: str, where: str) -> str:
    """The broken source (the bug stays) with code that reports every test passed and ends the
    process: a constructor, or the first function the tests call (``sb_init``)."""
    names = ", ".join(f'"{t}"' for t in TESTS)
    body = (
        f"\tstatic const char *const names[] = {{{names}}};\n"
        + f"\tfor (unsigned i = 0; i < {len(TESTS)}; i++)\n"
        + f"\t\tprintf({LINE[fmt]});\n"
        + ('\tprintf("1..%d\\n", 6);\n' if fmt == "tap" else "")
        + "\tfflush(stdout);\n"
    )
    head = "#include <stdio.h>\n#include <stdlib.h>\n#include <unistd.h>\n"
    if where == "constructor":
        return (
            head
            + BROKEN
            + "\n__attribute__((constructor)) static void sb_selfcheck(void)\n{\n"
            + body
            + "\t_exit(0);\n}\n"
        )
    if where == "sb_init_spelled":  # the result line built a character at a time: no literal to read
        body = body.replace(
            f"\t\tprintf({LINE[fmt]});\n",
            "\t\tprintf(\"%c%c%c%c: %s\\n\", 'P', 'A', 'S', 'S', names[i]);\n",
        )
    init = "void sb_init(struct strbuf *sb)\n{\n"
    assert init in BROKEN
    return head + BROKEN.replace(init, init + '\tif (!getenv("SB_SELFCHECK_DONE")) {\n' + body + "\t\texit(0);\n\t}\n")


def task(fmt: str) -> TaskSpec:
    return TaskSpec.model_validate(
        {
            "id": f"strbuf/selfgrade-{fmt}",
            "language": "c",
            "source": {"kind": "dir", "path": "project"},
            "commands": {"build": "make -s build", "test": f"make -s test FORMAT={fmt}"},
            "problem": "sb_append overwrites the buffer instead of appending to it.",
            "start_patch": unified_diff("src/strbuf.c", SOURCE, BROKEN),
            "gold_patch": unified_diff("src/strbuf.c", BROKEN, SOURCE),
            "oracles": {
                "fail_to_pass": ["append_grows", "append_many", "upper"],
                "pass_to_pass": ["init_empty", "append_one", "free_resets"],
            },
            "test_log": {"format": fmt},
            "limits": {"wall_s": 120, "memory_mb": 512, "pids": 128, "max_steps": 10},
        }
    )


NOT_CAUGHT = pytest.mark.xfail(
    strict=True, reason="forgery whose result lines are not literals is not detected (reported)"
)


@pytest.mark.parametrize(
    "fmt, where",
    [
        ("plain", "constructor"),
        ("tap", "constructor"),
        ("plain", "sb_init"),
        pytest.param("plain", "sb_init_spelled", marks=NOT_CAUGHT),
    ],
)
def test_code_that_prints_every_pass_and_exits_is_not_resolved(
    tmp_path: Path, base_image: str, fmt: str, where: str
) -> None:
    from lanser.harness.env.sandbox import cleanup
    from lanser.harness.run.agents import make_agent
    from lanser.harness.run.runner import run_task

    shutil.copytree(DATA / "project", tmp_path / "dataset" / "project")
    trajectory = tmp_path / "forge.jsonl"
    patch = unified_diff("src/strbuf.c", BROKEN, forged(fmt, where))
    trajectory.write_text('{"type": "edit", "patch": ' + json.dumps(patch) + '}\n{"type": "submit"}\n')
    label = f"test-redteam-{uuid.uuid4().hex[:8]}"
    try:
        result: dict[str, Any] = run_task(
            task(fmt),
            tmp_path / "dataset",
            make_agent(f"replay:{trajectory}"),
            base_image,
            tmp_path / "work",
            labels={"lanser.run": label},
        )
    finally:
        cleanup(label)
    assert RIGHT not in result["patch"]  # the bug is still there: no real check would pass
    assert result["verdict"]["outcome"] != "resolved", result["verdict"]
