"""Clean-room collection (lanser.harness.grade.cleanroom) and hostile task files (lanser.harness.task.spec), pure:
temporary trees and files, no Docker."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lanser.errors import BadRequest
from lanser.harness.errors import InfrastructureError
from lanser.harness.grade import cleanroom
from lanser.harness.task.spec import DEFAULT_PROTECTED, load_tasks

REPO = Path(__file__).resolve().parents[2]
TOY = REPO / "datasets" / "toy-c"
GOOD = (TOY / "tasks.jsonl").read_text().splitlines()[0]


def _trees(tmp_path: Path) -> tuple[Path, Path]:
    fresh, work = tmp_path / "fresh", tmp_path / "work"
    (fresh / "src").mkdir(parents=True)
    (fresh / "tests").mkdir()
    (fresh / "src" / "a.c").write_text("int a(void)\n{\n\treturn 1;\n}\n")
    (fresh / "src" / "gone.c").write_text("int gone;\n")
    (fresh / "tests" / "t.c").write_text("int main(void) { return 0; }\n")
    (fresh / "Makefile").write_text("all:\n\tcc -c src/a.c\n")
    subprocess.run(["cp", "-a", str(fresh), str(work)], check=True)
    (work / ".git").mkdir()
    (work / ".git" / "config").write_text('[core]\n\tfsmonitor = "touch /tmp/x"\n')
    return fresh, work


def test_collect_keeps_source_edits_and_drops_everything_else(tmp_path: Path) -> None:
    fresh, work = _trees(tmp_path)
    (work / "src" / "a.c").write_text("int a(void)\n{\n\treturn 2;\n}")  # no newline at the end now
    (work / "src" / "gone.c").unlink()
    (work / "src" / "new.h").write_text("#define NEW 1\n")
    (work / "tests" / "t.c").write_text('int main(void) { puts("PASS: all"); return 0; }\n')
    (work / "Makefile").write_text("all:\n\ttrue\n")
    (work / "src" / "a.o").write_bytes(b"\x7fELF\0\0")
    (work / "tests" / "run_tests").write_bytes(b"\x7fELF\0fake")
    (work / "src" / "blob.bin").write_bytes(b"\0\1\2")
    (work / "src" / "passwd.c").symlink_to("/etc/passwd")
    (work / "outside").symlink_to("/etc", target_is_directory=True)
    got = cleanroom.collect(work, fresh, DEFAULT_PROTECTED)
    assert got.files == {
        "src/a.c": b"int a(void)\n{\n\treturn 2;\n}",
        "src/gone.c": None,
        "src/new.h": b"#define NEW 1\n",
    }
    why = {d["path"]: d["why"] for d in got.dropped}
    assert why == {
        "tests/t.c": "protected",
        "Makefile": "protected",
        "src/a.o": "build output",
        "tests/run_tests": "binary",
        "src/blob.bin": "binary",
        "src/passwd.c": "symbolic link",
        "outside": "symbolic link",
    }
    assert "edits to tests/t.c ignored (protected)" in got.notes()
    assert "\\ No newline at end of file" in got.patch and "new file mode 100644" in got.patch
    cleanroom.apply(fresh, got)
    assert (fresh / "src" / "a.c").read_bytes() == b"int a(void)\n{\n\treturn 2;\n}"
    assert not (fresh / "src" / "gone.c").exists() and (fresh / "src" / "new.h").exists()
    assert (fresh / "tests" / "t.c").read_text() == "int main(void) { return 0; }\n"


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.sampled_from(["a\n", "b\n", "\n", "c\r\n", "  d\n", "\\ e\n", "-- f\n", "+++ g\n"]), max_size=12),
    st.lists(st.sampled_from(["a\n", "x\n", "\n", "c\r\n", "-- f\n", "+++ g\n"]), max_size=12),
    st.booleans(),
    st.booleans(),
)
def test_the_graded_patch_is_what_was_graded(old: list[str], new: list[str], cut_old: bool, cut_new: bool) -> None:
    """The patch the store records, applied by lanser's patch reader, gives exactly the file the
    grader built; a change it cannot carry (line endings lanser's reader normalises) is dropped
    and said, never graded in a form the patch does not show."""
    import tempfile

    a, b = "".join(old), "".join(new)
    a, b = (a[:-1] if cut_old and a else a), (b[:-1] if cut_new and b else b)
    with tempfile.TemporaryDirectory() as tmp:
        fresh, work = Path(tmp) / "fresh", Path(tmp) / "work"
        fresh.mkdir()
        work.mkdir()
        (fresh / "f.c").write_bytes(a.encode())
        (work / "f.c").write_bytes(b.encode())
        got = cleanroom.collect(work, fresh, ())
        if a == b:
            assert got.files == {} and got.patch == ""
        elif "f.c" in got.files:
            cleanroom.apply(fresh, got)
            assert (fresh / "f.c").read_bytes() == b.encode()
        else:
            assert got.dropped == [{"path": "f.c", "why": "cannot be expressed as a text patch"}]
            assert got.patch == ""


def test_result_files_are_read_without_following_links(tmp_path: Path) -> None:
    from lanser.harness.grade.grading import read_result_files

    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "a.xml").write_text("<testsuite/>")
    (tmp_path / "out" / "b.xml").symlink_to("/etc/passwd")
    (tmp_path / "linked").symlink_to("/etc", target_is_directory=True)
    assert read_result_files(tmp_path, ["out/*.xml", "linked/passwd"]) == {"out/a.xml": "<testsuite/>"}


def test_start_patch_goes_through_the_jail(tmp_path: Path) -> None:
    """Issue 17, finding 7: ``+++ b//abs/path`` in a task's start_patch created a host file."""
    outside = tmp_path / "outside"
    outside.mkdir()
    tree = tmp_path / "tree"
    tree.mkdir()
    (tree / "link").symlink_to(outside, target_is_directory=True)
    for patch in (
        f"--- /dev/null\n+++ b/{outside}/x\n@@ -0,0 +1 @@\n+pwned\n",
        "--- /dev/null\n+++ b/../outside/x\n@@ -0,0 +1 @@\n+pwned\n",
        "--- /dev/null\n+++ b/link/x\n@@ -0,0 +1 @@\n+pwned\n",
    ):
        with pytest.raises(InfrastructureError):
            cleanroom.apply_start_patch(tree, patch)
    assert list(outside.iterdir()) == []
    # A task file naming such a path is refused when it is loaded, with its line and field.
    (tmp_path / "project").mkdir()
    task = {**json.loads(GOOD), "start_patch": f"--- /dev/null\n+++ b/{outside}/x\n@@ -0,0 +1 @@\n+pwned\n"}
    (tmp_path / "tasks.jsonl").write_text(json.dumps(task) + "\n")
    with pytest.raises(BadRequest) as info:
        load_tasks(tmp_path / "tasks.jsonl")
    assert info.value.details["field"] == "start_patch"


def _load(tmp_path: Path, text: bytes) -> BadRequest:
    (tmp_path / "project").mkdir(exist_ok=True)
    (tmp_path / "tasks.jsonl").write_bytes(text)
    with pytest.raises(BadRequest) as info:
        load_tasks(tmp_path / "tasks.jsonl")
    return info.value


def test_hostile_task_files_are_bad_requests_with_their_line(tmp_path: Path) -> None:
    """Issue 17, finding 12: these were E/INTERNAL (exit 1)."""
    good = GOOD.encode()
    cases = {
        good + b"\n" + good.replace(b"clamp", b"cl\xffmp") + b"\n": (2, None),
        b"[" * 100_000 + b"]" * 100_000 + b"\n": (1, None),
        json.dumps({**json.loads(GOOD), "problem": {"a": [[[[[[[[[[[[[[[[[["x"]]]]]]]]]]]]]]]]]]}}).encode(): (1, None),
        json.dumps({**json.loads(GOOD), "limits": {"wall_s": 1e999}}).encode(): (1, "limits.wall_s"),
        good.replace(b'"wall_s": 120', b'"wall_s": 1e999'): (1, "limits.wall_s"),
        json.dumps({**json.loads(GOOD), "id": ".."}).encode(): (1, "id"),
        json.dumps({**json.loads(GOOD), "id": "a/../../b"}).encode(): (1, "id"),
        json.dumps({**json.loads(GOOD), "problem": "\ud800"}).encode(): (1, "problem"),
        b"[1, 2]\n": (1, None),
        json.dumps({**json.loads(GOOD), "test_log": {"format": "regex", "pass_re": "("}}).encode(): (
            1,
            "test_log.pass_re",
        ),
        json.dumps({**json.loads(GOOD), "protected": ["../x"]}).encode(): (1, "protected"),
    }
    for text, (line, field) in cases.items():
        exc = _load(tmp_path, text)
        assert exc.details["line"] == line, (text[:80], exc.message)
        if field:
            assert exc.details["field"] == field, exc.message


@settings(max_examples=80, deadline=None)
@given(st.binary(max_size=300))
def test_any_bytes_are_tasks_or_a_bad_request(data: bytes) -> None:
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "tasks.jsonl").write_bytes(data)
        try:
            load_tasks(Path(tmp) / "tasks.jsonl")
        except BadRequest:
            pass


def test_bench_run_with_an_invalid_task_file_is_one_json_object_and_exit_2(tmp_path: Path) -> None:
    (tmp_path / "project").mkdir()
    (tmp_path / "tasks.jsonl").write_bytes(GOOD.replace('"wall_s": 120', '"wall_s": 1e999').encode() + b"\n")
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            "from lanser.cli.main import main; main()",
            "--no-daemon",
            "--json",
            "bench",
            "run",
            str(tmp_path),
            "--agent",
            "noop",
            "--out",
            str(tmp_path / "o"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO,
        env={**os.environ, "DOCKER_HOST": "unix:///nonexistent"},
    )
    assert proc.returncode == 2, proc.stderr
    (line,) = proc.stdout.splitlines()
    error = json.loads(line)["error"]
    assert error["code"] == "E/BAD_REQUEST" and error["details"] == {"line": 1, "field": "limits.wall_s"}


def test_protected_globs() -> None:
    rx = cleanroom.compile_globs(DEFAULT_PROTECTED)
    assert rx is not None
    for path in (
        "tests/t.c",
        "a/tests/b/c.txt",
        "test/data.json",
        "Makefile",
        "lib/Makefile",
        "lib/x_kunit.c",
        "src/test_strbuf.c",
        "CMakeLists.txt",
        "t/basic.t",
    ):
        assert rx.match(path), path
    for path in ("src/strbuf.c", "textops.c", "lib/cmdline.c", "src/latest.c", "contest/a.c"):
        assert not rx.match(path), path


def test_git_the_harness_process_starts_ignores_a_planted_fsmonitor(tmp_path: Path) -> None:
    """Issue 17, finding 1, the host-side lanser half: lanser's workspace lists files with
    ``git ls-files`` in the agent's work area; git runs ``core.fsmonitor`` from its .git/config
    whenever it trusts the directory (a harness run by a non-root user owns it)."""
    from lanser.harness.run.runner import harden_git_env

    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env.update(GIT_CONFIG_GLOBAL=os.devnull, GIT_CONFIG_NOSYSTEM="1")
    repo = tmp_path / "work"
    repo.mkdir()
    subprocess.run(["git", "init", "-q"], cwd=repo, env=env, check=True)
    (repo / "a.c").write_text("int a;\n")
    subprocess.run(["git", "add", "a.c"], cwd=repo, env=env, check=True)
    sentinel = tmp_path / "SENTINEL"
    with open(repo / ".git" / "config", "a") as f:
        f.write(f'[core]\n\tfsmonitor = "touch {sentinel}"\n')
    subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=repo, env=env, capture_output=True)
    assert sentinel.exists(), "the attack needs git to run fsmonitor here"
    sentinel.unlink()
    harden_git_env(env)
    harden_git_env(env)  # idempotent
    assert env["GIT_CONFIG_COUNT"] == "3"
    subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=repo, env=env, capture_output=True)
    subprocess.run(["git", "status", "--porcelain"], cwd=repo, env=env, capture_output=True)
    assert not sentinel.exists()


def test_a_change_the_patch_cannot_carry_is_dropped_not_graded_wrong(tmp_path: Path) -> None:
    """A file whose diff would not give back its bytes (a byte-order mark removed: lanser's patch
    reader keeps the mark apart from line 1, so the hunk does not apply) is dropped and said, and
    the rest is still graded."""
    fresh, work = _trees(tmp_path)
    (fresh / "src" / "bom.c").write_bytes(b"\xef\xbb\xbfint bom;\n")
    (work / "src" / "bom.c").write_bytes(b"int bom;\n")
    (work / "src" / "b.c").write_text("int b;\n")
    got = cleanroom.collect(work, fresh, DEFAULT_PROTECTED)
    assert {"path": "src/bom.c", "why": "cannot be expressed as a text patch"} in got.dropped
    assert set(got.files) == {"src/b.c"} and "bom.c" not in got.patch
    cleanroom.apply(fresh, got)
    assert (fresh / "src" / "b.c").read_text() == "int b;\n"


def test_a_filter_the_agent_plants_in_git_config_is_undone_before_lanser_runs_git(tmp_path: Path) -> None:
    """A ``run`` step can write ``[filter "x"] clean = CMD`` into .git/config and ``* filter=x``
    into .gitattributes: ``git status`` on the host (lanser's dirty check) would run CMD for a
    changed file.  No config switch turns filters off, so the harness puts its own config back
    after every ``run`` step (and drops ``commondir``, ``.git`` links and files)."""
    from lanser.harness.run.runner import harden_git_env, reseal_git

    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env.update(GIT_CONFIG_GLOBAL=os.devnull, GIT_CONFIG_NOSYSTEM="1")
    harden_git_env(env)
    work = tmp_path / "work"
    work.mkdir()
    subprocess.run(["git", "init", "-q"], cwd=work, env=env, check=True)
    (work / "a.c").write_text("int a;\n")
    subprocess.run(["git", "add", "a.c"], cwd=work, env=env, check=True)
    saved = (work / ".git" / "config").read_bytes()
    sentinel = tmp_path / "SENTINEL"

    def plant() -> None:
        with open(work / ".git" / "config", "a") as f:
            f.write(f'[filter "x"]\n\tclean = "touch {sentinel}; cat"\n')
        (work / ".gitattributes").write_text("* filter=x\n")
        (work / "a.c").write_text("int b;\n")  # the same size: git must hash it, through the filter

    plant()
    subprocess.run(["git", "status", "--porcelain"], cwd=work, env=env, capture_output=True)
    assert sentinel.exists(), "the attack needs git to run the filter here"
    sentinel.unlink()
    plant()
    (work / ".git" / "commondir").write_text("../evil\n")
    reseal_git(work, saved)
    subprocess.run(["git", "status", "--porcelain"], cwd=work, env=env, capture_output=True)
    assert not sentinel.exists() and not (work / ".git" / "commondir").exists()
    shutil.rmtree(work / ".git")
    (work / ".git").symlink_to(tmp_path)
    reseal_git(work, saved)
    assert not os.path.lexists(work / ".git")


def test_a_directory_replaced_by_a_file_is_graded(tmp_path: Path) -> None:
    fresh, work = _trees(tmp_path)
    (fresh / "src" / "d").mkdir()
    (fresh / "src" / "d" / "x.c").write_text("int x;\n")
    (work / "src" / "d.c").write_text("int d;\n")
    (work / "src" / "gone.c").unlink()
    (work / "src" / "gone.c").mkdir()
    (work / "src" / "gone.c" / "y.c").write_text("int y;\n")
    subprocess.run(["cp", "-a", str(fresh / "src" / "d"), str(work / "src")], check=True)
    shutil.rmtree(work / "src" / "d")
    (work / "src" / "d").write_text("now a file\n")
    got = cleanroom.collect(work, fresh, DEFAULT_PROTECTED)
    assert got.files == {
        "src/d": b"now a file\n",
        "src/d.c": b"int d;\n",
        "src/d/x.c": None,
        "src/gone.c": None,
        "src/gone.c/y.c": b"int y;\n",
    }
    cleanroom.apply(fresh, got)
    assert (fresh / "src" / "d").read_text() == "now a file\n"
    assert (fresh / "src" / "gone.c" / "y.c").read_text() == "int y;\n"


def test_outputs_of_the_layer_and_ignored_new_files_are_not_the_agents(tmp_path: Path) -> None:
    """A layer without a setup can hold its build directory (the kernel's ``.kunit/``): files the
    start commit does not track are outputs, and new files the project's .gitignore ignores too."""
    from lanser.harness.task.worktree import ignored_paths

    fresh, work = _trees(tmp_path)
    for tree in (fresh, work):
        (tree / ".kunit").mkdir()
        (tree / ".kunit" / ".config").write_text("CONFIG_KUNIT=y\n")
        (tree / ".gitignore").write_text("/out/\n*.result\n")
    (work / ".kunit" / ".config").write_text("CONFIG_KUNIT=y\nCONFIG_X=y\n")
    (work / "out").mkdir()
    (work / "out" / "log.txt").write_text("built\n")
    (work / "src" / "t.result").write_text("ok\n")
    (work / "src" / "new.c").write_text("int n;\n")
    tracked = frozenset({"src/a.c", "src/gone.c", "tests/t.c", "Makefile", ".gitignore"})
    got = cleanroom.collect(
        work,
        fresh,
        DEFAULT_PROTECTED,
        tracked=tracked,
        ignored=lambda paths: ignored_paths(fresh, tmp_path / "ignore-check", paths),
    )
    assert got.files == {"src/new.c": b"int n;\n"}
    assert {d["path"]: d["why"] for d in got.dropped} == {"out/log.txt": "build output", "src/t.result": "build output"}
