"""A Debian source from a release other than the machine's (``debian:jq=1.7.1-6@trixie``): the
``suite`` field, its short form, the task keys it leaves alone, and the deb-src entries it asks the
machine's own mirrors for.  No network, no Docker."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pydantic import ValidationError

from lanser.harness.env.apt_sources import Entry, release_entries
from lanser.harness.task.sources import deb_src_lines
from lanser.harness.task.spec import Source, TaskSpec, load_tasks

SHA = "cd" * 32


def test_a_suite_parses_and_formats_back() -> None:
    source = Source.parse("debian:jq=1.7.1-6+deb13u4@trixie", SHA)
    assert (source.package, source.version, source.suite) == ("jq", "1.7.1-6+deb13u4", "trixie")
    assert source.spec() == "debian:jq=1.7.1-6+deb13u4@trixie"
    assert Source.parse("debian:zlib=1:1.2.13.dfsg-1").suite is None


@pytest.mark.parametrize(
    "text", ["debian:jq=1.7.1-6@Trixie", "debian:jq=1.7.1-6@trixie-security", "debian:jq=1.7.1-6@", "debian:jq=@sid"]
)
def test_a_bad_suite_is_refused(text: str) -> None:
    with pytest.raises(ValidationError):
        Source.parse(text)


def test_only_a_debian_source_takes_a_suite() -> None:
    with pytest.raises(ValidationError, match="takes no suite"):
        Source.model_validate({"kind": "pypi", "name": "six", "version": "1", "suite": "trixie"})


def test_the_suite_is_dumped_only_when_set() -> None:
    plain = Source.parse("debian:jq=1.6-2.1", SHA)
    assert "suite" not in plain.model_dump(mode="json")
    assert "suite" not in json.loads(plain.model_dump_json())
    newer = Source.parse("debian:jq=1.7.1-6@trixie", SHA)
    assert newer.model_dump(mode="json")["suite"] == "trixie"
    assert Source.model_validate_json(newer.model_dump_json()) == newer


def test_a_task_keeps_its_key_without_a_suite_and_changes_it_with_one(tmp_path: Path) -> None:
    raw = {
        "id": "t/1",
        "language": "c",
        "source": {"kind": "debian", "package": "jq", "version": "1.7.1-6", "sha256": SHA},
        "commands": {"build": "make", "test": "make test"},
        "problem": "p",
        "gold_patch": "",
    }
    (tmp_path / "tasks.jsonl").write_text(
        json.dumps(raw) + "\n" + json.dumps({**raw, "id": "t/2", "source": {**raw["source"], "suite": "trixie"}}) + "\n"
    )
    plain, newer = load_tasks(tmp_path / "tasks.jsonl")
    assert newer.source.suite == "trixie"
    assert plain.key() != newer.model_copy(update={"id": "t/1"}).key()
    # the key a task without a suite had before the field existed: the same dump, no "suite" in it
    assert "suite" not in plain.model_dump(mode="json")["source"]
    assert TaskSpec.model_validate(plain.model_dump(mode="json")).key() == plain.key()


def _etc_apt(tmp_path: Path) -> Path:
    (tmp_path / "sources.list.d").mkdir()
    (tmp_path / "sources.list.d" / "debian.sources").write_text(
        "Types: deb\nURIs: http://mirror.example/debian\nSuites: bookworm bookworm-updates\nComponents: main\n"
        "Signed-By: /usr/share/keyrings/k.gpg\n\n"
        "Types: deb\nURIs: http://mirror.example/debian-security\nSuites: bookworm-security\nComponents: main\n"
    )
    (tmp_path / "sources.list").write_text("deb [arch=amd64] http://other.example/apt stable main\n")
    return tmp_path


def test_deb_src_lines_ask_the_same_mirrors_for_another_release(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("LANSER_DEBIAN_MIRROR", raising=False)
    etc = _etc_apt(tmp_path)
    assert deb_src_lines(etc, suite="trixie") == [
        "deb-src [signed-by=/usr/share/keyrings/k.gpg] http://mirror.example/debian trixie main",
        "deb-src [signed-by=/usr/share/keyrings/k.gpg] http://mirror.example/debian trixie-updates main",
        "deb-src http://mirror.example/debian-security trixie-security main",
    ]
    # sid has no -updates or -security suite: asking for them would fail apt-get update
    assert deb_src_lines(etc, suite="sid") == [
        "deb-src [signed-by=/usr/share/keyrings/k.gpg] http://mirror.example/debian sid main"
    ]
    assert deb_src_lines(etc, suite="bookworm") == deb_src_lines(etc)


def test_deb_src_lines_with_a_mirror_set(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("LANSER_DEBIAN_MIRROR", "http://local.example/debian")
    assert deb_src_lines(tmp_path, suite="trixie") == [
        "deb-src http://local.example/debian trixie main",
        "deb-src http://local.example/debian trixie-updates main",
    ]
    assert deb_src_lines(tmp_path, suite="sid") == ["deb-src http://local.example/debian sid main"]


def test_release_entries_rename_only_the_machines_release() -> None:
    entries = [
        Entry("http://m/debian", "bookworm", "main"),
        Entry("http://m/debian", "bookworm-backports", "main", options="[arch=amd64] "),
        Entry("http://m/debian", "bullseye", "main"),
        Entry("http://o/apt", "stable", "main"),
    ]
    assert [(e.suite, e.options) for e in release_entries(entries, "bookworm", "trixie")] == [
        ("trixie", ""),
        ("trixie-backports", "[arch=amd64] "),
    ]
    assert release_entries(entries, "bookworm") == entries[:2]


def test_bench_generate_reads_the_suite_too() -> None:
    from lanser.cli.bench_generate import parse_source

    source = parse_source("debian:cjson=1.7.18-3.1+deb13u1@trixie", SHA)
    assert (source.version, source.suite, source.sha256) == ("1.7.18-3.1+deb13u1", "trixie", SHA)
    assert parse_source("debian:cjson=1.7.15-1+deb12u4", SHA).suite is None
