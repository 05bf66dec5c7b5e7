"""A Debian source from trixie on a bookworm machine: fetched from the mirrors the machine's apt
sources name (their trixie suites), verified by the .dsc's sha256, unpacked with Debian's
patches; the same version without the suite is not found among bookworm's.  Downloads are
cached under ~/.cache/lanser-tests/sources, so reruns fetch nothing; a failed download fails."""

from __future__ import annotations

from pathlib import Path

import pytest

from lanser.errors import BadRequest
from lanser.harness.errors import InfrastructureError
from lanser.harness.task.sources import materialize
from lanser.harness.task.spec import Source

pytestmark = pytest.mark.integration

CACHE = Path.home() / ".cache" / "lanser-tests" / "sources"
#: cJSON as trixie-security ships it (datasets/cjson-real-1.7.18 builds it).
TRIXIE_CJSON = Source.parse(
    "debian:cjson=1.7.18-3.1+deb13u1@trixie", "57b560dc195f857987986588ba2eb05f5f30d409c8dc715decfb582d5e56ecbf"
)


def test_a_trixie_source_is_fetched_verified_and_unpacked(tmp_path: Path) -> None:
    tree = materialize(TRIXIE_CJSON, tmp_path, cache=CACHE)
    assert "1.7.18-3.1+deb13u1" in (tree / "debian" / "changelog").read_text().splitlines()[0]
    assert (CACHE / "blobs" / str(TRIXIE_CJSON.sha256) / "cjson_1.7.18-3.1+deb13u1.dsc").is_file()
    # Debian's patch for CVE-2025-57052 is applied: the loop upstream fixed in 74e1ff4
    utils = (tree / "cJSON_Utils.c").read_text()
    assert "(pointer[position] >= '0') && (pointer[position] <= '9')" in utils
    assert "(pointer[0] <= '9')" not in utils


def test_a_wrong_sha256_is_refused_naming_the_field(tmp_path: Path) -> None:
    with pytest.raises(BadRequest, match="source.sha256: debian:cjson=1.7.18-3.1\\+deb13u1@trixie"):
        materialize(TRIXIE_CJSON.model_copy(update={"sha256": "0" * 64}), tmp_path, cache=tmp_path / "cache")


def test_without_the_suite_the_version_is_not_among_bookworms(tmp_path: Path) -> None:
    bookworm = TRIXIE_CJSON.model_copy(update={"suite": None})
    with pytest.raises(InfrastructureError, match="not in the configured suites; they list 1.7.15"):
        materialize(bookworm, tmp_path, cache=tmp_path / "cache")
