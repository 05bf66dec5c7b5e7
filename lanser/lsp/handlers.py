"""Server-to-client messages: what a server tells lanser, and what lanser answers it.

:class:`Inbox` keeps what the server said unprompted (published
diagnostics, work in progress, dynamic registrations); :func:`install`
registers the handlers that fill it and answer the server's requests.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from lsprotocol import types as lsp

from lanser.lsp.documents import Document
from lanser.lsp.rpc import Rpc

__all__ = ["Inbox", "install", "section"]


class Inbox:
    """What the server said without being asked, and ways to wait for it."""

    def __init__(self) -> None:
        #: Methods the server registered dynamically (basedpyright's pull diagnostics).
        self.registered: set[str] = set()
        self.diagnostics: dict[str, tuple[int | None, list[Any]]] = {}
        self.diag_event = asyncio.Event()
        #: The server has published a versioned list: it versions what it publishes for open documents.
        self.versioned_push = False
        #: Documents closed whose clearing publish (version-less, empty) has not arrived yet.
        self.clearing: set[str] = set()
        self.progress: dict[str, str] = {}  # token -> title of work in progress
        self.progress_seen = False
        self.progress_event = asyncio.Event()

    def published(self, params: lsp.PublishDiagnosticsParams) -> None:
        if params.version is None:
            if params.uri in self.clearing or self.versioned_push:
                # A server that versions its lists publishes one without a version only to
                # clear a closed document: it says nothing about the document open now.
                self.clearing.discard(params.uri)
                return
        else:
            self.versioned_push = True
        self.diagnostics[params.uri] = (params.version, list(params.diagnostics))
        self.diag_event.set()

    def forget(self, uri: str, *, clearing: bool) -> None:
        """A document was closed; ``clearing``: its server answers that with a version-less publish."""
        self.diagnostics.pop(uri, None)
        if clearing:
            self.clearing.add(uri)

    def progressed(self, token: str, value: Any) -> None:
        kind = value.get("kind") if isinstance(value, dict) else None
        if kind == "begin":
            self.progress[token] = str(value.get("title", ""))
            self.progress_seen = True
        elif kind == "end":
            self.progress.pop(token, None)
        self.progress_event.set()

    async def pushed(self, doc: Document) -> list[Any]:
        """The list published for this document version (or a version-less one), once it comes."""
        while True:
            got = self.diagnostics.get(doc.uri)
            if got is not None and got[0] in (doc.version, None):
                return got[1]
            self.diag_event.clear()
            await self.diag_event.wait()

    async def idle(self, settle: float) -> None:
        """Return once no work has been in progress for ``settle`` seconds."""
        while True:
            self.progress_event.clear()
            if not self.progress:
                try:
                    await asyncio.wait_for(self.progress_event.wait(), settle)
                    continue
                except TimeoutError:
                    if not self.progress:
                        return
            await self.progress_event.wait()


def install(rpc: Rpc, inbox: Inbox, root: Path, settings: dict[str, Any]) -> None:
    """Handle every server-to-client method lanser expects, filling ``inbox``."""
    feature = rpc.feature

    @feature("textDocument/publishDiagnostics")
    def _diagnostics(params: lsp.PublishDiagnosticsParams) -> None:
        inbox.published(params)

    @feature("workspace/configuration")
    def _configuration(params: lsp.ConfigurationParams) -> list[Any]:
        return [section(settings, item.section) for item in params.items]

    @feature("window/workDoneProgress/create")
    def _progress_create(params: lsp.WorkDoneProgressCreateParams) -> None:
        return None

    @feature("$/progress")
    def _progress(params: lsp.ProgressParams) -> None:
        value = params.value if isinstance(params.value, dict) else rpc.to_data(params.value)
        inbox.progressed(str(params.token), value)

    @feature("client/registerCapability")
    def _register(params: lsp.RegistrationParams) -> None:
        for reg in params.registrations:
            inbox.registered.add(reg.method)

    @feature("client/unregisterCapability")
    def _unregister(params: lsp.UnregistrationParams) -> None:
        for unreg in params.unregisterations:
            inbox.registered.discard(unreg.method)

    @feature("window/logMessage")
    def _log(params: Any) -> None:
        return None

    @feature("window/showMessage")
    def _show(params: Any) -> None:
        return None

    # Requests lanser has no user to put to.  Unanswered (pygls says "Method Not Found"),
    # basedpyright throws and exits: handed an invalid new name it asks the user through
    # showMessageRequest, and the warm server died with the question.
    @feature("window/showMessageRequest")
    def _show_request(params: Any) -> None:
        return None  # no action chosen

    @feature("window/showDocument")
    def _show_document(params: Any) -> lsp.ShowDocumentResult:
        return lsp.ShowDocumentResult(success=False)

    @feature("workspace/workspaceFolders")
    def _folders(params: Any) -> list[lsp.WorkspaceFolder]:
        return [lsp.WorkspaceFolder(uri=root.as_uri(), name=root.name)]

    @feature("workspace/applyEdit")
    def _apply(params: Any) -> lsp.ApplyWorkspaceEditResult:
        # lanser applies edits itself, through its guards; never on the server's say.
        return lsp.ApplyWorkspaceEditResult(applied=False, failure_reason="lanser applies edits itself")

    # basedpyright reports its analysis with notifications of its own when the client takes no
    # work-done progress; unhandled, each one costs a warning in the daemon's log.
    for method in (
        "workspace/semanticTokens/refresh",
        "workspace/inlayHint/refresh",
        "workspace/codeLens/refresh",
        "workspace/diagnostic/refresh",
        "pyright/beginProgress",
        "pyright/reportProgress",
        "pyright/endProgress",
    ):
        feature(method)(lambda params: None)


def section(settings: dict[str, Any], section: str | None) -> Any:
    """The part of ``settings`` a ``workspace/configuration`` item asks for (dotted path)."""
    if not section:
        return settings
    node: Any = settings
    for part in section.split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node
