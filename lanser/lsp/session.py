"""One language-server session: process, JSON-RPC, initialize, documents.

The session speaks JSON-RPC through pygls' protocol object and lsprotocol's
types; everything it hands upward is plain data (``converter.unstructure``)
so the orchestrator and the bundle code never import the wire types.

Failure rules (each an error of :mod:`lanser.errors`):
- a request that outlives its deadline is cancelled on the server
  (``$/cancelRequest``) and raises :class:`LsTimeout`;
- a server that exits, closes stdout, or writes bytes that are not
  JSON-RPC is killed, every pending request fails with :class:`LsCrash`
  carrying the exit code and the tail of its stderr;
- JSON-RPC ``ContentModified`` and ``RequestCancelled`` become
  :class:`ContentModified` and :class:`RequestCancelled`;
- a method the server did not advertise raises :class:`UnsupportedCap`
  before anything is sent.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lsprotocol import types as lsp
from pygls.exceptions import JsonRpcException
from pygls.io_ import run_async
from pygls.lsp.client import BaseLanguageClient

from lanser.errors import (
    ContentModified,
    LanserError,
    LsCrash,
    LsTimeout,
    NotFound,
    RequestCancelled,
    UnsupportedCap,
    VersionSkew,
)
from lanser.lsp.process import ServerProcess
from lanser.lsp.registry import ServerSpec
from lanser.lsp.transport import FrameSink, ProcessTransport, Transport, tap
from lanser.text import content_hash, document_text

__all__ = ["Document", "LspSession", "CAPABILITY_OF_METHOD"]

log = logging.getLogger("lanser.lsp")

#: Which server capability a request needs; checked before sending.
CAPABILITY_OF_METHOD: dict[str, str] = {
    "textDocument/definition": "definition_provider",
    "textDocument/declaration": "declaration_provider",
    "textDocument/references": "references_provider",
    "textDocument/hover": "hover_provider",
    "textDocument/documentSymbol": "document_symbol_provider",
    "workspace/symbol": "workspace_symbol_provider",
    "textDocument/diagnostic": "diagnostic_provider",
    "textDocument/rename": "rename_provider",
    "textDocument/prepareRename": "rename_provider",
    "textDocument/codeAction": "code_action_provider",
}

_HEADER = re.compile(rb"^[A-Za-z][A-Za-z0-9-]*: [^\r\n]*\r\n$|^\r\n$")


class _ProtocolViolation(Exception):
    pass


class _CheckedReader:
    """Wraps the server's stdout and rejects anything that is not LSP framing.

    pygls' reader silently skips header lines it does not understand, so a
    server printing garbage would look like a hang; here it is a crash.
    """

    def __init__(self, stream: Any, on_violation: Callable[[str], None]) -> None:
        self._stream = stream
        self._on_violation = on_violation

    async def readline(self) -> bytes:
        line: bytes = await self._stream.readline()
        if line and not _HEADER.match(line):
            self._on_violation(f"malformed header from server: {line[:80]!r}")
            return b""
        return line

    async def readexactly(self, n: int) -> bytes:
        try:
            data: bytes = await self._stream.readexactly(n)
            return data
        except asyncio.IncompleteReadError:
            return b""


@dataclass
class Document:
    """An open document as the server sees it."""

    path: str  # workspace-relative POSIX
    uri: str
    language_id: str
    version: int
    text: str
    digest: str  # content hash of the bytes on disk this version came from
    #: The version whose diagnostics a caller waited for (the server has checked it); None: none yet.
    checked: int | None = None


class LspSession:
    """A started, initialized server for one workspace."""

    def __init__(
        self,
        spec: ServerSpec,
        root: Path,
        *,
        settings: dict[str, Any] | None = None,
        encodings: tuple[str, ...] = ("utf-16", "utf-8"),
        env: dict[str, str] | None = None,
        transport: Transport | None = None,
        frame_sink: FrameSink | None = None,
    ) -> None:
        self.spec = spec
        self.transport: Transport = transport or ProcessTransport()
        self.frame_sink = frame_sink
        self.root = root
        self.settings = settings or {}
        self.encodings = encodings
        self.env = env
        self.client = BaseLanguageClient("lanser", _lanser_version())
        self.process: ServerProcess | None = None
        self.capabilities: lsp.ServerCapabilities | None = None
        self.server_info: dict[str, str] = {}
        self.position_encoding = "utf-16"
        self.documents: dict[str, Document] = {}
        #: Methods the server registered dynamically (basedpyright's pull diagnostics).
        self.registered: set[str] = set()
        self._barrier_passed = False
        #: Set by the orchestrator once the background index has settled.
        self.index_settled = False
        #: Set by the orchestrator once the server has analysed a first file.
        self.project_loaded = False
        self._versions: dict[str, int] = {}
        self._diagnostics: dict[str, tuple[int | None, list[Any]]] = {}
        self._diag_event = asyncio.Event()
        #: The server has published a versioned list: it versions what it publishes for open documents.
        self._versioned_push = False
        #: Documents closed whose clearing publish (version-less, empty) has not arrived yet.
        self._clearing: set[str] = set()
        self._progress: dict[str, str] = {}  # token -> title of work in progress
        self._progress_seen = False
        self._progress_event = asyncio.Event()
        self._ids = itertools.count(1)
        self._dead: asyncio.Future[LanserError] | None = None
        self._tasks: list[asyncio.Task[Any]] = []
        self._register_handlers()

    # -- lifecycle -----------------------------------------------------

    @property
    def alive(self) -> bool:
        return self._dead is not None and not self._dead.done()

    async def start(self, timeout: float) -> None:
        loop = asyncio.get_running_loop()
        self._dead = loop.create_future()
        try:
            channel = await self.transport.open(self.spec, str(self.root), self.env)
        except OSError as exc:
            raise LsCrash(f"cannot start {self.spec.name}: {exc}", server=self.spec.name) from exc
        if self.frame_sink is not None:
            owner = getattr(self.frame_sink, "__self__", None)
            if owner is not None and hasattr(owner, "spawn"):
                owner.spawn(self.spec)  # a trace marks where each server incarnation begins
            channel = tap(channel, self.frame_sink, self.spec.name)
        self.process = channel.process
        self.client.protocol.set_writer(channel.writer)
        reader = _CheckedReader(channel.reader, self._violation)
        self._tasks.append(
            asyncio.ensure_future(
                run_async(
                    stop_event=self.client._stop_event,
                    reader=reader,
                    protocol=self.client.protocol,
                    logger=log,
                    error_handler=lambda exc, _src: self._violation(f"malformed message from server: {exc}"),
                )
            )
        )
        self._tasks[-1].add_done_callback(lambda _t: self._on_stream_closed())
        self._tasks.append(asyncio.ensure_future(self._watch_exit()))
        result = await self.request("initialize", self._initialize_params(), timeout=timeout, check=False)
        caps = result.capabilities if result is not None else None
        self.capabilities = caps or lsp.ServerCapabilities()
        if result is not None and result.server_info is not None:
            self.server_info = {
                "name": result.server_info.name,
                "version": result.server_info.version or "",
            }
        enc = self.capabilities.position_encoding
        self.position_encoding = str(enc.value if hasattr(enc, "value") else enc) if enc else "utf-16"
        # Settings are answered when the server asks (workspace/configuration);
        # pushing them as well (didChangeConfiguration) made basedpyright
        # reload its configuration, about 100 ms of every cold start.
        self.client.protocol.notify("initialized", lsp.InitializedParams())
        if self.spec.check_reported_version and self.server_info.get("version") not in (None, "", self.spec.version):
            raise VersionSkew(
                f"server reports version {self.server_info.get('version')!r}, expected {self.spec.version!r}",
                server=self.spec.name,
                reported=self.server_info.get("version"),
                expected=self.spec.version,
            )

    def _initialize_params(self) -> lsp.InitializeParams:
        uri = self.root.as_uri()
        caps = lsp.ClientCapabilities(
            general=lsp.GeneralClientCapabilities(
                position_encodings=[lsp.PositionEncodingKind(e) for e in self.encodings]
            ),
            # Progress is how lanser sees an index settle; a server without one need not report it
            # (basedpyright would wrap each references search in a progress round trip: three
            # messages more each, one of them a request lanser must answer before the search goes on).
            window=lsp.WindowClientCapabilities(work_done_progress=self.spec.needs_index),
            workspace=lsp.WorkspaceClientCapabilities(
                configuration=True,
                workspace_folders=True,
                workspace_edit=lsp.WorkspaceEditClientCapabilities(
                    document_changes=True,
                    resource_operations=[
                        lsp.ResourceOperationKind.Create,
                        lsp.ResourceOperationKind.Rename,
                        lsp.ResourceOperationKind.Delete,
                    ],
                ),
                symbol=lsp.WorkspaceSymbolClientCapabilities(),
                did_change_watched_files=lsp.DidChangeWatchedFilesClientCapabilities(dynamic_registration=True),
            ),
            text_document=lsp.TextDocumentClientCapabilities(
                synchronization=lsp.TextDocumentSyncClientCapabilities(did_save=True),
                definition=lsp.DefinitionClientCapabilities(link_support=True),
                # No `declaration` capability: with it, basedpyright drops .pyi stubs from
                # definition answers (typing.pyi beside typing.py), and lanser never asks for declarations.
                references=lsp.ReferenceClientCapabilities(),
                hover=lsp.HoverClientCapabilities(content_format=[lsp.MarkupKind.Markdown, lsp.MarkupKind.PlainText]),
                document_symbol=lsp.DocumentSymbolClientCapabilities(hierarchical_document_symbol_support=True),
                publish_diagnostics=lsp.PublishDiagnosticsClientCapabilities(version_support=True),
                diagnostic=lsp.DiagnosticClientCapabilities(dynamic_registration=True),
                rename=lsp.RenameClientCapabilities(prepare_support=True),
                code_action=lsp.CodeActionClientCapabilities(
                    code_action_literal_support=lsp.ClientCodeActionLiteralOptions(
                        code_action_kind=lsp.ClientCodeActionKindOptions(value_set=[k for k in lsp.CodeActionKind])
                    ),
                    resolve_support=lsp.ClientCodeActionResolveOptions(properties=["edit"]),
                ),
            ),
        )
        return lsp.InitializeParams(
            process_id=os.getpid(),
            root_uri=uri,
            root_path=str(self.root),
            workspace_folders=[lsp.WorkspaceFolder(uri=uri, name=self.root.name)],
            capabilities=caps,
            client_info=lsp.ClientInfo(name="lanser", version=_lanser_version()),
            initialization_options=self.spec.init_options or None,
        )

    async def shutdown(self, timeout: float = 5.0) -> None:
        """Ask the server to exit; kill it if it does not within ``timeout``."""
        if self.alive:
            try:
                await self.request("shutdown", None, timeout=timeout, check=False)
                self.client.protocol.notify("exit", None)
                if self.process is not None:
                    await asyncio.wait_for(self.process.wait(), timeout)
            except (TimeoutError, LanserError, OSError, ConnectionError):
                pass
        await self.close()

    async def close(self) -> None:
        """Kill the process and stop reading; idempotent."""
        self.client._stop_event.set()
        if self.process is not None:
            await self.process.close()
        self._fail(LsCrash(f"{self.spec.name} session closed", server=self.spec.name))
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def _violation(self, reason: str) -> None:
        log.warning("%s: %s", self.spec.name, reason)
        error = self._crash(f"broke the protocol: {reason}")
        self._fail(error)
        if self.process is not None:
            self.process.kill()

    def _on_stream_closed(self) -> None:
        if self.process is not None and self.process.returncode is None and self.alive:
            # stdout usually closes a moment before the exit is reported;
            # wait for it, so the error carries the real exit code.  Killing
            # at once would reap the child behind asyncio's back (it would
            # then report 255).
            self._tasks.append(asyncio.ensure_future(self._closed_output()))

    async def _closed_output(self) -> None:
        assert self.process is not None
        try:
            await asyncio.wait_for(asyncio.shield(self.process.wait()), 1.0)
        except TimeoutError:
            self._fail(self._crash("closed its output"))
            self.process.kill()

    async def _watch_exit(self) -> None:
        assert self.process is not None
        await self.process.wait()
        await asyncio.sleep(0)  # let the stderr drain catch the last lines
        # A replayed server that was asked something the trace never saw ends
        # with that failure (E/REPLAY_MISMATCH) rather than a crash.
        self._fail(getattr(self.process, "failure", None) or self._crash(f"exited with code {self.process.returncode}"))

    def _crash(self, what: str) -> LsCrash:
        tail = list(self.process.stderr_tail)[-10:] if self.process else []
        return LsCrash(
            f"{self.spec.name} {what}",
            server=self.spec.name,
            exitCode=self.process.returncode if self.process else None,
            stderrTail=tail,
        )

    def _fail(self, error: LanserError) -> None:
        if self._dead is not None and not self._dead.done():
            self._dead.set_result(error)
        for fut in list(self.client.protocol._request_futures.values()):
            if not fut.done():
                fut.set_exception(error)
        self.client.protocol._request_futures.clear()

    # -- requests ------------------------------------------------------

    def check_capability(self, method: str) -> None:
        attr = CAPABILITY_OF_METHOD.get(method)
        if attr is None or self.capabilities is None or method in self.registered:
            return
        value = getattr(self.capabilities, attr, None)
        if value in (None, False):
            raise UnsupportedCap(
                f"{self.spec.name} does not support {method}",
                server=self.spec.name,
                method=method,
            )

    async def request(self, method: str, params: Any, *, timeout: float, check: bool = True) -> Any:
        """Send one request and wait for its typed result, at most ``timeout`` seconds."""
        if check:
            self.check_capability(method)
        if self._dead is None or self._dead.done():
            raise (
                self._dead.result()
                if self._dead is not None and self._dead.done()
                else LsCrash(f"{self.spec.name} is not running", server=self.spec.name)
            )
        # String ids: pygls keeps the server's incoming request ids in the same
        # table as ours, so small integers from both sides would collide.
        msg_id = f"lanser-{next(self._ids)}"
        try:
            fut = self.client.protocol.send_request_async(method, params, msg_id=msg_id)
        except (OSError, RuntimeError) as exc:
            raise self._crash(f"cannot be written to ({exc})") from exc
        try:
            done, _ = await asyncio.wait({fut, self._dead}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        except asyncio.CancelledError:
            # The caller went away (a batch's reader): stop waiting, but send no $/cancelRequest:
            # basedpyright 1.40.2, told to cancel a references search, fails the next ones with
            # "this._token.cancel is not a function".  A window holds at most 64 such requests.
            self._abandon(msg_id, fut, tell_server=False)
            raise
        if fut in done:
            try:
                return fut.result()
            except LsCrash:
                raise
            except JsonRpcException as exc:
                raise _translate_rpc_error(exc, method, self.spec.name) from exc
        if self._dead in done:
            fut.cancel()
            raise self._dead.result()
        self._abandon(msg_id, fut)
        raise LsTimeout(
            f"{self.spec.name} did not answer {method} within {timeout:g}s",
            server=self.spec.name,
            method=method,
            timeout=timeout,
        )

    def _abandon(self, msg_id: str, fut: Any, *, tell_server: bool = True) -> None:
        """Stop waiting for a request and (``tell_server``) ask the server to cancel it."""
        fut.cancel()
        self.client.protocol._request_futures.pop(msg_id, None)
        if not tell_server:
            return
        try:
            self.client.protocol.notify("$/cancelRequest", lsp.CancelParams(id=msg_id))
        except Exception:  # the server may already be gone
            pass

    def notify(self, method: str, params: Any) -> None:
        try:
            self.client.protocol.notify(method, params)
        except (OSError, RuntimeError) as exc:
            raise self._crash(f"cannot be written to ({exc})") from exc

    def to_data(self, value: Any) -> Any:
        """Plain JSON-like data from an lsprotocol value."""
        return self.client.protocol._converter.unstructure(value)

    # -- documents -----------------------------------------------------

    def sync_document(self, rel: str, language_id: str) -> Document:
        """Open ``rel`` on the server, or send its new content if it changed on disk."""
        abs_path = self.root / rel
        data = abs_path.read_bytes()
        digest = content_hash(data)
        text = document_text(data)  # without a BOM, as editors send it: positions count after it
        doc = self.documents.get(rel)
        if doc is None:
            doc = Document(rel, abs_path.as_uri(), language_id, self._versions.get(rel, 0) + 1, text, digest)
            self.documents[rel] = doc
            self.notify(
                "textDocument/didOpen",
                lsp.DidOpenTextDocumentParams(
                    text_document=lsp.TextDocumentItem(
                        uri=doc.uri, language_id=language_id, version=doc.version, text=text
                    )
                ),
            )
        elif doc.digest != digest and self.spec.reopen_on_change:
            self.close_document(rel)
            return self.sync_document(rel, language_id)
        elif doc.digest != digest:
            doc.version += 1
            doc.text, doc.digest = text, digest
            self.notify(
                "textDocument/didChange",
                lsp.DidChangeTextDocumentParams(
                    text_document=lsp.VersionedTextDocumentIdentifier(uri=doc.uri, version=doc.version),
                    content_changes=[lsp.TextDocumentContentChangeWholeDocument(text=text)],
                ),
            )
        return doc

    def speculate(self, rel: str, language_id: str, text: str) -> Document:
        """Give the server ``text`` as the content of ``rel``, in memory only.

        The next :meth:`sync_document` of ``rel`` puts the disk content back
        (its digest no longer matches); a file that exists only in the
        speculation is closed with :meth:`close_document`.
        """
        doc = self.documents.get(rel)
        if doc is None:
            doc = Document(
                rel, (self.root / rel).as_uri(), language_id, self._versions.get(rel, 0) + 1, text, "speculative"
            )
            self.documents[rel] = doc
            self.notify(
                "textDocument/didOpen",
                lsp.DidOpenTextDocumentParams(
                    text_document=lsp.TextDocumentItem(
                        uri=doc.uri, language_id=language_id, version=doc.version, text=text
                    )
                ),
            )
            return doc
        if self.spec.reopen_on_change:
            self.close_document(rel)
            return self.speculate(rel, language_id, text)
        doc.version += 1
        doc.text, doc.digest = text, "speculative"
        self.notify(
            "textDocument/didChange",
            lsp.DidChangeTextDocumentParams(
                text_document=lsp.VersionedTextDocumentIdentifier(uri=doc.uri, version=doc.version),
                content_changes=[lsp.TextDocumentContentChangeWholeDocument(text=text)],
            ),
        )
        return doc

    def close_document(self, rel: str) -> None:
        doc = self.documents.pop(rel, None)
        if doc is not None:
            # Versions keep counting across a reopen, so a late publish for
            # the closed version is never taken for the new one.
            self._versions[rel] = doc.version
            self._diagnostics.pop(doc.uri, None)
            if self.spec.reopen_on_change:
                # clangd answers didClose with an empty, version-less publish that can arrive after
                # the reopen: taken for the new version's list, every speculative D_now was 0.
                self._clearing.add(doc.uri)
            self.notify(
                "textDocument/didClose",
                lsp.DidCloseTextDocumentParams(text_document=lsp.TextDocumentIdentifier(uri=doc.uri)),
            )

    async def diagnostics(self, doc: Document, timeout: float) -> list[Any]:
        """The diagnostics of this document version: pulled when the server can, else pushed.

        Push is a fallback only: basedpyright, for one, first publishes an
        empty list for a newly opened file and the real one later, so a
        pushed list cannot be known to be final; a pulled one can.
        """
        if not self._barrier_passed:
            # Dynamic registrations are sent while the server handles
            # `initialized`; one answered request guarantees they have arrived.
            self._barrier_passed = True
            if self.capabilities is not None and self.capabilities.document_symbol_provider:
                await self.request(
                    "textDocument/documentSymbol",
                    lsp.DocumentSymbolParams(text_document=lsp.TextDocumentIdentifier(uri=doc.uri)),
                    timeout=timeout,
                )
        if "textDocument/diagnostic" in self.registered or (
            self.capabilities is not None and self.capabilities.diagnostic_provider
        ):
            report = await self.request(
                "textDocument/diagnostic",
                lsp.DocumentDiagnosticParams(text_document=lsp.TextDocumentIdentifier(uri=doc.uri)),
                timeout=timeout,
            )
            return list(getattr(report, "items", None) or [])
        return await self.pushed_diagnostics(doc, timeout)

    async def pushed_diagnostics(self, doc: Document, timeout: float) -> list[Any]:
        """Wait for the diagnostics the server publishes for this document version."""

        async def matching() -> list[Any]:
            while True:
                got = self._diagnostics.get(doc.uri)
                if got is not None and got[0] in (doc.version, None):
                    return got[1]
                self._diag_event.clear()
                await self._diag_event.wait()

        diagnostics: list[Any] = await self._bounded(matching(), timeout, "textDocument/publishDiagnostics")
        return diagnostics

    async def wait_index_idle(self, timeout: float, settle: float = 0.3) -> None:
        """Wait until the server reports no work in progress.

        clangd indexes in the background after the first file of a
        compilation database is opened; asked before that settles, its
        cross-file answers are incomplete.  ``settle`` covers the window in
        which indexing has been queued but its progress not yet announced.
        """

        async def idle() -> None:
            while True:
                self._progress_event.clear()
                if not self._progress:
                    try:
                        await asyncio.wait_for(self._progress_event.wait(), settle)
                        continue
                    except TimeoutError:
                        if not self._progress:
                            return
                await self._progress_event.wait()

        await self._bounded(idle(), timeout, "indexing")

    async def _bounded(self, coro: Any, timeout: float, what: str) -> Any:
        assert self._dead is not None
        task = asyncio.ensure_future(coro)
        done, _ = await asyncio.wait({task, self._dead}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        if task in done:
            return task.result()
        task.cancel()
        if self._dead in done:
            raise self._dead.result()
        raise LsTimeout(
            f"{self.spec.name} did not finish {what} within {timeout:g}s",
            server=self.spec.name,
            method=what,
            timeout=timeout,
        )

    # -- server -> client ----------------------------------------------

    def _register_handlers(self) -> None:
        fm = self.client.protocol.fm

        @fm.feature("textDocument/publishDiagnostics")
        def _diagnostics(params: lsp.PublishDiagnosticsParams) -> None:
            if params.version is None:
                if params.uri in self._clearing or self._versioned_push:
                    # A server that versions its lists publishes one without a version only to
                    # clear a closed document: it says nothing about the document open now.
                    self._clearing.discard(params.uri)
                    return
            else:
                self._versioned_push = True
            self._diagnostics[params.uri] = (params.version, list(params.diagnostics))
            self._diag_event.set()

        @fm.feature("workspace/configuration")
        def _configuration(params: lsp.ConfigurationParams) -> list[Any]:
            return [_section(self.settings, item.section) for item in params.items]

        @fm.feature("window/workDoneProgress/create")
        def _progress_create(params: lsp.WorkDoneProgressCreateParams) -> None:
            return None

        @fm.feature("$/progress")
        def _progress(params: lsp.ProgressParams) -> None:
            token = str(params.token)
            value = params.value if isinstance(params.value, dict) else self.to_data(params.value)
            kind = value.get("kind") if isinstance(value, dict) else None
            if kind == "begin":
                self._progress[token] = str(value.get("title", ""))
                self._progress_seen = True
            elif kind == "end":
                self._progress.pop(token, None)
            self._progress_event.set()

        @fm.feature("client/registerCapability")
        def _register(params: lsp.RegistrationParams) -> None:
            for reg in params.registrations:
                self.registered.add(reg.method)

        @fm.feature("client/unregisterCapability")
        def _unregister(params: lsp.UnregistrationParams) -> None:
            for unreg in params.unregisterations:
                self.registered.discard(unreg.method)

        @fm.feature("window/logMessage")
        def _log(params: Any) -> None:
            return None

        @fm.feature("window/showMessage")
        def _show(params: Any) -> None:
            return None

        # Requests lanser has no user to put to.  Unanswered (pygls says "Method Not Found"),
        # basedpyright throws and exits: handed an invalid new name it asks the user through
        # showMessageRequest, and the warm server died with the question.
        @fm.feature("window/showMessageRequest")
        def _show_request(params: Any) -> None:
            return None  # no action chosen

        @fm.feature("window/showDocument")
        def _show_document(params: Any) -> lsp.ShowDocumentResult:
            return lsp.ShowDocumentResult(success=False)

        @fm.feature("workspace/workspaceFolders")
        def _folders(params: Any) -> list[lsp.WorkspaceFolder]:
            return [lsp.WorkspaceFolder(uri=self.root.as_uri(), name=self.root.name)]

        @fm.feature("workspace/applyEdit")
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
            fm.feature(method)(lambda params: None)


def _section(settings: dict[str, Any], section: str | None) -> Any:
    if not section:
        return settings
    node: Any = settings
    for part in section.split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


#: Requests whose error answers are the server's refusal rather than its failure.
_REFUSABLE = frozenset({"textDocument/rename", "textDocument/prepareRename"})


def _translate_rpc_error(exc: JsonRpcException, method: str, server: str) -> LanserError:
    code = getattr(exc, "code", None)
    message = getattr(exc, "message", None) or str(exc)
    if code == -32801:
        return ContentModified(f"{server}: content modified during {method}", server=server, method=method)
    if code == -32800:
        return RequestCancelled(f"{server} cancelled {method}", server=server, method=method)
    if code == -32601:
        return UnsupportedCap(f"{server} does not implement {method}", server=server, method=method)
    if method in _REFUSABLE and code != -32603:
        # An answer, not a failure: clangd says "symbol is not a supported kind (e.g. namespace,
        # macro)", "there is no symbol at the given location", "invalid name" with a request
        # error.  Asked again, it says the same; the server is fine.  (-32603, InternalError, is
        # a server bug such as basedpyright's "Debug Failure" and stays a crash.)
        if "no symbol" in message.lower():
            return NotFound(
                f"{server} finds no symbol to rename: {message}",
                server=server,
                method=method,
                rpcCode=code,
                refusal=True,
            )
        return UnsupportedCap(
            f"{server} refuses {method}: {message}", server=server, method=method, rpcCode=code, refusal=True
        )
    return LsCrash(f"{server} failed {method}: {message}", server=server, method=method, rpcCode=code)


def _lanser_version() -> str:
    from lanser import __version__

    return __version__
