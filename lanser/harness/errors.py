"""Errors of the Docker harness itself.

An :class:`InfrastructureError` means the harness could not do its job (no
Docker engine, an image that will not build, debootstrap failing, the
mirror unreachable): it is its own verdict and never counted as the agent's
failure.  Errors from Docker, subprocesses and the file system are
translated into it once, where they enter, with ``raise ... from exc``.

It is a :class:`~lanser.errors.LanserError` (``E/INFRASTRUCTURE``, exit 77)
defined beside the others in :mod:`lanser.errors`; the front doors render it
as they render every error.  This module keeps the harness's import path.
"""

from __future__ import annotations

from lanser.errors import InfrastructureError

__all__ = ["InfrastructureError"]
