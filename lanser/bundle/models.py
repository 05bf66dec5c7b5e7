"""Analysis Bundle models (paper section 5.1, appendix B).

Ranges are flat ``[sL, sC, eL, eC]``, 0-based, in the server's negotiated
position encoding (``environment.positionEncoding``).  Each workspace
location also carries ``selector``: a 1-based cursor selector in the
request's ``--index-io`` indexing that can be passed straight back to lanser.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic_core import PydanticCustomError

__all__ = [
    "BUNDLE_VERSION",
    "Bundle",
    "Diagnostic",
    "DiagnosticGroup",
    "Environment",
    "ErrorInfo",
    "Facts",
    "Hover",
    "Location",
    "Meta",
    "Request",
    "Resolution",
    "ServerInfo",
    "Symbol",
]

BUNDLE_VERSION = "1.2"

Command = Literal[
    "definition",
    "references",
    "hover",
    "symbols",
    "diagnostics",
    "locate",
    "prepareRename",
    "rename",
    "actions",
    "check",
]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


#: A request nests no deeper than this (its args are small objects).
MAX_REQUEST_DEPTH = 16
#: Numbers a bundle can carry: RFC 8785 (I-JSON) integers, finite floats.
_SAFE_INT = 2**53 - 1


class Request(_Model):
    """One operation: what every front door builds and the orchestrator runs."""

    # Validated as hostile input (every field may come from an agent): text
    # must be Unicode (a lone surrogate is what an undecodable byte of a
    # command line or a \udXXX escape of a batch line becomes), numbers must
    # be finite and within +-(2**53 - 1), nesting is bounded, so whatever the
    # bundle echoes back can be hashed and printed (check_json_value).

    cmd: Command
    selector: str | None = None
    #: Command arguments, as the front door sent them (bundles echo them unchanged).  What each
    #: command takes is its typed model in :mod:`lanser.commands.args` (paired with its handler in
    #: ``lanser.commands.HANDLERS``); the orchestrator validates them into it before the handler
    #: runs, so an unknown key or a wrong type is E/BAD_REQUEST.  Here only the types of
    #: :data:`ARG_TYPES` are checked (a batch line's bad value is refused before it is a Request).
    args: dict[str, Any] = Field(default_factory=dict)
    indexIo: Literal["utf-8", "utf-16", "codepoint"] = "utf-16"

    @field_validator("selector", "args", mode="before")
    @classmethod
    def _representable(cls, value: Any) -> Any:
        try:
            check_json_value(value, "", 0)
            if isinstance(value, dict):
                check_args(value)
        except ValueError as exc:
            # A custom error: pydantic's message is then ours alone, without the value.
            raise PydanticCustomError("unrepresentable", str(exc)) from None
        return value


#: The arguments commands read, and their JSON types (null always allowed: absent).
ARG_TYPES: dict[str, str] = {
    "limit": "integer",
    "cursor": "string",
    "includeDeclaration": "boolean",
    "query": "string",
    "language": "string",
    "apply": "boolean",
    "allowDirty": "boolean",
    "allowPartial": "boolean",
    "withOverrides": "boolean",
    "denyApplyOnAmbiguous": "boolean",
    "viaGit": "boolean",
    "commit": "boolean",
    "message": "string",
    "newName": "string",
    "patch": "string",
    "actionId": "string",
    "allow": "list of strings",
    "deny": "list of strings",
}


def check_args(args: dict[str, Any]) -> None:
    """ValueError unless each known argument has its type (a batch line's ``"limit": ":"`` reached
    ``int()`` in the command and came out as E/INTERNAL); unknown ones are left to the command's
    model (:mod:`lanser.commands.args`), which refuses them."""
    for key, kind in ARG_TYPES.items():
        value = args.get(key)
        if value is None:
            continue
        ok = {
            "integer": isinstance(value, int) and not isinstance(value, bool),
            "string": isinstance(value, str),
            "boolean": isinstance(value, bool),
            "list of strings": isinstance(value, list) and all(isinstance(v, str) for v in value),
        }[kind]
        if not ok:
            raise ValueError(f"{key}: expected {'an' if kind[0] == 'i' else 'a'} {kind}")


def _at(where: str) -> str:
    return f"{where}: " if where else ""


def check_json_value(value: Any, where: str, depth: int) -> None:
    """Raise ValueError (naming ``where``, never quoting the value) unless ``value`` can be
    written as canonical JSON: Unicode text, safe integers, finite floats, bounded nesting."""
    if depth > MAX_REQUEST_DEPTH:
        raise ValueError(f"{_at(where)}nested deeper than {MAX_REQUEST_DEPTH} levels")
    if isinstance(value, str):
        if not value.isascii():
            try:
                value.encode("utf-8")
            except UnicodeEncodeError as exc:
                raise ValueError(
                    f"{_at(where)}not valid Unicode at character {exc.start + 1} (a lone surrogate: "
                    "an undecodable byte or a \\ud800-\\udfff escape)"
                ) from None
    elif isinstance(value, bool) or value is None:
        return
    elif isinstance(value, int):
        if not -_SAFE_INT <= value <= _SAFE_INT:
            raise ValueError(f"{_at(where)}integer out of range (at most {_SAFE_INT} in magnitude)")
    elif isinstance(value, float):
        if value != value or abs(value) > _SAFE_INT:
            raise ValueError(f"{_at(where)}number not finite or out of range (at most {_SAFE_INT} in magnitude)")
    elif isinstance(value, dict):
        for key, item in value.items():
            check_json_value(key, f"{where} key".strip(), depth + 1)
            named = f"{where}.{key}".strip(".") if isinstance(key, str) and key.isascii() else where
            check_json_value(item, named, depth + 1)
    elif isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            check_json_value(item, f"{where}[{i}]", depth + 1)


class Location(_Model):
    path: str
    range: list[int]
    selector: str | None = None
    external: bool | None = None
    preview: str | None = None
    rangeIo: list[int] | None = None


class Hover(_Model):
    contents: str
    kind: str
    range: list[int] | None = None


class Symbol(_Model):
    name: str
    kind: str
    path: str
    range: list[int]
    selectionRange: list[int]
    container: str | None = None
    detail: str | None = None
    selector: str | None = None
    external: bool | None = None


class Diagnostic(_Model):
    range: list[int]
    severity: str
    message: str
    code: str | None = None
    source: str | None = None


class DiagnosticGroup(_Model):
    """Diagnostics of one file, tagged with the content they describe."""

    path: str
    contentHash: str
    version: int
    diagnostics: list[Diagnostic]
    counts: dict[str, int]


class Facts(_Model):
    provenance: Literal["lsp"] = "lsp"
    definitions: list[Location] | None = None
    references: list[Location] | None = None
    hover: Hover | None = None
    symbols: list[Symbol] | None = None
    diagnostics: list[DiagnosticGroup] | None = None
    location: Location | None = None
    #: Unique selectors minted for the definition at the location (``locate``).
    selectors: dict[str, str] | None = None
    total: int | None = None
    truncated: bool | None = None
    nextCursor: str | None = None


class Resolution(_Model):
    original: str | None = None
    kind: str | None = None
    resolved: Location | None = None
    confidence: float | None = None
    indexIo: str | None = None
    symbolId: str | None = None
    weights: dict[str, float] | None = None
    disambiguation: list[dict[str, Any]] = Field(default_factory=list)


class ServerInfo(_Model):
    name: str
    version: str
    pinned: str | None = None
    reported: str | None = None


class Environment(_Model):
    server: ServerInfo | None = None
    #: Every server that took part, when a workspace-wide request asked more than one.
    servers: list[ServerInfo] | None = None
    positionEncoding: str | None = None
    python: dict[str, str] = Field(default_factory=dict)
    configDigest: str | None = None
    lanser: str
    #: Machine-specific facts (absolute paths, platform); outside the hash domain.
    host: dict[str, str] = Field(default_factory=dict)


class ErrorInfo(_Model):
    code: str
    exitCode: int
    message: str
    retryable: bool | None = None
    details: dict[str, Any] | None = None


class Meta(_Model):
    exit_code: int = 0
    sorting_keys: list[str] = Field(default_factory=lambda: ["path", "range[0]", "range[1]", "range[2]", "range[3]"])
    hashing: dict[str, Any] = Field(default_factory=dict)
    #: Durations; present only when asked for (``-v``), never hashed.
    timing: dict[str, float] | None = None


class Bundle(_Model):
    version: str = BUNDLE_VERSION
    bundleId: str = ""
    status: Literal["ok", "error"] = "ok"
    #: Absent only when the input could not be read as a Request at all (E/BAD_REQUEST).
    request: Request | None = None
    resolution: Resolution | None = None
    facts: Facts = Field(default_factory=Facts)
    edits: dict[str, Any] = Field(default_factory=lambda: {"workspaceEdit": None, "diff": None})
    processReward: dict[str, Any] | None = None
    environment: Environment
    capabilities: dict[str, Any] = Field(default_factory=dict)
    meta: Meta = Field(default_factory=Meta)
    error: ErrorInfo | None = None
