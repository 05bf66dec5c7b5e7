"""The Linux source from Debian: the ``linux-source-X.Y`` binary package, pinned by version and sha256.

``linux-source-6.1`` is a binary package that carries the source as one
tarball (``/usr/src/linux-source-6.1.tar.xz``), so it is fetched with
``apt-get download NAME=VERSION`` from whatever mirror the machine's apt is
configured with, its ``.deb`` checked against the pinned sha256, and the
tarball unpacked.  The ``.deb`` is kept in the cache: a second fetch on the
same machine reads nothing from the network.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from lanser.harness.errors import InfrastructureError

__all__ = ["LINUX_6_1", "KernelPackage", "fetch_deb", "sha256_file", "unpack"]

_STAGE = "kernel-source"


@dataclass(frozen=True)
class KernelPackage:
    """One pinned ``linux-source`` package."""

    name: str
    version: str
    sha256: str

    @property
    def series(self) -> str:
        """``6.1`` for ``linux-source-6.1``."""
        return self.name.removeprefix("linux-source-")

    @property
    def release(self) -> str:
        """The upstream release, ``6.1.176`` for ``6.1.176-1``."""
        return self.version.split(":")[-1].rsplit("-", 1)[0]

    @property
    def deb_name(self) -> str:
        return f"{self.name}_{self.version.split(':')[-1]}_all.deb"


#: Linux 6.1 as Debian bookworm ships it (main archive, July 2026 point release).
LINUX_6_1 = KernelPackage(
    "linux-source-6.1", "6.1.176-1", "9305d1a151b8e83dcb88aa11361e7b9513f0c252bdf7f5647e4542762d99c094"
)


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def fetch_deb(pkg: KernelPackage, cache: Path) -> Path:
    """The package's ``.deb`` in ``cache``, downloaded with apt if missing; sha256 checked."""
    cache.mkdir(parents=True, exist_ok=True)
    deb = cache / pkg.deb_name
    if not deb.is_file():
        with tempfile.TemporaryDirectory(dir=cache) as tmp:
            proc = _download(pkg, Path(tmp))
            if proc.returncode != 0 and os.geteuid() == 0:
                # A fresh machine's package lists may predate the pinned version: refresh once.
                subprocess.run(["apt-get", "update", "-q"], capture_output=True, text=True, timeout=600)
                proc = _download(pkg, Path(tmp))
            got = sorted(Path(tmp).glob("*.deb"))
            if proc.returncode != 0 or not got:
                raise InfrastructureError(
                    f"apt-get download {pkg.name}={pkg.version} failed (is that version in the apt sources? "
                    "`apt-cache policy " + pkg.name + "` lists what is)",
                    stage=_STAGE,
                    log_tail="\n".join((proc.stderr or proc.stdout).splitlines()[-10:]),
                )
            shutil.move(str(got[0]), deb)
    digest = sha256_file(deb)
    if digest != pkg.sha256:
        bad = deb.with_suffix(".deb.mismatch")
        deb.replace(bad)
        raise InfrastructureError(
            f"{deb.name}: sha256 {digest} is not the pinned {pkg.sha256} (kept aside as {bad.name})", stage=_STAGE
        )
    return deb


def _download(pkg: KernelPackage, dest: Path) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(
            ["apt-get", "download", f"{pkg.name}={pkg.version}"], cwd=dest, capture_output=True, text=True, timeout=1800
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise InfrastructureError(f"apt-get download {pkg.name}={pkg.version}: {exc}", stage=_STAGE) from exc


def unpack(pkg: KernelPackage, deb: Path, dest: Path) -> Path:
    """Unpack the source tarball of ``deb`` into ``dest`` (made fresh); returns the tree's root."""
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    tarball = f"usr/src/{pkg.name}.tar.xz"
    try:
        with tempfile.TemporaryDirectory(dir=dest.parent) as tmp:
            subprocess.run(["dpkg-deb", "-x", str(deb), tmp], check=True, capture_output=True, text=True)
            subprocess.run(
                ["tar", "-xf", str(Path(tmp, tarball)), "-C", str(dest)], check=True, capture_output=True, text=True
            )
    except (OSError, subprocess.CalledProcessError) as exc:
        tail = getattr(exc, "stderr", None)
        raise InfrastructureError(
            f"cannot unpack {tarball} from {deb.name}: {exc}", stage=_STAGE, log_tail=tail
        ) from exc
    root = dest / pkg.name
    if not (root / "Makefile").is_file():
        raise InfrastructureError(f"{deb.name} holds no kernel tree at {pkg.name}/", stage=_STAGE)
    return root
