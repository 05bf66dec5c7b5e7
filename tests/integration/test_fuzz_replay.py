"""Replaying a tampered trace (issue 17, finding 12): a real recording (basedpyright answering a
hover) whose JSON-RPC frames are altered at random replays, or fails with a documented code,
always as one JSON object, never E/INTERNAL and never stalled (the header's timeout is 1 s)."""

from __future__ import annotations

import json
import os
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "unit"))
from test_fuzz_inputs import DOCUMENTED, lanser, one_object  # noqa: E402

pytestmark = pytest.mark.integration

_JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-3, 3) | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=2) | st.dictionaries(st.text(max_size=4), inner, max_size=2),
    max_leaves=5,
)


@pytest.fixture(scope="module")
def recording(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[dict[str, Any]]]:
    root = tmp_path_factory.mktemp("replay") / "ws"
    root.mkdir()
    (root / "m.py").write_text("def f():\n    return 1\n\n\nf()\n")
    path = root.parent / "run.jsonl"
    old = os.environ.get("LANSER_NO_DAEMON")
    os.environ["LANSER_NO_DAEMON"] = "1"
    try:
        code, out = lanser("--json", "-w", str(root), "--trace-file", str(path), "hover", "m.py@L5:C1")
    finally:
        if old is None:
            del os.environ["LANSER_NO_DAEMON"]
    assert code == 0, out
    return root, [json.loads(line) for line in path.read_text().splitlines()]


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    yield prefix
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _paths(item, (*prefix, key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _paths(item, (*prefix, i))


@settings(
    max_examples=int(os.environ.get("LANSER_FUZZ_SCALE", "1") or 1) * 12,
    deadline=None,
    suppress_health_check=list(HealthCheck),
)
@given(data=st.data())
def test_a_tampered_trace_replays_or_fails_with_a_documented_code(
    recording: tuple[Path, list[dict[str, Any]]], data: st.DataObject
) -> None:
    root, recorded = recording
    events = json.loads(json.dumps(recorded))
    events[0]["options"]["timeout"] = 1  # where the trace has no answer, replay waits this long
    frames = [i for i, e in enumerate(events) if e["event"] == "frame"]
    for _ in range(data.draw(st.integers(1, 3))):
        message = events[data.draw(st.sampled_from(frames))]["message"]
        where = data.draw(st.sampled_from(list(_paths(message))[1:]))
        parent = message
        for key in where[:-1]:
            parent = parent[key]
        if isinstance(parent, dict) and data.draw(st.booleans()):
            del parent[where[-1]]
        else:
            parent[where[-1]] = data.draw(_JSON)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "t.jsonl"
        path.write_text("".join(json.dumps(e) + "\n" for e in events))
        code, out = lanser("--json", "-w", str(root), "trace", "replay", str(path))
    assert code in DOCUMENTED, out
    one_object(code, out)
