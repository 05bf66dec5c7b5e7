"""The lanser error tree.

Every failure a user can see is a :class:`LanserError` carrying the stable
code and exit code of the Lanser-CLI paper's table (appendix C)::

    LanserError                       exit  code
    ├── BadSelectorSyntax                2  E/BAD_SELECTOR_SYNTAX
    ├── BadRequest                       2  E/BAD_REQUEST (lanser: a malformed request
    │                                       or batch line; 2 as for any usage error)
    ├── NotFound                         3  E/NOT_FOUND
    ├── Ambiguous                        4  E/AMBIGUOUS
    ├── VersionSkew                     10  E/VERSION_SKEW
    ├── LsTimeout                       64  E/LS_TIMEOUT
    ├── LsCrash                         65  E/LS_CRASH
    ├── ApplyConflict                   70  E/APPLY_CONFLICT
    ├── FsPermissions                   71  E/FS_PERMISSIONS
    ├── UnsupportedCap                  72  E/UNSUPPORTED_CAP
    ├── RequestCancelled                73  E/REQUEST_CANCELLED
    ├── ContentModified                 74  E/CONTENT_MODIFIED
    ├── IndexingUnsupported             75  E/INDEXING_UNSUPPORTED
    ├── ReplayMismatch                  76  E/REPLAY_MISMATCH
    └── InfrastructureError             77  E/INFRASTRUCTURE (lanser: the benchmark
                                            harness's own machinery failed: Docker,
                                            an image, a fetch, a task's setup; never
                                            the agent's fault)

Errors from the libraries lanser drives (JSON-RPC, git, docker, the file
system) are translated into this tree once, where they enter, with
``raise ... from exc``; nothing else reaches the CLI.  Library code never
prints and never exits: the CLI renders ``to_dict()`` in ``--json`` mode or
one line on stderr otherwise, and exits with ``exit_code``.
"""

from __future__ import annotations

from typing import Any, ClassVar

__all__ = [
    "Ambiguous",
    "ApplyConflict",
    "BadRequest",
    "BadSelectorSyntax",
    "ContentModified",
    "ERROR_CLASSES",
    "FsPermissions",
    "IndexingUnsupported",
    "InfrastructureError",
    "LanserError",
    "LsCrash",
    "LsTimeout",
    "NotFound",
    "ReplayMismatch",
    "RequestCancelled",
    "UnsupportedCap",
    "VersionSkew",
]


class LanserError(Exception):
    """Base of every error lanser reports.

    ``details`` holds machine-readable evidence (candidates, the column of a
    syntax error, the server's stderr tail); it must be JSON-serialisable.
    """

    code: ClassVar[str] = "E/INTERNAL"
    exit_code: ClassVar[int] = 1
    retryable: ClassVar[bool | None] = None

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details: dict[str, Any] = details

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "code": self.code,
            "exitCode": self.exit_code,
            "message": self.message,
        }
        if self.retryable is not None:
            out["retryable"] = self.retryable
        if self.details:
            out["details"] = self.details
        return out

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"


class BadSelectorSyntax(LanserError):
    """The selector string does not parse; ``details`` has column and caret."""

    code = "E/BAD_SELECTOR_SYNTAX"
    exit_code = 2
    retryable = False

    def __init__(self, message: str, *, selector: str, column: int, **details: Any) -> None:
        # Echoed in the error: a lone surrogate (an undecodable byte) cannot be, it shows as U+FFFD.
        if not selector.isascii():
            selector = "".join("\ufffd" if "\ud800" <= ch <= "\udfff" else ch for ch in selector)
        caret = selector + "\n" + " " * max(column - 1, 0) + "^"
        super().__init__(message, selector=selector, column=column, caret=caret, **details)

    def __str__(self) -> str:
        return f"{self.code}: {self.message} (column {self.details['column']})\n{self.details['caret']}"


class BadRequest(LanserError):
    """A request (a batch line, a daemon message) is not valid JSON or not a Request."""

    code = "E/BAD_REQUEST"
    exit_code = 2
    retryable = False


class NotFound(LanserError):
    """Nothing to resolve: no such file, symbol, or no answer at the position."""

    code = "E/NOT_FOUND"
    exit_code = 3
    retryable = None  # "sometimes" in the paper: retry after the file exists


class Ambiguous(LanserError):
    """Several candidates and none confident enough; ``details.candidates``."""

    code = "E/AMBIGUOUS"
    exit_code = 4
    retryable = True


class VersionSkew(LanserError):
    """The server, a snapshot or a trace does not match what is pinned."""

    code = "E/VERSION_SKEW"
    exit_code = 10
    retryable = True


class LsTimeout(LanserError):
    """The language server did not answer before the deadline."""

    code = "E/LS_TIMEOUT"
    exit_code = 64
    retryable = True


class LsCrash(LanserError):
    """The language server died (or spoke garbage) and kept doing so."""

    code = "E/LS_CRASH"
    exit_code = 65
    retryable = True


class ApplyConflict(LanserError):
    """An edit could not be applied: the file changed since the plan."""

    code = "E/APPLY_CONFLICT"
    exit_code = 70
    retryable = False


class FsPermissions(LanserError):
    """A write was refused: outside the workspace jail, denied, read-only."""

    code = "E/FS_PERMISSIONS"
    exit_code = 71
    retryable = False


class UnsupportedCap(LanserError):
    """The server does not advertise the capability the request needs."""

    code = "E/UNSUPPORTED_CAP"
    exit_code = 72
    retryable = False


class RequestCancelled(LanserError):
    """The request was cancelled (by the user or by the server)."""

    code = "E/REQUEST_CANCELLED"
    exit_code = 73
    retryable = True


class ContentModified(LanserError):
    """The document kept changing while the server worked on the request."""

    code = "E/CONTENT_MODIFIED"
    exit_code = 74
    retryable = True


class IndexingUnsupported(LanserError):
    """A position cannot be expressed in the requested or negotiated indexing."""

    code = "E/INDEXING_UNSUPPORTED"
    exit_code = 75
    retryable = False


class ReplayMismatch(LanserError):
    """A trace does not match the workspace or the requests being replayed."""

    code = "E/REPLAY_MISMATCH"
    exit_code = 76
    retryable = False


class InfrastructureError(LanserError):
    """The harness's infrastructure failed (no Docker engine, an image that will not build,
    debootstrap, the mirror, a task's setup); not the agent's fault.

    ``stage`` names what was being done (``"docker"``, ``"debootstrap"``,
    ``"import"``, ``"build"``, ...); ``log_tail`` holds the last lines of the
    failing tool's output when there is one.  Both are in ``details``
    (``stage``, ``logTail``) when set.  ``str()`` is the text stored in a
    run's results (``infrastructure failure (stage): ...``), kept as it was.
    """

    code = "E/INFRASTRUCTURE"
    exit_code = 77
    retryable = True  # a lost node, a Docker hiccup; a failing setup says otherwise (SetupFailed)

    def __init__(self, message: str, *, stage: str | None = None, log_tail: str | None = None, **details: Any) -> None:
        if stage is not None:
            details["stage"] = stage
        if log_tail is not None:
            details["logTail"] = log_tail
        super().__init__(message, **details)
        self.stage = stage
        self.log_tail = log_tail

    def __str__(self) -> str:
        text = (
            f"infrastructure failure ({self.stage}): {self.message}"
            if self.stage
            else (f"infrastructure failure: {self.message}")
        )
        if self.log_tail:
            text += "\n" + self.log_tail.rstrip("\n")
        return text


ERROR_CLASSES: tuple[type[LanserError], ...] = (
    BadSelectorSyntax,
    BadRequest,
    NotFound,
    Ambiguous,
    VersionSkew,
    LsTimeout,
    LsCrash,
    ApplyConflict,
    FsPermissions,
    UnsupportedCap,
    RequestCancelled,
    ContentModified,
    IndexingUnsupported,
    ReplayMismatch,
    InfrastructureError,
)
