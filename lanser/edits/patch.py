"""Unified diffs (``git diff`` / ``diff -u``) to a ChangeSet, in memory (pure).

Hunks must apply exactly at their line, or at the nearest offset where
their context matches (as ``patch`` does, without fuzz); anything else is
:class:`ApplyConflict` naming the file and the hunk.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from lanser.edits.plan import ChangeSet, FileChange, decode, encode
from lanser.errors import ApplyConflict, BadRequest

__all__ = ["parse_patch"]

_HUNK = re.compile(r"^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@")


def _strip(path: str) -> str | None:
    path = path.split("\t")[0].strip()
    if path == "/dev/null":
        return None
    return path[2:] if path.startswith(("a/", "b/")) else path


def parse_patch(text: str, read: Callable[[str], bytes | None]) -> ChangeSet:
    lines = text.splitlines(keepends=True)
    changes: list[FileChange] = []
    i = 0
    while i < len(lines):
        if not lines[i].startswith("--- "):
            i += 1
            continue
        if i + 1 >= len(lines) or not lines[i + 1].startswith("+++ "):
            raise BadRequest(f"patch line {i + 2}: '+++' expected after '---'")
        old_path, new_path = _strip(lines[i][4:]), _strip(lines[i + 1][4:])
        i += 2
        hunks: list[tuple[int, list[str]]] = []
        while i < len(lines) and lines[i].startswith("@@"):
            m = _HUNK.match(lines[i])
            if not m:
                raise BadRequest(f"patch line {i + 1}: malformed hunk header")
            start = int(m.group(1))
            old_left = int(m.group(2)) if m.group(2) is not None else 1
            new_left = int(m.group(4)) if m.group(4) is not None else 1
            body: list[str] = []
            i += 1
            # The header's line counts bound the hunk: a following "--- a/next"
            # must not be read as a removed line.
            while i < len(lines) and (old_left > 0 or new_left > 0 or lines[i].startswith("\\")):
                line = lines[i]
                if line.startswith("\\"):
                    if body:
                        body[-1] = body[-1].rstrip("\n")
                elif line[:1] == " " or line in ("\n", "\r\n"):
                    body.append(" " + line[1:] if line[:1] == " " else " " + line)
                    old_left, new_left = old_left - 1, new_left - 1
                elif line[:1] == "-":
                    body.append(line)
                    old_left -= 1
                elif line[:1] == "+":
                    body.append(line)
                    new_left -= 1
                else:
                    raise BadRequest(f"patch line {i + 1}: unexpected line inside a hunk")
                i += 1
            hunks.append((start, body))
        path = new_path or old_path
        if path is None:
            raise BadRequest("patch names no file")
        old_bytes = read(old_path) if old_path else None
        if old_path and old_bytes is None:
            raise ApplyConflict(f"the patch edits {old_path}, which does not exist", path=old_path)
        old_text, encoding = decode(old_bytes) if old_bytes is not None else ("", "utf-8")
        new_text = _apply_hunks(old_text, hunks, path)
        if new_path is None:
            changes.append(FileChange(old_path or path, "delete", old_bytes, None))
        elif old_path is None:
            changes.append(FileChange(new_path, "create", None, encode(new_text, encoding)))
        elif old_path != new_path:
            changes.append(FileChange(old_path, "rename", old_bytes, encode(new_text, encoding), new_path=new_path))
        else:
            changes.append(FileChange(path, "edit", old_bytes, encode(new_text, encoding)))
    if not changes:
        raise BadRequest("no file changes found in the patch (expected a unified diff)")
    return ChangeSet(changes)


def _apply_hunks(text: str, hunks: list[tuple[int, list[str]]], path: str) -> str:
    """Apply ``hunks`` to ``text`` (without its BOM): context lines are kept as the file has
    them, added lines take the file's line ends (a patch read with universal newlines, or
    written on another system, must not turn a CRLF file's lines into LF ones)."""
    src = re.findall(r"[^\n]*\n|[^\n]+$", text)
    crlf = text.count("\r\n")
    newline = "\r\n" if crlf and crlf >= text.count("\n") - crlf else "\n"
    out: list[str] = []
    pos = 0  # index into src of the first line not yet copied
    for n, (start, body) in enumerate(hunks, 1):
        before = [ln[1:] for ln in body if ln[:1] in (" ", "-")]
        if start <= 1 and before:
            # A diff of a file with a BOM (git's, lanser's own) shows it on line 1; the text here
            # has none (the BOM is the file's encoding, kept as it was), so neither may the hunk.
            before[0] = before[0].removeprefix("\ufeff")
        want = max(start - 1, 0) if before else start
        at = _find(src, before, want, pos)
        if at is None:
            raise ApplyConflict(
                f"hunk {n} of {path} does not apply (its context is not in the file)", path=path, hunk=n, line=start
            )
        out.extend(src[pos:at])
        k = at
        for ln in body:
            if ln[:1] == " ":
                out.append(src[k])
                k += 1
            elif ln[:1] == "-":
                k += 1
            else:
                added = ln[1:].removeprefix("\ufeff") if not out else ln[1:]
                if newline == "\r\n" and added.endswith("\n") and not added.endswith("\r\n"):
                    added = added[:-1] + "\r\n"
                out.append(added)
        pos = at + len(before)
    out.extend(src[pos:])
    return "".join(out)


def _find(src: list[str], block: list[str], want: int, floor: int) -> int | None:
    def norm(ln: str) -> str:
        return ln.rstrip("\r\n")

    target = [norm(x) for x in block]
    for delta in range(0, len(src) + 1):
        for at in (want - delta, want + delta) if delta else (want,):
            if at < floor or at + len(target) > len(src):
                continue
            if [norm(x) for x in src[at : at + len(target)]] == target:
                return at
    return None
