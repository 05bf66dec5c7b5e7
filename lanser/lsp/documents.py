"""The documents a server has open: what it was sent, at which version."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lsprotocol import types as lsp

from lanser.text import content_hash, document_text

__all__ = ["Document", "Documents"]


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


class Documents:
    """Opens, changes and closes documents on one server (``didOpen`` / ``didChange`` / ``didClose``).

    ``reopen``: the server takes a change as a close and an open (clangd);
    ``on_close(uri)`` is told of each close.
    """

    def __init__(
        self,
        root: Path,
        notify: Callable[[str, Any], None],
        *,
        reopen: bool,
        on_close: Callable[[str], None],
    ) -> None:
        self.root = root
        self.notify = notify
        self.reopen = reopen
        self.on_close = on_close
        self.open: dict[str, Document] = {}
        self._versions: dict[str, int] = {}

    def sync(self, rel: str, language_id: str) -> Document:
        """Open ``rel`` on the server, or send its new content if it changed on disk."""
        abs_path = self.root / rel
        data = abs_path.read_bytes()
        digest = content_hash(data)
        text = document_text(data)  # without a BOM, as editors send it: positions count after it
        doc = self.open.get(rel)
        if doc is None:
            return self._open(Document(rel, abs_path.as_uri(), language_id, self._next(rel), text, digest))
        if doc.digest != digest and self.reopen:
            self.close(rel)
            return self.sync(rel, language_id)
        if doc.digest != digest:
            self._change(doc, text, digest)
        return doc

    def speculate(self, rel: str, language_id: str, text: str) -> Document:
        """Give the server ``text`` as the content of ``rel``, in memory only.

        The next :meth:`sync` of ``rel`` puts the disk content back (its
        digest no longer matches); a file that exists only in the
        speculation is closed with :meth:`close`.
        """
        doc = self.open.get(rel)
        if doc is None:
            uri = (self.root / rel).as_uri()
            return self._open(Document(rel, uri, language_id, self._next(rel), text, "speculative"))
        if self.reopen:
            self.close(rel)
            return self.speculate(rel, language_id, text)
        self._change(doc, text, "speculative")
        return doc

    def close(self, rel: str) -> None:
        doc = self.open.pop(rel, None)
        if doc is not None:
            # Versions keep counting across a reopen, so a late publish for
            # the closed version is never taken for the new one.
            self._versions[rel] = doc.version
            self.on_close(doc.uri)
            self.notify(
                "textDocument/didClose",
                lsp.DidCloseTextDocumentParams(text_document=lsp.TextDocumentIdentifier(uri=doc.uri)),
            )

    def _next(self, rel: str) -> int:
        return self._versions.get(rel, 0) + 1

    def _open(self, doc: Document) -> Document:
        self.open[doc.path] = doc
        self.notify(
            "textDocument/didOpen",
            lsp.DidOpenTextDocumentParams(
                text_document=lsp.TextDocumentItem(
                    uri=doc.uri, language_id=doc.language_id, version=doc.version, text=doc.text
                )
            ),
        )
        return doc

    def _change(self, doc: Document, text: str, digest: str) -> None:
        doc.version += 1
        doc.text, doc.digest = text, digest
        self.notify(
            "textDocument/didChange",
            lsp.DidChangeTextDocumentParams(
                text_document=lsp.VersionedTextDocumentIdentifier(uri=doc.uri, version=doc.version),
                content_changes=[lsp.TextDocumentContentChangeWholeDocument(text=text)],
            ),
        )
