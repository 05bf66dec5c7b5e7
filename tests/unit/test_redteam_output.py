"""Attacks on the output cap: the stage output is kept as its head and its tail, cut mid-line.

The code under test decides how much a test stage prints after a given line (later tests
call it), so it decides where the tail begins.  A tail that began inside the real line
``not ok 3 - parse_nested`` began with ``ok 3 - parse_nested``: the test read as passing.
Likewise the head's last line cut short (``ok 4 - parse_nested_deep`` to ``ok 4 -
parse_nested``) named another test.  A line cut by the cap must never read as a whole line.
"""

from __future__ import annotations

import pytest

from lanser.harness.env.sandbox import _bounded_output
from lanser.harness.grade import logs

LIMIT = 200  # the head keeps 100 bytes, the tail 100


def _chunks(data: bytes, size: int) -> list[bytes]:
    return [data[i : i + size] for i in range(0, len(data), size)]


@pytest.mark.parametrize("size", [1, 7, 1000])
def test_a_tail_cut_inside_a_failing_line_does_not_read_as_a_pass(size: int) -> None:
    head = b"1..3\nok 1 - parse_empty\n" + b"# filler\n" * 30
    real = b"not ok 3 - parse_nested\n"
    after = b"# the code under test prints exactly this much after the real result\n"
    pad = LIMIT // 2 - len(b"ok 3 - parse_nested\n") - len(after)
    data = head + real + b"#" * (pad - 1) + b"\n" + after
    assert data.endswith(b"ok 3 - parse_nested\n" + b"#" * (pad - 1) + b"\n" + after)
    out = _bounded_output(iter(_chunks(data, size)), LIMIT)
    assert "bytes of output omitted]" in out
    assert logs.parse([out], "tap").results.get("parse_nested") != "pass", out


@pytest.mark.parametrize("size", [1, 1000])
def test_a_head_cut_inside_a_line_does_not_name_a_shorter_test(size: int) -> None:
    lead = b"1..9\n" + b"#" * (LIMIT // 2 - 5 - len(b"ok 4 - parse_nested") - 1) + b"\n"
    data = lead + b"ok 4 - parse_nested_deep\n" + b"# more\n" * 100
    out = _bounded_output(iter(_chunks(data, size)), LIMIT)
    assert "bytes of output omitted]" in out
    assert "parse_nested" not in logs.parse([out], "tap").results, out


def test_whole_lines_at_the_cut_are_kept_as_they_were() -> None:
    data = b"a" * 99 + b"\n" + b"m\n" * 50 + b"z" * 99 + b"\n"
    out = _bounded_output(iter([data]), LIMIT)
    head, _, tail = out.partition("[lanser: ")
    assert head == "a" * 99 + "\n"
    assert tail.split("]", 1)[1] == "\n" + "z" * 99 + "\n"
    assert _bounded_output(iter([b"short\n"]), LIMIT) == "short\n"
