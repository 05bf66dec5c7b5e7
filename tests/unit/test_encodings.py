"""A file's bytes and the text lanser and the servers count in (issue 17, finding 10).

The document text drops a UTF-8 BOM and shows each undecodable sequence as
one U+FFFD (:func:`lanser.text.document_text`); edits computed on it are
spliced back into the bytes exactly; the syntax layer counts a lone CR as a
line break, as LSP does.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lanser.edits.plan import apply_text_edits
from lanser.selectors import parse_selector
from lanser.text import BOM, document_text, split_lines, text_offsets

INDEXINGS = {"utf-8": "utf-8", "utf-16": "utf-16", "codepoint": "utf-32"}


def E(sl: int, sc: int, el: int, ec: int, text: str) -> dict[str, Any]:
    return {"range": {"start": {"line": sl, "character": sc}, "end": {"line": el, "character": ec}}, "newText": text}


def _units(prefix: str, lsp: str) -> int:
    if lsp == "utf-8":
        return len(prefix.encode())
    if lsp == "utf-16":
        return len(prefix.encode("utf-16-le")) // 2
    return len(prefix)


@pytest.mark.parametrize("lsp", INDEXINGS.values())
def test_a_rename_on_line_one_after_a_bom_writes_exactly_the_name(lsp: str) -> None:
    """Regression (issue 17, finding 10): `def bom():` after a BOM became `def bbom2):`."""
    prefix = 'x = "\u00e9\U0001f600"; def '
    data = BOM + f"{prefix}bom():\r\n    return bom\r\n".encode()
    col = _units(prefix, lsp)  # as a server counts in the text it was sent: after the BOM
    out = apply_text_edits(data, [E(0, col, 0, col + 3, "bom2"), E(1, 11, 1, 14, "bom2")], lsp)
    assert out == data.replace(b"bom", b"bom2")


def test_edits_in_a_file_that_is_not_utf8_land_where_the_server_saw_them() -> None:
    """`\\xe2\\x82` is one U+FFFD to the server but two Latin-1 characters: columns after it were off by one."""
    data = b'x = "\xe2\x82"; name = 1\r\n# caf\xe9\r\n'
    text = document_text(data)
    col = text.index("name")
    out = apply_text_edits(data, [E(0, col, 0, col + 4, "label")], "utf-16")
    assert out == data.replace(b"name", b"label")


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=40), st.booleans())
def test_text_offsets_map_every_character_to_its_bytes(body: bytes, bom: bool) -> None:
    data = (BOM if bom else b"") + body
    text, offsets = text_offsets(data)
    assert text == document_text(data)
    assert len(offsets) == len(text) + 1 and offsets[-1] == len(data)
    assert offsets == sorted(offsets) and offsets[0] == (len(BOM) if data.startswith(BOM) else 0)
    for i, ch in enumerate(text):
        piece = data[offsets[i] : offsets[i + 1]]
        if ch != "\ufffd":
            assert piece.decode("utf-8") == ch


@settings(max_examples=100, deadline=None)
@given(
    st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\r\n"), max_size=20),
    st.sampled_from(["\n", "\r\n", "\r"]),
    st.booleans(),
    st.sampled_from(list(INDEXINGS.values())),
)
def test_replacing_any_character_keeps_every_other_byte(line: str, newline: str, bom: bool, lsp: str) -> None:
    data = (BOM if bom else b"") + (line + newline + line).encode()
    lines = split_lines(document_text(data))
    if not lines[1]:
        return
    end = _units(lines[1], lsp)
    out = apply_text_edits(data, [E(1, 0, 1, end, "X")], lsp)
    assert out == (BOM if bom else b"") + (line + newline + "X").encode()


@pytest.mark.parametrize(
    "raw",
    [
        b"x = 1\rdef f():\r    return x\r",  # classic Mac line ends
        b"x = 1\r\ndef f():\r    return x\n",  # mixed
        BOM + b"x = 1\rdef f():\r\n    return x\r",
    ],
)
def test_symbols_in_files_with_lone_crs_resolve_and_mint(tmp_path: Path, raw: bytes) -> None:
    """tree-sitter ends rows at LF only; LSP also at a lone CR: `py://a#f` was 'past the end of the line'."""
    from lanser.resolve import resolve_target
    from lanser.selectors.mint import mint_at
    from lanser.workspace import Workspace

    (tmp_path / "a.py").write_bytes(raw)
    ws = Workspace(tmp_path)
    target = resolve_target(parse_selector("py://a#f"), ws, "utf-16")
    assert target.start == (1, 0) and target.point == (1, 4)
    minted = mint_at(ws, "a.py", 1, 4)
    for kind in ("symbol", "ast", "anchor"):
        again = resolve_target(parse_selector(minted[kind]), ws, "utf-16")
        assert again.start == target.start, kind
        if kind != "anchor":  # an anchor points at its text's start, a symbol at the name
            assert again.point == target.point, kind


def test_a_hostile_anchor_context_cannot_make_fuzzy_search_quadratic(monkeypatch: pytest.MonkeyPatch) -> None:
    """`?ctx=1000000` (or a huge snippet) made each line's fuzzy window the rest of the file: 18 s
    on 1,000 lines. The work is bounded by lines x FUZZY_MAX (counted, not timed)."""
    from lanser.selectors import anchors, structural
    from lanser.selectors.spec import AnchorSpec

    seen: list[int] = []
    real = anchors.fingerprints
    monkeypatch.setattr(anchors, "fingerprints", lambda text, *a: seen.append(len(text)) or real(text, *a))
    text = "\n".join(f"def f{i}(a, b):\n    return a + b + {i}" for i in range(200))
    for spec in (
        AnchorSpec(path="a.py", snippet="def zz(a, b):", ctx=10**9),
        AnchorSpec(path="a.py", snippet="def zz(" + "x" * 50_000),
    ):
        seen.clear()
        structural._anchor_candidates("a.py", text, spec, 1.0)
        assert max(seen) <= 3 * structural.FUZZY_MAX
