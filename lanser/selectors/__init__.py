"""The Selector DSL: parse, format and resolve selectors (pure)."""

from __future__ import annotations

from lanser.selectors.parse import format_selector, parse_selector
from lanser.selectors.spec import (
    POSITION_SPEC,
    AnchorSpec,
    AstSpec,
    CursorSpec,
    FileSpec,
    PositionSpec,
    RangeSpec,
    SymbolSpec,
)

__all__ = [
    "POSITION_SPEC",
    "AnchorSpec",
    "AstSpec",
    "CursorSpec",
    "FileSpec",
    "PositionSpec",
    "RangeSpec",
    "SymbolSpec",
    "format_selector",
    "parse_selector",
]
