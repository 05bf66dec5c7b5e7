"""Edit plumbing shared by the mutating commands: a server's WorkspaceEdit as a guarded ChangeSet."""

from __future__ import annotations

from typing import Any

from lanser.commands.args import EditArgs
from lanser.commands.context import Context
from lanser.edits import guards
from lanser.edits.plan import ChangeSet, plan_workspace_edit

__all__ = ["edits_block", "plan", "relative_edit"]


def plan(ctx: Context, edit: dict[str, Any], encoding: str, args: EditArgs) -> ChangeSet:
    def read(rel: str) -> bytes | None:
        p = ctx.root / rel
        return p.read_bytes() if p.is_file() else None

    changes = plan_workspace_edit(edit, encoding, ctx.rel_of_uri, read)
    guards.check_jail(ctx.root, changes)
    guards.check_filters(changes, args.allow or (), args.deny or ())
    guards.check_case_rename(ctx.root, changes)
    return changes


def edits_block(
    ctx: Context, edit: dict[str, Any], changes: ChangeSet, *, complete: bool, missing: list[Any], extra: list[Any]
) -> dict[str, Any]:
    return {
        "workspaceEdit": relative_edit(edit, ctx.rel_of_uri),
        "diff": changes.diff(),
        "files": changes.to_data(),
        "complete": complete,
        "missing": missing,
        "extra": extra,
        "applied": False,
    }


def relative_edit(edit: dict[str, Any], rel_of_uri: Any) -> dict[str, Any]:
    def fix(value: Any) -> Any:
        if isinstance(value, dict):
            return {
                k: (rel_of_uri(v) if k in ("uri", "oldUri", "newUri") and isinstance(v, str) else fix(v))
                for k, v in value.items()
            }
        if isinstance(value, list):
            return [fix(v) for v in value]
        return value

    out: dict[str, Any] = fix(edit)
    if "changes" in out and out["changes"]:
        out["changes"] = {rel_of_uri(k): _in_order(v) for k, v in sorted(edit["changes"].items())}
    changes = out.get("documentChanges")
    if changes and all(isinstance(c, dict) and "textDocument" in c and "edits" in c for c in changes):
        # The server lists files in the order it met them (which a warm daemon's history decides);
        # text edits alone commute across files, so the bundle lists them by path.  File
        # operations (create, rename, delete) keep their order: it matters.
        out["documentChanges"] = sorted(
            ({**c, "edits": _in_order(c["edits"])} for c in changes), key=lambda c: str(c["textDocument"].get("uri"))
        )
    return out


def _in_order(edits: list[Any]) -> list[Any]:
    """Text edits of one file by position (they do not overlap, so any order means the same)."""

    def key(e: Any) -> tuple[int, int, int, int]:
        r = e.get("range") or {}
        start, end = r.get("start") or {}, r.get("end") or {}
        return (start.get("line", 0), start.get("character", 0), end.get("line", 0), end.get("character", 0))

    if not all(isinstance(e, dict) for e in edits):
        return edits
    return sorted(edits, key=key)
