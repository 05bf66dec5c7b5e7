"""lanser/lsp speaks to pygls through its public interface only (issue #21).

Private attributes change without notice between pygls releases (the
session once reached into ``_stop_event``, ``_request_futures`` and
``_converter``); what pygls does not offer publicly, lanser/lsp/rpc.py owns.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pygls

LSP = Path(__file__).resolve().parents[2] / "lanser" / "lsp"


def _private(name: str) -> bool:
    return name.startswith("_") and not name.endswith("__")


def pygls_private_names() -> set[str]:
    """Every private attribute, method and module-level name pygls defines."""
    names: set[str] = set()
    for path in Path(pygls.__file__).parent.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Attribute) and _private(node.attr):
                names.add(node.attr)
            elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and _private(node.name):
                names.add(node.name)
    return names


def private_uses(source: str, names: set[str]) -> list[str]:
    """Where ``source`` touches one of pygls' private ``names`` (on anything but ``self``)."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Attribute) and node.attr in names:
            if not (isinstance(node.value, ast.Name) and node.value.id in ("self", "cls")):
                found.append(f"line {node.lineno}: .{node.attr}")
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in ("getattr", "setattr"):
            arg = node.args[1] if len(node.args) > 1 else None
            if isinstance(arg, ast.Constant) and arg.value in names:
                found.append(f"line {node.lineno}: {node.func.id}(..., {arg.value!r})")
        elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "pygls":
            parts = (node.module or "").split(".")
            private = [p for p in parts if _private(p)] + [a.name for a in node.names if _private(a.name)]
            found += [f"line {node.lineno}: import {p}" for p in private]
    return found


def test_the_check_sees_what_the_session_used_to_do() -> None:
    names = pygls_private_names()
    assert {"_stop_event", "_request_futures", "_converter"} <= names
    old = (
        "run_async(stop_event=self.client._stop_event)\n"
        "self.client.protocol._request_futures.pop(msg_id, None)\n"
        "converter = getattr(protocol, '_converter')\n"
        "from pygls.lsp._base_client import BaseLanguageClient\n"
        "from pygls.protocol import _dict_to_object\n"
    )
    assert len(private_uses(old, names)) == 5
    assert private_uses("self._ids = 1\nself.rpc.send_request('m', None)\n", names) == []


def test_lanser_lsp_uses_no_private_pygls_name() -> None:
    names = pygls_private_names()
    uses = {
        path.name: found
        for path in sorted(LSP.glob("*.py"))
        if (found := private_uses(path.read_text(encoding="utf-8"), names))
    }
    assert uses == {}
