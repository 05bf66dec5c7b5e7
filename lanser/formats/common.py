"""What the CI formats share: the findings of a diagnostics bundle, in order, each with a
fingerprint that survives edits elsewhere in the file."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

__all__ = ["Finding", "NotDiagnostics", "findings", "rule_id"]


class NotDiagnostics(ValueError):
    """The bundle is not a successful ``diagnostics`` answer (an error bundle, another command)."""


@dataclass(frozen=True)
class Finding:
    path: str  # workspace-relative, '/'-separated, as the bundle says
    rule: str
    source: str
    severity: str  # the bundle's: error, warning, information, hint
    message: str
    range: tuple[int, int, int, int]  # 0-based, end exclusive, in the bundle's position encoding
    fingerprint: str  # hex sha256


def rule_id(diagnostic: dict[str, Any]) -> str:
    """The server's own code (basedpyright's reportX, clang's err_/warn_ names); a diagnostic
    without one is named after its source, so every result still has a rule."""
    code = diagnostic.get("code")
    if code not in (None, ""):
        return str(code)
    return f"{diagnostic.get('source') or 'lanser'}/uncoded"


def _check(bundle: dict[str, Any]) -> list[dict[str, Any]]:
    if bundle.get("status") != "ok" or (bundle.get("request") or {}).get("cmd") != "diagnostics":
        raise NotDiagnostics("not a successful diagnostics bundle")
    groups = (bundle.get("facts") or {}).get("diagnostics")
    if not isinstance(groups, list):
        raise NotDiagnostics("the bundle has no facts.diagnostics")
    return groups


def findings(bundle: dict[str, Any]) -> list[Finding]:
    """Every diagnostic of ``bundle`` in the bundle's (deterministic) order.

    The fingerprint hashes path, rule, message and the n-th repeat of that triple in the
    file, not the line: a finding keeps its fingerprint when code above it moves, and two
    identical findings in one file still differ."""
    out: list[Finding] = []
    for group in _check(bundle):
        path = str(group["path"])
        seen: dict[tuple[str, str], int] = {}
        for d in group.get("diagnostics") or []:
            rule, message = rule_id(d), str(d.get("message") or "")
            nth = seen.get((rule, message), 0)
            seen[(rule, message)] = nth + 1
            digest = hashlib.sha256("\0".join((path, rule, message, str(nth))).encode("utf-8", "surrogatepass"))
            sl, sc, el, ec = (int(x) for x in d["range"])
            out.append(
                Finding(
                    path=path,
                    rule=rule,
                    source=str(d.get("source") or ""),
                    severity=str(d.get("severity") or "error"),
                    message=message,
                    range=(sl, sc, el, ec),
                    fingerprint=digest.hexdigest(),
                )
            )
    return out
