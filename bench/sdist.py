"""PyPI sdists for the benchmarks: downloaded once into ~/.cache/lanser-bench, unpacked once."""

from __future__ import annotations

import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

__all__ = ["CACHE", "fetch"]

CACHE = Path.home() / ".cache" / "lanser-bench"


def fetch(project: str, version: str) -> Path:
    """The unpacked sdist of ``project==version`` (its top directory), downloaded once."""
    dest = CACHE / "src" / f"{project}-{version}"
    if dest.is_dir() and any(p.is_dir() for p in dest.iterdir()):
        return next(p for p in dest.iterdir() if p.is_dir())
    CACHE.mkdir(parents=True, exist_ok=True)
    archive = _find_archive(project, version)
    if archive is None:
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "download",
                "-q",
                "--no-deps",
                "--no-binary",
                ":all:",
                f"{project}=={version}",
                "-d",
                str(CACHE),
            ],
            check=True,
            timeout=600,
        )
        archive = _find_archive(project, version)
        if archive is None:
            raise SystemExit(f"pip download gave no sdist for {project}=={version}")
    dest.mkdir(parents=True, exist_ok=True)
    if archive.name.endswith(".zip"):
        with zipfile.ZipFile(archive) as zf:
            zf.extractall(dest)
    else:
        with tarfile.open(archive) as tf:
            tf.extractall(dest, filter="data")
    return next(p for p in dest.iterdir() if p.is_dir())


def _find_archive(project: str, version: str) -> Path | None:
    for p in sorted(CACHE.glob("*")):
        low = p.name.lower()
        if low.startswith(f"{project.lower()}-{version}.") and low.endswith((".tar.gz", ".zip", ".tar.bz2")):
            return p
    return None
