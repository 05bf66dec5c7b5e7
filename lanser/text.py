"""Lines and columns in the three indexings lanser speaks.

LSP counts columns in UTF-16 code units unless the client and server agree
on ``utf-8`` or ``utf-32`` during ``initialize``; agents usually count bytes
(UTF-8) or characters.  lanser keeps the server's coordinates in bundles and
converts at the edge, so a column never silently means two things.

``codepoint`` is lanser's name for Unicode scalar values (LSP's ``utf-32``).
Lines are split the way LSP splits them: ``\\n``, ``\\r\\n`` and ``\\r``.
All functions here are pure.
"""

from __future__ import annotations

import codecs
import contextvars
import hashlib
import re
from typing import Any, Literal

from lanser.errors import IndexingUnsupported, NotFound

__all__ = [
    "BOM",
    "Indexing",
    "INDEXINGS",
    "content_hash",
    "convert_column",
    "document_bytes",
    "document_text",
    "is_utf8",
    "text_offsets",
    "from_lsp_encoding",
    "split_lines",
    "to_lsp_encoding",
    "unit_length",
]

Indexing = Literal["utf-8", "utf-16", "codepoint"]
_LINE_BREAK = re.compile(r"\r\n|\r|\n")
INDEXINGS: tuple[str, ...] = ("utf-8", "utf-16", "codepoint")
_RECORDER: contextvars.ContextVar[Any] = contextvars.ContextVar("lanser_decode_recorder")


def from_lsp_encoding(name: str) -> Indexing:
    """Map a negotiated LSP ``PositionEncodingKind`` to a lanser indexing."""
    mapping: dict[str, Indexing] = {"utf-8": "utf-8", "utf-16": "utf-16", "utf-32": "codepoint"}
    try:
        return mapping[name]
    except KeyError:
        raise IndexingUnsupported(f"server negotiated unknown position encoding {name!r}") from None


def to_lsp_encoding(indexing: str) -> str:
    return {"utf-8": "utf-8", "utf-16": "utf-16", "codepoint": "utf-32"}[check_indexing(indexing)]


def check_indexing(indexing: str) -> Indexing:
    if indexing not in INDEXINGS:
        raise IndexingUnsupported(f"unknown indexing {indexing!r}; expected one of {', '.join(INDEXINGS)}")
    return indexing  # type: ignore[return-value]


#: The UTF-8 byte order mark.  It is not part of a document's text: editors
#: hide it and LSP clients send the text without it, so line 1, column 1 is
#: the character after it in every indexing.
BOM = b"\xef\xbb\xbf"
_MAP_ERRORS = "lanser-offsets"


def document_bytes(data: bytes) -> bytes:
    """A file's bytes as its document: without a leading UTF-8 BOM."""
    return data[len(BOM) :] if data.startswith(BOM) else data


def document_text(data: bytes) -> str:
    """The text lanser and the servers count positions in: BOM dropped, UTF-8 with U+FFFD
    for each undecodable sequence (the same text :func:`text_offsets` maps back to bytes)."""
    return document_bytes(data).decode("utf-8", "replace")


def is_utf8(data: bytes) -> bool:
    try:
        document_bytes(data).decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def text_offsets(data: bytes) -> tuple[str, list[int]]:
    """``(document_text(data), offsets)``: ``offsets[i]`` is the byte offset in ``data`` where
    character ``i`` of the text starts (``offsets[len(text)] == len(data)``).

    An undecodable sequence is one U+FFFD in the text and spans its bytes,
    exactly as Python's ``replace`` handler cut it; a genuine U+FFFD in the
    file spans its three bytes.  So an edit computed on the text maps to
    bytes exactly, and bytes the servers never saw as text stay untouched.
    """
    body = document_bytes(data)
    base = len(data) - len(body)
    spans: list[tuple[int, int]] = []

    def record(exc: UnicodeError) -> tuple[str, int]:
        assert isinstance(exc, UnicodeDecodeError)
        spans.append((exc.start, exc.end))
        return "\ufffd", exc.end

    text = _decode_recording(body, record)
    offsets: list[int] = []
    pos = 0
    k = 0
    for ch in text:
        offsets.append(base + pos)
        if k < len(spans) and spans[k][0] == pos:
            pos = spans[k][1]
            k += 1
        else:
            pos += len(ch.encode("utf-8", "surrogatepass"))
    offsets.append(base + pos)
    return text, offsets


def _decode_recording(body: bytes, record: Any) -> str:
    # The codec registry takes handlers by name, once per process; the
    # recorder of this call travels in a context variable (thread-safe).
    token = _RECORDER.set(record)
    try:
        return body.decode("utf-8", _MAP_ERRORS)
    finally:
        _RECORDER.reset(token)


def _dispatch(exc: UnicodeError) -> tuple[str, int]:
    result: tuple[str, int] = _RECORDER.get()(exc)
    return result


codecs.register_error(_MAP_ERRORS, _dispatch)


def content_hash(data: bytes) -> str:
    """The content hash diagnostics and snapshots are tagged with."""
    return "sha256:" + hashlib.sha256(data).hexdigest()


def split_lines(text: str) -> list[str]:
    """Split like LSP: on ``\\r\\n``, ``\\n`` or ``\\r``; terminators dropped.

    A text ending in a terminator has a last, empty line, so positions just
    after the final newline stay addressable.
    """
    return _LINE_BREAK.split(text)


def unit_length(ch: str, indexing: Indexing) -> int:
    if indexing == "codepoint":
        return 1
    if indexing == "utf-16":
        return 2 if ord(ch) > 0xFFFF else 1
    return len(ch.encode("utf-8", "surrogatepass"))


def convert_column(line: str, column: int, src: str, dst: str, *, strict: bool = True) -> int:
    """Convert a 0-based ``column`` on ``line`` from indexing ``src`` to ``dst``.

    A column past the end of the line is clamped to the end when ``strict``
    is false (servers' answers) and is an error when true (user input).  A
    column that falls inside one character (the middle of a UTF-8 sequence
    or of a surrogate pair) cannot be expressed and raises
    :class:`IndexingUnsupported`.
    """
    src_i, dst_i = check_indexing(src), check_indexing(dst)
    if column < 0:
        raise NotFound(f"negative column {column}")
    if src_i == dst_i:
        total = sum(unit_length(c, src_i) for c in line)
        if column > total:
            if strict:
                raise NotFound(f"column {column + 1} is past the end of the line ({total} {src_i} units)")
            return total
        if src_i != "codepoint":
            _check_boundary(line, column, src_i)
        return column
    pos = 0
    out = 0
    for ch in line:
        if pos == column:
            return out
        pos += unit_length(ch, src_i)
        if pos > column:
            raise IndexingUnsupported(
                f"column {column + 1} ({src_i}) falls inside the character {ch!r}",
                column=column + 1,
                indexing=src_i,
            )
        out += unit_length(ch, dst_i)
    if pos == column:
        return out
    if strict:
        raise NotFound(f"column {column + 1} is past the end of the line ({pos} {src_i} units)")
    return out


def _check_boundary(line: str, column: int, indexing: Indexing) -> None:
    pos = 0
    for ch in line:
        if pos >= column:
            return
        pos += unit_length(ch, indexing)
        if pos > column:
            raise IndexingUnsupported(
                f"column {column + 1} ({indexing}) falls inside the character {ch!r}",
                column=column + 1,
                indexing=indexing,
            )
