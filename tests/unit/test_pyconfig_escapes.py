"""basedpyright path settings that lead out of the workspace (lanser/lsp/pyconfig.py) and
compile_flags.txt flags that would be dropped (lanser.compdb.flags_escapes)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from lanser.compdb import flags_escapes
from lanser.lsp.pyconfig import config_escapes, escapes

ROOT = "/ws"


def check(config: dict[str, object]) -> list[str]:
    return config_escapes(config, ROOT, resolve=os.path.normpath)


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        ({"extraPaths": ["/etc", "src"]}, ["extraPaths=/etc"]),
        ({"extraPaths": ["../other"]}, ["extraPaths=../other"]),
        ({"stubPath": "/root/stubs"}, ["stubPath=/root/stubs"]),
        ({"venvPath": "/home/u/venvs", "venv": "v"}, ["venvPath=/home/u/venvs"]),
        ({"typeshedPath": "../../ts"}, ["typeshedPath=../../ts"]),
        ({"include": ["/etc"]}, ["include=/etc"]),
        (
            {"executionEnvironments": [{"root": "/", "extraPaths": ["/opt"]}]},
            [
                "executionEnvironments[0].root=/",
                "executionEnvironments[0].extraPaths=/opt",
            ],
        ),
        ({"extraPaths": ["src", "./lib", "/ws/vendor"], "stubPath": "typings", "venvPath": ".", "venv": ".venv"}, []),
        ({"exclude": ["/etc"], "pythonVersion": "3.11"}, []),
    ],
)
def test_path_settings_outside_the_workspace_are_named(config: dict[str, object], expected: list[str]) -> None:
    assert check(config) == expected


def test_home_relative_paths_count_as_outside() -> None:
    assert config_escapes({"extraPaths": ["~/x"]}, ROOT) == ["extraPaths=~/x"]


def test_both_files_are_read_and_comments_allowed(tmp_path: Path) -> None:
    (tmp_path / "pyrightconfig.json").write_text('{\n  // host\n  "extraPaths": ["/etc",], /* more */\n}\n')
    (tmp_path / "pyproject.toml").write_text(
        '[tool.basedpyright]\nstubPath = "/root"\n[tool.pyright]\nvenvPath = "."\n'
    )
    assert escapes(str(tmp_path)) == ["extraPaths=/etc", "[tool.basedpyright] stubPath=/root"]


def test_an_unparsable_config_is_judged_by_every_path_in_it(tmp_path: Path) -> None:
    (tmp_path / "pyrightconfig.json").write_text('{"extraPaths": ["/etc" "src"] garbage "../up"')
    assert escapes(str(tmp_path)) == ["pyrightconfig.json (unparsed): /etc", "pyrightconfig.json (unparsed): ../up"]


def test_a_symlink_out_counts_as_outside(tmp_path: Path) -> None:
    (tmp_path / "ws").mkdir()
    (tmp_path / "ws" / "lib").symlink_to(tmp_path)
    (tmp_path / "ws" / "pyrightconfig.json").write_text(json.dumps({"extraPaths": ["lib"]}))
    assert escapes(str(tmp_path / "ws")) == ["extraPaths=lib"]


def test_no_config_no_escapes(tmp_path: Path) -> None:
    assert escapes(str(tmp_path)) == []
    (tmp_path / "pyproject.toml").write_text("not toml [")
    assert escapes(str(tmp_path)) == []


def test_compile_flags_txt(tmp_path: Path) -> None:
    assert flags_escapes(str(tmp_path)) == []
    (tmp_path / "compile_flags.txt").write_text("-std=c99\n-Iinclude\n-I/etc\n-Xclang\n-load\n\n")
    assert flags_escapes(str(tmp_path)) == [
        "compile_flags.txt: -I/etc",
        "compile_flags.txt: -Xclang",
        "compile_flags.txt: -load",
    ]
