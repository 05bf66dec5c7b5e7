"""The process reward of Eq. 5.1 (pure).

    r_t = a (D_{t-1} - D_t) + b S_t - c (1 - alpha_t)

- ``D``: error and warning diagnostics relevant to the step (the files its
  edit touches, the file its selector resolves into, and their importers);
  with ``severity_weighting`` errors count 1, warnings 0.5.
- ``S_t`` in {0, 1}: every safety check passed (prepare-rename accepted,
  jail held, no conflict, plan complete).
- ``alpha_t``: the top relocation confidence of the step's selector (1 for
  an exact cursor or range).

Defaults (a, b, c) = (0.5, 0.4, 0.1), the paper's.  The paper's worked
example 2 prints -0.438, which its own formula does not give:
with S_t = 0 the safety term is 0, not -0.4, so Eq. 5.1 gives
0.5 * 0 + 0.4 * 0 - 0.1 * (1 - 0.62) = -0.038.  lanser follows the formula.

Proposition 5.2 (r_t >= 0 when diagnostics do not rise, safety does not
drop and ambiguity does not grow) does not hold as printed: the ambiguity
term penalises the level (1 - alpha_t), not its change, so example 2 itself
is a counterexample.  Under those invariants r_t >= -gamma (1 - alpha_t);
r_t >= 0 once the step is safe and beta >= gamma (true of the defaults), or
once alpha_t = 1.  The tests check this corrected statement.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

__all__ = [
    "DEFAULT_WEIGHTS",
    "VERSIONS",
    "VERSION",
    "Weights",
    "count_diagnostics",
    "process_reward",
    "replay",
    "reward_between",
    "reward_for",
    "selected_version",
]

VERSION = "pr-v1"
#: Every reward lanser can compute; ``pr-v2`` is :mod:`lanser.reward_v2`.  The default stays
#: pr-v1 (the paper's) until the study supports another one (study/README.md).
VERSIONS = ("pr-v1", "pr-v2")


def selected_version(requested: str | None = None) -> str:
    """The reward version asked for (an option, else ``LANSER_REWARD``, else pr-v1)."""
    import os

    from lanser.errors import BadRequest

    v = requested or os.environ.get("LANSER_REWARD") or VERSION
    if v not in VERSIONS:
        raise BadRequest(f"unknown reward version {v!r} (known: {', '.join(VERSIONS)})")
    return v


@dataclass(frozen=True)
class Weights:
    alpha: float = 0.5
    beta: float = 0.4
    gamma: float = 0.1

    def __post_init__(self) -> None:
        if min(self.alpha, self.beta, self.gamma) < 0:
            raise ValueError("reward weights must be non-negative (Proposition 5.2 relies on it)")


DEFAULT_WEIGHTS = Weights()
_SEVERITY_WEIGHT = {"error": 1.0, "warning": 0.5}


def count_diagnostics(
    groups: Iterable[dict[str, Any]], paths: Iterable[str] | None = None, *, severity_weighting: bool = False
) -> float:
    """D over diagnostic groups (bundle ``facts.diagnostics``), restricted to ``paths`` if given."""
    wanted = None if paths is None else set(paths)
    total = 0.0
    for group in groups:
        if wanted is not None and group["path"] not in wanted:
            continue
        counts = group.get("counts") or {}
        for severity in ("error", "warning"):
            n = counts.get(severity, 0)
            total += n * (_SEVERITY_WEIGHT[severity] if severity_weighting else 1.0)
    return total


def process_reward(
    d_prev: float, d_now: float, safety: bool, alpha_conf: float, weights: Weights = DEFAULT_WEIGHTS
) -> dict[str, Any]:
    """The ``processReward`` block of a bundle."""
    if not 0.0 <= alpha_conf <= 1.0:
        raise ValueError(f"alpha_t must be in [0, 1], got {alpha_conf}")
    diag_delta = d_prev - d_now
    s = 1 if safety else 0
    penalty = 1.0 - alpha_conf
    r = weights.alpha * diag_delta + weights.beta * s - weights.gamma * penalty
    return {
        "version": VERSION,
        "r": _clean(r),
        "components": {
            "diag_delta": _clean(diag_delta),
            "d_prev": _clean(d_prev),
            "d_now": _clean(d_now),
            "safety": s,
            "ambiguity_penalty": _clean(penalty),
            "alpha_conf": _clean(alpha_conf),
        },
        "weights": {"alpha": weights.alpha, "beta": weights.beta, "gamma": weights.gamma},
        "explanation": "Eq. 5.1: r = alpha*(D_prev - D_now) + beta*S - gamma*(1 - alpha_conf)",
    }


def _clean(x: float) -> float | int:
    """Round away binary noise (1.894000000002) so bundles and replays agree on a short decimal."""
    y = round(x, 9)
    return int(y) if y == int(y) else y


def reward_between(before: dict[str, Any], after: dict[str, Any], version: str = VERSION) -> dict[str, Any]:
    """r_t from two diagnostics bundles: D (pr-v1) or Phi (pr-v2) of each, S = AFTER is ok,
    alpha = AFTER's resolution confidence (1 without one).  pr-v2 here knows no start state,
    so no line counts as changed."""
    from lanser.errors import BadRequest

    if version not in VERSIONS:
        raise BadRequest(f"unknown reward version {version!r} (known: {', '.join(VERSIONS)})")
    groups_of = []
    for name, bundle in (("BEFORE", before), ("AFTER", after)):
        groups = (bundle.get("facts") or {}).get("diagnostics")
        if groups is None:
            raise BadRequest(f"{name} is not a diagnostics bundle (use `lanser --json diag`)")
        groups_of.append(groups)
    confidence = (after.get("resolution") or {}).get("confidence") or 1.0
    if version == "pr-v2":
        from lanser.reward_v2 import potential, process_reward_v2

        return process_reward_v2(
            potential(groups_of[0]), potential(groups_of[1]), after.get("status") == "ok", float(confidence)
        )
    counts = [count_diagnostics(g) for g in groups_of]
    return process_reward(counts[0], counts[1], after.get("status") == "ok", float(confidence))


def reward_for(
    version: str,
    before: list[dict[str, Any]],
    after: list[dict[str, Any]],
    safe: bool,
    confidence: float,
    previous: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The ``processReward`` block of a speculative step under ``version``, from the diagnostic groups
    before and after it (bundle ``facts.diagnostics``); ``previous``: the block of the same step's
    other languages (a patch over several languages), whose D or Phi adds up with this one's."""
    if version not in VERSIONS:
        from lanser.errors import BadRequest

        raise BadRequest(f"unknown reward version {version!r} (known: {', '.join(VERSIONS)})")
    if previous is not None and previous.get("version", VERSION) != version:
        raise ValueError(f"one step scored with two rewards: {previous.get('version')} and {version}")
    if version == "pr-v2":
        from lanser.reward_v2 import potential, process_reward_v2

        phi = [potential(before), potential(after)]
        if previous is not None:
            phi = [phi[0] + previous["components"]["phi_prev"], phi[1] + previous["components"]["phi_now"]]
        return process_reward_v2(phi[0], phi[1], safe, confidence)
    d = [count_diagnostics(before), count_diagnostics(after)]
    if previous is not None:
        d = [d[0] + previous["components"]["d_prev"], d[1] + previous["components"]["d_now"]]
    return process_reward(d[0], d[1], safe, confidence)


def replay(recorded: dict[str, Any]) -> dict[str, Any]:
    """A recorded ``processReward`` block computed again from its own components and weights, under
    the version it names (pr-v1 when it names none: bundles before pr-v2 carried no other).
    Raises KeyError, TypeError or ValueError when the block is malformed or names an unknown version."""
    version = recorded.get("version", VERSION)
    c, w = recorded["components"], recorded["weights"]
    if version == "pr-v2":
        from lanser.reward_v2 import PotentialWeights, process_reward_v2

        return process_reward_v2(c["phi_prev"], c["phi_now"], bool(c["safety"]), c["alpha_conf"], PotentialWeights(**w))
    if version != VERSION:
        raise ValueError(f"unknown reward version {version!r} (known: {', '.join(VERSIONS)})")
    return process_reward(c["d_prev"], c["d_now"], bool(c["safety"]), c["alpha_conf"], Weights(**w))
