"""Mutating commands of the orchestrator: prepare-rename, rename, actions.

Algorithm 2 of the paper (PreviewThenApply), made complete-or-refused:
prepareRename gates the rename; the server's WorkspaceEdit becomes a
ChangeSet; the guards run on it; the edit is cross-checked against the
symbol's references (a reference the edit misses, or an edit that is no
reference, makes the plan partial and refuses it unless allowed); the
preview is the diff; only ``apply`` writes, as one transaction, and only on
a clean worktree unless ``allowDirty``.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lsprotocol import types as lsp

from lanser.bundle.models import Bundle, Facts, Request
from lanser.edits import guards
from lanser.edits.apply import apply_changes
from lanser.edits.plan import ChangeSet, plan_workspace_edit, uri_path
from lanser.errors import Ambiguous, ApplyConflict, BadRequest, FsPermissions, NotFound, UnsupportedCap

if TYPE_CHECKING:
    from lanser.lsp.session import LspSession

__all__ = ["MutationCommands"]


class MutationCommands:
    """Mixed into the Orchestrator (which provides root, _target, _call, _open, ...)."""

    root: Path

    async def _cmd_prepareRename(self, request: Request, bundle: Bundle) -> None:  # noqa: N802
        target = self._target(request, bundle)  # type: ignore[attr-defined]

        async def op(s: LspSession) -> Any:
            await self._ready(s, target.language)  # type: ignore[attr-defined]
            doc = self._open(s, target, bundle)  # type: ignore[attr-defined]
            return await s.request("textDocument/prepareRename", lsp.PrepareRenameParams(
                text_document=lsp.TextDocumentIdentifier(uri=doc.uri), position=target.position()),
                timeout=self.timeout)  # type: ignore[attr-defined]

        raw = self._data(await self._call(target.language, op, bundle))  # type: ignore[attr-defined]
        if not raw:
            raise NotFound(f"the server will not rename anything at {request.selector}")
        rng = raw.get("range", raw) if isinstance(raw, dict) else None
        placeholder = raw.get("placeholder") if isinstance(raw, dict) else None
        from lanser.bundle.normalize import flat_range
        from lanser.bundle.models import Location

        loc = Location(path=target.path, range=flat_range(rng)) if rng and "start" in rng else None
        bundle.facts = Facts(location=loc)
        bundle.edits = {"workspaceEdit": None, "diff": None, "renameable": True,
                        "placeholder": placeholder or _text_at(target, loc)}

    async def _cmd_rename(self, request: Request, bundle: Bundle) -> None:
        args = request.args
        new_name = args.get("newName")
        if not isinstance(new_name, str) or not new_name:
            raise BadRequest("rename needs args.newName, a non-empty string", field="args.newName")
        target = self._target(request, bundle)  # type: ignore[attr-defined]
        apply = bool(args.get("apply"))
        if apply and args.get("denyApplyOnAmbiguous") and target.confidence < 1.0:
            raise Ambiguous(f"{request.selector} resolved with confidence {target.confidence} < 1; "
                            "refusing to apply (--deny-apply-on-ambiguous)", candidates=target.evidence)

        async def op(s: LspSession) -> tuple[Any, Any, Any, str]:
            await self._ready(s, target.language)  # type: ignore[attr-defined]
            doc = self._open(s, target, bundle)  # type: ignore[attr-defined]
            ident = lsp.TextDocumentIdentifier(uri=doc.uri)
            prep = await s.request("textDocument/prepareRename", lsp.PrepareRenameParams(
                text_document=ident, position=target.position()), timeout=self.timeout)  # type: ignore[attr-defined]
            if not prep:
                raise NotFound(f"the server will not rename anything at {request.selector}")
            await self._settle(s, doc)  # type: ignore[attr-defined]
            edit = await s.request("textDocument/rename", lsp.RenameParams(
                text_document=ident, position=target.position(), new_name=new_name),
                timeout=self.timeout)  # type: ignore[attr-defined]
            refs = await s.request("textDocument/references", lsp.ReferenceParams(
                text_document=ident, position=target.position(),
                context=lsp.ReferenceContext(include_declaration=True)), timeout=self.timeout)  # type: ignore[attr-defined]
            return prep, edit, refs, s.position_encoding

        _, edit, refs, encoding = await self._call(target.language, op, bundle)  # type: ignore[attr-defined]
        if not edit:
            raise NotFound(f"the server proposed no edit for renaming {request.selector}")
        edit_data = self._data(edit)  # type: ignore[attr-defined]
        changes = self._plan(edit_data, encoding, args)
        missing, extra = _completeness(edit_data, self._data(refs) or [], self._rel_of_uri)  # type: ignore[attr-defined]
        complete = not missing and not extra
        bundle.edits = self._edits_block(edit_data, changes, complete=complete, missing=missing, extra=extra)
        if not complete and not args.get("allowPartial"):
            raise ApplyConflict(
                f"the rename is partial: {len(missing)} reference(s) not edited, {len(extra)} edit(s) "
                "that are no reference; refused (--allow-partial to take it anyway)",
                missing=missing, extra=extra)
        if apply:
            bundle.edits.update(self._apply(changes, args, f"Rename {request.selector} to {new_name}"))

    async def _cmd_actions(self, request: Request, bundle: Bundle) -> None:
        target = self._target(request, bundle)  # type: ignore[attr-defined]
        want = request.args.get("actionId")

        async def op(s: LspSession) -> tuple[list[Any], str]:
            await self._ready(s, target.language)  # type: ignore[attr-defined]
            doc = self._open(s, target, bundle)  # type: ignore[attr-defined]
            diags = await s.diagnostics(doc, self.timeout)  # type: ignore[attr-defined]
            rng = lsp.Range(start=lsp.Position(line=target.range[0], character=target.range[1]),
                            end=lsp.Position(line=target.range[2], character=target.range[3]))
            near = [d for d in diags if d.range.start.line <= rng.end.line and d.range.end.line >= rng.start.line]
            raw = await s.request("textDocument/codeAction", lsp.CodeActionParams(
                text_document=lsp.TextDocumentIdentifier(uri=doc.uri), range=rng,
                context=lsp.CodeActionContext(diagnostics=near)), timeout=self.timeout)  # type: ignore[attr-defined]
            actions = []
            for item in raw or []:
                data = s.to_data(item)
                if want and "edit" not in data and "command" not in data or (
                        want and "edit" not in data and isinstance(data.get("command"), dict)):
                    if _action_id(data) == want and s.capabilities is not None \
                            and getattr(s.capabilities.code_action_provider, "resolve_provider", False):
                        data = s.to_data(await s.request("codeAction/resolve", item, timeout=self.timeout))  # type: ignore[attr-defined]
                actions.append(data)
            return actions, s.position_encoding

        actions, encoding = await self._call(target.language, op, bundle)  # type: ignore[attr-defined]
        listed = sorted(({"id": _action_id(a), "title": a.get("title", ""), "kind": a.get("kind"),
                          "preferred": bool(a.get("isPreferred")), "hasEdit": "edit" in a,
                          "diagnostics": sorted({str(d.get("code")) for d in a.get("diagnostics") or []})}
                         for a in actions), key=lambda a: (a["kind"] or "", a["title"], a["id"]))
        bundle.facts = Facts()
        bundle.edits = {"workspaceEdit": None, "diff": None, "actions": listed}
        if not want:
            return
        chosen = [a for a in actions if _action_id(a) == want]
        if not chosen:
            raise NotFound(f"no code action {want} here; list them without --apply", available=[a["id"] for a in listed])
        action = chosen[0]
        if "edit" not in action:
            raise UnsupportedCap(f"code action {want} ({action.get('title')}) only runs a server command; "
                                 "lanser applies edits it can preview")
        changes = self._plan(action["edit"], encoding, request.args)
        bundle.edits.update(self._edits_block(action["edit"], changes, complete=True, missing=[], extra=[]))
        bundle.edits["action"] = {"id": want, "title": action.get("title"), "kind": action.get("kind")}
        if request.args.get("apply"):
            bundle.edits.update(self._apply(changes, request.args, f"Apply code action: {action.get('title')}"))

    # -- shared -----------------------------------------------------------

    def _rel_of_uri(self, uri: str) -> str:
        return guards.jail_rel(self.root, uri_path(uri))

    def _plan(self, edit: dict[str, Any], encoding: str, args: dict[str, Any]) -> ChangeSet:
        def read(rel: str) -> bytes | None:
            p = self.root / rel
            return p.read_bytes() if p.is_file() else None

        changes = plan_workspace_edit(edit, encoding, self._rel_of_uri, read)
        guards.check_jail(self.root, changes)
        guards.check_filters(changes, tuple(args.get("allow") or ()), tuple(args.get("deny") or ()))
        guards.check_case_rename(self.root, changes)
        return changes

    def _edits_block(self, edit: dict[str, Any], changes: ChangeSet, *, complete: bool,
                     missing: list[Any], extra: list[Any]) -> dict[str, Any]:
        return {
            "workspaceEdit": _relative_edit(edit, self._rel_of_uri),
            "diff": changes.diff(),
            "files": changes.to_data(),
            "complete": complete,
            "missing": missing,
            "extra": extra,
            "applied": False,
        }

    def _apply(self, changes: ChangeSet, args: dict[str, Any], message: str) -> dict[str, Any]:
        if not args.get("allowDirty"):
            dirty = guards.dirty_files(self.root)
            if dirty:
                raise FsPermissions(f"uncommitted changes in {len(dirty)} file(s); commit them or pass --allow-dirty",
                                    dirty=dirty[:50])
        if args.get("viaGit"):
            _apply_via_git(self.root, changes)
            out: dict[str, Any] = {"applied": True, "via": "git apply --3way"}
        else:
            apply_changes(self.root, changes)
            out = {"applied": True, "via": "transaction"}
        if args.get("commit"):
            out["commit"] = _commit(self.root, changes, args.get("message") or message)
        return out


def _text_at(target: Any, loc: Any) -> str | None:
    if loc is None:
        return None
    sl, sc, el, ec = loc.range
    if sl != el:
        return None
    line = target.lines[sl]
    from lanser.text import convert_column, from_lsp_encoding

    enc = from_lsp_encoding(target.encoding)
    return line[convert_column(line, sc, enc, "codepoint", strict=False):convert_column(line, ec, enc, "codepoint", strict=False)]


def _action_id(action: dict[str, Any]) -> str:
    payload = json.dumps({"title": action.get("title"), "kind": action.get("kind"),
                          "edit": action.get("edit"), "command": action.get("command")}, sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()[:12]


def _edit_starts(edit: dict[str, Any], rel_of_uri: Any) -> set[tuple[str, int, int]]:
    out = set()
    for change in edit.get("documentChanges") or []:
        if "textDocument" in change:
            rel = rel_of_uri(change["textDocument"]["uri"])
            out |= {(rel, e["range"]["start"]["line"], e["range"]["start"]["character"]) for e in change["edits"]}
    for uri, edits in (edit.get("changes") or {}).items():
        rel = rel_of_uri(uri)
        out |= {(rel, e["range"]["start"]["line"], e["range"]["start"]["character"]) for e in edits}
    return out


def _completeness(edit: dict[str, Any], refs: list[dict[str, Any]], rel_of_uri: Any) -> tuple[list[Any], list[Any]]:
    """References the edit misses, and edits that are no reference, as [path, line, col] (0-based)."""
    edits = _edit_starts(edit, rel_of_uri)
    ref_starts = set()
    for r in refs:
        try:
            rel = rel_of_uri(r["uri"])
        except FsPermissions:
            ref_starts.add(("<outside>" + uri_path(r["uri"]), r["range"]["start"]["line"], r["range"]["start"]["character"]))
            continue
        ref_starts.add((rel, r["range"]["start"]["line"], r["range"]["start"]["character"]))
    missing = sorted([list(x) for x in ref_starts - edits])
    extra = sorted([list(x) for x in edits - ref_starts])
    return missing, extra


def _relative_edit(edit: dict[str, Any], rel_of_uri: Any) -> dict[str, Any]:
    def fix(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: (rel_of_uri(v) if k in ("uri", "oldUri", "newUri") and isinstance(v, str) else fix(v))
                    for k, v in value.items()}
        if isinstance(value, list):
            return [fix(v) for v in value]
        return value

    out = fix(edit)
    if "changes" in out and out["changes"]:
        out["changes"] = {rel_of_uri(k): v for k, v in sorted(edit["changes"].items())}
    return out


def _apply_via_git(root: Path, changes: ChangeSet) -> None:
    patch = changes.diff()
    with tempfile.NamedTemporaryFile("w", suffix=".patch", delete=False) as fh:
        fh.write(patch)
        name = fh.name
    try:
        proc = subprocess.run(["git", "apply", "--3way", "--whitespace=nowarn", name], cwd=root,
                              capture_output=True, text=True, timeout=120)
    except (OSError, subprocess.SubprocessError) as exc:
        raise ApplyConflict(f"git apply could not run: {exc}") from exc
    finally:
        Path(name).unlink(missing_ok=True)
    if proc.returncode != 0:
        conflicts = sorted({line.split("'")[1] for line in proc.stderr.splitlines()
                            if "with conflicts" in line and "'" in line})
        failed = sorted({line.split(":")[2].strip() for line in proc.stderr.splitlines()
                         if line.startswith("error: patch failed:") and line.count(":") >= 3})
        raise ApplyConflict("git apply --3way could not apply the edit cleanly",
                            conflicts=conflicts, failed=failed, stderr=proc.stderr.strip().splitlines()[-20:])


def _commit(root: Path, changes: ChangeSet, message: str) -> str:
    import git

    try:
        repo = git.Repo(root, search_parent_directories=True)
        top = Path(repo.working_tree_dir or root)
        paths = []
        for c in changes.changes:
            for rel in (c.path, c.new_path):
                if rel:
                    paths.append(str((root / rel).resolve().relative_to(top)))
        existing = [p for p in paths if (top / p).exists()]
        removed = [p for p in paths if not (top / p).exists()]
        if existing:
            repo.index.add(existing)
        if removed:
            repo.index.remove(removed, working_tree=False)
        commit = repo.index.commit(message)
        return commit.hexsha
    except (git.GitError, ValueError) as exc:
        raise FsPermissions(f"the edit was applied but committing failed: {exc}") from exc
