"""From server answers (plain LSP data) to bundle facts, deterministically.

Every list comes out in the total order (path, sL, sC, eL, eC) with the
rest of the item as tie-breaker.  Paths are workspace-relative POSIX; a
location outside the workspace is named relative to a known root
(``typeshed:``, ``site-packages:``, ``stdlib:``, ``clang:``) and flagged
``external``, so no absolute path reaches the hash domain.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import unquote, urlparse

from lanser.bundle.models import Diagnostic, DiagnosticGroup, Hover, Location, Symbol

__all__ = [
    "PathMapper",
    "diagnostic_group",
    "flat_range",
    "hover",
    "locations",
    "relative_paths",
    "sort_locations",
    "symbols",
]

SEVERITY = {1: "error", 2: "warning", 3: "information", 4: "hint"}
SYMBOL_KIND = {
    1: "file",
    2: "module",
    3: "namespace",
    4: "package",
    5: "class",
    6: "method",
    7: "property",
    8: "field",
    9: "constructor",
    10: "enum",
    11: "interface",
    12: "function",
    13: "variable",
    14: "constant",
    15: "string",
    16: "number",
    17: "boolean",
    18: "array",
    19: "object",
    20: "key",
    21: "null",
    22: "enumMember",
    23: "struct",
    24: "event",
    25: "operator",
    26: "typeParameter",
}


class PathMapper:
    """Maps file URIs to stable display paths."""

    def __init__(self, root: Path, external_roots: Sequence[tuple[str, Path]] = ()) -> None:
        self.root = root.resolve()
        # realpath() per location is costly on long reference lists; symlinks
        # that change under a warm daemon are not worth that price.
        self._memo: dict[str, tuple[str, bool]] = {}
        #: The same, by URI: reference lists repeat a few files' URIs many times.
        self._uri_memo: dict[str, tuple[str, bool]] = {}
        # Longest prefix first: the most specific root names a path.
        self.external = sorted(((label, p.resolve()) for label, p in external_roots), key=lambda x: -len(str(x[1])))

    def path_of_uri(self, uri: str) -> tuple[str, bool]:
        """``(display path, is_external)`` of a ``file://`` URI."""
        hit = self._uri_memo.get(uri)
        if hit is not None:
            return hit
        parsed = urlparse(uri)
        if parsed.scheme != "file":
            return uri, True
        hit = self.path_of(Path(unquote(parsed.path)))
        if len(self._uri_memo) > 65536:
            self._uri_memo.clear()
        self._uri_memo[uri] = hit
        return hit

    def path_of(self, path: Path) -> tuple[str, bool]:
        key = str(path)
        hit = self._memo.get(key)
        if hit is None:
            hit = self._memo[key] = self._path_of(path)
        return hit

    def _path_of(self, path: Path) -> tuple[str, bool]:
        real = Path(os.path.realpath(path))
        for label, base in self.external:
            # An external root inside the workspace (a .venv) wins over the
            # workspace; one that merely contains it does not.
            if _under(real, base) and (_under(base, self.root) or not _under(real, self.root)):
                return f"{label}:{real.relative_to(base).as_posix()}", True
        if _under(real, self.root):
            return real.relative_to(self.root).as_posix(), False
        return PurePosixPath(real).as_posix(), True

    def uri_of(self, rel: str) -> str:
        return (self.root / rel).as_uri()


def _under(path: Path, base: Path) -> bool:
    try:
        path.relative_to(base)
        return True
    except ValueError:
        return False


def flat_range(rng: dict[str, Any]) -> list[int]:
    s, e = rng["start"], rng["end"]
    return [int(s["line"]), int(s["character"]), int(e["line"]), int(e["character"])]


def _loc_key(loc: Location) -> tuple[Any, ...]:
    return (loc.path, *loc.range)


def sort_locations(items: Iterable[Location]) -> list[Location]:
    """Sorted and de-duplicated on (path, range)."""
    seen: dict[tuple[Any, ...], Location] = {}
    for loc in items:
        seen.setdefault(_loc_key(loc), loc)
    return [seen[k] for k in sorted(seen)]


def locations(
    raw: Any,
    mapper: PathMapper,
    *,
    selector_of: Callable[[str, list[int]], str | None] | None = None,
    preview_of: Callable[[str, list[int], bool], str | None] | None = None,
) -> list[Location]:
    """``Location | Location[] | LocationLink[] | None`` to sorted locations.

    For a ``LocationLink`` the range is ``targetSelectionRange`` (the name),
    which is what a ``Location`` answer points at too.
    """
    if raw is None:
        return []
    items = raw if isinstance(raw, list) else [raw]
    out: list[Location] = []
    for item in items:
        if "targetUri" in item:
            uri, rng = item["targetUri"], item.get("targetSelectionRange") or item["targetRange"]
        else:
            uri, rng = item["uri"], item["range"]
        path, external = mapper.path_of_uri(uri)
        flat = flat_range(rng)
        out.append(
            Location(
                path=path,
                range=flat,
                external=True if external else None,
                selector=None if external or selector_of is None else selector_of(path, flat),
                preview=preview_of(path, flat, external) if preview_of else None,
            )
        )
    return sort_locations(out)


def hover(raw: Any) -> Hover | None:
    if not raw:
        return None
    contents = raw.get("contents")
    kind = "plaintext"
    if isinstance(contents, dict) and "kind" in contents:
        text, kind = contents.get("value", ""), contents["kind"]
    elif isinstance(contents, dict):  # MarkedString {language, value}
        text, kind = f"```{contents.get('language', '')}\n{contents.get('value', '')}\n```", "markdown"
    elif isinstance(contents, list):
        parts = []
        for part in contents:
            if isinstance(part, dict):
                parts.append(f"```{part.get('language', '')}\n{part.get('value', '')}\n```")
            else:
                parts.append(str(part))
        text, kind = "\n\n".join(parts), "markdown"
    else:
        text = str(contents or "")
    if not text.strip():
        return None
    rng = raw.get("range")
    return Hover(contents=text, kind=kind, range=flat_range(rng) if rng else None)


def symbols(
    raw: Any,
    mapper: PathMapper,
    doc_path: str | None,
    *,
    selector_of: Callable[[str, list[int]], str | None] | None = None,
) -> list[Symbol]:
    """DocumentSymbol trees (flattened, ``container`` = dotted parents) or SymbolInformation lists."""
    out: list[Symbol] = []

    def walk(items: list[dict[str, Any]], parents: list[str]) -> None:
        for item in items:
            if "location" in item:  # SymbolInformation / WorkspaceSymbol
                loc = item["location"]
                path, external = mapper.path_of_uri(loc["uri"])
                rng = flat_range(loc["range"]) if "range" in loc else [0, 0, 0, 0]
                sel = rng
                container = item.get("containerName") or None
            else:
                assert doc_path is not None
                path, external = doc_path, False
                rng, sel = flat_range(item["range"]), flat_range(item["selectionRange"])
                container = ".".join(parents) or None
            out.append(
                Symbol(
                    name=item["name"],
                    kind=SYMBOL_KIND.get(int(item.get("kind", 0)), str(item.get("kind"))),
                    path=path,
                    range=rng,
                    selectionRange=sel,
                    container=container,
                    detail=item.get("detail") or None,
                    external=True if external else None,
                    selector=None if external or selector_of is None else selector_of(path, sel),
                )
            )
            if item.get("children"):
                walk(item["children"], [*parents, item["name"]])

    walk(list(raw or []), [])
    return sorted(out, key=lambda s: (s.path, *s.range, *s.selectionRange, s.name, s.kind))


def relative_paths(text: str, mapper: PathMapper) -> str:
    """``text`` with the workspace's absolute paths made relative and known external roots labelled.

    basedpyright words an import cycle as the absolute paths of its files:
    left in, every checkout of one repository had its own bundleIds.
    """
    if "/" not in text:
        return text
    bases = [(str(mapper.root), "")] + [(str(base), f"{label}:") for label, base in mapper.external]
    for base, label in sorted(bases, key=lambda b: -len(b[0])):
        for spelling in (Path(base).as_uri(), base):
            if spelling in text:
                # Only the whole directory: `/ws/sample` is not the start of `/ws/sample2/x.py`.
                bare = label.rstrip(":") or "."
                text = re.sub(re.escape(spelling) + r"(/|(?![\w.\-]))", lambda m: label if m.group(1) else bare, text)  # noqa: B023 (used at once)
    return text


def diagnostic_group(
    path: str, raw: Iterable[Any], content_digest: str, server_version: int = 0, *, mapper: PathMapper | None = None
) -> DiagnosticGroup:
    """One file's diagnostics, sorted, with ``version`` 0.

    ``server_version`` (the session's document version) is not recorded: it
    counts the didOpen/didChange a server has seen, so a warm daemon after a
    preview said 3 where a fresh process said 1 for the same content.  The
    content is named by ``contentHash``.  With ``mapper``, absolute paths in
    messages become workspace-relative (:func:`relative_paths`).
    """
    del server_version
    diags = []
    for d in raw:
        code = d.get("code")
        source = d.get("source")
        message = d.get("message", "")
        diags.append(
            Diagnostic(
                range=flat_range(d["range"]),
                severity=SEVERITY.get(int(d.get("severity") or 1), "error"),
                message=relative_paths(message, mapper) if mapper is not None else message,
                code=None if code is None else str(code),
                source=source,
            )
        )
    diags.sort(key=lambda x: (*x.range, x.severity, x.code or "", x.source or "", x.message))
    counts: dict[str, int] = {}
    for d in diags:
        counts[d.severity] = counts.get(d.severity, 0) + 1
    return DiagnosticGroup(path=path, contentHash=content_digest, version=0, diagnostics=diags, counts=counts)
