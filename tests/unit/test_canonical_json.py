"""The fast canonical JSON path writes exactly the bytes of the reference RFC 8785 encoder.

``lanser.bundle.hashing.canonical_json`` serves most values through the
standard library's C encoder; a single differing byte would change every
bundleId, so it is checked against ``rfc8785`` on random values and on the
corners where the two encoders disagree (floats, key order, integer range).
"""

from __future__ import annotations

import math
from typing import Any

import pytest
import rfc8785
from hypothesis import given, settings
from hypothesis import strategies as st

from lanser.bundle.hashing import canonical_json, hash_domain

_floats = st.floats(allow_nan=False, allow_infinity=False) | st.sampled_from(
    [
        0.0,
        -0.0,
        1.0,
        -1.0,
        0.5,
        1e-7,
        1e-6,
        1e-5,
        1e-4,
        1.5e15,
        1e16,
        1e21,
        1e22,
        5e-324,
        2.0**53,
        2.0**53 + 2,
        -(2.0**53),
        9007199254740993.0,
        333333333.33333329,
        1e300,
        123456789.125,
    ]
)
_ints = st.integers(min_value=-(2**53) + 1, max_value=2**53 - 1) | st.sampled_from([0, -1, 2**53 - 1, -(2**53) + 1])
_text = st.text(alphabet=st.characters(exclude_categories=["Cs"]), max_size=12) | st.sampled_from(
    ["", "\u20ac", "\U0001f600", "\ufb33", "\x00\x1f\x7f", '"\\/', "\u2028\u2029", "a\tb\nc\rd\x08e\x0cf"]
)
_scalars = st.none() | st.booleans() | _ints | _floats | _text
_values = st.recursive(
    _scalars,
    lambda inner: st.lists(inner, max_size=5) | st.tuples(inner, inner) | st.dictionaries(_text, inner, max_size=5),
    max_leaves=30,
)


@settings(max_examples=600, deadline=None)
@given(_values)
def test_fast_path_equals_rfc8785(value: Any) -> None:
    assert canonical_json(value) == rfc8785.dumps(value)


@pytest.mark.parametrize(
    "value",
    [
        {"\ufb33": 1, "\U0001f600": 2, "a": 3},  # UTF-16 order differs from code point order
        [1.0, -0.0, 0.25, 1e16, 1e-7, 2.0**60],  # integral floats lose ".0"; exponents are written the JCS way
        {"n": 2**53 - 1, "m": -(2**53) + 1},
        {"nested": [{"b": [1, "x", None, True]}, ("t", 2.5)]},
    ],
)
def test_corner_cases_equal_rfc8785(value: Any) -> None:
    assert canonical_json(value) == rfc8785.dumps(value)


@pytest.mark.parametrize("value", [2**53, -(2**53), float("nan"), math.inf, {1: "int key"}, {"s": {1, 2}}, "\ud800"])
def test_what_jcs_cannot_express_is_refused_as_rfc8785_refuses_it(value: Any) -> None:
    with pytest.raises(Exception) as fast:
        canonical_json(value)
    with pytest.raises(Exception) as reference:
        rfc8785.dumps(value)
    assert type(fast.value) is type(reference.value)


def test_hash_domain_copies_only_the_excluded_paths() -> None:
    """hash_domain no longer deep-copies: it must still leave its input untouched."""
    facts: dict[str, Any] = {"definitions": [{"path": "a.py", "range": [0, 1, 0, 2]}]}
    data: dict[str, Any] = {
        "bundleId": "sha256:x",
        "facts": facts,
        "meta": {"timing": {"t": 1.0}, "exit_code": 0},
        "environment": {"host": {"root": "/somewhere"}, "lanser": "0"},
        "edits": {"commit": "abc"},
    }
    domain = hash_domain(data)
    assert domain == {"facts": facts, "meta": {"exit_code": 0}, "environment": {"lanser": "0"}, "edits": {}}
    assert data["meta"] == {"timing": {"t": 1.0}, "exit_code": 0}
    assert data["environment"]["host"] == {"root": "/somewhere"}
    assert data["edits"] == {"commit": "abc"} and data["bundleId"] == "sha256:x"


def test_bundle_shaped_data_takes_the_fast_path(monkeypatch: pytest.MonkeyPatch) -> None:
    """The speed of bundleIds rests on typical bundles never reaching the pure-Python encoder."""
    data: dict[str, Any] = {
        "request": {"cmd": "hover", "selector": "rich/text.py@L3:C5", "args": {}, "indexIo": "utf-16"},
        "resolution": {"confidence": 1.0, "weights": {"ast": 0.5, "module": 0.2}},
        "facts": {"hover": {"contents": "```python\n(class) Text\n```\u2014 \u00e9", "range": [2, 4, 2, 8]}},
        "meta": {"exit_code": 0, "hashing": {"algo": "sha256-jcs-v1"}},
    }
    expected = rfc8785.dumps(data)

    def refuse(value: Any) -> bytes:
        raise AssertionError("fell back to rfc8785")

    monkeypatch.setattr(rfc8785, "dumps", refuse)
    assert canonical_json(data) == expected
