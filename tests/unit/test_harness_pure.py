"""The harness's pure parts: task files, agents' hunk splitting, grading from logs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lanser.errors import BadRequest
from lanser.harness.grade.grading import grade, parse_sanitizers, parse_tap
from lanser.harness.run.agents import make_agent, split_hunks
from lanser.harness.task.spec import load_tasks

REPO = Path(__file__).resolve().parents[2]
TOY = REPO / "datasets" / "toy-c"

ASAN_LOG = """ok 1 - clamp_inside
=================================================================
==17==ERROR: AddressSanitizer: heap-buffer-overflow on address 0x602000000015 at pc 0x55 bp 0x7f sp 0x7f
WRITE of size 1 at 0x602000000015 thread T0
    #0 0x55a3daf425de in reverse_bytes /work/textops.c:19
    #1 0x55a3daf42a1b in main tests/test_textops.c:28
SUMMARY: AddressSanitizer: heap-buffer-overflow /work/textops.c:19 in reverse_bytes
==17==ABORTING
"""


def test_the_toy_dataset_loads() -> None:
    tasks = load_tasks(TOY / "tasks.jsonl")
    assert [t.id for t in tasks] == ["toy-c/clamp-and-count", "toy-c/reverse", "toy-c/count-char"]
    assert len(split_hunks(tasks[0].gold_patch)) == 2
    assert len({t.key() for t in tasks}) == 3


def test_bad_task_lines_name_the_line_and_field(tmp_path: Path) -> None:
    good = (TOY / "tasks.jsonl").read_text().splitlines()[0]
    (tmp_path / "project").mkdir()
    cases = {
        "not json\n": (1, None),
        good + "\n" + json.dumps({**json.loads(good), "language": "cobol"}) + "\n": (2, "language"),
        json.dumps({k: v for k, v in json.loads(good).items() if k != "commands"}) + "\n": (1, "commands"),
        good + "\n" + good + "\n": (2, "id"),
    }
    for text, (line, field) in cases.items():
        path = tmp_path / "tasks.jsonl"
        path.write_text(text)
        with pytest.raises(BadRequest) as info:
            load_tasks(path)
        assert info.value.details["line"] == line
        if field:
            assert info.value.details["field"] == field


def test_tap_and_sanitizer_parsing() -> None:
    assert parse_tap("ok 1 - a\nnot ok 2 - b\nok 3 - c # SKIP later\n1..3\n") == {"a": "pass", "b": "fail", "c": "skip"}
    reports = parse_sanitizers(
        ASAN_LOG + ASAN_LOG + "x.c:3:5: runtime error: signed integer overflow: ...\n"
        "BUG: KASAN: slab-out-of-bounds in kmemdup+0x4/0x20\n"
    )
    assert [(r["tool"], r["kind"], r["frame"]) for r in reports] == [
        ("AddressSanitizer", "heap-buffer-overflow", "reverse_bytes"),
        ("UndefinedBehaviorSanitizer", "signed integer overflow", "x.c:3"),
        ("KASAN", "slab-out-of-bounds", "kmemdup"),  # offsets vary between builds: not part of the key
    ]


def test_grade_outcomes() -> None:
    oracles = {"fail_to_pass": ["b"], "pass_to_pass": ["a"]}
    ok = {"exit_code": 0, "output": ""}
    passing = {"exit_code": 0, "output": "ok 1 - a\nok 2 - b\n"}
    assert grade({"build": ok, "test": passing, "sanitize": passing}, oracles)["outcome"] == "resolved"
    failing = {"exit_code": 1, "output": "ok 1 - a\nnot ok 2 - b\n"}
    assert grade({"build": ok, "test": failing}, oracles)["outcome"] == "tests_failed"
    v = grade({"build": ok, "test": passing, "sanitize": {"exit_code": 1, "output": ASAN_LOG}}, oracles)
    assert v["outcome"] == "sanitizer_error" and v["sanitizer"]["reports"][0]["frame"] == "reverse_bytes"
    # A report the project had before the agent is not the agent's.
    known = parse_sanitizers(ASAN_LOG)
    assert (
        grade(
            {"build": ok, "test": passing, "sanitize": {"exit_code": 1, "output": ASAN_LOG}},
            oracles,
            baseline_sanitizer=known,
        )["outcome"]
        == "resolved"
    )
    assert grade({"build": {"exit_code": 2, "output": "error"}}, oracles)["outcome"] == "build_failed"
    assert grade({"build": {"infra_error": "docker went away"}}, oracles)["outcome"] == "infra_error"
    assert (
        grade({"build": ok, "test": {"exit_code": None, "output": "", "timed_out": True}}, oracles)["outcome"]
        == "timeout"
    )


def test_agents() -> None:
    tasks = load_tasks(TOY / "tasks.jsonl")
    oracle = make_agent("oracle")
    oracle.reset(tasks[0], {})
    actions = [oracle.act({}) for _ in range(4)]
    assert [a["type"] for a in actions] == ["edit", "edit", "submit", "submit"]
    replay = make_agent("replay:trajectories/reverse-off-by-one.jsonl", base=TOY)
    replay.reset(tasks[1], {})
    assert [replay.act({})["type"] for _ in range(3)] == ["edit", "run", "submit"]
    with pytest.raises(BadRequest):
        make_agent("telepathy")


def test_known_sanitizer_reports_reach_the_grade_and_leave_old_keys_alone() -> None:
    """The sanitizer reports a project makes before any change are part of the task, are not
    blamed on the agent, and a task without any keeps the key its results were stored under."""
    import hashlib
    import json

    from lanser.harness.task.spec import KnownReport, TestLog

    task = load_tasks(TOY / "tasks.jsonl")[0]
    # toy-c declares its log format and a canary: unset both here
    task = task.model_copy(update={"test_log": TestLog(), "canary": None})
    # Later fields left unset leave the key alone.
    old_key = hashlib.sha256(
        json.dumps(
            {
                **{
                    k: v
                    for k, v in task.model_dump(mode="json").items()
                    if k not in ("protected", "test_log", "test_patch", "canary")
                },
                "oracles": {
                    k: v
                    for k, v in task.oracles.model_dump(mode="json").items()
                    if k not in ("known_sanitizer_reports", "crash")
                },
            },
            sort_keys=True,
        ).encode()
    ).hexdigest()
    assert task.key() == old_key
    (report,) = parse_sanitizers(ASAN_LOG)
    known = task.model_copy(
        update={
            "oracles": task.oracles.model_copy(
                update={
                    "known_sanitizer_reports": (
                        KnownReport(tool=report["tool"], kind=report["kind"], frame=report["frame"]),
                    )
                }
            )
        }
    )
    assert known.key() != task.key()
    oracles = known.oracles.model_dump(mode="json")
    ok = {"exit_code": 0, "output": ""}
    passing = {
        "exit_code": 0,
        "output": "".join(
            f"ok {i} - {t}\n" for i, t in enumerate((*oracles["fail_to_pass"], *oracles["pass_to_pass"]), 1)
        ),
    }
    sanitize = {"exit_code": 1, "output": ASAN_LOG}
    assert (
        grade(
            {"build": ok, "test": passing, "sanitize": sanitize},
            oracles,
            baseline_sanitizer=oracles["known_sanitizer_reports"],
        )["outcome"]
        == "resolved"
    )
    assert grade({"build": ok, "test": passing, "sanitize": sanitize}, oracles)["outcome"] == "sanitizer_error"
