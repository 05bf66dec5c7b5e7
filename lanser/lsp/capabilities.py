"""What lanser tells a server it can do, and what it checks the server can do."""

from __future__ import annotations

import os
from pathlib import Path

from lsprotocol import types as lsp

from lanser.errors import UnsupportedCap
from lanser.lsp.registry import ServerSpec

__all__ = ["CAPABILITY_OF_METHOD", "check_capability", "initialize_params", "position_encoding"]

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


def check_capability(
    capabilities: lsp.ServerCapabilities | None, registered: set[str], method: str, server: str
) -> None:
    """Raise :class:`UnsupportedCap` when the server neither advertised nor registered ``method``."""
    attr = CAPABILITY_OF_METHOD.get(method)
    if attr is None or capabilities is None or method in registered:
        return
    value = getattr(capabilities, attr, None)
    if value in (None, False):
        raise UnsupportedCap(f"{server} does not support {method}", server=server, method=method)


def position_encoding(capabilities: lsp.ServerCapabilities) -> str:
    """The position encoding the server chose; UTF-16 when it says nothing."""
    enc = capabilities.position_encoding
    return str(enc.value if hasattr(enc, "value") else enc) if enc else "utf-16"


def initialize_params(root: Path, spec: ServerSpec, encodings: tuple[str, ...], version: str) -> lsp.InitializeParams:
    """The ``initialize`` request lanser sends ``spec``'s server for the workspace ``root``."""
    uri = root.as_uri()
    caps = lsp.ClientCapabilities(
        general=lsp.GeneralClientCapabilities(position_encodings=[lsp.PositionEncodingKind(e) for e in encodings]),
        # Progress is how lanser sees an index settle; a server without one need not report it
        # (basedpyright would wrap each references search in a progress round trip: three
        # messages more each, one of them a request lanser must answer before the search goes on).
        window=lsp.WindowClientCapabilities(work_done_progress=spec.needs_index),
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
        root_path=str(root),
        workspace_folders=[lsp.WorkspaceFolder(uri=uri, name=root.name)],
        capabilities=caps,
        client_info=lsp.ClientInfo(name="lanser", version=version),
        initialization_options=spec.init_options or None,
    )
