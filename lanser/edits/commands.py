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

from lanser import gitsafe
from lanser.bundle.models import Bundle, Facts, Request
from lanser.edits import guards
from lanser.edits.apply import apply_changes
from lanser.edits.completeness import Occurrence, describe, selector_of
from lanser.edits.plan import ChangeSet, decode, merge_workspace_edits, plan_workspace_edit, uri_path
from lanser.edits.patch import parse_patch
from lanser.edits.witness import (
    RenameWitness,
    _edit_starts,
    _edits_at,
    _identifier_at,
    _locations,
    _macro_of,
    _name_breaks,
    _name_written,
    _pasted_breaks,
    _word_at,
)
from lanser.reward import count_diagnostics, process_reward
from lanser.text import convert_column
from lanser.errors import Ambiguous, ApplyConflict, BadRequest, FsPermissions, NotFound, UnsupportedCap

if TYPE_CHECKING:
    from lanser.edits.overrides import Method
    from lanser.lsp.session import LspSession

__all__ = ["MutationCommands"]


class MutationCommands(RenameWitness):
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
        from lanser.edits.names import name_problem

        # Checked before any server is asked: handed `class`, basedpyright asks the user
        # (window/showMessageRequest) and clangd answers with an error; neither is about the symbol.
        problem = name_problem("", new_name)
        if problem:
            raise BadRequest(problem, field="args.newName")
        target = self._target(request, bundle)  # type: ignore[attr-defined]
        problem = name_problem(target.language, new_name)
        if problem:
            raise BadRequest(problem, field="args.newName", language=target.language)
        apply = bool(args.get("apply"))
        if apply and args.get("denyApplyOnAmbiguous") and target.confidence < 1.0:
            raise Ambiguous(f"{request.selector} resolved with confidence {target.confidence} < 1; "
                            "refusing to apply (--deny-apply-on-ambiguous)", candidates=target.evidence)

        old_name = _identifier_at(target)
        # Every file of the project holding the old name, scanned before the server is asked: the
        # server's own view (its include settings, what a warm daemon opened before) is not the project.
        scans = self._scan_project(target.language, old_name) if old_name else {}
        named = {"old": old_name}

        async def op(s: LspSession) -> tuple[Any, Any, str, dict[Any, Any], list[Any]]:
            await self._ready(s, target.language)  # type: ignore[attr-defined]
            doc = self._open(s, target, bundle)  # type: ignore[attr-defined]
            ident = lsp.TextDocumentIdentifier(uri=doc.uri)
            prep = await s.request("textDocument/prepareRename", lsp.PrepareRenameParams(
                text_document=ident, position=target.position()), timeout=self.timeout)  # type: ignore[attr-defined]
            if not prep:
                raise NotFound(f"the server will not rename anything at {request.selector}")
            # The server's prepared range says which name it renames; the selector's point may sit
            # beside it (a cursor on `def`), and then the scan was of the wrong word.
            prepared = _prepared_name(s.to_data(prep), doc.text, s.position_encoding)
            if prepared and prepared != named["old"]:
                named["old"] = prepared
                scans.clear()
                scans.update(self._scan_project(target.language, prepared))
            opened = await self._open_mentioning(s, target, scans)
            try:
                await self._settle(s, doc)  # type: ignore[attr-defined]
                edit = await s.request("textDocument/rename", lsp.RenameParams(
                    text_document=ident, position=target.position(), new_name=new_name),
                    timeout=self.timeout)  # type: ignore[attr-defined]
                refs = await s.request("textDocument/references", lsp.ReferenceParams(
                    text_document=ident, position=target.position(),
                    context=lsp.ReferenceContext(include_declaration=True)), timeout=self.timeout)  # type: ignore[attr-defined]
                symbol = await s.request("textDocument/definition", lsp.DefinitionParams(
                    text_document=ident, position=target.position()), timeout=self.timeout)  # type: ignore[attr-defined]
                defs = await self._resolve_occurrences(s, target.language, scans, s.to_data(edit) if edit else {}, opened)
            finally:
                for rel in opened:
                    s.close_document(rel)
            return edit, refs, s.position_encoding, defs, _locations(s.to_data(symbol))

        edit, refs, encoding, defs, symbol = await self._call(target.language, op, bundle)  # type: ignore[attr-defined]
        if not edit:
            raise NotFound(f"the server proposed no edit for renaming {request.selector}")
        old_name = named["old"]
        if not old_name:
            bundle.processReward = process_reward(0, 0, False, target.confidence)
            raise ApplyConflict(f"cannot tell which name the rename at {request.selector} replaces, so its "
                                "completeness cannot be checked; refused")
        edit_data = self._data(edit)  # type: ignore[attr-defined]
        ref_data: list[Any] = self._data(refs) or []  # type: ignore[attr-defined]
        family: list[Method] = []
        hidden: list[dict[str, Any]] = []
        try:
            if target.language == "python":
                family, hidden = await self._override_family(edit_data, bundle)
                if family and args.get("withOverrides"):
                    edit_data, ref_data = await self._rename_family(family, new_name, edit_data, ref_data, bundle)
                    bundle.edits = {"overrides": [f"{m.path}#{m.cls}.{m.name}" for m in family]}
                    family = []
            verdict, server_of = self._judge(scans, edit_data, defs, symbol, encoding, old_name)
            branch: list[Occurrence] = []
            if target.language in ("c", "cpp") and old_name and verdict.unexplained:
                branch = self._branch_occurrences(verdict, server_of, scans, symbol, edit_data, old_name)
                if branch:
                    more_edit, more_refs = _edits_at(branch, old_name, new_name, self.root, scans, encoding)
                    edit_data = merge_workspace_edits([edit_data, more_edit])
                    ref_data = list(ref_data) + more_refs
                    taken = {o.where for o in branch}
                    verdict.unexplained = [(o, w) for o, w in verdict.unexplained if o.where not in taken]
                    verdict.edited += branch
            changes = self._plan(edit_data, encoding, args)
            missing, extra = _completeness(edit_data, ref_data, self._rel_of_uri)
            expansions: list[Any] = []
            if target.language in ("c", "cpp") and old_name:
                # clangd reports a use through a macro at the expansion site (`CALL(2)`), where the
                # old name is not written: nothing to edit there.  The token scan has accounted for
                # every place the name is written (the #define body among them).
                # Only through a macro whose body this rename edits: a token-pasting macro
                # (`MK(old)` making `old_fn`) writes the name nowhere, and stays a miss.
                edited_macros = {_macro_of(scans[o.path][1], o.line) for o in branch if o.kind == "macro"}
                expansions = [m for m in missing if not _name_written(scans, m, old_name, encoding)
                              and _word_at(scans, m, encoding, self.root) in edited_macros - {None}]
                missing = [m for m in missing if m not in expansions]
            missing += [[m.path, m.line, m.col, f"override {m.cls}.{m.name} left behind (--with-overrides)"]
                        for m in family]
            if target.language == "python":
                missing += _import_residue(self.workspace, target.lines, target, edit_data, self._rel_of_uri)  # type: ignore[attr-defined]
            unexplained = [describe(server_of[o.where], why, scans[o.path][1][o.line] if o.line < len(scans[o.path][1])
                                    else "") for o, why in verdict.unexplained] + hidden
            complete = not missing and not extra and not unexplained
            overrides = (bundle.edits or {}).get("overrides")
            bundle.edits = self._edits_block(edit_data, changes, complete=complete, missing=missing, extra=extra)
            if overrides:
                bundle.edits["overrides"] = overrides
            bundle.edits["unexplained"] = unexplained
            if branch:
                bundle.edits["branches"] = [selector_of(server_of[o.where]) for o in branch]
            if expansions:
                bundle.edits["expansions"] = expansions
            bundle.edits["occurrences"] = {"name": old_name, "files": len(scans), "edited": len(verdict.edited),
                                           "other": len(verdict.other), "unexplained": len(unexplained),
                                           "mentions": len(verdict.mentions)}
            if not complete and not args.get("allowPartial"):
                left = sum(1 for m in missing if len(m) > 3 and str(m[3]).startswith("override "))
                why = (f"{left} override(s) left behind (--with-overrides renames them), " if left else "")
                more = (f", {len(unexplained)} occurrence(s) of {old_name!r} unexplained (first: "
                        f"{unexplained[0]['selector']}, {unexplained[0]['reason']})" if unexplained else "")
                raise ApplyConflict(
                    f"the rename is partial: {why}{len(missing) - left} reference(s) not edited, {len(extra)} "
                    f"edit(s) that are no reference{more}; refused (--allow-partial to take it anyway)",
                    missing=missing, extra=extra, unexplained=unexplained[:200])
        except (ApplyConflict, FsPermissions, NotFound):
            bundle.processReward = process_reward(0, 0, False, target.confidence)
            raise
        await self._evaluate(bundle, target.language, changes, [target.path], target.confidence, safe=complete)
        # lanser's own speculative diagnostics are a witness too: a new error (or warning: a name
        # now obscured by another) naming the old or the new name is a rename that breaks code.
        # Python only: clangd checks a speculated file against the headers' disk content (its
        # preamble is not rebuilt from the speculated header), so a renamed prototype looks undeclared.
        broke = _name_breaks(bundle.edits.get("speculative") or {}, old_name, new_name)
        if broke and target.language != "python":
            bundle.edits["suspect"] = broke
            broke = []
        if target.language != "python":
            # A macro pasting the name into another (`Safe##METHOD` in Brotli's BROTLI_SAFE) now
            # names a function that does not exist: a new error naming an identifier that embeds
            # the new name is that, whatever clangd's preamble holds.
            broke = _pasted_breaks(bundle.edits.get("speculative") or {}, new_name)
        if broke:
            bundle.edits["complete"] = False
            bundle.edits["broke"] = broke
            if not args.get("allowPartial"):
                bundle.processReward = process_reward(0, 0, False, target.confidence)
                raise ApplyConflict(
                    f"the rename breaks code: {len(broke)} new diagnostic(s) name {old_name!r} or {new_name!r} (or an "
                    "identifier made from it) "
                    f"(first: {broke[0][0]}: {broke[0][3]}); refused (--allow-partial to take it anyway)",
                    broke=broke[:50])
        if apply:
            bundle.edits.update(self._apply(changes, args, f"Rename {request.selector} to {new_name}"))

    async def _rename_family(self, family: list[Method], new_name: str, edit: dict[str, Any], refs: list[Any],
                             bundle: Bundle) -> tuple[dict[str, Any], list[Any]]:
        """Rename every member of ``family`` too; one merged edit and the union of the references."""

        async def op(s: LspSession) -> list[tuple[Any, Any]]:
            out = []
            for m in family:
                doc = s.sync_document(m.path, "python")
                ident = lsp.TextDocumentIdentifier(uri=doc.uri)
                # The column is the same in every encoding: only indentation and `def` precede a method name.
                pos = lsp.Position(line=m.line, character=m.col)
                more = await s.request("textDocument/rename", lsp.RenameParams(
                    text_document=ident, position=pos, new_name=new_name), timeout=self.timeout)  # type: ignore[attr-defined]
                more_refs = await s.request("textDocument/references", lsp.ReferenceParams(
                    text_document=ident, position=pos, context=lsp.ReferenceContext(include_declaration=True)),
                    timeout=self.timeout)  # type: ignore[attr-defined]
                if not more:
                    raise NotFound(f"the server proposed no edit for renaming the override {m.cls}.{m.name} "
                                   f"in {m.path}")
                out.append((more, more_refs))
            return out

        answers = await self._call("python", op, bundle)  # type: ignore[attr-defined]
        edits = [edit] + [self._data(e) for e, _ in answers]  # type: ignore[attr-defined]
        all_refs = list(refs)
        for _, r in answers:
            all_refs += self._data(r) or []  # type: ignore[attr-defined]
        return merge_workspace_edits(edits), all_refs

    async def _cmd_check(self, request: Request, bundle: Bundle) -> None:
        """Evaluate a patch speculatively: its diagnostics and reward, nothing written unless ``apply``."""
        patch = request.args.get("patch")
        if not isinstance(patch, str) or not patch.strip():
            raise BadRequest("check needs args.patch, a unified diff", field="args.patch")
        confidence = 1.0
        focus: list[str] = []
        if request.selector is not None:
            target = self._target(request, bundle)  # type: ignore[attr-defined]
            confidence, focus = target.confidence, [target.path]
        try:
            changes = parse_patch(patch, self._read)
            guards.check_jail(self.root, changes)
            guards.check_filters(changes, tuple(request.args.get("allow") or ()), tuple(request.args.get("deny") or ()))
        except (ApplyConflict, FsPermissions):
            bundle.processReward = process_reward(0, 0, False, confidence)
            raise
        bundle.edits = {"workspaceEdit": None, "diff": changes.diff(), "files": changes.to_data(), "applied": False}
        from lanser.lsp.registry import language_of

        languages = sorted({language_of(c.new_path or c.path) for c in changes.changes})
        for language in languages:
            await self._evaluate(bundle, language, changes, focus, confidence, safe=True)
        if request.args.get("apply"):
            bundle.edits.update(self._apply(changes, request.args, "Apply patch (lanser check)"))

    def _read(self, rel: str) -> bytes | None:
        p = self.root / guards.jail_rel(self.root, rel)
        return p.read_bytes() if p.is_file() else None

    async def _evaluate(self, bundle: Bundle, language: str, changes: ChangeSet, focus: list[str],
                        confidence: float, *, safe: bool) -> None:
        """Speculative evaluation: diagnostics before and after ``changes``, in the server's memory only.

        D covers the files the change touches, the files the selector
        resolves into and (Python) the files importing a changed module.
        The files on disk are never written; the server gets their content
        back afterwards.
        """
        from lanser.lsp.registry import LANGUAGE_OF_SUFFIX, language_of
        from lanser.bundle import normalize

        suffixes = tuple(x for x, lang in LANGUAGE_OF_SUFFIX.items() if lang == language)
        touched = sorted({c.new_path or c.path for c in changes.changes if (c.new_path or c.path).endswith(suffixes)}
                         | {c.path for c in changes.changes if c.path.endswith(suffixes)})
        paths = sorted(set(touched) | {p for p in focus if p.endswith(suffixes)}
                       | set(_importers(self.workspace, touched)))  # type: ignore[attr-defined]

        async def op(s: LspSession) -> tuple[list[Any], list[Any]]:
            await self._ready(s, language)  # type: ignore[attr-defined]

            async def collect() -> list[Any]:
                groups = []
                for rel in paths:
                    doc = s.documents.get(rel)
                    if doc is None or doc.digest != "speculative":
                        if not (self.root / rel).is_file():
                            continue
                        doc = s.sync_document(rel, language_of(rel))
                    raw = await s.diagnostics(doc, self.timeout)  # type: ignore[attr-defined]
                    groups.append(normalize.diagnostic_group(rel, [s.to_data(d) for d in raw], doc.digest, doc.version))
                return groups

            before = await collect()
            speculated = []
            try:
                for c in changes.changes:
                    rel = c.new_path or c.path
                    if c.new is not None and rel.endswith(suffixes):
                        s.speculate(rel, language_of(rel), decode(c.new)[0])
                        speculated.append(rel)
                    if c.op in ("delete", "rename") and c.path in s.documents and c.path.endswith(suffixes):
                        s.speculate(c.path, language_of(c.path), "")
                        speculated.append(c.path)
                after = await collect()
            finally:
                for rel in speculated:
                    if (self.root / rel).is_file():
                        s.sync_document(rel, language_of(rel))
                    else:
                        s.close_document(rel)
            return before, after

        before, after = await self._call(language, op, bundle)  # type: ignore[attr-defined]
        b_data = [g.model_dump(mode="json") for g in before]
        a_data = [g.model_dump(mode="json") for g in after]
        d_prev, d_now = count_diagnostics(b_data), count_diagnostics(a_data)
        previous = bundle.processReward
        if previous is not None:  # a patch over several languages: D adds up
            d_prev += previous["components"]["d_prev"]
            d_now += previous["components"]["d_now"]
        bundle.processReward = process_reward(d_prev, d_now, safe, confidence)
        spec = bundle.edits.setdefault("speculative", {"paths": [], "appeared": [], "disappeared": []})
        spec["paths"] = sorted(set(spec["paths"]) | set(paths))
        old = {_diag_key(g["path"], d) for g in b_data for d in g["diagnostics"]}
        new = {_diag_key(g["path"], d) for g in a_data for d in g["diagnostics"]}
        spec["appeared"] = sorted(spec["appeared"] + [list(k) for k in new - old])
        spec["disappeared"] = sorted(spec["disappeared"] + [list(k) for k in old - new])

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
        await self._evaluate(bundle, target.language, changes, [target.path], target.confidence, safe=True)
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
            dirty = guards.dirty_files(self.root, changes.paths)  # untracked files it would write count
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


def _prepared_name(prep: Any, text: str, encoding: str) -> str | None:
    """The identifier a prepareRename answer's range covers (Range or {range, placeholder})."""
    import re

    from lanser.text import from_lsp_encoding

    rng = prep.get("range", prep) if isinstance(prep, dict) else None
    if not isinstance(rng, dict) or "start" not in rng or "end" not in rng:
        return None
    (sl, sc), (el, ec) = (rng["start"]["line"], rng["start"]["character"]), (rng["end"]["line"], rng["end"]["character"])
    lines = text.split("\n")
    if sl != el or sl >= len(lines):
        return None
    enc = from_lsp_encoding(encoding)
    line = lines[sl]
    word = line[convert_column(line, sc, enc, "codepoint", strict=False):convert_column(line, ec, enc, "codepoint",
                                                                                         strict=False)]
    return word if re.fullmatch(r"[^\W\d]\w*", word) else None


def _diag_key(path: str, d: dict[str, Any]) -> tuple[str, str, str, str]:
    # Position-free: an edit above a diagnostic moves it without making it new.
    return (path, d["severity"], d.get("code") or "", d["message"].splitlines()[0] if d["message"] else "")


def _importers(workspace: Any, touched: list[str]) -> list[str]:
    """Python files importing a module among ``touched`` (textual; a cheap over-approximation)."""
    import re

    names = set()
    for rel in touched:
        if rel.endswith((".py", ".pyi")):
            stem = rel.rsplit("/", 1)[-1].rsplit(".", 1)[0]
            names.add(rel.rsplit("/", 2)[-2] if stem == "__init__" and "/" in rel else stem)
    if not names:
        return []
    pattern = re.compile(r"^\s*(?:from|import)\s+[\w.]*\b(?:" + "|".join(map(re.escape, sorted(names))) + r")\b", re.M)
    out = []
    for rel in workspace.files((".py", ".pyi")):
        if rel in touched:
            continue
        try:
            text = (workspace.root / rel).read_text(encoding="utf-8", errors="replace")
        except OSError:
            continue
        if pattern.search(text):
            out.append(rel)
        if len(out) >= 50:
            break
    return out


def _import_residue(workspace: Any, lines: list[str], target: Any, edit: dict[str, Any],
                    rel_of_uri: Any) -> list[Any]:
    """``from M import OLD`` lines the edit leaves alone: certain misses.

    basedpyright treats a symbol and its declaration in a ``.pyi`` stub as
    two symbols, so its rename and its references can agree while an
    import of the old name elsewhere is left to break.  Reported as
    [path, line, col, "import of the old name"] (0-based).
    """
    import re

    line = lines[target.point[0]] if target.point is not None else lines[target.start[0]]
    col = target.point[1] if target.point is not None else target.start[1]
    m = re.match(r"[A-Za-z_]\w*", line[col:])
    if not m:
        return []
    name = m.group(0)
    edited = {(p, ln) for p, ln, _ in _edit_starts(edit, rel_of_uri)}
    word = re.compile(r"\b" + re.escape(name) + r"\b")
    out: list[Any] = []
    for rel in workspace.files((".py", ".pyi")):
        try:
            text = (workspace.root / rel).read_text(encoding="utf-8", errors="replace")
        except OSError:
            continue
        if name not in text:
            continue
        for m_imp in re.finditer(r"^[ \t]*from[ \t]+[\w.]+[ \t]+import[ \t]+(\([^)]*\)|[^\n]*)", text, re.M):
            names = m_imp.group(1)
            for m_name in word.finditer(names):
                before = names[:m_name.start()]
                if re.search(r"\bas\s*$", before):  # `import x as OLD`: a local alias, not the symbol
                    continue
                offset = m_imp.start(1) + m_name.start()
                ln = text.count("\n", 0, offset)
                if (rel, ln) not in edited:
                    out.append([rel, ln, offset - (text.rfind("\n", 0, offset) + 1), "import of the old name"])
    return sorted(out)


def _text_at(target: Any, loc: Any) -> str | None:
    if loc is None:
        return None
    sl, sc, el, ec = loc.range
    if sl != el:
        return None
    line: str = target.lines[sl]
    from lanser.text import convert_column, from_lsp_encoding

    enc = from_lsp_encoding(target.encoding)
    return line[convert_column(line, sc, enc, "codepoint", strict=False):convert_column(line, ec, enc, "codepoint", strict=False)]


def _action_id(action: dict[str, Any]) -> str:
    payload = json.dumps({"title": action.get("title"), "kind": action.get("kind"),
                          "edit": action.get("edit"), "command": action.get("command")}, sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()[:12]


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

    out: dict[str, Any] = fix(edit)
    if "changes" in out and out["changes"]:
        out["changes"] = {rel_of_uri(k): v for k, v in sorted(edit["changes"].items())}
    return out


def _apply_via_git(root: Path, changes: ChangeSet) -> None:
    patch = changes.diff()
    with tempfile.NamedTemporaryFile("w", suffix=".patch", delete=False) as fh:
        fh.write(patch)
        name = fh.name
    try:
        done = gitsafe.run(root, "apply", "--3way", "--whitespace=nowarn", name)
    except (OSError, subprocess.SubprocessError) as exc:
        raise ApplyConflict(f"git apply could not run: {exc}") from exc
    finally:
        Path(name).unlink(missing_ok=True)
    proc = subprocess.CompletedProcess(done.args, done.returncode, done.stdout.decode("utf-8", "replace"),
                                       done.stderr.decode("utf-8", "replace"))
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
