"""``python -m lanser.harness.study.stats`` says how it is used instead of a traceback."""

from __future__ import annotations

from pathlib import Path

import pytest

from lanser.harness.study import stats


def test_help_and_a_missing_file(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert stats.main(["--help"]) == 0
    assert "usage: python -m lanser.harness.study.stats RESULTS.json" in capsys.readouterr().out
    assert stats.main([str(tmp_path / "nope.json"), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert "no such file" in err and "nope.json" in err
    assert not (tmp_path / "out").exists()
    assert stats.main([]) == 2
