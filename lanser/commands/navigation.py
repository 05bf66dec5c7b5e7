"""Navigation: definition, references, hover, symbols, diagnostics, locate.

Each handler answers one :class:`~lanser.bundle.models.Request` into its
:class:`~lanser.bundle.models.Bundle` through the :class:`Context` the
orchestrator gives it (resolve the selector, open the document, ask the
server); a failure is raised as a :class:`~lanser.errors.LanserError` and
becomes the bundle's error block.
"""

from __future__ import annotations

import hashlib
from typing import Any

from lsprotocol import types as lsp

from lanser.bundle import normalize
from lanser.bundle.models import Bundle, Facts, Location, Request
from lanser.commands import stable
from lanser.commands.args import DiagnosticsArgs, NoArgs, ReferencesArgs, SymbolsArgs
from lanser.commands.context import Context
from lanser.errors import ContentModified, LanserError, NotFound
from lanser.formats import filters
from lanser.lsp.registry import LANGUAGE_OF_SUFFIX
from lanser.lsp.session import LspSession
from lanser.resolve import Target
from lanser.text import split_lines

__all__ = ["REFERENCE_CAP", "definition", "diagnostics", "hover", "locate", "page", "references", "symbols"]

#: Paper, appendix B: reference lists are capped at 10^5 entries.
REFERENCE_CAP = 100_000


async def definition(ctx: Context, request: Request, args: NoArgs, bundle: Bundle) -> None:
    target = ctx.target(request, bundle)

    async def op(s: LspSession) -> Any:
        await ctx.ready(s, target.language)
        doc = ctx.open(s, target, bundle)
        return await s.request(
            "textDocument/definition",
            lsp.DefinitionParams(text_document=lsp.TextDocumentIdentifier(uri=doc.uri), position=target.position()),
            timeout=ctx.timeout,
        )

    raw = await ctx.call(target.language, op, bundle)
    locs = ctx.locations(raw, bundle)
    if not locs:
        raise NotFound(f"no definition at {request.selector}")
    bundle.facts = Facts(definitions=locs)


async def references(ctx: Context, request: Request, args: ReferencesArgs, bundle: Bundle) -> None:
    target = ctx.target(request, bundle)
    include_decl = bool(args.includeDeclaration)

    async def op(s: LspSession) -> Any:
        doc = ctx.open(s, target, bundle)
        await ctx.settle(s, doc)
        if target.language == "python":
            await stable.ensure_checked(s, doc, ctx.timeout)
            await stable.check_quoted(s, ctx.workspace, _identifier(target), ctx.timeout)
        return await s.request(
            "textDocument/references",
            lsp.ReferenceParams(
                text_document=lsp.TextDocumentIdentifier(uri=doc.uri),
                position=target.position(),
                context=lsp.ReferenceContext(include_declaration=include_decl),
            ),
            timeout=ctx.timeout,
        )

    raw = await ctx.call(target.language, op, bundle)
    locs = ctx.locations(raw, bundle)
    if not locs:
        raise NotFound(f"no references at {request.selector}")
    bundle.facts = page(locs, args)


def _identifier(target: Target) -> str:
    """The identifier at the target's point (a references request's name)."""
    row, col = target.point if target.point is not None else target.start
    line = target.lines[row] if row < len(target.lines) else ""
    start = end = col
    while start > 0 and (line[start - 1].isalnum() or line[start - 1] == "_"):
        start -= 1
    while end < len(line) and (line[end].isalnum() or line[end] == "_"):
        end += 1
    return line[start:end]


async def hover(ctx: Context, request: Request, args: NoArgs, bundle: Bundle) -> None:
    target = ctx.target(request, bundle)

    async def op(s: LspSession) -> Any:
        await ctx.ready(s, target.language)
        doc = ctx.open(s, target, bundle)
        return await s.request(
            "textDocument/hover",
            lsp.HoverParams(text_document=lsp.TextDocumentIdentifier(uri=doc.uri), position=target.position()),
            timeout=ctx.timeout,
        )

    raw = await ctx.call(target.language, op, bundle)
    hover = normalize.hover(ctx.data(raw))
    if hover is None:
        raise NotFound(f"no hover information at {request.selector}")
    bundle.facts = Facts(hover=hover)


async def symbols(ctx: Context, request: Request, args: SymbolsArgs, bundle: Bundle) -> None:
    chosen = _given(args, filters.SYMBOL_ARGS)
    filters.symbol_filter(chosen)  # a bad filter is refused before the server is asked
    query = args.query
    if request.selector is None:
        if query is None:
            raise NotFound("symbols needs a file selector or a --query for workspace symbols")
        symbols = []
        for language in ctx.languages(args.language):

            async def wop(s: LspSession, language: str = language) -> Any:
                await ctx.prime(s, language)
                await ctx.ready(s, language)
                return await s.request("workspace/symbol", lsp.WorkspaceSymbolParams(query=query), timeout=ctx.timeout)

            raw = await ctx.call(language, wop, bundle)
            symbols += normalize.symbols(ctx.data(raw), ctx.mapper, None, selector_of=ctx.selector_of(bundle))
        bundle.facts = Facts(symbols=sorted(symbols, key=lambda s: (s.path, *s.range, s.name)))
        filters.filter_symbols(bundle.facts, chosen)
        return
    target = ctx.target(request, bundle)

    async def op(s: LspSession) -> Any:
        doc = ctx.open(s, target, bundle)
        return await s.request(
            "textDocument/documentSymbol",
            lsp.DocumentSymbolParams(text_document=lsp.TextDocumentIdentifier(uri=doc.uri)),
            timeout=ctx.timeout,
        )

    raw = await ctx.call(target.language, op, bundle)
    bundle.facts = Facts(
        symbols=normalize.symbols(ctx.data(raw), ctx.mapper, target.path, selector_of=ctx.selector_of(bundle))
    )
    filters.filter_symbols(bundle.facts, chosen)


async def diagnostics(ctx: Context, request: Request, args: DiagnosticsArgs, bundle: Bundle) -> None:
    given = _given(args, filters.DIAGNOSTIC_ARGS)
    chosen = filters.diagnostic_filter(given)  # a bad filter is refused before the server is asked
    if request.selector is not None:
        targets = [ctx.target(request, bundle)]
    else:
        suffixes = tuple(s for s, lang in LANGUAGE_OF_SUFFIX.items() if lang in ctx.languages(args.language))
        targets = [Target.whole_file(rel, ctx.workspace) for rel in ctx.workspace.files(suffixes)]
    groups = []
    by_language: dict[str, list[Target]] = {}
    for t in targets:
        by_language.setdefault(t.language, []).append(t)
    for language, items in sorted(by_language.items()):

        async def op(s: LspSession, items: list[Target] = items, language: str = language) -> list[Any]:
            if await ctx.ready(s, language):
                # Documents opened while the index was loading were
                # diagnosed without it (clangd's include fixer, for
                # one, words its messages differently); start them over.
                for t in items:
                    s.close_document(t.path)
            docs = [ctx.open(s, t, bundle) for t in items]
            out = []
            for doc in docs:
                raw = await s.diagnostics(doc, ctx.timeout)
                out.append(
                    normalize.diagnostic_group(
                        doc.path, [s.to_data(d) for d in raw], doc.digest, doc.version, mapper=ctx.mapper
                    )
                )
            return out

        groups += await ctx.call(language, op, bundle)
    groups.sort(key=lambda g: g.path)
    bundle.facts = Facts(diagnostics=groups)
    if chosen is not None:
        configured = chosen[0] == "agent" and filters.pyright_configured(ctx.workspace.read_bytes)
        filters.filter_diagnostics(bundle.facts, given, configured=configured)


async def locate(ctx: Context, request: Request, args: NoArgs, bundle: Bundle) -> None:
    target = ctx.target(request, bundle)
    assert bundle.resolution is not None and bundle.resolution.resolved is not None
    loc = bundle.resolution.resolved
    lines = split_lines(target.text)
    sl, _, el, _ = loc.range
    preview = "\n".join(lines[sl : min(el, sl + 9) + 1])
    minted = None
    point = target.point or target.start
    try:
        from lanser.selectors.mint import mint_at

        minted = mint_at(ctx.workspace, target.path, point[0], point[1]) or None
        if minted and "cursor" in minted:
            # The cursor carries its file version: lanser maps it exactly after edits elsewhere.
            minted["cursor"] += "?v=" + target.digest.split(":", 1)[1][:12]
    except LanserError:
        minted = None  # not on a definition's name: nothing to mint
    bundle.facts = Facts(location=loc.model_copy(update={"preview": preview}), selectors=minted)


def _given(args: SymbolsArgs | DiagnosticsArgs, names: tuple[str, ...]) -> dict[str, Any]:
    """The filter arguments ``names`` that were given, by their request names (what
    :mod:`lanser.formats.filters` reads)."""
    return {name: getattr(args, name) for name in names if getattr(args, name) is not None}


def page(locs: list[Location], args: ReferencesArgs) -> Facts:
    """Cap a reference list and hand out a cursor bound to the full result."""
    limit = args.limit or REFERENCE_CAP
    limit = max(1, min(limit, REFERENCE_CAP))
    digest = hashlib.sha256("\n".join(f"{loc.path}:{loc.range}" for loc in locs).encode()).hexdigest()[:16]
    offset = 0
    cursor = args.cursor
    if cursor:
        try:
            off_s, want = cursor.split(":", 1)
            offset = int(off_s)
        except ValueError:
            raise NotFound(f"malformed cursor {cursor!r}") from None
        if want != digest:
            raise ContentModified("the references changed since this cursor was issued; start again")
    page = locs[offset : offset + limit]
    more = offset + limit < len(locs)
    return Facts(
        references=page,
        total=len(locs),
        truncated=more,
        nextCursor=f"{offset + limit}:{digest}" if more else None,
    )
