"""A Debian source package straight from a mirror's pool, when apt's index no longer lists it.

A release's index lists one version of each source package; an update (``+deb13u4``)
replaces the one a dataset pinned (``+deb13u3``), whose files stay in the pool for a while.
apt then refuses ``apt-get source P=V``; the files are still one GET away at
``MIRROR/pool/main/<prefix>/<package>/``.  The ``.dsc`` fetched here is checked against the
task's sha256 by the caller, and every file it names against the ``.dsc``'s own SHA-256
here (and by ``dpkg-source`` again when unpacking): nothing unpinned is used.  Only a source
that names its release (``debian:P=V@trixie``) is looked for here: the pool is every release's,
and a version the machine's own release does not list stays an error that lists the ones it does.
"""

from __future__ import annotations

import hashlib
import re
import urllib.error
import urllib.request
from pathlib import Path

from lanser.harness.errors import InfrastructureError

__all__ = ["dsc_files", "fetch", "pool_dir"]

#: The pools a source may sit in: the main archive's, and a security mirror's.
POOLS = ("pool/main", "pool/updates/main")
_MAX_BYTES = 1 << 30
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9.+~_-]*$")


def pool_dir(package: str) -> str:
    """``jq`` -> ``j/jq``, ``libuv1`` -> ``libu/libuv1`` (Debian's pool layout)."""
    prefix = package[:4] if package.startswith("lib") else package[0]
    return f"{prefix}/{package}"


def dsc_files(dsc: bytes) -> list[tuple[str, str]]:
    """(sha256, file name) of every file a ``.dsc``'s ``Checksums-Sha256`` names."""
    text = dsc.decode("utf-8", "replace")
    m = re.search(r"^Checksums-Sha256:[ \t]*\n((?:[ \t]+\S.*\n?)+)", text, re.M)
    if not m:
        raise InfrastructureError("the .dsc names no Checksums-Sha256", stage="source")
    out = []
    for line in m.group(1).splitlines():
        digest, _size, name = line.split()
        if not _NAME.match(name):
            raise InfrastructureError(f"the .dsc names a file {name!r} that is not a plain name", stage="source")
        out.append((digest.lower(), name))
    return out


def _get(url: str) -> bytes | None:
    try:
        with urllib.request.urlopen(url, timeout=120) as r:  # noqa: S310 - the machine's own mirrors
            data: bytes = r.read(_MAX_BYTES + 1)
    except (urllib.error.URLError, OSError):
        return None
    if len(data) > _MAX_BYTES:
        raise InfrastructureError(f"{url} is larger than {_MAX_BYTES} bytes", stage="source")
    return data


def fetch(package: str, version: str, dest: Path, mirrors: list[str]) -> Path | None:
    """Download ``package=version``'s ``.dsc`` and its files from the first mirror whose pool holds
    them into ``dest``; the ``.dsc``'s path, or ``None`` when no pool has it."""
    upstream = version.split(":", 1)[-1]
    name = f"{package}_{upstream}.dsc"
    if not (_NAME.match(package) and _NAME.match(name)):
        return None
    for mirror in mirrors:
        if not mirror.startswith(("http://", "https://", "file:")):
            continue
        for pool in POOLS:
            base = f"{mirror.rstrip('/')}/{pool}/{pool_dir(package)}/"
            dsc = _get(base + name)
            if dsc is None:
                continue
            for digest, file in dsc_files(dsc):
                data = _get(base + file)
                if data is None:
                    raise InfrastructureError(f"{base}{file}, named by {name}, is not in the pool", stage="source")
                if hashlib.sha256(data).hexdigest() != digest:
                    raise InfrastructureError(f"{base}{file} does not match the sha256 {name} gives", stage="source")
                (dest / file).write_bytes(data)
            (dest / name).write_bytes(dsc)
            return dest / name
    return None
