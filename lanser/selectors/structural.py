"""Resolution of symbol, AST-path and anchor selectors (tree-sitter)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from lanser.errors import NotFound
from lanser.selectors.spec import PositionSpec

if TYPE_CHECKING:
    from lanser.resolve import Target
    from lanser.workspace import Workspace


def resolve_structural(spec: PositionSpec, ws: Workspace) -> Target:
    raise NotFound(f"{spec.kind} selectors cannot be resolved yet")
