"""``actions``: the server's code actions at a selector, listed; one applied by id, previewed first."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from lsprotocol import types as lsp

from lanser.bundle.models import Bundle, Facts, Request
from lanser.commands.args import ActionsArgs
from lanser.commands.check import evaluate
from lanser.commands.common import edits_block, plan
from lanser.commands.context import Context
from lanser.errors import NotFound, UnsupportedCap
from lanser.lsp.session import LspSession

__all__ = ["actions"]


async def actions(ctx: Context, request: Request, args: ActionsArgs, bundle: Bundle) -> None:
    target = ctx.target(request, bundle)
    want = args.actionId

    async def op(s: LspSession) -> tuple[list[Any], str]:
        await ctx.ready(s, target.language)
        doc = ctx.open(s, target, bundle)
        diags = await s.diagnostics(doc, ctx.timeout)
        rng = lsp.Range(
            start=lsp.Position(line=target.range[0], character=target.range[1]),
            end=lsp.Position(line=target.range[2], character=target.range[3]),
        )
        near = [d for d in diags if d.range.start.line <= rng.end.line and d.range.end.line >= rng.start.line]
        raw = await s.request(
            "textDocument/codeAction",
            lsp.CodeActionParams(
                text_document=lsp.TextDocumentIdentifier(uri=doc.uri),
                range=rng,
                context=lsp.CodeActionContext(diagnostics=near),
            ),
            timeout=ctx.timeout,
        )
        actions = []
        for item in raw or []:
            data = s.to_data(item)
            if (
                want
                and "edit" not in data
                and "command" not in data
                or (want and "edit" not in data and isinstance(data.get("command"), dict))
            ):
                if (
                    _action_id(data) == want
                    and s.capabilities is not None
                    and getattr(s.capabilities.code_action_provider, "resolve_provider", False)
                ):
                    data = s.to_data(await s.request("codeAction/resolve", item, timeout=ctx.timeout))
            actions.append(data)
        return actions, s.position_encoding

    actions, encoding = await ctx.call(target.language, op, bundle)
    listed = sorted(
        (
            {
                "id": _action_id(a),
                "title": a.get("title", ""),
                "kind": a.get("kind"),
                "preferred": bool(a.get("isPreferred")),
                "hasEdit": "edit" in a,
                "diagnostics": sorted({str(d.get("code")) for d in a.get("diagnostics") or []}),
            }
            for a in actions
        ),
        key=lambda a: (a["kind"] or "", a["title"], a["id"]),
    )
    bundle.facts = Facts()
    bundle.edits = {"workspaceEdit": None, "diff": None, "actions": listed}
    if not want:
        return
    chosen = [a for a in actions if _action_id(a) == want]
    if not chosen:
        raise NotFound(f"no code action {want} here; list them without --apply", available=[a["id"] for a in listed])
    action = chosen[0]
    if "edit" not in action:
        raise UnsupportedCap(
            f"code action {want} ({action.get('title')}) only runs a server command; "
            "lanser applies edits it can preview"
        )
    changes = plan(ctx, action["edit"], encoding, args)
    bundle.edits.update(edits_block(ctx, action["edit"], changes, complete=True, missing=[], extra=[]))
    bundle.edits["action"] = {"id": want, "title": action.get("title"), "kind": action.get("kind")}
    await evaluate(ctx, bundle, target.language, changes, [target.path], target.confidence, safe=True)
    if args.apply:
        bundle.edits.update(await ctx.apply(changes, args, f"Apply code action: {action.get('title')}"))


def _action_id(action: dict[str, Any]) -> str:
    payload = json.dumps(
        {
            "title": action.get("title"),
            "kind": action.get("kind"),
            "edit": action.get("edit"),
            "command": action.get("command"),
        },
        sort_keys=True,
    )
    return hashlib.sha256(payload.encode()).hexdigest()[:12]
