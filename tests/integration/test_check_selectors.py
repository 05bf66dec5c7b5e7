"""``check`` names where each appeared and disappeared diagnostic is (issue 20).

The bug this pins: appeared/disappeared were (path, severity, code, message)
without any position, so an agent could not go to what its patch broke.
Each now carries a cursor selector: into the patched content for an appeared
one (valid once the patch is applied), into the file as it is for a
disappeared one.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.integration

PATCH = """\
--- a/pkg/report.py
+++ b/pkg/report.py
@@ -11,5 +11,5 @@ def describe(radius: float, side: float) -> str:


 def broken() -> int:
-    label: int = describe(1.0, 2.0)  # a str is not an int
-    return label
+    label: str = describe(1.0, 2.0)
+    return len(label) + undefined_name
"""


def test_appeared_and_disappeared_carry_selectors(sample: Path, run_json: Any, tmp_path: Path) -> None:
    patch = tmp_path / "p.diff"
    patch.write_text(PATCH)
    code, b = run_json("-w", str(sample), "check", str(patch))
    assert code == 0, b
    spec = b["edits"]["speculative"]
    appeared = {tuple(x[:4]): x[4] for x in spec["appeared"]}
    disappeared = {tuple(x[:4]): x[4] for x in spec["disappeared"]}
    (where,) = [sel for (path, sev, _, msg), sel in appeared.items() if "undefined_name" in msg and sev == "error"]
    assert where == "pkg/report.py@L15:C25"
    (gone,) = [sel for (path, sev, code_, _), sel in disappeared.items() if code_ == "reportAssignmentType"]
    assert gone == "pkg/report.py@L14:C18"
