"""lanser: deterministic, content-hashed language-server facts for coding agents.

``from lanser import Client`` (or ``AsyncClient``, ``Result``, ``Requests``):
the client SDK, :mod:`lanser.client`.  Imported on first use, so that
``import lanser`` stays as cheap as the CLI's hot path needs it to be.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

__all__ = ["AsyncClient", "Client", "Requests", "Result", "__version__"]

if TYPE_CHECKING:
    from lanser.client import AsyncClient, Client, Requests, Result

_LAZY = frozenset({"AsyncClient", "Client", "Requests", "Result"})


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        from lanser import client

        return getattr(client, name)
    raise AttributeError(f"module 'lanser' has no attribute {name!r}")
