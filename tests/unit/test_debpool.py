"""Fetching a Debian source from a mirror's pool when the index no longer lists it (a file:// mirror of
our own; the real mirror is exercised by fetching datasets/jq-real-1.7's pinned source)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from lanser.harness.errors import InfrastructureError
from lanser.harness.task import debpool


def mirror(tmp_path: Path, tarball: bytes, listed: bytes | None = None) -> tuple[str, Path]:
    pool = tmp_path / "mirror" / "pool" / "main" / "j" / "jq"
    pool.mkdir(parents=True)
    (pool / "jq_1.0.orig.tar.gz").write_bytes(tarball)
    digest = hashlib.sha256(listed if listed is not None else tarball).hexdigest()
    dsc = f"Format: 3.0 (quilt)\nSource: jq\nChecksums-Sha256:\n {digest} {len(tarball)} jq_1.0.orig.tar.gz\n"
    (pool / "jq_1.0-1.dsc").write_text(dsc)
    dest = tmp_path / "dl"
    dest.mkdir()
    return (tmp_path / "mirror").as_uri(), dest


def test_the_dsc_and_its_files_come_from_the_pool(tmp_path: Path) -> None:
    uri, dest = mirror(tmp_path, b"tarball")
    dsc = debpool.fetch("jq", "1.0-1", dest, ["http://127.0.0.1:9/none", uri])
    assert dsc == dest / "jq_1.0-1.dsc"
    assert (dest / "jq_1.0.orig.tar.gz").read_bytes() == b"tarball"


def test_a_file_that_does_not_match_its_dsc_is_refused(tmp_path: Path) -> None:
    uri, dest = mirror(tmp_path, b"tampered", listed=b"tarball")
    with pytest.raises(InfrastructureError, match="does not match the sha256"):
        debpool.fetch("jq", "1.0-1", dest, [uri])
    assert not (dest / "jq_1.0-1.dsc").exists()


def test_no_pool_holds_it(tmp_path: Path) -> None:
    uri, dest = mirror(tmp_path, b"tarball")
    assert debpool.fetch("jq", "2.0-1", dest, [uri]) is None
    assert debpool.fetch("../jq", "1.0-1", dest, [uri]) is None  # not a package name


def test_pool_layout_and_a_dsc_naming_a_path_is_refused() -> None:
    assert debpool.pool_dir("jq") == "j/jq" and debpool.pool_dir("libuv1") == "libu/libuv1"
    with pytest.raises(InfrastructureError, match="not a plain name"):
        debpool.dsc_files(b"Checksums-Sha256:\n " + b"0" * 64 + b" 1 ../../etc/passwd\n")
