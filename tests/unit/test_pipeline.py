"""Which requests a batch pipelines, and how untrusted request lines are refused."""

from __future__ import annotations

import pytest

from lanser.bundle.models import Request
from lanser.errors import BadRequest
from lanser.pipeline import parse_request, pipelined


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ({"cmd": "definition", "selector": "a.py@L1:C1"}, True),
        ({"cmd": "references", "selector": "a.py@L1:C1"}, True),
        ({"cmd": "hover", "selector": "a.py@L1:C1"}, True),
        ({"cmd": "locate", "selector": "a.py@L1:C1"}, True),
        ({"cmd": "symbols", "selector": "a.py"}, True),
        ({"cmd": "symbols", "args": {"query": "x"}}, False),  # workspace symbols load the project first
        ({"cmd": "diagnostics", "selector": "a.py"}, False),  # closes and reopens documents
        ({"cmd": "rename", "selector": "a.py@L1:C1", "args": {"newName": "y"}}, False),
        ({"cmd": "definition", "selector": "a.py@L1:C1", "args": {"apply": True}}, False),
    ],
)
def test_only_read_only_requests_are_pipelined(raw: dict, expected: bool) -> None:
    assert pipelined(Request.model_validate(raw)) is expected


@pytest.mark.parametrize(
    ("raw", "said"),
    [
        ([1, 2], "a request must be a JSON object"),
        ({"__invalid__": "line is not JSON: x"}, "line is not JSON: x"),
        ({"cmd": "nonsense", "selector": "a.py"}, "invalid request: cmd"),
    ],
)
def test_bad_request_lines_are_e_bad_request(raw: object, said: str) -> None:
    with pytest.raises(BadRequest) as info:
        parse_request(raw)
    assert said in str(info.value)
    assert info.value.exit_code == BadRequest.exit_code
