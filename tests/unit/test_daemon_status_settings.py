"""``lanser daemon status`` says which of lanser's settings its daemon runs under: the ones its
key holds (lanser.daemon.paths), so a second daemon for one workspace is explained."""

from __future__ import annotations

from pathlib import Path

import pytest

from lanser.daemon.server import Daemon


def test_status_names_the_lanser_settings_of_the_daemon(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LANSER_SANDBOX", "off")
    monkeypatch.setenv("LANSER_REWARD", "pr-v2")
    monkeypatch.delenv("LANSER_DEBUG", raising=False)
    monkeypatch.setenv("GIT_AUTHOR_NAME", "someone")  # keyed, but not lanser's: not shown
    daemon = Daemon(tmp_path, tmp_path / "d.sock", 60.0, None)
    settings = daemon.status()["settings"]
    assert settings["LANSER_SANDBOX"] == "off" and settings["LANSER_REWARD"] == "pr-v2"
    assert "LANSER_DEBUG" not in settings
    assert all(name.startswith("LANSER_") for name in settings)
