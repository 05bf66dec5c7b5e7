"""A daemon is keyed by the code that runs it, not only by the version string."""

from __future__ import annotations

import importlib.util
import os
import shutil
from pathlib import Path
from types import ModuleType

import lanser.daemon.paths as real_paths


def _load_copy(root: Path) -> ModuleType:
    (root / "lanser" / "daemon").mkdir(parents=True)
    (root / "lanser" / "orchestrator.py").write_text("# lanser's code\n")
    target = root / "lanser" / "daemon" / "paths.py"
    shutil.copy(real_paths.__file__, target)
    spec = importlib.util.spec_from_file_location("paths_copy", target)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_an_edited_source_file_makes_another_daemon(tmp_path: Path) -> None:
    paths = _load_copy(tmp_path)
    before = paths._code_fingerprint()
    assert paths._code_fingerprint() == before
    code = tmp_path / "lanser" / "orchestrator.py"
    os.utime(code, ns=(10**18, 10**18))
    assert paths._code_fingerprint() != before
    touched = paths._code_fingerprint()
    (tmp_path / "lanser" / "daemon" / "__pycache__").mkdir()
    (tmp_path / "lanser" / "daemon" / "__pycache__" / "x.py").write_text("")
    assert paths._code_fingerprint() == touched  # byte-code caches are not code


def test_the_key_of_a_workspace_is_stable_within_one_installation(tmp_path: Path) -> None:
    assert real_paths.daemon_key(str(tmp_path), None, "0.1.0") == real_paths.daemon_key(str(tmp_path), None, "0.1.0")
