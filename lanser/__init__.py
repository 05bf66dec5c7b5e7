"""lanser: deterministic, content-hashed language-server facts for coding agents."""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
