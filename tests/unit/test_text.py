"""lanser.text: line splitting and column conversion between indexings."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lanser.errors import IndexingUnsupported, NotFound
from lanser.text import (
    INDEXINGS,
    content_hash,
    convert_column,
    from_lsp_encoding,
    split_lines,
    to_lsp_encoding,
    unit_length,
)

# --------------------------------------------------------------------------
# split_lines


@pytest.mark.parametrize(
    ("text", "lines"),
    [
        ("", [""]),
        ("abc", ["abc"]),
        ("a\nb", ["a", "b"]),
        ("a\r\nb", ["a", "b"]),
        ("a\rb", ["a", "b"]),
        ("a\n", ["a", ""]),
        ("a\r\n", ["a", ""]),
        ("a\r", ["a", ""]),
        ("\n", ["", ""]),
        ("\n\n", ["", "", ""]),
        ("\r\n\r\n", ["", "", ""]),
        ("\n\r", ["", "", ""]),  # LF then CR: two terminators, not one
        ("a\r\r\nb", ["a", "", "b"]),
        ("a\nb\r\nc\rd", ["a", "b", "c", "d"]),
        ("é\n😀\r\n", ["é", "😀", ""]),
        # Only LF, CR and CRLF end lines (LSP), not the other Unicode breaks.
        ("a\u2028b\x0bc\x0cd\x85e", ["a\u2028b\x0bc\x0cd\x85e"]),
    ],
)
def test_split_lines(text: str, lines: list[str]) -> None:
    assert split_lines(text) == lines


@given(st.text(alphabet=st.sampled_from("ab\r\n")))
def test_split_lines_matches_normalised_split(text: str) -> None:
    normalised = text.replace("\r\n", "\n").replace("\r", "\n")
    assert split_lines(text) == normalised.split("\n")


# --------------------------------------------------------------------------
# indexing names


def test_lsp_encoding_names() -> None:
    assert from_lsp_encoding("utf-8") == "utf-8"
    assert from_lsp_encoding("utf-16") == "utf-16"
    assert from_lsp_encoding("utf-32") == "codepoint"
    assert [to_lsp_encoding(i) for i in INDEXINGS] == ["utf-8", "utf-16", "utf-32"]
    with pytest.raises(IndexingUnsupported):
        from_lsp_encoding("latin-1")
    with pytest.raises(IndexingUnsupported):
        to_lsp_encoding("utf-32")  # lanser's name is "codepoint"


@pytest.mark.parametrize(
    ("ch", "utf8", "utf16"),
    [("a", 1, 1), ("é", 2, 1), ("€", 3, 1), ("😀", 4, 2), ("\U0010ffff", 4, 2), ("\uffff", 3, 1)],
)
def test_unit_length(ch: str, utf8: int, utf16: int) -> None:
    assert unit_length(ch, "utf-8") == utf8
    assert unit_length(ch, "utf-16") == utf16
    assert unit_length(ch, "codepoint") == 1


def test_content_hash() -> None:
    assert content_hash(b"abc") == "sha256:" + hashlib.sha256(b"abc").hexdigest()
    assert content_hash(b"") == "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"


# --------------------------------------------------------------------------
# convert_column

# a (1 byte), é (2 bytes), € (3 bytes), 😀 (4 bytes, a surrogate pair in UTF-16), b
LINE = "aé€😀b"
#: Column of each character boundary (0..5) in each indexing.
BOUNDARIES = {
    "codepoint": [0, 1, 2, 3, 4, 5],
    "utf-8": [0, 1, 3, 6, 10, 11],
    "utf-16": [0, 1, 2, 3, 5, 6],
}


@pytest.mark.parametrize("src", INDEXINGS)
@pytest.mark.parametrize("dst", INDEXINGS)
def test_convert_column_on_boundaries(src: str, dst: str) -> None:
    for k in range(len(LINE) + 1):
        assert convert_column(LINE, BOUNDARIES[src][k], src, dst) == BOUNDARIES[dst][k], (src, dst, k)


@pytest.mark.parametrize(
    ("column", "src", "inside"),
    [
        (2, "utf-8", "é"),  # second byte of é
        (4, "utf-8", "€"),
        (5, "utf-8", "€"),
        (7, "utf-8", "😀"),
        (8, "utf-8", "😀"),
        (9, "utf-8", "😀"),
        (4, "utf-16", "😀"),  # between the high and the low surrogate
    ],
)
@pytest.mark.parametrize("dst", INDEXINGS)
def test_column_inside_a_character(column: int, src: str, inside: str, dst: str) -> None:
    with pytest.raises(IndexingUnsupported) as info:
        convert_column(LINE, column, src, dst)
    err = info.value
    assert err.code == "E/INDEXING_UNSUPPORTED" and err.exit_code == 75
    assert err.details == {"column": column + 1, "indexing": src}
    assert repr(inside) in err.message


@pytest.mark.parametrize("src", INDEXINGS)
@pytest.mark.parametrize("dst", INDEXINGS)
def test_past_the_end_strict_is_not_found(src: str, dst: str) -> None:
    end = BOUNDARIES[src][-1]
    assert convert_column(LINE, end, src, dst) == BOUNDARIES[dst][-1]
    with pytest.raises(NotFound) as info:
        convert_column(LINE, end + 1, src, dst)
    assert info.value.exit_code == 3


@pytest.mark.parametrize("src", INDEXINGS)
@pytest.mark.parametrize("dst", INDEXINGS)
def test_past_the_end_lenient_clamps(src: str, dst: str) -> None:
    end = BOUNDARIES[src][-1]
    for column in (end + 1, end + 100):
        assert convert_column(LINE, column, src, dst, strict=False) == BOUNDARIES[dst][-1]


def test_empty_line() -> None:
    for src in INDEXINGS:
        for dst in INDEXINGS:
            assert convert_column("", 0, src, dst) == 0
            assert convert_column("", 3, src, dst, strict=False) == 0
            with pytest.raises(NotFound):
                convert_column("", 1, src, dst)


def test_negative_column_and_unknown_indexing() -> None:
    with pytest.raises(NotFound):
        convert_column(LINE, -1, "utf-8", "utf-16")
    with pytest.raises(NotFound):
        convert_column(LINE, -1, "utf-8", "utf-16", strict=False)
    with pytest.raises(IndexingUnsupported):
        convert_column(LINE, 0, "utf-32", "utf-16")
    with pytest.raises(IndexingUnsupported):
        convert_column(LINE, 0, "utf-8", "bytes")


def test_ascii_is_the_same_in_every_indexing() -> None:
    line = "def f(x): return x"
    for column in range(len(line) + 1):
        for src in INDEXINGS:
            for dst in INDEXINGS:
                assert convert_column(line, column, src, dst) == column


# --------------------------------------------------------------------------
# properties


def _width(prefix: str, indexing: str) -> int:
    """An independent oracle: the length of ``prefix`` in ``indexing``."""
    if indexing == "utf-8":
        return len(prefix.encode("utf-8"))
    if indexing == "utf-16":
        return len(prefix.encode("utf-16-le")) // 2
    return len(prefix)


_LINES = st.text(st.characters(codec="utf-8", exclude_characters="\r\n"), max_size=40)


@settings(max_examples=300, deadline=None)
@given(_LINES, st.data())
def test_round_trip_on_boundaries(line: str, data: st.DataObject) -> None:
    k = data.draw(st.integers(min_value=0, max_value=len(line)))
    for other in INDEXINGS:
        x = convert_column(line, k, "codepoint", other)
        assert x == _width(line[:k], other)
        assert convert_column(line, x, other, "codepoint") == k
        for third in INDEXINGS:
            assert convert_column(line, x, other, third) == _width(line[:k], third)


@settings(max_examples=300, deadline=None)
@given(_LINES, st.data())
def test_every_column_is_a_boundary_or_unsupported(line: str, data: st.DataObject) -> None:
    src = data.draw(st.sampled_from(INDEXINGS))
    total = _width(line, src)
    column = data.draw(st.integers(min_value=0, max_value=total + 2))
    boundaries = {_width(line[:k], src) for k in range(len(line) + 1)}
    for dst in INDEXINGS:
        if column in boundaries:
            assert convert_column(line, column, src, dst) == _width(line[: _index_of(line, column, src)], dst)
        elif column > total:
            with pytest.raises(NotFound):
                convert_column(line, column, src, dst)
            assert convert_column(line, column, src, dst, strict=False) == _width(line, dst)
        else:
            with pytest.raises(IndexingUnsupported):
                convert_column(line, column, src, dst)


def _index_of(line: str, column: int, indexing: str) -> int:
    return next(k for k in range(len(line) + 1) if _width(line[:k], indexing) == column)
