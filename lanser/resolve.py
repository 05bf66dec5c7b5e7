"""From a parsed selector to a concrete target in one file.

A :class:`Target` keeps its position in Unicode code points and converts
to the server's negotiated encoding once a session is known
(:meth:`Target.rebase`), so the same selector means the same character
whatever the server speaks.
"""

from __future__ import annotations

import difflib
import hashlib
import re
from dataclasses import dataclass, field
from typing import Any

from lsprotocol import types as lsp

from lanser.errors import NotFound, VersionSkew
from lanser.lsp.registry import language_of
from lanser.selectors.spec import CursorSpec, FileSpec, PositionSpec, RangeSpec
from lanser.text import INDEXINGS, content_hash, convert_column, document_text, from_lsp_encoding, split_lines
from lanser.workspace import Workspace

__all__ = ["SYMBOL_ID", "Target", "column", "resolve_target"]


@dataclass
class Target:
    path: str
    language: str
    text: str
    digest: str
    #: Start and end as (line, column in code points), 0-based.
    start: tuple[int, int]
    end: tuple[int, int]
    confidence: float = 1.0
    encoding: str = "utf-16"
    range: list[int] = field(default_factory=list)
    #: Where position-based requests point (a symbol's name); default: start.
    point: tuple[int, int] | None = None
    #: Ranked candidates considered (structural selectors).
    evidence: list[dict[str, Any]] = field(default_factory=list)
    weights: dict[str, float] | None = None
    symbol_id: str | None = None
    #: ``text`` split into lines, when the caller has them already (shared: never mutated).
    split: list[str] | None = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        self._lines: list[str] | None = self.split
        self.rebase(self.encoding)

    @property
    def lines(self) -> list[str]:
        if self._lines is None:
            self._lines = split_lines(self.text)
        return self._lines

    @classmethod
    def whole_file(cls, rel: str, ws: Workspace) -> Target:
        data = ws.read_bytes(rel)
        text = document_text(data)
        lines = split_lines(text)
        return cls(rel, language_of(rel), text, content_hash(data), (0, 0), (len(lines) - 1, len(lines[-1])))

    def rebase(self, lsp_encoding: str) -> None:
        """Express the range in ``lsp_encoding`` (``utf-16``, ``utf-8``, ``utf-32``)."""
        self.encoding = lsp_encoding
        self.range = self.range_in(from_lsp_encoding(lsp_encoding))

    def range_in(self, indexing: str) -> list[int]:
        lines = self.lines
        (sl, sc), (el, ec) = self.start, self.end
        return [
            sl,
            column(lines[sl], sc, "codepoint", indexing),
            el,
            column(lines[el], ec, "codepoint", indexing),
        ]

    def position(self) -> lsp.Position:
        if self.point is None:
            return lsp.Position(line=self.range[0], character=self.range[1])
        line = self.lines[self.point[0]]
        col = column(line, self.point[1], "codepoint", from_lsp_encoding(self.encoding))
        return lsp.Position(line=self.point[0], character=col)


def column(line: str, col: int, src: str, dst: str, *, strict: bool = True) -> int:
    """:func:`lanser.text.convert_column`, without its per-character walk where the answer is ``col``.

    On an ASCII line every indexing counts one unit per character, so a
    column inside the line is the same in all of them; everything else
    (other lines, columns past the end, unknown indexings) goes through
    ``convert_column`` and its errors.
    """
    if 0 <= col <= len(line) and line.isascii() and src in INDEXINGS and dst in INDEXINGS:
        return col
    return convert_column(line, col, src, dst, strict=strict)


def resolve_target(spec: PositionSpec, ws: Workspace, index_io: str) -> Target:
    """Resolve ``spec`` against the files on disk now."""
    if (
        isinstance(spec, FileSpec)
        and not spec.scheme
        and SYMBOL_ID.fullmatch(spec.path)
        and not (ws.root / spec.path).exists()
    ):
        from lanser.selectors.structural import resolve_symbol_id

        return resolve_symbol_id(spec.path, ws)
    if isinstance(spec, (FileSpec, CursorSpec, RangeSpec)):
        rel = _existing(ws, spec)
        language = language_of(rel)
        src = ws.source(rel)
        text, lines = src.text, src.lines
        if isinstance(spec, FileSpec):
            return Target(
                rel, language, text, "sha256:" + src.sha256, (0, 0), (len(lines) - 1, len(lines[-1])), split=lines
            )
        ws.remember_version(src.data, src.sha256)
        if spec.docVersion and not src.sha256.startswith(spec.docVersion):
            old = ws.find_version(spec.docVersion)
            if old is not None and not hashlib.sha256(old).hexdigest().startswith(spec.docVersion):
                old = None  # a stored copy that is not that version (planted, or damaged): never mapped through
            if old is None:
                # Not E/VERSION_SKEW (retryable: "relocate and ask again"): no retry can map a
                # position from a version lanser has no copy of; the selector names nothing.
                raise NotFound(
                    f"{rel} is not at version {spec.docVersion}, and lanser has no copy of that version "
                    "(it keeps the versions it has read); take a fresh selector",
                    path=rel,
                    docVersion=spec.docVersion,
                    reason="unknown-version",
                )
            lines_at_version = split_lines(document_text(old))
            if isinstance(spec, CursorSpec):
                start = end = _map_point(lines_at_version, lines, spec.line, spec.col, index_io, rel, spec.docVersion)
            else:
                start = _map_point(
                    lines_at_version, lines, spec.start[0], spec.start[1], index_io, rel, spec.docVersion
                )
                end = _map_point(lines_at_version, lines, spec.end[0], spec.end[1], index_io, rel, spec.docVersion)
        elif isinstance(spec, CursorSpec):
            start = end = _point(lines, spec.line, spec.col, index_io, rel)
        else:
            start = _point(lines, spec.start[0], spec.start[1], index_io, rel)
            end = _point(lines, spec.end[0], spec.end[1], index_io, rel)
        return Target(rel, language, text, "sha256:" + src.sha256, start, end, split=lines)
    from lanser.selectors.structural import resolve_structural

    return resolve_structural(spec, ws)


#: A bundle's ``resolution.symbolId``, accepted back as a selector (no file of that name existing).
SYMBOL_ID = re.compile(r"sym:[0-9a-f]{20}")
_GREP_POSITION = re.compile(r"^(?P<path>.+?):(?P<line>[0-9]+)(?::(?P<col>[0-9]+))?:?$")


def _existing(ws: Workspace, spec: FileSpec | CursorSpec | RangeSpec) -> str:
    """``ws.rel(spec.path)``; a missing file's E/NOT_FOUND says which path, and which selector, was meant."""
    try:
        return ws.rel(spec.path)
    except NotFound as exc:
        if not exc.message.startswith("no such file"):
            raise
        suggestions = suggest_paths(ws, spec)
        if not suggestions:
            raise
        hint = (
            " (a position is written PATH@L<line>:C<col>, 1-based)"
            if isinstance(spec, FileSpec) and _GREP_POSITION.match(spec.path)
            else ""
        )
        raise NotFound(
            f"{exc.message}; did you mean {' or '.join(suggestions[:3])}?{hint}", **exc.details, suggestions=suggestions
        ) from None


def suggest_paths(ws: Workspace, spec: FileSpec | CursorSpec | RangeSpec) -> list[str]:
    """Selectors for the files a missing path probably meant (issue 20).

    ``src/click/core.py`` when the file is ``click/core.py`` (or the other
    way round), by the path components they share from the end; a grep-style
    ``path:737:9`` is spelled as the cursor it meant, ``path@L737:C9``.
    """
    from lanser.lsp.registry import LANGUAGE_OF_SUFFIX
    from lanser.selectors.parse import format_selector

    path, line, col = spec.path, None, None
    m = _GREP_POSITION.match(path) if isinstance(spec, FileSpec) else None
    if m is not None:
        path, line, col = m["path"], int(m["line"]), int(m["col"] or 1)
    want = [p for p in path.replace("\\", "/").split("/") if p not in ("", ".")]
    if not want:
        return []
    try:
        ws.rel(path)
        found = [ws.rel(path)]
    except Exception:
        scored = []
        for rel in ws.files(tuple(LANGUAGE_OF_SUFFIX)):
            have = rel.split("/")
            if have[-1] != want[-1]:
                continue
            tail = 0
            for a, b in zip(reversed(want), reversed(have), strict=False):
                if a != b:
                    break
                tail += 1
            scored.append((-tail, abs(len(have) - len(want)), rel))
        found = [rel for *_, rel in sorted(scored)[:3]]
    out = []
    for rel in found:
        if line is not None:
            out.append(format_selector(CursorSpec(path=rel, line=line, col=col or 1)))
        elif isinstance(spec, CursorSpec):
            out.append(format_selector(spec.model_copy(update={"path": rel, "scheme": False})))
        elif isinstance(spec, RangeSpec):
            out.append(format_selector(spec.model_copy(update={"path": rel, "scheme": False})))
        else:
            out.append(rel)
    return out


def _map_point(
    old: list[str], new: list[str], line: int, col: int, index_io: str, rel: str, version: str
) -> tuple[int, int]:
    """Algorithm 1, step 1: map a position of a known earlier version exactly.

    The line must be unchanged (in an equal block of the line diff); it may
    have moved.  A position on a changed line is no longer exact:
    E/VERSION_SKEW, and a symbol or anchor selector is the way to relocate.
    """
    if line > len(old):
        raise NotFound(f"version {version} of {rel} has {len(old)} lines; line {line} does not exist", path=rel)
    matcher = difflib.SequenceMatcher(None, old, new, autojunk=False)
    for tag, i1, i2, j1, _ in matcher.get_opcodes():
        if i1 <= line - 1 < i2:
            if tag != "equal":
                raise VersionSkew(
                    f"line {line} of {rel} changed since version {version}; use a symbol or "
                    "anchor selector to relocate",
                    path=rel,
                    docVersion=version,
                )
            mapped = j1 + (line - 1 - i1)
            return mapped, convert_column(new[mapped], col - 1, index_io, "codepoint")
    raise NotFound(f"line {line} of {rel} version {version} has no counterpart now", path=rel)


def _point(lines: list[str], line: int, col: int, index_io: str, rel: str) -> tuple[int, int]:
    if line > len(lines):
        raise NotFound(f"{rel} has {len(lines)} lines; line {line} does not exist", path=rel)
    return line - 1, column(lines[line - 1], col - 1, index_io, "codepoint")
