"""Hostile workspaces (issue 17): reads through symlinks, BOM, CRLF and non-UTF-8 files.

A workspace is attacker-written.  A symlink inside it may point at a host
file; no selector kind (symbol, AST, anchor, C path, ``file://``), no
module lookup, re-export or moved-file search may return that file's
content: the read is refused with E/FS_PERMISSIONS (71) or the file is
skipped by a search.  Symlinks that stay inside the workspace still work.

Renames on files with a UTF-8 BOM, CRLF line ends or Latin-1 bytes go
through the real servers (basedpyright, clangd) and must write exactly the
new name, or be refused without writing anything.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.integration

SECRET = "hunter2-host-only"


@pytest.fixture
def jail(tmp_path: Path) -> Path:
    """A workspace whose symlinks lead to a sentinel directory beside it."""
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.py").write_text(f'SECRET_TOKEN = "{SECRET}"\n\n\ndef secret_fn():\n    return SECRET_TOKEN\n')
    (outside / "secret.c").write_text(f'const char *secret_token = "{SECRET}";\n')
    (outside / "pkgdir").mkdir()
    (outside / "pkgdir" / "__init__.py").write_text(f'SECRET_TOKEN = "{SECRET}"\n')
    ws = tmp_path / "ws"
    ws.mkdir()
    (ws / "leak.py").symlink_to("../outside/secret.py")
    (ws / "leak.c").symlink_to("../outside/secret.c")
    (ws / "sub").symlink_to("../outside/pkgdir")
    (ws / "m.py").write_text("def f():\n    return 1\n")
    (ws / "alias.py").symlink_to("m.py")  # inside -> inside: fine
    (ws / "pkg").mkdir()
    (ws / "pkg" / "__init__.py").write_text("from leak import SECRET_TOKEN\n")
    (ws / "moved").mkdir()
    return ws


def _refused(code: int, out: dict[str, Any]) -> None:
    assert SECRET not in json.dumps(out), out
    assert code == 71, out
    assert out["error"]["code"] == "E/FS_PERMISSIONS"
    assert "outside the workspace" in out["error"]["message"]


@pytest.mark.parametrize(
    "selector",
    [
        "py://leak#SECRET_TOKEN",
        "py://leak#secret_fn:body",
        "py://sub#SECRET_TOKEN",
        "py://pkg#SECRET_TOKEN",  # a re-export followed into the symlink
        "ast://[module=leak]/[var=SECRET_TOKEN]",
        "ast://[file=leak.py]/[def=secret_fn]",
        "ast://[module=sub]/[var=SECRET_TOKEN]",
        'anchor://leak.py#"SECRET_TOKEN"',
        "c://leak.c#secret_token",
        "file://leak.py",
        "leak.py@L1:C1",
        "sub/__init__.py",
        # and without a symlink: paths that climb out or are absolute
        "ast://[file=..%2Foutside%2Fsecret.py]/[var=SECRET_TOKEN]",
        "c://../outside/secret.c#secret_token",
        'anchor://../outside/secret.py#"SECRET_TOKEN"',
        "FILE_ABS",
    ],
)
def test_no_selector_reads_through_a_symlink_out_of_the_workspace(jail: Path, run_json, selector: str) -> None:
    """Issue 17 finding 6: `locate 'py://leak#SECRET_TOKEN'` returned the host file's line in its preview."""
    if selector == "FILE_ABS":
        selector = f"file://{jail.parent / 'outside' / 'secret.py'}"
    code, out = run_json("-w", str(jail), "locate", selector)
    _refused(code, out)


def test_a_moved_file_search_skips_files_outside_the_workspace(jail: Path, run_json) -> None:
    """An anchor whose file moved is searched in files of the same name: never in one outside the jail."""
    code, out = run_json("-w", str(jail), "locate", 'anchor://old/leak.py#"SECRET_TOKEN"')
    assert SECRET not in json.dumps(out), out
    assert code == 3 and out["error"]["code"] == "E/NOT_FOUND", out


def test_symbols_and_minting_refuse_a_file_outside(jail: Path, run_json) -> None:
    for args in (("symbols", "leak.py"), ("symbols", "sub/__init__.py")):
        code, out = run_json("-w", str(jail), *args)
        _refused(code, out)


def test_symlinks_that_stay_inside_still_resolve(jail: Path, run_json) -> None:
    code, out = run_json("-w", str(jail), "locate", "py://alias#f")
    assert code == 0, out
    assert out["facts"]["location"]["preview"].startswith("def f()")


# --------------------------------------------------------------------------
# Encodings: BOM, CRLF, Latin-1 (issue 17 finding 10)

BOM = b"\xef\xbb\xbf"
#: Line 1 of the Python file: characters of 1, 2 and 4 UTF-8 bytes (and a surrogate pair) before `bom`.
PY_LINE1 = 'x = "\u00e9\U0001f600"; bom = 1'
PY_PREFIX = 'x = "\u00e9\U0001f600"; '


def _col(prefix: str, indexing: str) -> int:
    """1-based column just after ``prefix`` in ``indexing``."""
    if indexing == "utf-8":
        return len(prefix.encode()) + 1
    if indexing == "utf-16":
        return len(prefix.encode("utf-16-le")) // 2 + 1
    return len(prefix) + 1


@pytest.mark.parametrize("indexing", ["utf-8", "utf-16", "codepoint"])
def test_line_one_after_a_bom_in_every_indexing_and_a_real_rename(tmp_path: Path, run_json, indexing: str) -> None:
    """Issue 17 finding 10: renaming `bom` on line 1 of a BOM file wrote `def bbom2):` (the BOM was a
    character to the server and not to the edit, so every line-1 column was off by one)."""
    ws = tmp_path / "ws"
    ws.mkdir()
    src = BOM + f"{PY_LINE1}\r\n\r\n\r\ndef use():\r\n    return bom + 1\r\n".encode()
    (ws / "a.py").write_bytes(src)
    col = _col(PY_PREFIX, indexing)
    # Resolving: the cursor lands on `bom`, and the selectors handed out count after the BOM.
    code, out = run_json("-w", str(ws), "--index-io", indexing, "locate", f"a.py@L1:C{col}")
    assert code == 0, out
    code, out = run_json("-w", str(ws), "--index-io", indexing, "locate", "py://a#bom")
    assert code == 0, out
    loc = out["facts"]["location"]
    assert loc["preview"] == PY_LINE1  # no U+FEFF in what an agent reads
    assert loc["range"][:2] == [0, _col(PY_PREFIX, "utf-16") - 1]  # bundles keep the server's UTF-16
    assert "\ufeff" not in json.dumps(out, ensure_ascii=False)
    assert out["facts"]["selectors"]["cursor"].split("?")[0] == f"a.py@L1:C{_col(PY_PREFIX, 'utf-16')}"
    # A real server's answer about line 1 comes back in the same columns.
    code, out = run_json("-w", str(ws), "--index-io", indexing, "refs", "a.py@L5:C12")
    assert code == 0, out
    selectors = sorted(r["selector"] for r in out["facts"]["references"])
    assert selectors == [f"a.py@L1:C{col}", f"a.py@L5:C{_col('    return ', indexing)}"]
    # And the rename writes exactly the new name, BOM and CRLF kept, and is complete.
    code, out = run_json("-w", str(ws), "--index-io", indexing, "rename", f"a.py@L1:C{col}", "bom2", "--apply")
    assert code == 0, out
    assert (ws / "a.py").read_bytes() == src.replace(b"bom", b"bom2")


def test_clangd_rename_in_a_bom_crlf_c_file(tmp_path: Path, run_json) -> None:
    """The same bug through clangd: a C file with a BOM and CRLF line ends, the name on line 1."""
    ws = tmp_path / "ws"
    ws.mkdir()
    (ws / "compile_flags.txt").write_text("-std=c99\n")
    src = BOM + "/* \u00e9 */ int bom(void) { return 1; }\r\nint use(void) { return bom() + 1; }\r\n".encode()
    (ws / "a.c").write_bytes(src)
    col = _col("/* \u00e9 */ int ", "utf-16")
    code, out = run_json("-w", str(ws), "rename", f"a.c@L1:C{col}", "bom2", "--apply")
    assert code == 0, out
    assert (ws / "a.c").read_bytes() == src.replace(b"bom", b"bom2")


def test_a_latin1_file_is_renamed_exactly(tmp_path: Path, run_json) -> None:
    """A file that is not UTF-8: the server sees one U+FFFD per undecodable sequence (two bytes
    here), lanser used to apply its columns to a Latin-1 decoding (one character per byte)."""
    ws = tmp_path / "ws"
    ws.mkdir()
    src = b'# caf\xe9\nx = "\xe2\x82"; name = 1\nprint(name)\n'
    (ws / "a.py").write_bytes(src)
    code, out = run_json("-w", str(ws), "rename", "a.py@L3:C7", "label", "--apply")
    assert code == 0, out
    assert (ws / "a.py").read_bytes() == src.replace(b"name", b"label")


def test_a_bom_file_rename_is_complete_without_allow_partial(tmp_path: Path, run_json) -> None:
    """The rename's occurrence scan counted a BOM as a line-1 character: `bom` there was
    'unexplained' and the complete rename was refused as partial."""
    ws = tmp_path / "ws"
    ws.mkdir()
    src = BOM + b"bom = 1\r\nprint(bom)\r\n"
    (ws / "a.py").write_bytes(src)
    code, out = run_json("-w", str(ws), "rename", "a.py@L1:C1", "bom2", "--apply")
    assert code == 0, out
    assert (ws / "a.py").read_bytes() == src.replace(b"bom", b"bom2")


def test_workspace_wide_diagnostics_skip_files_outside(tmp_path: Path, run_json) -> None:
    """A symlink out is not part of the workspace: a whole-workspace `diag` neither fails on it nor
    hands its content to a server (whose messages would quote it)."""
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.py").write_text(f'x: int = "{SECRET}"\n')
    ws = tmp_path / "ws"
    ws.mkdir()
    (ws / "leak.py").symlink_to("../outside/secret.py")
    (ws / "m.py").write_text("y: int = 'not an int'\n")
    code, out = run_json("-w", str(ws), "diag")
    assert code == 0, out
    assert SECRET not in json.dumps(out)
    assert [g["path"] for g in out["facts"]["diagnostics"]] == ["m.py"]


def test_a_file_name_that_is_not_utf8_is_skipped_not_an_internal_error(tmp_path: Path, run_json) -> None:
    """Regression: a workspace-wide diag over a file named b'\\xff.py' was E/INTERNAL (exit 1): its
    path, a lone surrogate, could not be hashed into the bundle."""
    ws = tmp_path / "ws"
    ws.mkdir()
    (ws / "m.py").write_text("y: int = 'not an int'\n")
    with open(os.path.join(os.fsencode(ws), b"\xff.py"), "wb") as fh:
        fh.write(b"z: int = 'nor this'\n")
    subprocess.run(["git", "init", "-q"], cwd=ws, check=True)
    code, out = run_json("-w", str(ws), "diag")
    assert code == 0, out
    assert [g["path"] for g in out["facts"]["diagnostics"]] == ["m.py"]


def test_a_planted_version_copy_is_not_mapped_through(tmp_path: Path, run_json) -> None:
    """A repository may commit `.lanser/versions/<name>` with any content: a `?v=` naming it must not
    map positions through text that is not that version (its sha256 must match its name)."""
    ws = tmp_path / "ws"
    (ws / ".lanser" / "versions").mkdir(parents=True)
    (ws / "m.py").write_text("def f():\n    return 1\n")
    fake = "ab" * 32
    (ws / ".lanser" / "versions" / fake).write_text("# planted\ndef f():\n    return 1\n")
    code, out = run_json("-w", str(ws), "locate", f"m.py@L2:C5?v={fake[:12]}")
    assert code == 3, out
    assert out["error"]["details"]["reason"] == "unknown-version"


@pytest.mark.parametrize("database", ['{"not": "a list"}', "[1, 2", "\xff", '[{"file": 1}]'])
def test_a_malformed_compilation_database_is_ignored(tmp_path: Path, run_json, database: str) -> None:
    """Regression: a compile_commands.json that is not a list of entries was E/INTERNAL."""
    ws = tmp_path / "ws"
    ws.mkdir()
    (ws / "a.c").write_text("int f(void) { return 1; }\n")
    (ws / "compile_commands.json").write_bytes(database.encode("latin-1"))
    code, out = run_json("-w", str(ws), "hover", "a.c@L1:C5")
    assert code == 0, out


def test_clangd_never_indexes_a_host_file_a_database_names(tmp_path: Path, run_json) -> None:
    """A repository's compile_commands.json naming a file outside the workspace had clangd's
    background index parse it, and workspace symbols then answered from the host file."""
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.c").write_text("int host_only_secret_fn(void) { return 42; }\n")
    ws = tmp_path / "ws"
    ws.mkdir()
    (ws / "a.c").write_text("int f(void) { return 1; }\n")
    (ws / "compile_commands.json").write_text(
        json.dumps(
            [
                {"directory": str(ws), "file": "a.c", "arguments": ["cc", "-c", "a.c"]},
                {"directory": str(outside), "file": "secret.c", "arguments": ["cc", "-c", "secret.c"]},
            ]
        )
    )
    code, out = run_json("-w", str(ws), "symbols", "--query", "host_only_secret")
    assert "host_only_secret_fn" not in json.dumps(out), out
    code, out = run_json("-w", str(ws), "symbols", "--query", "f")
    assert code == 0, out


def test_check_applies_git_diffs_of_bom_and_crlf_files_exactly(tmp_path: Path, run_json) -> None:
    """`lanser check` with git's diff of a BOM + CRLF file: line 1 carries the BOM in the diff, so
    the hunk did not apply (70); and a patch read with universal newlines turned CRLF lines to LF."""
    ws = tmp_path / "ws"
    ws.mkdir()
    git = ["git", "-c", "user.email=t@t", "-c", "user.name=t", "-c", "core.autocrlf=false"]
    src = BOM + b"def bom():\r\n    return 1\r\n\r\n\r\nprint(bom())\r\n"
    (ws / "a.py").write_bytes(src)
    subprocess.run([*git, "init", "-q"], cwd=ws, check=True)
    subprocess.run([*git, "add", "a.py"], cwd=ws, check=True)
    subprocess.run([*git, "commit", "-qm", "init"], cwd=ws, check=True)
    want = src.replace(b"bom", b"bom3").replace(b"return 1", b"return 3")
    (ws / "a.py").write_bytes(want)
    diff = subprocess.run([*git, "diff"], cwd=ws, check=True, capture_output=True).stdout
    assert diff.count(b"\r\n") >= 2 and BOM in diff
    (ws / "a.py").write_bytes(src)
    for patch in (diff, diff.replace(b"\r\n", b"\n")):  # as git wrote it; as a text-mode reader sees it
        path = tmp_path / "p.diff"
        path.write_bytes(patch)
        code, out = run_json("-w", str(ws), "check", str(path), "--apply")
        assert code == 0, out
        assert (ws / "a.py").read_bytes() == want
        (ws / "a.py").write_bytes(src)
