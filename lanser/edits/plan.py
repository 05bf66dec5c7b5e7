"""WorkspaceEdit -> ChangeSet: every byte decided before any is written (pure).

A :class:`ChangeSet` holds, per file, the old and the new content (and
file operations: create, rename, delete), so it can be previewed as a
diff, checked by the guards and applied as one transaction.  Text keeps
its encoding (UTF-8, UTF-8 with BOM, Latin-1) and its line endings:
newlines in inserted text take the file's own convention; positions count
in the text the servers see (:func:`lanser.text.document_text`) and edits
are spliced into the file's bytes, never a re-encoded copy.
"""

from __future__ import annotations

import difflib
import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote, urlparse

from lanser.errors import ApplyConflict, NotFound
from lanser.text import convert_column, from_lsp_encoding, is_utf8, text_offsets

__all__ = [
    "ChangeSet",
    "FileChange",
    "apply_text_edits",
    "decode",
    "encode",
    "merge_workspace_edits",
    "plan_workspace_edit",
]


@dataclass(frozen=True)
class FileChange:
    """One file's fate: ``edit`` (old -> new), ``create``, ``delete`` or ``rename`` (to ``new_path``)."""

    path: str
    op: str
    old: bytes | None
    new: bytes | None
    new_path: str | None = None

    @property
    def old_hash(self) -> str | None:
        return None if self.old is None else "sha256:" + hashlib.sha256(self.old).hexdigest()

    @property
    def new_hash(self) -> str | None:
        return None if self.new is None else "sha256:" + hashlib.sha256(self.new).hexdigest()


@dataclass
class ChangeSet:
    changes: list[FileChange] = field(default_factory=list)

    def steps(self) -> list[tuple[str, bytes | None, bytes | None]]:
        """(path, bytes before, bytes after) for every path the change touches; a rename is its
        old path going and its new path coming (what the journal, the lock and request records list)."""
        steps: list[tuple[str, bytes | None, bytes | None]] = []
        for c in self.changes:
            if c.op == "rename":
                steps.append((c.path, c.old, None))
                steps.append((c.new_path or c.path, None, c.new))
            else:
                steps.append((c.path, c.old, c.new))
        return steps

    @property
    def paths(self) -> list[str]:
        out: list[str] = []
        for c in self.changes:
            out.append(c.path)
            if c.new_path:
                out.append(c.new_path)
        return sorted(set(out))

    def diff(self) -> str:
        """A unified diff (``git apply`` reads it) of every change, files in path order."""
        parts: list[str] = []
        for c in sorted(self.changes, key=lambda c: (c.path, c.op)):
            old_lines = _lines(_diff_text(c.old)) if c.old is not None else []
            new_lines = _lines(_diff_text(c.new)) if c.new is not None else []
            target = c.new_path or c.path
            parts.append(f"diff --git a/{c.path} b/{target}\n")
            if c.op == "create":
                parts.append("new file mode 100644\n")
            elif c.op == "delete":
                parts.append("deleted file mode 100644\n")
            elif c.op == "rename":
                parts.append(f"rename from {c.path}\nrename to {target}\n")
            src = f"a/{c.path}" if c.op != "create" else "/dev/null"
            dst = f"b/{target}" if c.op != "delete" else "/dev/null"
            parts.append("".join(_terminated(difflib.unified_diff(old_lines, new_lines, src, dst, n=3))))
        return "".join(parts)

    def to_data(self) -> list[dict[str, Any]]:
        return [
            {"path": c.path, "op": c.op, "newPath": c.new_path, "oldHash": c.old_hash, "newHash": c.new_hash}
            for c in sorted(self.changes, key=lambda c: (c.path, c.op))
        ]


def _diff_text(data: bytes) -> str:
    """A file as its diff shows it: a BOM stays on line 1, so ``git apply`` finds the line."""
    text, encoding = decode(data)
    return "\ufeff" + text if encoding == "utf-8-sig" else text


def _lines(text: str) -> list[str]:
    """Lines as git sees them: split after "\\n" only (not at form feeds or U+2028)."""
    return re.findall(r"[^\n]*\n|[^\n]+$", text)


def _terminated(lines: Any) -> Any:
    for line in lines:
        yield line if line.endswith("\n") else line + "\n\\ No newline at end of file\n"


def decode(data: bytes) -> tuple[str, str]:
    """``(text, encoding)``: UTF-8 with BOM, UTF-8, else Latin-1 (which decodes any bytes)."""
    if data.startswith(b"\xef\xbb\xbf"):
        return data[3:].decode("utf-8"), "utf-8-sig"
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        return data.decode("latin-1"), "latin-1"


def encode(text: str, encoding: str) -> bytes:
    if encoding == "utf-8-sig":
        return b"\xef\xbb\xbf" + text.encode("utf-8")
    try:
        return text.encode(encoding)  # strict: a lone surrogate in the new text is refused too
    except UnicodeEncodeError as exc:
        raise ApplyConflict(f"the new text cannot be written in the file's encoding ({encoding})") from exc


def _newline_of(text: str) -> str:
    crlf = text.count("\r\n")
    return "\r\n" if crlf and crlf >= text.count("\n") - crlf else "\n"


def apply_text_edits(data: bytes, edits: list[dict[str, Any]], lsp_encoding: str) -> bytes:
    """Apply LSP TextEdits (positions in ``lsp_encoding``) to ``data``; overlapping edits are refused.

    Positions count in :func:`lanser.text.document_text`, the text the
    servers were given: after a UTF-8 BOM, with one U+FFFD per undecodable
    sequence.  Each edit is mapped to the bytes of that text and spliced
    there, so the BOM, CRLF line ends and bytes that are not UTF-8 are kept
    exactly; new text is written as UTF-8, or Latin-1 in a file that is not
    UTF-8 (E/APPLY_CONFLICT if it cannot be).
    """
    text, byte_at = text_offsets(data)
    encoding = "utf-8" if is_utf8(data) else "latin-1"
    indexing = from_lsp_encoding(lsp_encoding)
    # Offsets of line starts, splitting like LSP does.
    starts = [0]
    i = 0
    while i < len(text):
        ch = text[i]
        if ch == "\r" and i + 1 < len(text) and text[i + 1] == "\n":
            starts.append(i + 2)
            i += 2
            continue
        if ch in "\r\n":
            starts.append(i + 1)
        i += 1

    def offset(pos: dict[str, int]) -> int:
        line = pos["line"]
        if line >= len(starts):
            return len(text)
        end = starts[line + 1] if line + 1 < len(starts) else len(text)
        line_text = text[starts[line] : end].rstrip("\r\n")
        return starts[line] + convert_column(line_text, pos["character"], indexing, "codepoint", strict=False)

    newline = _newline_of(text)
    spans = sorted(
        ((offset(e["range"]["start"]), offset(e["range"]["end"]), e["newText"]) for e in edits),
        key=lambda s: (s[0], s[1]),
    )
    for (_s1, e1, _), (s2, _, _) in zip(spans, spans[1:], strict=False):
        if s2 < e1:
            raise ApplyConflict("the server sent overlapping edits", start=s2)
    out = bytearray(data)
    for start, end, new in reversed(spans):
        if newline == "\r\n":
            new = new.replace("\r\n", "\n").replace("\n", "\r\n")
        out[byte_at[start] : byte_at[end]] = encode(new, encoding)
    return bytes(out)


def merge_workspace_edits(edits: list[dict[str, Any]]) -> dict[str, Any]:
    """One WorkspaceEdit (``changes`` form) holding the text edits of several, each once.

    The edits must all describe the same versions of the files (answers of
    one server about one snapshot). The same edit twice is kept once; two
    different edits that overlap are an ApplyConflict, as are file
    operations, which have no meaningful union.
    """
    merged: dict[str, dict[tuple[int, int, int, int, str], dict[str, Any]]] = {}

    def add(uri: str, items: list[dict[str, Any]]) -> None:
        slot = merged.setdefault(uri, {})
        for e in items:
            r = e["range"]
            slot[
                (r["start"]["line"], r["start"]["character"], r["end"]["line"], r["end"]["character"], e["newText"])
            ] = e

    for edit in edits:
        for change in edit.get("documentChanges") or []:
            if change.get("kind") is not None:
                raise ApplyConflict(f"cannot merge a {change['kind']} file operation with other edits")
            add(change["textDocument"]["uri"], change["edits"])
        for uri, items in (edit.get("changes") or {}).items():
            add(uri, items)
    out: dict[str, list[dict[str, Any]]] = {}
    for uri, slot in sorted(merged.items()):
        keys = sorted(slot)
        for a, b in zip(keys, keys[1:], strict=False):
            if (b[0], b[1]) < (a[2], a[3]) or (a[:4] == b[:4]):
                raise ApplyConflict(f"two different edits overlap in {uri} at line {b[0] + 1}")
        out[uri] = [slot[k] for k in keys]
    return {"changes": out}


def plan_workspace_edit(
    edit: dict[str, Any], lsp_encoding: str, rel_of_uri: Callable[[str], str], read: Callable[[str], bytes | None]
) -> ChangeSet:
    """Turn an LSP WorkspaceEdit (plain data) into a ChangeSet.

    ``rel_of_uri`` maps a file URI to a workspace-relative path (raising
    the jail's error for a path outside); ``read`` gives a file's current
    bytes, or None when it does not exist.
    """
    contents: dict[str, bytes | None] = {}
    originals: dict[str, bytes | None] = {}
    ops: list[FileChange] = []

    def current(rel: str) -> bytes | None:
        if rel not in contents:
            contents[rel] = originals[rel] = read(rel)
        return contents[rel]

    def text_edits(uri: str, edits: list[dict[str, Any]]) -> None:
        rel = rel_of_uri(uri)
        data = current(rel)
        if data is None:
            raise NotFound(f"the edit targets {rel}, which does not exist", path=rel)
        contents[rel] = apply_text_edits(data, edits, lsp_encoding)

    if edit.get("documentChanges"):
        for change in edit["documentChanges"]:
            kind = change.get("kind")
            if kind is None:
                text_edits(change["textDocument"]["uri"], change["edits"])
            elif kind == "create":
                rel = rel_of_uri(change["uri"])
                options = change.get("options") or {}
                if current(rel) is not None:
                    if options.get("overwrite"):
                        contents[rel] = b""  # an edit of the existing file: its old bytes stay in the plan
                        continue
                    if options.get("ignoreIfExists"):
                        continue
                    raise ApplyConflict(f"{rel} already exists", path=rel)
                contents[rel] = b""
                ops.append(FileChange(rel, "create", None, b""))
            elif kind == "rename":
                old, new = rel_of_uri(change["oldUri"]), rel_of_uri(change["newUri"])
                data = current(old)
                if data is None:
                    raise NotFound(f"cannot rename {old}: it does not exist", path=old)
                options = change.get("options") or {}
                if current(new) is not None:
                    if options.get("ignoreIfExists") and not options.get("overwrite"):
                        continue
                    if not options.get("overwrite"):
                        raise ApplyConflict(f"cannot rename {old} to {new}: {new} exists", path=new)
                    # Overwriting: the source goes away, the target is edited to its content.
                    ops.append(FileChange(old, "delete", originals.get(old), None))
                    contents[new], contents[old] = data, None
                    continue
                ops.append(FileChange(old, "rename", originals.get(old), data, new_path=new))
                contents[new], contents[old] = data, None
            elif kind == "delete":
                rel = rel_of_uri(change["uri"])
                data = current(rel)
                if data is None:
                    if (change.get("options") or {}).get("ignoreIfNotExists"):
                        continue
                    raise NotFound(f"cannot delete {rel}: it does not exist", path=rel)
                ops.append(FileChange(rel, "delete", originals.get(rel), None))
                contents[rel] = None
    for uri, edits in sorted((edit.get("changes") or {}).items()):
        text_edits(uri, edits)

    changes: list[FileChange] = []
    renamed = {c.new_path: c for c in ops if c.op == "rename"}
    created = {c.path for c in ops if c.op == "create"}
    for c in ops:
        if c.op == "rename":
            final = contents.get(c.new_path or "")
            changes.append(FileChange(c.path, "rename", c.old, final, new_path=c.new_path))
        elif c.op == "delete":
            changes.append(c)
    for rel, data in sorted(contents.items()):
        if rel in renamed or data is None or any(c.op == "delete" and c.path == rel for c in ops):
            continue
        if rel in created:
            changes.append(FileChange(rel, "create", None, data))
        elif originals.get(rel) != data:
            changes.append(FileChange(rel, "edit", originals.get(rel), data))
    return ChangeSet(changes)


def uri_path(uri: str) -> str:
    return unquote(urlparse(uri).path)
