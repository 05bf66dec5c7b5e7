"""An agent's ``edit`` on a file no language server serves (a grammar, a ``.jq`` prelude) is
written as text by the harness, and its step still has a reward record: the facts of the
files that have a server (real clangd), and the files that had none named.  Attacks through
the same path are refused with the errors ``check --apply`` gives."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from lanser.harness.env import project
from lanser.harness.grade.cleanroom import unified_diff
from lanser.harness.run.runner import TaskEnv
from lanser.harness.task.spec import TaskSpec

IMAGE_ID = "sha256:" + "0" * 64
CALC = "int add(int a, int b) { return a - b; }\nint twice(int x) { return add(x, x); }\n"
CALC_BROKEN = "int add(int a, int b) { return a - b }\nint twice(int x) { return add(x, x); }\n"
PRELUDE = "def f: 1;\n"
CHECK = "int check(void) { return 1; }\n"


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    src = tmp_path / "data" / "src"
    (src / "tests").mkdir(parents=True)
    (src / "calc.c").write_text(CALC)
    (src / "builtin.jq").write_text(PRELUDE)
    (src / "tests" / "jq.test").write_text("f\nnull\n1\n")
    (src / "tests" / "check.c").write_text(CHECK)
    (src / "compile_flags.txt").write_text("-std=c99\n")
    (tmp_path / "outside").write_text("outside\n")
    monkeypatch.setattr(project, "_failed", {})
    monkeypatch.setattr(project, "_memo", {})
    monkeypatch.setenv(project.CACHE_ENV, str(tmp_path / "layers"))
    task = TaskSpec.model_validate(
        {
            "id": "calc/prelude",
            "language": "c",
            "source": {"kind": "dir", "path": "src"},
            "commands": {"build": "true", "test": "true"},
            "problem": "f should be 2",
            "gold_patch": unified_diff("builtin.jq", PRELUDE, "def f: 2;\n"),
        }
    )
    episode = TaskEnv(task, tmp_path / "data", "base", tmp_path / "work", image_id=IMAGE_ID)
    episode.reset()
    yield episode
    episode.close()


def _refused(env: TaskEnv, patch: str, match: str) -> None:
    _, reward, _, record = env.step({"type": "edit", "patch": patch})
    result = record["result"]
    assert result["status"] == "error" and result["error"]["code"] == "E/FS_PERMISSIONS", result
    assert match in result["error"]["message"]
    assert result["processReward"]["components"]["safety"] == 0 and reward == result["processReward"]["r"]


def test_attacks_through_a_text_edit_are_refused(env: TaskEnv) -> None:
    outside = env.taskdir.parent.parent / "outside"
    _refused(env, unified_diff("../../../outside", "outside\n", "pwned\n"), "outside the workspace")
    os.symlink(outside, env.work / "link.txt")
    _refused(env, unified_diff("link.txt", "outside\n", "pwned\n"), "outside the workspace")
    assert outside.read_text() == "outside\n"
    _refused(env, unified_diff(".git/config", None, "[core]\n"), ".git")
    _refused(env, unified_diff("tests/jq.test", "f\nnull\n1\n", "f\nnull\n2\n"), "protected")
    assert (env.work / "tests" / "jq.test").read_text() == "f\nnull\n1\n"


def test_protected_and_lanser_files_are_refused_on_the_language_server_path_too(env: TaskEnv) -> None:
    """A C file has a server, so its edit goes through ``check --apply``: the same gate first."""
    _refused(env, unified_diff("tests/check.c", CHECK, "int check(void) { return 0; }\n"), "protected")
    assert (env.work / "tests" / "check.c").read_text() == CHECK
    # One protected file in a patch refuses the whole patch: calc.c is not written either.
    both = unified_diff("calc.c", CALC, CALC.replace("a - b", "a + b")) + unified_diff("tests/check.c", CHECK, "")
    _refused(env, both, "protected")
    assert (env.work / "calc.c").read_text() == CALC
    _refused(env, unified_diff(".lanser/x.c", None, "int x;\n"), ".lanser")
    assert not (env.work / ".lanser" / "x.c").exists()


def test_a_write_asked_of_lanser_itself_is_refused_when_it_reaches_a_protected_file(env: TaskEnv) -> None:
    patch = unified_diff("tests/check.c", CHECK, "int check(void) { return 0; }\n")
    request = {"cmd": "check", "args": {"patch": patch, "apply": True}}
    _, _, _, record = env.step({"type": "lanser", "request": request})
    bundle = record["result"]["bundle"]
    assert bundle["status"] == "error" and bundle["error"]["code"] == "E/FS_PERMISSIONS", bundle
    assert "protected" in bundle["error"]["message"]
    assert (env.work / "tests" / "check.c").read_text() == CHECK
    # The same request on a file the task leaves open is written.
    fix = unified_diff("calc.c", CALC, CALC.replace("a - b", "a + b"))
    _, _, _, record = env.step({"type": "lanser", "request": {"cmd": "check", "args": {"patch": fix, "apply": True}}})
    assert record["result"]["bundle"]["status"] == "ok", record["result"]
    assert (env.work / "calc.c").read_text() == CALC.replace("a - b", "a + b")


def test_a_text_edit_is_applied_and_has_a_reward_record(env: TaskEnv) -> None:
    _, reward, _, record = env.step({"type": "edit", "patch": env.task.gold_patch})
    result = record["result"]
    assert result["status"] == "ok" and result["error"] is None, result
    assert result["noServer"] == ["builtin.jq"] and "no language server for builtin.jq" in result["note"]
    assert result["processReward"]["components"]["safety"] == 1 and reward == result["processReward"]["r"]
    assert (env.work / "builtin.jq").read_text() == "def f: 2;\n"
    # A patch over both kinds: clangd's facts for the C file, the prelude written as text, together.
    mixed = unified_diff("builtin.jq", "def f: 2;\n", "def f: 3;\n") + unified_diff("calc.c", CALC, CALC_BROKEN)
    _, reward, _, record = env.step({"type": "edit", "patch": mixed})
    result = record["result"]
    assert result["status"] == "ok", result
    assert result["noServer"] == ["builtin.jq"]
    assert result["processReward"]["components"]["d_now"] > result["processReward"]["components"]["d_prev"]
    assert any("calc.c" in str(d) for d in result["appeared"]), result["appeared"]
    assert reward < 0
    assert (env.work / "calc.c").read_text() == CALC_BROKEN and (env.work / "builtin.jq").read_text() == "def f: 3;\n"
    # A C file whose hunk does not apply refuses the whole patch: the prelude is not written either.
    stale = unified_diff("builtin.jq", "def f: 3;\n", "def f: 4;\n") + unified_diff("calc.c", CALC, CALC + "\n")
    _, _, _, record = env.step({"type": "edit", "patch": stale})
    assert record["result"]["status"] == "error" and record["result"]["error"]["code"] == "E/APPLY_CONFLICT"
    assert (env.work / "builtin.jq").read_text() == "def f: 3;\n"
