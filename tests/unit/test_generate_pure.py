"""The pure parts of the OSS task generator: test-log parsers, function discovery,
body stubs, fault injection, patches and statements."""

from __future__ import annotations

from lanser.harness.datasets.generate import faults as F
from lanser.harness.datasets.generate import statements as S
from lanser.harness.datasets.generate.oss import _order, _round_trips, candidates
from lanser.harness.grade import grading

CTEST_LOG = """\
Test project /work/build
      Start  1: parse_examples
 1/4 Test  #1: parse_examples ...................   Passed    0.01 sec
      Start  2: parse_number
 2/4 Test  #2: parse_number .....................***Failed    0.02 sec
tests/parse_number.c:80:assert_parse_number:FAIL: Expected 1 Was 0
      Start  3: print_string
 3/4 Test  #3: print_string .....................***Exception: SegFault  0.03 sec
      Start  4: slow_one
 4/4 Test  #4: slow_one .........................***Timeout  60.01 sec

50% tests passed, 2 tests failed out of 4

Total Test time (real) =   0.10 sec
"""

AUTOMAKE_LOG = """\
PASS: tests/test-version
FAIL: tests/test-reader
XFAIL: tests/known-bug
SKIP: tests/needs-network
ERROR: tests/crashes
============================================================================
# TOTAL: 5
# PASS:  1
"""

C_SOURCE = b"""\
#include <stdlib.h>

/* Sum of the first n items. */
int sum(const int *a, int n)
{
\tint i, s = 0;
\tfor (i = 0; i < n; i++)
\t\ts += a[i];
\treturn s;
}

static char *dup_or_null(const char *s, size_t len)
{
\tchar *p;
\tif (s == NULL)
\t\treturn NULL;
\tp = malloc(len + 1);
\tif (len > 64)
\t\treturn NULL;
\treturn p;
}

void drop(struct node *n)
{
\tstruct node *next;
\twhile (n != NULL) {
\t\tnext = n->next;
\t\tfree(n);
\t\tn = next;
\t}
}

int use(void)
{
\treturn sum(0, 0) + (dup_or_null("a", 1) != NULL);
}
"""


def test_ctest_lines_name_every_test_with_its_status() -> None:
    assert grading.parse_ctest(CTEST_LOG) == {
        "parse_examples": "pass",
        "parse_number": "fail",
        "print_string": "fail",
        "slow_one": "fail",
    }
    assert grading.parse_tests(CTEST_LOG) == grading.parse_ctest(CTEST_LOG)


def test_automake_lines_count_xfail_as_pass_and_error_as_fail() -> None:
    assert grading.parse_automake(AUTOMAKE_LOG) == {
        "tests/test-version": "pass",
        "tests/test-reader": "fail",
        "tests/known-bug": "pass",
        "tests/needs-network": "skip",
        "tests/crashes": "fail",
    }
    assert grading.parse_tests(AUTOMAKE_LOG)["tests/test-reader"] == "fail"


def test_tap_is_still_the_default_format() -> None:
    assert grading.parse_tests("ok 1 - a\nnot ok 2 - b\n1..2\n") == {"a": "pass", "b": "fail"}


def test_functions_carry_signature_doc_returns_and_params() -> None:
    fns = {f.name: f for f in F.functions("lib.c", C_SOURCE)}
    assert list(fns) == ["sum", "dup_or_null", "drop", "use"]
    assert fns["sum"].signature == "int sum(const int *a, int n)"
    assert fns["sum"].doc == "/* Sum of the first n items. */"
    assert (fns["sum"].returns, fns["dup_or_null"].returns, fns["drop"].returns) == ("scalar", "pointer", "void")
    assert fns["dup_or_null"].static and not fns["sum"].static
    assert fns["sum"].params == ("a", "n") and fns["sum"].line == 4


def test_stub_replaces_only_the_body_and_returns_a_zero_of_the_type() -> None:
    fn = next(f for f in F.functions("lib.c", C_SOURCE) if f.name == "dup_or_null")
    new = F.stub(C_SOURCE, fn)
    assert new is not None
    text = new.decode()
    assert "(void)s;\n\t(void)len;\n\treturn NULL;\n}" in text
    assert "malloc(len + 1)" not in text and "int sum(const int *a, int n)" in text


def test_faults_cover_every_kind_with_a_real_change() -> None:
    edits = [e for f in F.functions("lib.c", C_SOURCE) for e in F.faults(C_SOURCE, f)]
    kinds = {e.kind for e in edits}
    assert kinds == {"off-by-one", "wrong-comparison", "missing-check", "use-after-free", "leak"}
    by = {(e.kind, e.function): e.new.decode() for e in edits}
    assert "for (i = 0; i <= n; i++)" in by[("off-by-one", "sum")]
    assert "if (s != NULL)" in by[("wrong-comparison", "dup_or_null")]
    assert "free(n);\n\t\tnext = n->next;" in by[("use-after-free", "drop")]
    assert "free(n)" not in by[("leak", "drop")]
    assert all(e.new != C_SOURCE for e in edits)
    assert {e.kind for e in edits if e.sanitizer} == {"use-after-free", "leak"}


def test_callers_name_the_calling_function() -> None:
    assert F.callers("lib.c", C_SOURCE, "sum") == [("lib.c", 35, "use")]


def test_candidate_order_is_deterministic_for_a_seed_and_mixes_kinds() -> None:
    cands = candidates({"lib.c": C_SOURCE})
    first = [(c.edit.kind, c.edit.function, c.edit.description) for c in _order(cands, 7)]
    again = [(c.edit.kind, c.edit.function, c.edit.description) for c in _order(cands, 7)]
    other = [(c.edit.kind, c.edit.function, c.edit.description) for c in _order(cands, 8)]
    assert first == again and sorted(first) == sorted(other)
    assert first[0][0] == "implement" and first[1][0] == "off-by-one"


def test_patches_round_trip_through_lanser_patch_parser() -> None:
    fn = next(f for f in F.functions("lib.c", C_SOURCE) if f.name == "sum")
    new = F.stub(C_SOURCE, fn)
    assert new is not None
    start, gold = S.unified_diff("lib.c", C_SOURCE, new), S.unified_diff("lib.c", new, C_SOURCE)
    assert start.startswith("--- a/lib.c\n+++ b/lib.c\n@@ ")
    assert _round_trips(C_SOURCE, new, "lib.c", start, gold)
    assert not _round_trips(C_SOURCE, new, "lib.c", gold, start)


def test_statements_mask_what_changes_between_runs() -> None:
    log = (
        "==1234==ERROR: AddressSanitizer: heap-use-after-free on address 0x602000000010\n"
        " 1/4 Test  #1: t ....***Failed    0.02 sec\n"
    )
    masked = S.normalise(log)
    assert "1234" not in masked and "0x602000000010" not in masked and "0.02" not in masked
    assert S.excerpt(log, ["t"]) == S.excerpt(log.replace("1234", "99"), ["t"])


def test_presets_build_plain_and_sanitized_trees_incrementally() -> None:
    import pytest

    from lanser.errors import BadRequest
    from lanser.harness.datasets.generate.profiles import PRESETS, SANITIZER_FLAGS, preset

    for name, profile in PRESETS.items():
        assert "-B build " in profile.setup and "-B build-asan " in profile.setup, name
        assert SANITIZER_FLAGS in profile.setup and "compile_commands.json" in profile.setup
        assert profile.build.endswith("cmake --build build") and "build-asan" in profile.sanitize
        assert "detect_leaks=1" in profile.sanitize and profile.files
    with pytest.raises(BadRequest, match="no preset 'zzz'"):
        preset("zzz")


def test_source_arguments_name_each_kind() -> None:
    from lanser.cli.bench_generate import parse_source

    deb = parse_source("debian:json-c=0.16-2", "a" * 64)
    assert (deb.kind, deb.package, deb.version) == ("debian", "json-c", "0.16-2")
    assert parse_source("project", None).kind == "dir"
    git = parse_source("git:https://example.org/x.git@" + "0" * 40, "b" * 64)
    assert (git.kind, git.url) == ("git", "https://example.org/x.git")


# -- the same static function in two files ----------------------------------

OTHER_SOURCE = b"""\
static char *dup_or_null(const char *s, size_t len)
{
\tchar *p = malloc(len + 1);
\tif (p == NULL)
\t\treturn NULL;
\tmemcpy(p, s, len);
\treturn p;
}

char *copy(const char *s)
{
\treturn dup_or_null(s, strlen(s));
}
"""


def test_a_static_name_in_two_files_gives_distinct_ids_and_callers(tmp_path) -> None:
    from lanser.harness.datasets.generate.oss import _callers, qualifiers
    from lanser.harness.datasets.generate.profiles import Profile

    files = {"lib.c": C_SOURCE, "src/other.c": OTHER_SOURCE}
    cands = candidates(files)
    names = qualifiers(cands)
    assert names[("lib.c", "dup_or_null")] == "lib.dup_or_null"
    assert names[("src/other.c", "dup_or_null")] == "other.dup_or_null"
    assert names[("lib.c", "sum")] == "sum" and names[("src/other.c", "copy")] == "copy"  # unique: as before
    assert qualifiers(list(reversed(cands))) == names
    ids = {(c.edit.kind, names[(c.edit.path, c.edit.function)]) for c in cands if c.edit.kind == "implement"}
    assert len(ids) == sum(1 for c in cands if c.edit.kind == "implement")
    # the same stem in two directories: the path names the file
    same_stem = qualifiers(candidates({"a/lib.c": C_SOURCE, "b/lib.c": C_SOURCE}))
    assert same_stem[("a/lib.c", "sum")] == "a.lib.sum" and same_stem[("b/lib.c", "sum")] == "b.lib.sum"

    for rel, data in files.items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_bytes(data)
    profile = Profile(name="t", setup="true", build="true", test="true", sanitize="true", files=tuple(files))
    callers = _callers(tmp_path, profile, files)
    assert callers[("lib.c", "dup_or_null")] == [("lib.c", 35, "use")]
    assert callers[("src/other.c", "dup_or_null")] == [("src/other.c", 12, "copy")]
    assert callers[("lib.c", "sum")] == [("lib.c", 35, "use")]


# -- the workbench: keys, the run cache, the setup lock -----------------------


def _bench(tmp_path, monkeypatch, image_id: str = "sha256:" + "1" * 64):
    from lanser.harness.datasets.generate.profiles import Profile
    from lanser.harness.datasets.generate.sandboxed import Workbench
    from lanser.harness.env import images

    monkeypatch.setattr(images, "image_digest", lambda ref, client=None: image_id)
    src = tmp_path / "src"
    src.mkdir(exist_ok=True)
    (src / "lib.c").write_bytes(C_SOURCE)
    profile = Profile(name="t", setup="make", build="make", test="make test", sanitize="make san", files=("lib.c",))
    return Workbench(profile, src, "lanser-base:latest", tmp_path / "cache")


def _result(**kw):
    from lanser.harness.env import sandbox

    base = dict(
        exit_code=0,
        output="ok 1 - a\n1..1\n",
        duration_s=0.1,
        timed_out=False,
        oom_killed=False,
        pids_exhausted=False,
        image_id="sha256:" + "1" * 64,
    )
    return sandbox.RunResult(**{**base, **kw})


def test_workbench_key_follows_the_image_id_not_the_tag(tmp_path, monkeypatch) -> None:
    one = _bench(tmp_path, monkeypatch, "sha256:" + "1" * 64)
    again = _bench(tmp_path, monkeypatch, "sha256:" + "1" * 64)
    rebuilt = _bench(tmp_path, monkeypatch, "sha256:" + "2" * 64)
    assert one.key == again.key and one.key != rebuilt.key
    assert rebuilt.image_id == "sha256:" + "2" * 64


def test_a_timed_out_or_oom_killed_run_is_not_cached(tmp_path, monkeypatch) -> None:
    from lanser.harness.datasets.generate import sandboxed

    bench = _bench(tmp_path, monkeypatch)
    built = tmp_path / "cache" / "built" / bench.key
    built.mkdir(parents=True)
    (built / "lib.c").write_bytes(C_SOURCE)
    monkeypatch.setattr(bench, "built", lambda: built)
    calls: list[str] = []
    script: dict[str, dict] = {}

    def run(image, command, workdir, **kw):
        calls.append(command)
        return _result(**script.get(command, {}))

    monkeypatch.setattr(sandboxed.sandbox, "run", run)
    script["make test"] = {"timed_out": True, "exit_code": None}
    first = bench.evaluate({"lib.c": b"x"}, sanitize=False)
    assert first.test_timed_out and first.transient
    bench.evaluate({"lib.c": b"x"}, sanitize=False)
    assert calls == ["make", "make test"] * 2  # ran again
    script["make test"] = {}
    script["make"] = {"oom_killed": True, "exit_code": 137}
    assert not bench.evaluate({"lib.c": b"y"}, sanitize=False).built
    bench.evaluate({"lib.c": b"y"}, sanitize=False)
    assert calls[4:] == ["make", "make"]
    script.clear()
    calls.clear()
    ok = bench.evaluate({"lib.c": b"z"}, sanitize=False)
    assert ok.tests == {"a": "pass"} and not ok.transient
    assert bench.evaluate({"lib.c": b"z"}, sanitize=False) == ok and calls == ["make", "make test"]  # cached


def test_setup_holds_a_lock_and_leaves_no_scratch_when_the_sandbox_fails(tmp_path, monkeypatch) -> None:
    import fcntl

    import pytest

    from lanser.harness.datasets.generate import sandboxed

    bench = _bench(tmp_path, monkeypatch)
    lock = tmp_path / "cache" / "built" / f".{bench.key}.lock"
    held: list[bool] = []

    def run(image, command, workdir, **kw):
        with open(lock, "a+") as other:  # a second open file description: flock conflicts
            try:
                fcntl.flock(other, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                held.append(True)
            else:
                held.append(False)
        raise RuntimeError("docker went away")

    monkeypatch.setattr(sandboxed.sandbox, "run", run)
    with pytest.raises(RuntimeError, match="docker went away"):
        bench.built()
    assert held == [True]
    assert [p.name for p in (tmp_path / "cache" / "built").iterdir()] == [lock.name]  # no setup-* scratch left
    monkeypatch.setattr(sandboxed.sandbox, "run", lambda *a, **kw: _result())
    dest = bench.built()
    assert (dest / ".lanser-built").is_file() and (dest / "lib.c").read_bytes() == C_SOURCE
    assert sorted(p.name for p in dest.parent.iterdir()) == sorted([lock.name, bench.key])
