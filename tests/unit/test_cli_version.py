"""`lanser --version` names the pinned servers (a CI log then says what answered)."""

from __future__ import annotations

from click.testing import CliRunner

from lanser import __version__
from lanser.cli.main import cli
from lanser.lsp.pins import PINS


def test_version_names_the_pins() -> None:
    result = CliRunner().invoke(cli, ["--version"])
    assert result.exit_code == 0
    assert result.output.strip() == (
        f"lanser {__version__} (basedpyright {PINS['basedpyright']}, clangd {PINS['clangd']})"
    )
