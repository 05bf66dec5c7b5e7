"""Errors of the Docker harness itself.

An :class:`InfrastructureError` means the harness could not do its job (no
Docker engine, an image that will not build, debootstrap failing, the
mirror unreachable): it is its own verdict and never counted as the agent's
failure.  Errors from Docker, subprocesses and the file system are
translated into it once, where they enter, with ``raise ... from exc``.
"""

from __future__ import annotations

__all__ = ["InfrastructureError"]


class InfrastructureError(Exception):
    """The harness's infrastructure failed; not the agent's fault.

    ``stage`` names what was being done (``"docker"``, ``"debootstrap"``,
    ``"import"``, ``"build"``, ...); ``log_tail`` holds the last lines of the
    failing tool's output when there is one.
    """

    def __init__(self, message: str, *, stage: str | None = None, log_tail: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.stage = stage
        self.log_tail = log_tail

    def __str__(self) -> str:
        text = f"infrastructure failure ({self.stage}): {self.message}" if self.stage else (
            f"infrastructure failure: {self.message}"
        )
        if self.log_tail:
            text += "\n" + self.log_tail.rstrip("\n")
        return text
