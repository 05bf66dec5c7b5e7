"""The project layer: commands.setup runs once (real cmake in the real sandbox), every task starts
from a copy of the built tree, and the grader's plain and sanitizer builds are incremental."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from lanser.harness.env import project
from lanser.harness.run.agents import make_agent
from lanser.harness.run.runner import TaskEnv, run_task
from lanser.harness.task.spec import TaskSpec

pytestmark = pytest.mark.docker

CMAKE = """cmake_minimum_required(VERSION 3.13)
project(calc C)
set(CMAKE_EXPORT_COMPILE_COMMANDS ON)
include_directories(include)
add_library(calc STATIC src/add.c src/mul.c)
add_executable(run_tests tests/run_tests.c)
target_link_libraries(run_tests calc)
"""
SOURCES = {
    "CMakeLists.txt": CMAKE,
    "include/calc.h": "int add(int a, int b);\nint mul(int a, int b);\n",
    "src/add.c": '#include "calc.h"\n\nint add(int a, int b)\n{\n\treturn a + b;\n}\n',
    "src/mul.c": '#include "calc.h"\n\nint mul(int a, int b)\n{\n\treturn a * b;\n}\n',
    "tests/run_tests.c": '#include <stdio.h>\n#include "calc.h"\n\nint main(void)\n{\n'
    '\tprintf("%sok 1 - add\\n", add(2, 3) == 5 ? "" : "not ");\n'
    '\tprintf("%sok 2 - mul\\n", mul(2, 3) == 6 ? "" : "not ");\n\treturn 0;\n}\n',
}
SAN = "-fsanitize=address,undefined -fno-omit-frame-pointer"
SETUP = (
    f"cmake -S . -B build && cmake --build build -- -j2 && "
    f"cmake -S . -B build-asan -DCMAKE_C_FLAGS='{SAN}' -DCMAKE_EXE_LINKER_FLAGS='{SAN}' && "
    f"cmake --build build-asan -- -j2 && date +%s%N > build/stamp"
)
BREAK_ADD = "--- a/src/add.c\n+++ b/src/add.c\n@@ -3,4 +3,4 @@\n int add(int a, int b)\n {\n-\treturn a + b;\n+\treturn a - b;\n }\n"
FIX_ADD = BREAK_ADD.replace("-\treturn a + b;\n+\treturn a - b;", "-\treturn a - b;\n+\treturn a + b;")


def task(task_id: str) -> TaskSpec:
    return TaskSpec.model_validate(
        {
            "id": task_id,
            "language": "c",
            "source": {"kind": "dir", "path": "calc"},
            "problem": "add() subtracts",
            "commands": {
                "setup": SETUP,
                "build": "cmake --build build",
                "test": "./build/run_tests",
                "sanitize": "cmake --build build-asan && ./build-asan/run_tests",
            },
            "start_patch": BREAK_ADD,
            "gold_patch": FIX_ADD,
            "oracles": {"fail_to_pass": ["add"], "pass_to_pass": ["mul"]},
            "limits": {"wall_s": 120, "setup_wall_s": 300, "memory_mb": 1024, "cpus": 2, "pids": 256},
        }
    )


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory, base_image: str) -> dict[str, Any]:
    root = tmp_path_factory.mktemp("calc-dataset")
    for rel, text in SOURCES.items():
        (root / "calc" / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / "calc" / rel).write_text(text)
    cache = tmp_path_factory.mktemp("project-cache")
    os.environ[project.CACHE_ENV] = str(cache)  # this module's layers only; restored below
    work = tmp_path_factory.mktemp("work")
    labels = {"lanser.run": f"project-layer-{os.getpid()}"}
    results = {
        t: run_task(task(t), root, make_agent("oracle", base=root), base_image, work, labels=labels)
        for t in ("calc/one", "calc/two")
    }
    yield {"root": root, "cache": cache, "work": work, "results": results, "image": base_image, "labels": labels}
    os.environ.pop(project.CACHE_ENV, None)


def test_setup_runs_once_and_both_tasks_start_from_its_tree(dataset: dict[str, Any]) -> None:
    layers = [p for p in dataset["cache"].iterdir() if not p.name.startswith(".")]
    assert len(layers) == 1, "one layer for two tasks of one source and setup"
    manifest = json.loads((layers[0] / "manifest.json").read_text())
    assert manifest["setup"] == SETUP and manifest["setup_seconds"] > 0
    assert {"/build/", "/build-asan/"} <= set(manifest["generated"])
    # Each task starts from a copy of that tree: what the start patch does not touch is the layer's,
    # object for object (reset re-runs the setup on the patched copy, which recompiles add.c alone).
    obj = "build/CMakeFiles/calc.dir/src/mul.c.o"
    for t in ("calc__one", "calc__two"):
        copy, built = dataset["work"] / t / "work" / obj, layers[0] / "tree" / obj
        assert (copy.read_bytes(), copy.stat().st_mtime_ns) == (built.read_bytes(), built.stat().st_mtime_ns)
        assert dataset["results"][t.replace("__", "/")]["environment"]["start_build"]["command"] == "setup"


def test_oracle_resolves_with_incremental_builds(dataset: dict[str, Any]) -> None:
    result = dataset["results"]["calc/one"]
    assert result["verdict"]["outcome"] == "resolved", result["verdict"]
    assert result["verdict"]["sanitizer"]["clean"] is True
    build, sanitize = result["stages"]["build"]["output"], result["stages"]["sanitize"]["output"]
    for log in (build, sanitize):
        assert "add.c.o" in log, "the patched file is recompiled"
        assert "mul.c.o" not in log, f"an untouched file was recompiled: the build was not incremental\n{log}"


def test_results_record_image_and_project_digests(dataset: dict[str, Any]) -> None:
    from lanser.harness.env.images import image_digest

    layer = next(p for p in dataset["cache"].iterdir() if not p.name.startswith("."))
    digest = json.loads((layer / "manifest.json").read_text())["digest"]
    result = dataset["results"]["calc/two"]
    assert result["environment"]["project_digest"] == digest and digest.startswith("sha256:")
    assert result["environment"]["image_id"] == image_digest(dataset["image"])
    ran = {name: stage for name, stage in result["stages"].items() if name != "clean_room"}
    assert ran and set(ran) <= {"build", "test", "sanitize"}
    for stage in ran.values():  # every stage that ran in a container (the clean room runs none)
        assert (stage["image_id"], stage["project_digest"]) == (result["environment"]["image_id"], digest)


def test_history_and_patch_hold_sources_only(dataset: dict[str, Any]) -> None:
    result = dataset["results"]["calc/one"]
    assert "build/" not in result["patch"] and "+\treturn a + b;" in result["patch"]
    work = dataset["work"] / "calc__one" / "work"
    tracked = git(work, "ls-files").split()
    assert sorted(tracked) == sorted(SOURCES)
    assert git(work, "log", "--format=%s") == "start\n", "one commit: the start state"
    git(work, "fsck", "--no-dangling")


def git(cwd: Path, *args: str, stdin: str | None = None) -> str:
    return subprocess.run(
        ["git", "-c", "safe.directory=*", *args], cwd=cwd, input=stdin, capture_output=True, text=True, check=True
    ).stdout


def test_compile_commands_point_at_host_files(dataset: dict[str, Any]) -> None:
    from lanser.workspace import Workspace

    work = dataset["work"] / "calc__two" / "work"
    cdb = work / "build" / "compile_commands.json"
    assert "/work" not in cdb.read_text()
    ws = Workspace(work)
    assert ws.compile_commands() == cdb
    portable, _ = ws.portable_compile_commands(cdb)
    for entry in json.loads((portable / "compile_commands.json").read_text()):
        assert (Path(entry["directory"]) / entry["file"]).resolve().is_file(), entry


def test_reset_is_repeatable_and_copies_keep_mtimes(dataset: dict[str, Any], tmp_path: Path) -> None:
    env = TaskEnv(task("calc/three"), dataset["root"], dataset["image"], tmp_path, labels=dataset["labels"])
    try:
        env.reset()
        layer = env.project
        assert layer is not None
        obj = "build/CMakeFiles/calc.dir/src/mul.c.o"
        assert (env.work / obj).stat().st_mtime == (layer.path / obj).stat().st_mtime
        assert (env.work / "src" / "add.c").stat().st_mtime > (env.work / obj).stat().st_mtime
        assert git(env.work, "status", "--porcelain") == "", "the built tree is clean to git"
        original = git(env.work, "hash-object", "--stdin", stdin=SOURCES["src/add.c"]).strip()
        proc = subprocess.run(["git", "-c", "safe.directory=*", "cat-file", "-e", original], cwd=env.work)
        assert proc.returncode != 0, "the code before the start patch (what the agent must restore) is not in git"
        git(env.work, "fsck", "--no-dangling")
        env.reset()
        assert env.project == layer
    finally:
        env.close()


def test_failing_setup_is_an_infrastructure_verdict_and_is_not_rerun(dataset: dict[str, Any], tmp_path: Path) -> None:
    from lanser.harness.errors import InfrastructureError
    from lanser.harness.task.spec import Commands

    spec = task("calc/bad").model_copy(
        update={"commands": Commands(setup="echo configuring; exit 3", build="true", test="true")}
    )
    result = run_task(spec, dataset["root"], make_agent("noop"), dataset["image"], tmp_path, labels=dataset["labels"])
    assert result["verdict"]["outcome"] == "infra_error"
    assert (
        "infrastructure failure (setup)" in result["verdict"]["error"] and "exited with 3" in result["verdict"]["error"]
    )
    assert "configuring" in result["verdict"]["error"], "the setup's log tail is kept"
    with pytest.raises(InfrastructureError) as first:
        project.prepare(spec, dataset["root"], dataset["image"])
    with pytest.raises(InfrastructureError) as second:
        project.prepare(spec, dataset["root"], dataset["image"])
    assert first.value is second.value, "remembered for the process: the next task does not run the setup again"
