"""Converters from a diagnostics Analysis Bundle to the formats CI systems read.

Pure functions (a bundle dict in, a JSON-ready value out); the CLI only picks one.
``sarif`` is SARIF 2.1.0 (GitHub code scanning and most SARIF viewers),
``gitlab`` is GitLab's code-quality report.
"""

from __future__ import annotations

from lanser.formats.common import Finding, findings
from lanser.formats.gitlab import to_gitlab
from lanser.formats.sarif import to_sarif

__all__ = ["FORMATS", "Finding", "findings", "to_gitlab", "to_sarif"]

#: ``lanser diag --format NAME`` -> converter.
FORMATS = {"sarif": to_sarif, "gitlab": to_gitlab}
