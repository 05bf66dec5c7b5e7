"""The process reward (Eq. 5.1), the paper's worked examples and Proposition 5.2."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lanser.edits.patch import parse_patch
from lanser.errors import ApplyConflict, BadRequest
from lanser.reward import DEFAULT_WEIGHTS, Weights, count_diagnostics, process_reward


def test_paper_example_1() -> None:
    pr = process_reward(5, 2, True, 0.94)
    assert pr["r"] == 1.894
    assert pr["components"]["diag_delta"] == 3 and pr["components"]["safety"] == 1
    assert pr["components"]["ambiguity_penalty"] == 0.06
    assert pr["weights"] == {"alpha": 0.5, "beta": 0.4, "gamma": 0.1} and pr["version"] == "pr-v1"


def test_paper_example_2_follows_the_formula_not_the_printed_value() -> None:
    """The paper prints -0.438 for example 2; Eq. 5.1 with S=0 gives -0.038."""
    assert process_reward(7, 7, False, 0.62)["r"] == -0.038


unit = st.floats(min_value=0.0, max_value=1.0, allow_nan=False)
count = st.integers(min_value=0, max_value=10_000)
weight = st.floats(min_value=0.0, max_value=10.0, allow_nan=False)


def test_proposition_5_2_as_printed_is_false() -> None:
    """The paper claims r_t >= 0 whenever diagnostics do not rise, safety does not drop
    and ambiguity does not grow.  The ambiguity term is a penalty, not a change, so a
    step that keeps an ambiguous selector (alpha 0.62 before and after), stays unsafe
    and leaves diagnostics alone still scores -0.038."""
    pr = process_reward(7, 7, False, 0.62)
    assert pr["r"] < 0


@given(
    d_prev=count,
    drop=count,
    s_prev=st.booleans(),
    s_now=st.booleans(),
    a_prev=unit,
    gain=unit,
    w=st.tuples(weight, weight, weight),
)
def test_proposition_5_2_corrected(
    d_prev: int, drop: int, s_prev: bool, s_now: bool, a_prev: float, gain: float, w: tuple[float, float, float]
) -> None:
    """What does hold under the invariants (D not rising, S not dropping, alpha not falling):
    r_t >= -gamma (1 - alpha_t), and r_t >= 0 once the step is safe and beta >= gamma
    (the default weights, 0.4 >= 0.1), or once alpha_t = 1."""
    d_now = max(d_prev - drop, 0)
    s_now = s_now or s_prev
    a_now = a_prev + (1 - a_prev) * gain
    weights = Weights(*w)
    r = process_reward(d_prev, d_now, s_now, a_now, weights)["r"]
    assert r >= -weights.gamma * (1 - a_now) - 1e-9
    if (s_now and weights.beta >= weights.gamma) or a_now == 1.0:
        assert r >= -1e-9


def test_weights_must_be_non_negative_and_alpha_in_range() -> None:
    with pytest.raises(ValueError):
        Weights(alpha=-0.1)
    with pytest.raises(ValueError):
        process_reward(1, 0, True, 1.5)


def test_count_diagnostics() -> None:
    groups = [
        {"path": "a.py", "counts": {"error": 2, "warning": 2, "hint": 5}},
        {"path": "b.py", "counts": {"error": 1}},
    ]
    assert count_diagnostics(groups) == 5
    assert count_diagnostics(groups, ["b.py"]) == 1
    assert count_diagnostics(groups, severity_weighting=True) == 4
    assert DEFAULT_WEIGHTS.alpha == 0.5


FILES = {"x.py": b"a\nb\nc\nd\ne\n", "gone.py": b"bye\n"}


def read(rel: str) -> bytes | None:
    return FILES.get(rel)


def test_parse_patch_edit_create_delete_and_offset() -> None:
    patch = (
        "--- a/x.py\n+++ b/x.py\n@@ -3,2 +3,2 @@\n c\n-d\n+D\n"
        "--- /dev/null\n+++ b/new.py\n@@ -0,0 +1 @@\n+hello\n"
        "--- a/gone.py\n+++ /dev/null\n@@ -1 +0,0 @@\n-bye\n"
    )
    cs = {c.path: c for c in parse_patch(patch, read).changes}
    assert cs["x.py"].new == b"a\nb\nc\nD\ne\n"
    assert cs["new.py"].op == "create" and cs["new.py"].new == b"hello\n"
    assert cs["gone.py"].op == "delete"
    # A hunk whose line number is off still applies where its context is.
    shifted = "--- a/x.py\n+++ b/x.py\n@@ -1,2 +1,2 @@\n c\n-d\n+D\n"
    assert parse_patch(shifted, read).changes[0].new == b"a\nb\nc\nD\ne\n"


def test_parse_patch_refusals() -> None:
    with pytest.raises(ApplyConflict):
        parse_patch("--- a/x.py\n+++ b/x.py\n@@ -1 +1 @@\n-zzz\n+y\n", read)
    with pytest.raises(BadRequest):
        parse_patch("just some text\n", read)
    with pytest.raises(ApplyConflict):
        parse_patch("--- a/missing.py\n+++ b/missing.py\n@@ -1 +1 @@\n-a\n+b\n", read)
