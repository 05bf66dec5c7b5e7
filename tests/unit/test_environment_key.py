"""Cached answers are keyed by the system beneath them, not only by the workspace."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from lanser.bundle.environment import Interpreter, system_fingerprint
from lanser.orchestrator import Orchestrator


def test_installing_into_the_analysed_environment_changes_the_fingerprint(tmp_path: Path) -> None:
    site = tmp_path / "site-packages"
    site.mkdir()
    before = system_fingerprint(str(site))
    assert system_fingerprint(str(site)) == before  # stable while nothing changes
    (site / "newpkg").mkdir()
    os.utime(site, ns=(10**18, 10**18))  # as a package manager's rename leaves it, whatever the clock's grain
    assert system_fingerprint(str(site)) != before
    assert system_fingerprint(str(tmp_path / "missing")) != before


def test_the_cache_key_environment_follows_the_analysed_site_packages(tmp_path: Path) -> None:
    site = tmp_path / "site-packages"
    site.mkdir()
    (tmp_path / "ws").mkdir()
    interp = Interpreter(sys.executable, "3.11.7", "cpython", sys.prefix, str(site), str(tmp_path / "stdlib"))
    orch = Orchestrator(tmp_path / "ws", interpreter=interp, cache=False)
    before = orch._environment_key()
    (site / "newpkg-1.0.dist-info").mkdir()
    os.utime(site, ns=(10**18, 10**18))
    after = orch._environment_key()
    assert before["system"] != after["system"]
    assert {k: v for k, v in before.items() if k != "system"} == {k: v for k, v in after.items() if k != "system"}
