"""lanser.cache.BundleCache: rendered bundles in memory, written to disk off the answer path."""

from __future__ import annotations

import json
from pathlib import Path

from lanser.bundle.hashing import render_json
from lanser.cache import BundleCache, cache_key

KEY = cache_key({"cmd": "hover", "selector": "a.py@L1:C1"}, "sha256:snap", {"lanser": "0"})
DATA = {"status": "ok", "facts": {"hover": {"contents": "é ```x```", "range": [0, 0, 0, 1]}}, "bundleId": "sha256:1"}


def test_put_then_get_serves_the_rendered_text(tmp_path: Path) -> None:
    cache = BundleCache(tmp_path / ".lanser" / "cache")
    assert cache.get_text(KEY) is None
    cache.put(KEY, DATA)
    assert cache.get_text(KEY) == render_json(DATA)
    assert cache.get(KEY) == DATA
    assert (cache.hits, cache.misses) == (2, 1)
    cache.flush()


def test_flush_puts_every_entry_on_disk_whole_and_a_new_cache_reads_it(tmp_path: Path) -> None:
    directory = tmp_path / ".lanser" / "cache"
    cache = BundleCache(directory)
    keys = [cache_key({"i": i}, "s", {}) for i in range(50)]
    for i, key in enumerate(keys):
        cache.put(key, {**DATA, "i": i})
    cache.flush()
    files = sorted(directory.rglob("*.json"))
    assert len(files) == 50
    assert not list(directory.rglob("*.tmp")), "temporary files are renamed into place"
    assert (tmp_path / ".lanser" / ".gitignore").is_file()
    fresh = BundleCache(directory)
    for i, key in enumerate(keys):
        assert fresh.get_text(key) == render_json({**DATA, "i": i})


def test_entries_pushed_out_of_memory_are_still_served(tmp_path: Path) -> None:
    cache = BundleCache(tmp_path / "cache", capacity=2)
    keys = [cache_key({"i": i}, "s", {}) for i in range(6)]
    for i, key in enumerate(keys):
        cache.put(key, {"i": i})
    # Pending or already written: either way the first entry is found again.
    assert cache.get(keys[0]) == {"i": 0}
    cache.flush()
    assert cache.get(keys[1]) == {"i": 1}


def test_a_file_from_elsewhere_is_rendered_again_and_a_damaged_one_is_a_miss(tmp_path: Path) -> None:
    directory = tmp_path / "cache"
    other = cache_key({"other": 1}, "s", {})
    for key, text in ((KEY, json.dumps(DATA, indent=1)), (other, '{"status": "ok", "trunc')):
        (directory / key[:2]).mkdir(parents=True, exist_ok=True)
        (directory / key[:2] / f"{key}.json").write_text(text)
    cache = BundleCache(directory)
    assert cache.get_text(KEY) == render_json(DATA)
    assert cache.get_text(other) is None


def test_a_workspace_it_cannot_write_still_answers_from_memory(tmp_path: Path) -> None:
    blocker = tmp_path / ".lanser"
    blocker.write_text("a file where the cache directory would go")  # mkdir fails, even for root
    cache = BundleCache(blocker / "cache")
    cache.put(KEY, DATA)
    cache.flush()
    assert cache.get(KEY) == DATA
    assert blocker.read_text().startswith("a file")


def test_a_cleared_cache_directory_is_made_again(tmp_path: Path) -> None:
    import shutil

    directory = tmp_path / "cache"
    cache = BundleCache(directory)
    cache.put(KEY, DATA)
    cache.flush()
    shutil.rmtree(directory)
    other = KEY[:2] + "0" * 62  # the same subdirectory as KEY
    cache.put(other, DATA)
    cache.flush()
    assert (directory / other[:2] / f"{other}.json").read_text() == render_json(DATA)
