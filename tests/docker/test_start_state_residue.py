"""Attack: a synthetic task's start state must hold nothing compiled from the code it asks for.

The project layer is built once from the original source; a task's start patch then removes
the code the agent is to write back.  The layer's objects, static archive and statically
linked test binaries were compiled before that patch: an agent that runs ``strings`` or
``objdump`` on them reads the answer.  Here the removed code carries a unique string, and the
agent greps the whole work area for it from inside the sandbox, as any agent could."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from lanser.harness.env import project
from lanser.harness.run.runner import TaskEnv
from lanser.harness.task.spec import Commands, TaskSpec

pytestmark = pytest.mark.docker

# Split so that this file (and the start patch) never holds the whole token.
TOKEN = "answer-" + "only-in-the-original-7f3a9c"
CMAKE = """cmake_minimum_required(VERSION 3.13)
project(motto C)
set(CMAKE_EXPORT_COMPILE_COMMANDS ON)
add_library(motto STATIC src/motto.c src/other.c)
add_executable(run_tests tests/run_tests.c)
target_link_libraries(run_tests motto)
"""
SOURCES = {
    "CMakeLists.txt": CMAKE,
    "src/motto.c": f'const char *motto(void)\n{{\n\treturn "{TOKEN}";\n}}\n',
    "src/other.c": "int other(void)\n{\n\treturn 7;\n}\n",
    "tests/run_tests.c": "#include <stdio.h>\n#include <string.h>\nconst char *motto(void);\nint other(void);\n\n"
    'int main(void)\n{\n\tprintf("%sok 1 - motto\\n", strlen(motto()) > 20 ? "" : "not ");\n'
    '\tprintf("%sok 2 - other\\n", other() == 7 ? "" : "not ");\n\treturn 0;\n}\n',
}
SAN = "-fsanitize=address -fno-omit-frame-pointer"
SETUP = (
    "cmake -S . -B build >/dev/null && cmake --build build -- -j2 >/dev/null && "
    f"cmake -S . -B build-asan -DCMAKE_C_FLAGS='{SAN}' -DCMAKE_EXE_LINKER_FLAGS='{SAN}' >/dev/null && "
    "cmake --build build-asan -- -j2 >/dev/null"
)
EMPTY = (
    "--- a/src/motto.c\n+++ b/src/motto.c\n@@ -1,4 +1,4 @@\n const char *motto(void)\n {\n"
    f'-\treturn "{TOKEN}";\n+\treturn "";\n }}\n'
).replace("}}", "}")
# A start state that does not compile: the rebuild fails, so nothing it would replace may stay.
BROKEN = EMPTY.replace('+\treturn "";', "+\treturn not C;")
GREP = "grep -ral -- \"$(printf '%s%s' answer- only-in-the-original-7f3a9c)\" /work || true"


def reverse(patch: str) -> str:
    """The patch that undoes ``patch`` (one hunk, equal line counts): the gold patch."""
    swap = {"-": "+", "+": "-"}
    return "".join(
        swap[line[0]] + line[1:] if line[:1] in swap and not line.startswith(("---", "+++")) else line
        for line in patch.splitlines(keepends=True)
    )


def task(task_id: str, start_patch: str, *, setup: str | None = SETUP) -> TaskSpec:
    return TaskSpec.model_validate(
        {
            "id": task_id,
            "language": "c",
            "source": {"kind": "dir", "path": "motto"},
            "problem": "motto() lost its text",
            "commands": Commands(
                setup=setup,
                build="(test -f build/CMakeCache.txt || cmake -S . -B build) && cmake --build build",
                test="./build/run_tests",
            ).model_dump(exclude_none=True),
            "start_patch": start_patch,
            "gold_patch": reverse(start_patch),
            "oracles": {"fail_to_pass": ["motto"], "pass_to_pass": ["other"]},
            "limits": {"wall_s": 300, "setup_wall_s": 300, "memory_mb": 1024, "cpus": 2, "pids": 256},
        }
    )


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory, base_image: str) -> Any:
    root = tmp_path_factory.mktemp("motto-dataset")
    for rel, text in SOURCES.items():
        (root / "motto" / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / "motto" / rel).write_text(text)
    cache = tmp_path_factory.mktemp("residue-cache")
    saved = os.environ.get(project.CACHE_ENV)
    os.environ[project.CACHE_ENV] = str(cache)  # this module's layers only; restored below
    yield {"root": root, "image": base_image, "labels": {"lanser.run": f"residue-{os.getpid()}"}}
    if saved is None:
        os.environ.pop(project.CACHE_ENV, None)
    else:
        os.environ[project.CACHE_ENV] = saved


def grep_as_the_agent(env: TaskEnv) -> tuple[list[str], dict[str, Any]]:
    """What the agent finds by grepping its work area for the removed code (in the sandbox)."""
    _, _, _, record = env.step({"type": "run", "command": GREP})
    output = str(env.steps[-1]["result"].get("output", "")) if env.steps else ""
    hits = [line for line in output.splitlines() if line.startswith("/work")]
    return hits, record


def start(dataset: dict[str, Any], spec: TaskSpec, tmp_path: Path) -> TaskEnv:
    env = TaskEnv(spec, dataset["root"], dataset["image"], tmp_path, labels=dataset["labels"])
    env.reset()
    return env


def test_layer_binaries_hold_the_token_before_any_task(dataset: dict[str, Any], tmp_path: Path) -> None:
    """The premise: the layer itself (built from the original) has the token in its binaries."""
    layer = project.prepare(task("motto/premise", EMPTY), dataset["root"], dataset["image"], labels=dataset["labels"])
    holders = sorted(
        str(p.relative_to(layer.path))
        for p in layer.path.rglob("*")
        if p.is_file() and not p.is_symlink() and TOKEN.encode() in p.read_bytes()
    )
    assert "src/motto.c" in holders
    assert any(h.endswith("run_tests") for h in holders) and any(h.endswith(".a") for h in holders), holders


def test_start_state_after_the_start_patch_holds_no_compiled_original(dataset: dict[str, Any], tmp_path: Path) -> None:
    env = start(dataset, task("motto/empty", EMPTY), tmp_path)
    try:
        hits, _ = grep_as_the_agent(env)
        assert hits == [], f"the agent reads the answer from: {hits}"
        assert env.start_build is not None and env.start_build["exit_code"] == 0, env.start_build
        assert env.start_build["scrubbed"] == 0
        # The rebuilt tree is the start state's, incremental from the layer: the agent's build is a no-op.
        _, _, _, _ = env.step({"type": "run", "command": "cmake --build build 2>&1 | grep -c 'Building C' || true"})
        assert env.steps[-1]["result"]["output"].strip() == "0", env.steps[-1]["result"]
    finally:
        env.close()


def test_a_start_state_that_does_not_build_loses_every_compiled_output(dataset: dict[str, Any], tmp_path: Path) -> None:
    env = start(dataset, task("motto/broken", BROKEN), tmp_path)
    try:
        hits, _ = grep_as_the_agent(env)
        assert hits == [], f"the agent reads the answer from: {hits}"
        assert env.start_build is not None and env.start_build["exit_code"] != 0
        assert env.start_build["scrubbed"] > 0
        assert not (env.work / "build" / "run_tests").exists()
        assert (env.work / "build" / "CMakeCache.txt").is_file(), "configuration (text) is kept"
    finally:
        env.close()


def test_grading_still_starts_from_the_layer_and_builds_incrementally(dataset: dict[str, Any], tmp_path: Path) -> None:
    """The fix touches the agent's copy only: the grader's fresh tree recompiles the patched file alone."""
    env = start(dataset, task("motto/graded", EMPTY), tmp_path)
    try:
        env.step({"type": "submit"})
        verdict, stages, _ = env.grade()
    finally:
        env.close()
    assert verdict["outcome"] != "resolved", verdict
    log = stages["build"]["output"]
    assert "motto.c.o" in log and "other.c.o" not in log, log


def test_a_layer_without_compiled_outputs_is_not_rebuilt(dataset: dict[str, Any], tmp_path: Path) -> None:
    env = start(dataset, task("motto/plain", EMPTY, setup=None), tmp_path)
    try:
        assert env.start_build is None, "a source-only layer has nothing compiled from the original"
    finally:
        env.close()
