"""lanser.cache.BundleCache: rendered bundles in memory, committed to SQLite off the answer path."""

from __future__ import annotations

import json
import shutil
import sqlite3
import threading
from pathlib import Path

from lanser.bundle.hashing import render_json
from lanser.cache import DB_NAME, BundleCache, cache_key

KEY = cache_key({"cmd": "hover", "selector": "a.py@L1:C1"}, "sha256:snap", {"lanser": "0"})
DATA = {"status": "ok", "facts": {"hover": {"contents": "é ```x```", "range": [0, 0, 0, 1]}}, "bundleId": "sha256:1"}


def rows(directory: Path) -> dict[str, str]:
    with sqlite3.connect(directory / DB_NAME) as db:
        return dict(db.execute("SELECT key, text FROM bundles").fetchall())


def test_put_then_get_serves_the_rendered_text(tmp_path: Path) -> None:
    cache = BundleCache(tmp_path / ".lanser" / "cache")
    assert cache.get_text(KEY) is None
    cache.put(KEY, DATA)
    assert cache.get_text(KEY) == render_json(DATA)
    assert cache.get(KEY) == DATA
    assert (cache.hits, cache.misses) == (2, 1)
    cache.close()


def test_close_commits_every_entry_and_a_new_cache_reads_them(tmp_path: Path) -> None:
    directory = tmp_path / ".lanser" / "cache"
    cache = BundleCache(directory)
    keys = [cache_key({"i": i}, "s", {}) for i in range(300)]
    for i, key in enumerate(keys):
        cache.put(key, {**DATA, "i": i})
    cache.close()
    assert not [t for t in threading.enumerate() if t.name == "lanser-cache-writer" and t.is_alive()]
    assert rows(directory) == {key: render_json({**DATA, "i": i}) for i, key in enumerate(keys)}
    assert (tmp_path / ".lanser" / ".gitignore").is_file()
    fresh = BundleCache(directory)
    for i, key in enumerate(keys):
        assert fresh.get_text(key) == render_json({**DATA, "i": i})
    assert fresh.get_text(cache_key({"i": -1}, "s", {})) is None
    fresh.close()


def test_entries_pushed_out_of_memory_are_still_served(tmp_path: Path) -> None:
    cache = BundleCache(tmp_path / "cache", capacity=2)
    keys = [cache_key({"i": i}, "s", {}) for i in range(6)]
    for i, key in enumerate(keys):
        cache.put(key, {"i": i})
    # Pending or already committed: either way the first entry is found again.
    assert cache.get(keys[0]) == {"i": 0}
    cache.flush()
    assert cache.get(keys[1]) == {"i": 1}
    cache.close()


def test_a_row_from_elsewhere_is_rendered_again_and_a_damaged_one_is_a_miss(tmp_path: Path) -> None:
    directory = tmp_path / "cache"
    cache = BundleCache(directory)
    other = cache_key({"other": 1}, "s", {})
    cache.put(KEY, DATA)
    cache.close()
    with sqlite3.connect(directory / DB_NAME) as db:
        db.execute("UPDATE bundles SET text = ? WHERE key = ?", (json.dumps(DATA, indent=1), KEY))
        db.execute("INSERT INTO bundles VALUES (?, ?)", (other, '{"status": "ok", "trunc'))
    fresh = BundleCache(directory)
    assert fresh.get_text(KEY) == render_json(DATA)
    assert fresh.get_text(other) is None
    fresh.close()


def test_a_workspace_it_cannot_write_still_answers_from_memory(tmp_path: Path) -> None:
    blocker = tmp_path / ".lanser"
    blocker.write_text("a file where the cache directory would go")  # mkdir fails, even for root
    cache = BundleCache(blocker / "cache")
    cache.put(KEY, DATA)
    cache.flush()
    assert cache.get(KEY) == DATA
    assert blocker.read_text().startswith("a file")
    cache.close()


def test_a_damaged_database_is_a_miss_not_an_error(tmp_path: Path) -> None:
    directory = tmp_path / "cache"
    directory.mkdir()
    (directory / DB_NAME).write_bytes(b"not a database at all" * 100)
    cache = BundleCache(directory)
    assert cache.get_text(KEY) is None
    cache.put(KEY, DATA)
    cache.flush()
    assert cache.get_text(KEY) == render_json(DATA)  # from memory
    cache.close()


def test_a_deleted_cache_directory_is_made_again_by_the_next_cache(tmp_path: Path) -> None:
    directory = tmp_path / "cache"
    cache = BundleCache(directory)
    cache.put(KEY, DATA)
    cache.close()
    shutil.rmtree(directory)
    again = BundleCache(directory)
    assert again.get_text(KEY) is None
    again.put(KEY, DATA)
    again.close()
    assert rows(directory) == {KEY: render_json(DATA)}


def test_a_store_locked_by_another_process_for_a_while_is_written_after_not_given_up(tmp_path: Path) -> None:
    """Another lanser holding the database past the busy timeout delays the commit; it does not
    turn the disk cache off for the rest of the daemon's life."""
    directory = tmp_path / ".lanser" / "cache"
    first = BundleCache(directory)
    first.put(KEY, DATA)
    first.close()  # the database exists
    other = sqlite3.connect(str(directory / DB_NAME), isolation_level=None, check_same_thread=False)
    other.execute("BEGIN EXCLUSIVE")
    cache = BundleCache(directory)
    key = cache_key({"locked": True}, "s", {})
    cache.put(key, {**DATA, "locked": True})
    released = threading.Timer(3.0, lambda: other.execute("COMMIT"))  # past the 2 s busy timeout
    released.start()
    try:
        cache.close()
    finally:
        released.join()
        other.close()
    assert not cache._broken
    assert rows(directory)[key] == render_json({**DATA, "locked": True})
