"""Are a refactoring's bundles byte-identical?  bundleIds of the same requests at two commits.

Runs one request per command (Python and C, previews included) against a
fresh copy of examples/sample with ``--no-daemon`` for each commit, the
commit's code imported from a temporary git worktree, and prints the
bundleIds side by side.  Exit status 1 when any differs.

    .venv/bin/python bench/bundle_ids.py --before 0681374 --after HEAD
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
REQUESTS: list[list[str]] = [
    ["def", "py://pkg.shapes#total_area"],
    ["refs", "py://pkg.shapes#total_area"],
    ["hover", "py://pkg.shapes#total_area"],
    ["symbols", "pkg/shapes.py"],
    ["diag", "pkg/shapes.py"],
    ["locate", "py://pkg.shapes#total_area"],
    ["rename", "py://pkg.shapes#total_area", "total_area2"],
    ["refs", "c://csrc/geometry.c#manhattan"],
    ["rename", "c://csrc/geometry.c#manhattan", "taxicab"],
    ["diag"],
]


def _git(*args: str, cwd: Path = REPO) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout.strip()


def bundle_ids(rev: str, scratch: Path) -> list[str]:
    """The bundleId (or error code) of each request, answered by the code at ``rev``."""
    tree = scratch / f"tree-{rev}"
    _git("worktree", "add", "--detach", "-q", str(tree), rev)
    try:
        ws = scratch / f"ws-{rev}"
        shutil.copytree(REPO / "examples" / "sample", ws, ignore=shutil.ignore_patterns(".lanser"))
        for args in (
            ["init", "-q"],
            ["add", "-A"],
            ["-c", "user.email=b@i", "-c", "user.name=b", "commit", "-qm", "s"],
        ):
            _git(*args, cwd=ws)
        env = {**os.environ, "PYTHONPATH": str(tree)}
        out = []
        for req in REQUESTS:
            proc = subprocess.run(
                [
                    sys.executable,
                    "-c",
                    "from lanser.cli.main import main; main()",
                    "--no-daemon",
                    "--json",
                    "-w",
                    str(ws),
                    *req,
                ],
                capture_output=True,
                text=True,
                env=env,
            )
            try:
                data = json.loads(proc.stdout)
            except json.JSONDecodeError:
                out.append(f"<no JSON, exit {proc.returncode}>")
                continue
            out.append(str(data.get("bundleId") or (data.get("error") or {}).get("code")))
        return out
    finally:
        _git("worktree", "remove", "--force", str(tree))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--before", required=True, help="the commit before the refactoring")
    parser.add_argument("--after", default="HEAD", help="the commit after it (default HEAD)")
    ns = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="lanser-ids-") as tmp:
        before, after = bundle_ids(ns.before, Path(tmp)), bundle_ids(ns.after, Path(tmp))
    differ = 0
    for req, b, a in zip(REQUESTS, before, after, strict=True):
        same = b == a
        differ += not same
        print(f"{'same' if same else 'DIFF'}  {' '.join(req):55s} {b[:19]}  {a[:19]}")
    print(f"{len(REQUESTS) - differ}/{len(REQUESTS)} bundles identical")
    return 1 if differ else 0


if __name__ == "__main__":
    raise SystemExit(main())
