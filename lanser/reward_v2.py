"""Process reward v2 (``pr-v2``): potential-based and severity-weighted (pure).

    r_t = Phi(s_t) - Phi(s_{t-1})
    Phi(s) = -a * sum over the diagnostics d of s:  w(severity of d) * (m if d is on a changed line else 1)

Why a potential.  Eq. 5.1 (``pr-v1``, :mod:`lanser.reward`) pays ``b`` for
every safe step, so an agent that adds a fault and reverts it earns one
step's ``b`` more than a clean fix, and a longer trajectory earns more.  A
reward of the form Phi(s_t) - Phi(s_{t-1}) sums to Phi(s_T) - Phi(s_0)
whatever the path: a trajectory's total depends only on where it started
and ended, fault-then-revert scores exactly what the clean path scores, and
the process signal lives where it belongs, in how each step's credit is
spread (potential-based shaping, which keeps the optimal policy).

Why severity weights.  Under pr-v1 an error and a warning count the same,
and basedpyright's strict defaults produce hundreds of warnings in a real
project, so a step that adds one error while it removes two warnings was
paid.  Here errors dominate (1.0), warnings weigh little (0.05: twenty
warnings are one error), information and hints nothing.

Why changed lines.  A diagnostic on a line the trajectory changed (with
respect to its starting state) is one the agent caused or touched; the
same diagnostic elsewhere is the project's old noise.  It weighs ``m``
(2) times more.  "Changed" is measured against the fixed start state, so
Phi is still a function of the state alone and the sum still telescopes.

Safety and ambiguity are recorded in the components but do not enter
``r``: a step whose edit does not apply leaves the state, hence Phi,
unchanged (r = 0), which is the potential's own answer; paying for them
per step is exactly what made pr-v1 count steps.

Rewards are quantised to 1e-6 (Phi is rounded to an integer number of
micro-units before the difference), so the telescoping is exact at the
reward's resolution, not merely up to float noise.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

__all__ = ["DEFAULT_POTENTIAL", "VERSION_V2", "PotentialWeights", "changed_lines", "potential", "process_reward_v2"]

VERSION_V2 = "pr-v2"
_QUANTUM = 1_000_000


@dataclass(frozen=True)
class PotentialWeights:
    scale: float = 0.5  #: ``a``: pr-v1's diagnostics weight, so the two rewards share a scale
    error: float = 1.0
    warning: float = 0.05
    information: float = 0.0
    hint: float = 0.0
    changed: float = 2.0  #: multiplier of a diagnostic on a line changed since the start state

    def __post_init__(self) -> None:
        if min(asdict(self).values()) < 0:
            raise ValueError("potential weights must be non-negative")

    def severity(self, name: str) -> float:
        key = {"info": "information", "informational": "information"}.get(name, name)
        return float(getattr(self, key, 0.0)) if key in ("error", "warning", "information", "hint") else 0.0


DEFAULT_POTENTIAL = PotentialWeights()


def potential(
    groups: Iterable[Mapping[str, Any]],
    changed: Mapping[str, Iterable[int]] | None = None,
    paths: Iterable[str] | None = None,
    weights: PotentialWeights = DEFAULT_POTENTIAL,
) -> float:
    """Phi of a state from its diagnostic groups (bundle ``facts.diagnostics``), restricted to ``paths``.

    ``changed``: path -> 0-based lines changed since the start state (None: nothing is counted as
    changed).  A group with a ``diagnostics`` list is weighed diagnostic by diagnostic (its first
    line decides "changed"); a group with only ``counts`` (what stored results keep) by its counts.
    """
    wanted = None if paths is None else set(paths)
    lines = {p: set(v) for p, v in (changed or {}).items()}
    total = 0.0
    for group in groups:
        path = group.get("path")
        if wanted is not None and path not in wanted:
            continue
        diags = group.get("diagnostics")
        if isinstance(diags, list):
            touched = lines.get(str(path), set())
            for d in diags:
                rng = d.get("range") or [None]
                on_changed = bool(touched) and isinstance(rng[0], int) and rng[0] in touched
                total += weights.severity(str(d.get("severity", ""))) * (weights.changed if on_changed else 1.0)
        else:
            for severity, n in (group.get("counts") or {}).items():
                total += weights.severity(str(severity)) * float(n)
    return _quantise(-weights.scale * total)


def _quantise(x: float) -> float:
    return round(x * _QUANTUM) / _QUANTUM


def _clean(x: float) -> float | int:
    y = round(x, 6)
    return int(y) if y == int(y) else y


def process_reward_v2(
    phi_prev: float, phi_now: float, safety: bool, alpha_conf: float, weights: PotentialWeights = DEFAULT_POTENTIAL
) -> dict[str, Any]:
    """The ``processReward`` block of a step under pr-v2 (``phi_*`` from :func:`potential`)."""
    if not 0.0 <= alpha_conf <= 1.0:
        raise ValueError(f"alpha_t must be in [0, 1], got {alpha_conf}")
    prev_q, now_q = round(phi_prev * _QUANTUM), round(phi_now * _QUANTUM)
    return {
        "version": VERSION_V2,
        "r": _clean((now_q - prev_q) / _QUANTUM),
        "components": {
            "phi_prev": _clean(prev_q / _QUANTUM),
            "phi_now": _clean(now_q / _QUANTUM),
            "safety": 1 if safety else 0,
            "alpha_conf": _clean(alpha_conf),
        },
        "weights": asdict(weights),
        "explanation": "pr-v2: r = Phi(s_t) - Phi(s_t-1), Phi = -a * sum of severity-weighted diagnostics "
        "(x changed on lines changed since the start); safety and alpha are recorded, not paid",
    }


def changed_lines(start: str, now: str) -> set[int]:
    """0-based lines of ``now`` that are not in ``start`` (a line-level diff; inserted or replaced lines)."""
    import difflib

    out: set[int] = set()
    a, b = start.splitlines(), now.splitlines()
    for tag, _i1, _i2, j1, j2 in difflib.SequenceMatcher(a=a, b=b, autojunk=False).get_opcodes():
        if tag in ("replace", "insert"):
            out.update(range(j1, j2))
    return out
