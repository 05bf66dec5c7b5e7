"""``prepareRename`` and ``rename``: Algorithm 2 of the paper (PreviewThenApply), made complete-or-refused.

prepareRename gates the rename; the server's WorkspaceEdit becomes a
ChangeSet; the guards run on it; the edit is cross-checked against the
symbol's references and against every occurrence of the old name in the
project (:mod:`lanser.edits.witness`; a reference the edit misses, an edit
that is no reference, or an occurrence nothing explains makes the plan
partial and refuses it unless allowed); the preview is the diff; only
``apply`` writes, as one transaction, and only on a clean worktree unless
``allowDirty``.  The contract is in docs/rename.md.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from lsprotocol import types as lsp

from lanser.bundle.models import Bundle, Facts, Request
from lanser.commands.args import NoArgs, RenameArgs
from lanser.commands.check import evaluate
from lanser.commands.common import edits_block, plan
from lanser.commands.context import Context
from lanser.edits.completeness import Occurrence, describe, selector_of
from lanser.edits.plan import merge_workspace_edits, uri_path
from lanser.edits.witness import (
    _edit_starts,
    _edits_at,
    _identifier_at,
    _locations,
    _macro_of,
    _name_breaks,
    _name_written,
    _pasted_breaks,
    _word_at,
    branch_occurrences,
    find_override_family,
    judge_rename,
    open_mentioning,
    resolve_occurrences,
    scan_project,
)
from lanser.errors import Ambiguous, ApplyConflict, BadRequest, FsPermissions, NotFound
from lanser.reward import reward_for, selected_version
from lanser.text import convert_column

if TYPE_CHECKING:
    from lanser.edits.overrides import Method
    from lanser.lsp.session import LspSession

__all__ = ["prepare_rename", "rename"]


async def prepare_rename(ctx: Context, request: Request, args: NoArgs, bundle: Bundle) -> None:
    target = ctx.target(request, bundle)

    async def op(s: LspSession) -> Any:
        await ctx.ready(s, target.language)
        doc = ctx.open(s, target, bundle)
        return await s.request(
            "textDocument/prepareRename",
            lsp.PrepareRenameParams(text_document=lsp.TextDocumentIdentifier(uri=doc.uri), position=target.position()),
            timeout=ctx.timeout,
        )

    raw = ctx.data(await ctx.call(target.language, op, bundle))
    if not raw:
        raise NotFound(f"the server will not rename anything at {request.selector}")
    rng = raw.get("range", raw) if isinstance(raw, dict) else None
    placeholder = raw.get("placeholder") if isinstance(raw, dict) else None
    from lanser.bundle.models import Location
    from lanser.bundle.normalize import flat_range

    loc = Location(path=target.path, range=flat_range(rng)) if rng and "start" in rng else None
    bundle.facts = Facts(location=loc)
    bundle.edits = {
        "workspaceEdit": None,
        "diff": None,
        "renameable": True,
        "placeholder": placeholder or _text_at(target, loc),
    }


async def rename(ctx: Context, request: Request, args: RenameArgs, bundle: Bundle) -> None:
    new_name = args.newName
    if not new_name:
        raise BadRequest("rename needs args.newName, a non-empty string", field="args.newName")
    from lanser.edits.names import name_problem

    # Checked before any server is asked: handed `class`, basedpyright asks the user
    # (window/showMessageRequest) and clangd answers with an error; neither is about the symbol.
    problem = name_problem("", new_name)
    if problem:
        raise BadRequest(problem, field="args.newName")
    target = ctx.target(request, bundle)
    problem = name_problem(target.language, new_name)
    if problem:
        raise BadRequest(problem, field="args.newName", language=target.language)
    apply = bool(args.apply)
    if apply and args.denyApplyOnAmbiguous and target.confidence < 1.0:
        raise Ambiguous(
            f"{request.selector} resolved with confidence {target.confidence} < 1; "
            "refusing to apply (--deny-apply-on-ambiguous)",
            candidates=target.evidence,
        )

    old_name = _identifier_at(target)
    # Every file of the project holding the old name, scanned before the server is asked: the
    # server's own view (its include settings, what a warm daemon opened before) is not the project.
    scans = scan_project(ctx, target.language, old_name) if old_name else {}
    named = {"old": old_name}
    index: dict[str, Any] = {}

    async def op(s: LspSession) -> tuple[Any, Any, str, dict[Any, Any], list[Any]]:
        await ctx.ready(s, target.language)
        doc = ctx.open(s, target, bundle)
        ident = lsp.TextDocumentIdentifier(uri=doc.uri)
        prep = await s.request(
            "textDocument/prepareRename",
            lsp.PrepareRenameParams(text_document=ident, position=target.position()),
            timeout=ctx.timeout,
        )
        if not prep:
            raise NotFound(f"the server will not rename anything at {request.selector}")
        # The server's prepared range says which name it renames; the selector's point may sit
        # beside it (a cursor on `def`), and then the scan was of the wrong word.
        prepared = _prepared_name(s.to_data(prep), doc.text, s.position_encoding)
        if prepared and prepared != named["old"]:
            named["old"] = prepared
            scans.clear()
            scans.update(scan_project(ctx, target.language, prepared))
        opened = await open_mentioning(ctx, s, target, scans)
        try:
            await ctx.settle(s, doc)
            if s.spec.needs_index and named["old"]:
                # The index itself must list the symbol where it is defined before clangd is asked
                # to rename through it; a quiet progress report is no such proof (issue 19).
                from lanser.edits.index_check import confirm_index

                index.update(await confirm_index(s, scans, named["old"], ctx.timeout, ctx.rel_of_uri))
            edit = await s.request(
                "textDocument/rename",
                lsp.RenameParams(text_document=ident, position=target.position(), new_name=new_name),
                timeout=ctx.timeout,
            )
            refs = await s.request(
                "textDocument/references",
                lsp.ReferenceParams(
                    text_document=ident,
                    position=target.position(),
                    context=lsp.ReferenceContext(include_declaration=True),
                ),
                timeout=ctx.timeout,
            )
            symbol = await s.request(
                "textDocument/definition",
                lsp.DefinitionParams(text_document=ident, position=target.position()),
                timeout=ctx.timeout,
            )
            defs = await resolve_occurrences(ctx, s, target.language, scans, s.to_data(edit) if edit else {}, opened)
        finally:
            for rel in opened:
                s.close_document(rel)
        return edit, refs, s.position_encoding, defs, _locations(s.to_data(symbol))

    edit, refs, encoding, defs, symbol = await ctx.call(target.language, op, bundle)
    if not edit:
        raise NotFound(f"the server proposed no edit for renaming {request.selector}")
    old_name = named["old"]
    if not old_name:
        bundle.processReward = reward_for(selected_version(), [], [], False, target.confidence)
        raise ApplyConflict(
            f"cannot tell which name the rename at {request.selector} replaces, so its "
            "completeness cannot be checked; refused"
        )
    edit_data = ctx.data(edit)
    ref_data: list[Any] = ctx.data(refs) or []
    family: list[Method] = []
    hidden: list[dict[str, Any]] = []
    stub_files: list[str] = []
    keywords_other = False
    try:
        if target.language == "python":
            family, hidden = await find_override_family(ctx, edit_data, bundle)
            if family and args.withOverrides:
                edit_data, ref_data = await rename_family(ctx, family, new_name, edit_data, ref_data, bundle)
                bundle.edits = {"overrides": [f"{m.path}#{m.cls}.{m.name}" for m in family]}
                family = []
            # A .pyi stub declaring the symbol is renamed with it; its declarations are the symbol's
            # own, so an occurrence resolving to one that the edit leaves is unexplained.
            from lanser.edits.stubs import rename_stubs

            stubs = await rename_stubs(ctx, bundle, edit_data, symbol, encoding, old_name, new_name)
            if stubs.edits:
                edit_data = merge_workspace_edits([edit_data, *stubs.edits])
                ref_data = list(ref_data) + stubs.refs
            symbol = symbol + stubs.decls
            hidden += stubs.problems
            stub_files = stubs.stubs
            # A function, method or class is no parameter: an unresolved keyword argument of that name
            # (`@given(old=...)`) is another symbol.  A variable may be a field a generated __init__ takes.
            keywords_other = bool(stubs.kinds) and stubs.kinds <= {"function", "method", "class", "property"}
        verdict, server_of = judge_rename(ctx, scans, edit_data, defs, symbol, encoding, old_name, keywords_other)
        if target.language == "python":
            # A dispatcher building the name from a prefix (`getattr(self, "visit_" + kind)`) reaches
            # the symbol where nothing names it: renaming breaks it silently (jmespath's visitor).
            from lanser.edits.completeness import dynamic_prefixes

            for rel, (_occs, lines) in sorted(scans.items()):
                for occ in dynamic_prefixes(rel, "\n".join(lines).encode("utf-8"), old_name):
                    hidden.append(describe(occ, "dynamic", lines[occ.line] if occ.line < len(lines) else ""))
        branch: list[Occurrence] = []
        if target.language in ("c", "cpp") and old_name and verdict.unexplained:
            branch = branch_occurrences(ctx, verdict, server_of, scans, symbol, edit_data, old_name)
            if branch:
                more_edit, more_refs = _edits_at(branch, old_name, new_name, ctx.root, scans, encoding)
                edit_data = merge_workspace_edits([edit_data, more_edit])
                ref_data = list(ref_data) + more_refs
                taken = {o.where for o in branch}
                verdict.unexplained = [(o, w) for o, w in verdict.unexplained if o.where not in taken]
                verdict.edited += branch
        changes = plan(ctx, edit_data, encoding, args)
        missing, extra = _completeness(edit_data, ref_data, ctx.rel_of_uri)
        expansions: list[Any] = []
        if target.language in ("c", "cpp") and old_name:
            # clangd reports a use through a macro at the expansion site (`CALL(2)`), where the
            # old name is not written: nothing to edit there.  The token scan has accounted for
            # every place the name is written (the #define body among them).
            # Only through a macro whose body this rename edits: a token-pasting macro
            # (`MK(old)` making `old_fn`) writes the name nowhere, and stays a miss.
            edited_macros = {_macro_of(scans[o.path][1], o.line) for o in branch if o.kind == "macro"}
            expansions = [
                m
                for m in missing
                if not _name_written(scans, m, old_name, encoding)
                and _word_at(scans, m, encoding, ctx.root) in edited_macros - {None}
            ]
            missing = [m for m in missing if m not in expansions]
        missing += [
            [m.path, m.line, m.col, f"override {m.cls}.{m.name} left behind (--with-overrides)"] for m in family
        ]
        if target.language == "python":
            # An import the server resolves to another symbol's declaration of the name is that
            # symbol's (`from attr._next_gen import astuple` while renaming attr._funcs.astuple).
            elsewhere = {server_of[o.where].where for o in verdict.other}
            missing += [
                m
                for m in _import_residue(ctx.workspace, target.lines, target, edit_data, ctx.rel_of_uri)
                if (m[0], m[1], m[2]) not in elsewhere
            ]
        unexplained = [
            describe(server_of[o.where], why, scans[o.path][1][o.line] if o.line < len(scans[o.path][1]) else "")
            for o, why in verdict.unexplained
        ] + hidden
        complete = not missing and not extra and not unexplained
        overrides = (bundle.edits or {}).get("overrides")
        bundle.edits = edits_block(ctx, edit_data, changes, complete=complete, missing=missing, extra=extra)
        if overrides:
            bundle.edits["overrides"] = overrides
        bundle.edits["unexplained"] = unexplained
        if branch:
            bundle.edits["branches"] = [selector_of(server_of[o.where]) for o in branch]
        if stub_files:
            bundle.edits["stubs"] = stub_files
        if index:
            bundle.edits["index"] = index
        if expansions:
            bundle.edits["expansions"] = expansions
        bundle.edits["occurrences"] = {
            "name": old_name,
            "files": len(scans),
            "edited": len(verdict.edited),
            "other": len(verdict.other),
            "unexplained": len(unexplained),
            "mentions": len(verdict.mentions),
        }
        if not complete and not args.allowPartial:
            left = sum(1 for m in missing if len(m) > 3 and str(m[3]).startswith("override "))
            why = f"{left} override(s) left behind (--with-overrides renames them), " if left else ""
            more = (
                f", {len(unexplained)} occurrence(s) of {old_name!r} unexplained (first: "
                f"{unexplained[0]['selector']}, {unexplained[0]['reason']})"
                if unexplained
                else ""
            )
            raise ApplyConflict(
                f"the rename is partial: {why}{len(missing) - left} reference(s) not edited, {len(extra)} "
                f"edit(s) that are no reference{more}; refused (--allow-partial to take it anyway)",
                missing=missing,
                extra=extra,
                unexplained=unexplained[:200],
            )
    except (ApplyConflict, FsPermissions, NotFound):
        bundle.processReward = reward_for(selected_version(), [], [], False, target.confidence)
        raise
    await evaluate(ctx, bundle, target.language, changes, [target.path], target.confidence, safe=complete)
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
        if not args.allowPartial:
            bundle.processReward = reward_for(selected_version(), [], [], False, target.confidence)
            raise ApplyConflict(
                f"the rename breaks code: {len(broke)} new diagnostic(s) name {old_name!r} or {new_name!r} (or an "
                "identifier made from it) "
                f"(first: {broke[0][0]}: {broke[0][3]}); refused (--allow-partial to take it anyway)",
                broke=broke[:50],
            )
    if apply:
        bundle.edits.update(await ctx.apply(changes, args, f"Rename {request.selector} to {new_name}"))


async def rename_family(
    ctx: Context, family: list[Method], new_name: str, edit: dict[str, Any], refs: list[Any], bundle: Bundle
) -> tuple[dict[str, Any], list[Any]]:
    """Rename every member of ``family`` too; one merged edit and the union of the references."""

    async def op(s: LspSession) -> list[tuple[Any, Any]]:
        out = []
        for m in family:
            doc = s.sync_document(m.path, "python")
            ident = lsp.TextDocumentIdentifier(uri=doc.uri)
            # The column is the same in every encoding: only indentation and `def` precede a method name.
            pos = lsp.Position(line=m.line, character=m.col)
            more = await s.request(
                "textDocument/rename",
                lsp.RenameParams(text_document=ident, position=pos, new_name=new_name),
                timeout=ctx.timeout,
            )
            more_refs = await s.request(
                "textDocument/references",
                lsp.ReferenceParams(
                    text_document=ident, position=pos, context=lsp.ReferenceContext(include_declaration=True)
                ),
                timeout=ctx.timeout,
            )
            if not more:
                raise NotFound(f"the server proposed no edit for renaming the override {m.cls}.{m.name} in {m.path}")
            out.append((more, more_refs))
        return out

    answers = await ctx.call("python", op, bundle)
    edits = [edit] + [ctx.data(e) for e, _ in answers]
    all_refs = list(refs)
    for _, r in answers:
        all_refs += ctx.data(r) or []
    return merge_workspace_edits(edits), all_refs


def _prepared_name(prep: Any, text: str, encoding: str) -> str | None:
    """The identifier a prepareRename answer's range covers (Range or {range, placeholder})."""
    import re

    from lanser.text import from_lsp_encoding

    rng = prep.get("range", prep) if isinstance(prep, dict) else None
    if not isinstance(rng, dict) or "start" not in rng or "end" not in rng:
        return None
    (sl, sc), (el, ec) = (
        (rng["start"]["line"], rng["start"]["character"]),
        (rng["end"]["line"], rng["end"]["character"]),
    )
    lines = text.split("\n")
    if sl != el or sl >= len(lines):
        return None
    enc = from_lsp_encoding(encoding)
    line = lines[sl]
    word = line[
        convert_column(line, sc, enc, "codepoint", strict=False) : convert_column(
            line, ec, enc, "codepoint", strict=False
        )
    ]
    return word if re.fullmatch(r"[^\W\d]\w*", word) else None


def _import_residue(workspace: Any, lines: list[str], target: Any, edit: dict[str, Any], rel_of_uri: Any) -> list[Any]:
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
                before = names[: m_name.start()]
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
    return line[
        convert_column(line, sc, enc, "codepoint", strict=False) : convert_column(
            line, ec, enc, "codepoint", strict=False
        )
    ]


def _completeness(edit: dict[str, Any], refs: list[dict[str, Any]], rel_of_uri: Any) -> tuple[list[Any], list[Any]]:
    """References the edit misses, and edits that are no reference, as [path, line, col] (0-based)."""
    edits = _edit_starts(edit, rel_of_uri)
    ref_starts = set()
    for r in refs:
        try:
            rel = rel_of_uri(r["uri"])
        except FsPermissions:
            ref_starts.add(
                ("<outside>" + uri_path(r["uri"]), r["range"]["start"]["line"], r["range"]["start"]["character"])
            )
            continue
        ref_starts.add((rel, r["range"]["start"]["line"], r["range"]["start"]["character"]))
    missing = sorted([list(x) for x in ref_starts - edits])
    extra = sorted([list(x) for x in edits - ref_starts])
    return missing, extra
