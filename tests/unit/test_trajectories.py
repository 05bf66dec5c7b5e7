"""Synthetic trajectory agents: deterministic, applicable, and faulty where they say they are.

Patches are applied in memory with lanser's own patch reader to the toy
dataset's starting state, as the harness would apply them.
"""

from __future__ import annotations

import random
import re
from pathlib import Path

import pytest

from lanser.edits.patch import parse_patch
from lanser.errors import BadRequest
from lanser.harness.run.agents import make_agent, split_hunks
from lanser.harness.study.synthetic import FAULTS, TrajectoryAgent, inject_fault, parse_hunk
from lanser.harness.task.spec import TaskSpec, load_tasks

REPO = Path(__file__).resolve().parents[2]
TOY = REPO / "datasets" / "toy-c"
TASKS = load_tasks(TOY / "tasks.jsonl")
CLAMP = "toy-c/clamp-and-count"


def task(task_id: str) -> TaskSpec:
    return next(t for t in TASKS if t.id == task_id)


def apply(files: dict[str, str], patch: str) -> dict[str, str]:
    changes = parse_patch(patch, lambda rel: files[rel].encode() if rel in files else None)
    out = dict(files)
    for c in changes.changes:
        assert c.new is not None
        out[c.new_path or c.path] = c.new.decode()
    return out


def start_state(t: TaskSpec) -> dict[str, str]:
    root = TOY / t.source.path
    files = {p.relative_to(root).as_posix(): p.read_text() for p in root.rglob("*.[ch]")}
    return apply(files, t.start_patch) if t.start_patch else files


def run_plan(t: TaskSpec, actions: list[dict]) -> dict[str, str]:
    files = start_state(t)
    for a in actions:
        if a["type"] == "edit":
            files = apply(files, a["patch"])
    return files


@pytest.mark.parametrize("spec", ["partial:0", "corrupt:4", "shuffle:2"])
def test_plans_are_deterministic_per_seed(spec: str) -> None:
    a, b = make_agent(spec), make_agent(spec)
    for t in TASKS:
        assert a.plan(t) == b.plan(t)  # type: ignore[attr-defined]
    assert a.digest() == b.digest() and a.name == spec


def test_digest_and_name_include_kind_and_seed() -> None:
    agents = [make_agent(f"{k}:{s}") for k in ("partial", "corrupt", "shuffle") for s in (0, 1, 12)]
    assert len({a.digest() for a in agents}) == len(agents)
    assert len({a.name for a in agents}) == len(agents)
    assert make_agent("corrupt").name == "corrupt:0", "no seed is seed 0"


def test_bad_seeds_are_bad_requests() -> None:
    for spec in ("corrupt:x", "shuffle:-1", "partial:1.5"):
        with pytest.raises(BadRequest, match="seed"):
            make_agent(spec)
    with pytest.raises(BadRequest, match="partial"):
        make_agent("mystery")


@pytest.mark.parametrize("t", TASKS, ids=lambda t: t.id)
def test_every_step_applies_and_finals_relate_to_gold(t: TaskSpec) -> None:
    gold = apply(start_state(t), t.gold_patch)
    for seed in range(12):
        for kind in ("partial", "corrupt", "shuffle"):
            plan = TrajectoryAgent(kind, seed).plan(t)
            assert plan[-1] == {"type": "submit"}
            final = run_plan(t, plan)  # raises ApplyConflict if any step does not apply
            if kind == "shuffle":
                assert final == gold, f"shuffle:{seed} must end in the gold state"
                notes = [a["note"] for a in plan[:-1]]
                faults = [i for i, n in enumerate(notes) if n.startswith("fault")]
                reverts = [i for i, n in enumerate(notes) if n.startswith("revert")]
                if len(split_hunks(t.gold_patch)) > 1:
                    assert len(faults) == len(reverts) == 1 and faults[0] < reverts[0]
                else:
                    assert faults == reverts == [], "one hunk: no other order, the oracle's plan"
            else:
                assert final != gold, f"{kind}:{seed} must not reach the gold state"


def test_partial_takes_a_proper_subset_of_hunks_in_order() -> None:
    t = task(CLAMP)
    hunks = [parse_hunk(h).text() for h in split_hunks(t.gold_patch)]
    subsets = set()
    for seed in range(20):
        edits = [a["patch"] for a in TrajectoryAgent("partial", seed).plan(t) if a["type"] == "edit"]
        assert 1 <= len(edits) < len(hunks)
        picked = tuple(hunks.index(e) for e in edits)  # ValueError if an edit is not a gold hunk
        assert list(picked) == sorted(picked)
        subsets.add(picked)
    assert subsets == {(0,), (1,)}, "both one-hunk subsets get drawn"


def test_partial_cuts_a_single_hunk_short() -> None:
    t = task("toy-c/reverse")
    (edit,) = [a for a in TrajectoryAgent("partial", 0).plan(t) if a["type"] == "edit"]
    gold = parse_hunk(t.gold_patch)
    cut = parse_hunk(edit["patch"])
    assert cut.before == gold.before, "the same place, every removal kept"
    added = [ln for ln in cut.body if ln.startswith("+")]
    assert 1 <= len(added) < len([ln for ln in gold.body if ln.startswith("+")])


def test_shuffle_changes_the_order_of_several_hunks() -> None:
    t = task(CLAMP)
    firsts = set()
    for seed in range(10):
        golds = [
            a["note"]
            for a in TrajectoryAgent("shuffle", seed).plan(t)
            if a.get("note", "").startswith(("gold", "fault"))
        ]
        firsts.add(golds[0].split()[-1])
    assert firsts == {"2/2"}, "two hunks: another order is always hunk 2 first"


CLAMP_HUNK = parse_hunk(split_hunks(task(CLAMP).gold_patch)[0])
REVERSE_HUNK = parse_hunk(task("toy-c/reverse").gold_patch)


def added(h) -> list[str]:
    return [ln[1:].rstrip("\n") for ln in h.body if ln.startswith("+")]


def test_faults_only_touch_added_lines() -> None:
    for hunk in (CLAMP_HUNK, REVERSE_HUNK):
        for name in FAULTS:
            for seed in range(5):
                got = inject_fault(hunk, random.Random(seed), "c", only=name)
                if got is None:
                    continue
                assert got[0] == name
                assert got[1].before == hunk.before, f"{name}: the hunk must still apply"
                assert got[1].after != hunk.after


def test_comparison_fault() -> None:
    name, h = inject_fault(CLAMP_HUNK, random.Random(0), only="comparison")
    assert name == "comparison"
    assert sorted(added(h)) != sorted(added(CLAMP_HUNK))
    assert any(re.search(r"v (<=|>=) (lo|hi)", ln) for ln in added(h))


def test_dropped_check_removes_an_if_and_its_return() -> None:
    _, h = inject_fault(CLAMP_HUNK, random.Random(1), only="dropped_check")
    assert len(added(h)) == 2
    assert added(h) in (["\tif (v < lo)", "\t\treturn lo;"], ["\tif (v > hi)", "\t\treturn hi;"])


def test_undeclared_name_introduces_a_name_the_file_does_not_declare() -> None:
    _, h = inject_fault(REVERSE_HUNK, random.Random(2), only="undeclared_name")
    new = {w for ln in added(h) for w in re.findall(r"[A-Za-z_]\w*", ln)}
    old = {w for ln in REVERSE_HUNK.after for w in re.findall(r"[A-Za-z_]\w*", ln)}
    assert len(new - old) == 1


def test_wrong_type_and_off_by_one_on_the_reverse_hunk() -> None:
    _, h = inject_fault(REVERSE_HUNK, random.Random(0), only="wrong_type")
    assert any("*" in ln and "char *s" not in ln for ln in added(h)) or any("&" in ln for ln in added(h))
    _, h = inject_fault(REVERSE_HUNK, random.Random(0), only="off_by_one")
    diff = [(a, b) for a, b in zip(added(REVERSE_HUNK), added(h), strict=False) if a != b]
    assert len(diff) == 1
    assert re.sub(r"\d+", "#", diff[0][0]) == re.sub(r"\d+", "#", diff[0][1])


def test_faults_leave_strings_and_comments_alone() -> None:
    hunk = parse_hunk('--- a/x.c\n+++ b/x.c\n@@ -1,1 +1,2 @@\n int f(void);\n+\tputs("a < b"); /* x < 1 */\n')
    assert inject_fault(hunk, random.Random(0), only="comparison") is None
    assert inject_fault(hunk, random.Random(0), only="off_by_one") is None


def test_python_faults() -> None:
    hunk = parse_hunk("--- a/m.py\n+++ b/m.py\n@@ -1,1 +1,3 @@\n def f(x):\n+    if x is None:\n+        return 0\n")
    _, dropped = inject_fault(hunk, random.Random(0), "python", only="dropped_check")
    assert added(dropped) == []
    _, typed = inject_fault(hunk, random.Random(0), "python", only="wrong_type")
    assert '        return "0"' in added(typed)


# -- issue 24: the synthetic agents no longer hand the reward its answers -----------------------------

THREE = (
    "--- a/a.c\n+++ b/a.c\n@@ -1,3 +1,4 @@\n int a(void)\n {\n+\tint x = 1;\n \treturn 0;\n"
    "@@ -10,3 +11,4 @@\n int b(void)\n {\n+\tint y = 2;\n \treturn 0;\n"
    "--- a/b.c\n+++ b/b.c\n@@ -1,3 +1,4 @@\n int c(int v)\n {\n+\tif (v < 0) return 1;\n \treturn 0;\n"
)
THREE_FILES = {
    "a.c": "int a(void)\n{\n\treturn 0;\n}\n\n\n\n\n\nint b(void)\n{\n\treturn 0;\n}\n",
    "b.c": "int c(int v)\n{\n\treturn 0;\n}\n",
}


def test_shuffle_takes_as_many_steps_as_the_oracle() -> None:
    """Issue 24: shuffle took one step more than the oracle (fault, later a revert), so under pr-v1's
    per-step beta it always outscored the clean fix and "more steps" predicted success.  Now the revert
    rides on a later gold step: the same count, the same gold final state."""
    from lanser.harness.study.synthetic import plan_actions

    gold = apply(THREE_FILES, THREE)
    seen_faults = 0
    for seed in range(20):
        plan = plan_actions("shuffle", THREE, random.Random(seed))
        edits = [a for a in plan if a["type"] == "edit"]
        assert len(edits) == 3
        files = dict(THREE_FILES)
        for a in edits:
            files = apply(files, a["patch"])
        assert files == gold
        seen_faults += any(a["note"].startswith("fault") for a in edits)
    assert seen_faults == 20
    for t in TASKS:
        plan = TrajectoryAgent("shuffle", 0).plan(t)
        assert len([a for a in plan if a["type"] == "edit"]) == len(split_hunks(t.gold_patch))


def test_single_hunk_shuffle_is_the_oracle_plan() -> None:
    t = task("toy-c/reverse")
    (edit,) = [a for a in TrajectoryAgent("shuffle", 3).plan(t) if a["type"] == "edit"]
    assert parse_hunk(edit["patch"]).after == parse_hunk(t.gold_patch).after


def _syntax_ok(files: dict[str, str], name: str, tmp: Path) -> bool:
    import subprocess

    for rel, text in files.items():
        (tmp / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp / rel).write_text(text)
    return subprocess.run(["cc", "-fsyntax-only", "-w", str(tmp / name)], capture_output=True).returncode == 0


def test_partial_cuts_at_a_statement_boundary_so_the_code_parses(tmp_path: Path) -> None:
    """Issue 24: a single hunk was cut after any added line ("for (...) {" with no body), so partial
    was mostly a syntax error the compiler reports, not the realistic compile-clean failure.  Every
    cut now leaves code that parses (checked with the C compiler) and is not the gold state."""
    for t in TASKS:
        if len(split_hunks(t.gold_patch)) != 1:
            continue
        gold = apply(start_state(t), t.gold_patch)
        cuts = set()
        for seed in range(15):
            plan = TrajectoryAgent("partial", seed).plan(t)
            final = run_plan(t, plan)
            assert final != gold
            for name, text in final.items():
                if name.endswith(".c"):
                    assert _syntax_ok(final, name, tmp_path), f"{t.id} partial:{seed} does not parse:\n{text}"
            cuts.add(tuple(tuple(added(parse_hunk(a["patch"]))) for a in plan if a["type"] == "edit"))
        if t.id == "toy-c/reverse":
            assert cuts == {((),), (("\tsize_t i;",),), (("\tsize_t i;", ""),)}


def test_partial_cut_points_by_language() -> None:
    from lanser.harness.study.synthetic import _statement_cuts

    c = ["\tint i;", "\tfor (i = 0; i < 3; i++) {", "\t\tf(i);", "\t}", '\tg("{");', "\treturn 0;"]
    assert _statement_cuts(c, list(range(6)), "c") == [0, 1, 4, 5], "never inside the loop; strings ignored"
    py = ["    x = f(", "        1)", "    if x:", "        y = 2", "    return y"]
    assert _statement_cuts(py, list(range(5)), "python") == [0, 2, 4]
