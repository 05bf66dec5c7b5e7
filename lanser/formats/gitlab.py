"""GitLab's code-quality report (the ``codequality`` report artifact, a JSON array of
issues in Code Climate's shape): description, check_name, fingerprint, severity,
location.path and location.lines.begin."""

from __future__ import annotations

from typing import Any

from lanser.formats.common import findings

__all__ = ["to_gitlab"]

#: GitLab's severities are info, minor, major, critical, blocker.
_SEVERITY = {"error": "major", "warning": "minor", "information": "info", "hint": "info"}


def to_gitlab(bundle: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        {
            "type": "issue",
            "description": f.message.splitlines()[0] if f.message else f.rule,
            "check_name": f.rule,
            "fingerprint": f.fingerprint,
            "severity": _SEVERITY.get(f.severity, "major"),
            "location": {"path": f.path, "lines": {"begin": f.range[0] + 1, "end": f.range[2] + 1}},
        }
        for f in findings(bundle)
    ]
