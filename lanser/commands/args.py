"""Each command's arguments, typed: what a Request's ``args`` may hold for that command.

A :class:`~lanser.bundle.models.Request` carries ``args`` as the JSON object
its front door built (the CLI, a batch line, the MCP server, the client
SDK), and bundles echo it unchanged.  The orchestrator validates it once
into the command's model here (:func:`parse_args`, the model paired with
the handler in :data:`lanser.commands.HANDLERS`) and hands the handler the
typed object.  A key the command does not take, or a value of the wrong
type, is E/BAD_REQUEST (exit code 2) naming the argument, never silently
ignored.

Fields are named as the request names them (``newName``, ``allowDirty``),
so the model is the wire format.  ``null`` is accepted for every argument
and means "not given", as the front doors leave an unset option out.  What
a value means (a profile's name, a severity, ``depth`` at least 1, a
cursor's shape) is checked where it is used, with its own message.
"""

from __future__ import annotations

import types
import typing
from collections.abc import Mapping
from typing import Annotated, Any, TypeVar

from pydantic import BaseModel, BeforeValidator, ConfigDict, ValidationError

from lanser.errors import BadRequest

__all__ = [
    "ActionsArgs",
    "Args",
    "CheckArgs",
    "DiagnosticsArgs",
    "EditArgs",
    "NoArgs",
    "ReferencesArgs",
    "RenameArgs",
    "SymbolsArgs",
    "expected",
    "parse_args",
]

A = TypeVar("A", bound="Args")


def _as_tuple(value: Any) -> Any:
    """A JSON list as the tuple the (strict, frozen) model keeps; anything else as it came."""
    return tuple(value) if isinstance(value, list) else value


#: A list of strings (glob patterns), kept as a tuple.
Strings = Annotated[tuple[str, ...], BeforeValidator(_as_tuple)]


class Args(BaseModel):
    """A command's arguments: unknown keys refused, types exact (no ``"5"`` for 5, no 1 for true)."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class NoArgs(Args):
    """definition, hover, locate, prepareRename: the selector says it all."""


class ReferencesArgs(Args):
    #: Page size (capped at REFERENCE_CAP; 0 or absent: the cap).
    limit: int | None = None
    #: ``nextCursor`` of the previous page.
    cursor: str | None = None
    #: Absent: true.  (An explicit null is false, as it always was.)
    includeDeclaration: bool | None = True


class SymbolsArgs(Args):
    #: Workspace symbols matching this (without a file selector).
    query: str | None = None
    #: Only this language's server (workspace symbols).
    language: str | None = None
    #: Filters (lanser.formats.filters): nesting depth, kinds (a list or comma-separated), locals.
    depth: int | None = None
    kind: str | Strings | None = None
    locals: bool | None = None


class DiagnosticsArgs(Args):
    #: Only this language's files (workspace diagnostics).
    language: str | None = None
    #: Filters (lanser.formats.filters): profile, minimum severity, at most ``limit`` diagnostics.
    profile: str | None = None
    severity: str | None = None
    limit: int | None = None


class EditArgs(Args):
    """The write options every command that edits takes (lanser.edits.write, lanser.edits.guards)."""

    #: Write the previewed edit (else a preview only).
    apply: bool | None = None
    #: Write over uncommitted work.
    allowDirty: bool | None = None
    #: Glob patterns every edited path must match / no edited path may match.
    allow: Strings | None = None
    deny: Strings | None = None
    #: Write with ``git apply --3way`` instead of the transaction.
    viaGit: bool | None = None
    #: Commit the written files, with this message.
    commit: bool | None = None
    message: str | None = None

    def write_options(self) -> dict[str, Any]:
        """The options :func:`lanser.edits.write.write_changes` reads, by their request names."""
        return {"allowDirty": self.allowDirty, "viaGit": self.viaGit, "commit": self.commit, "message": self.message}


class RenameArgs(EditArgs):
    #: Required (checked by the handler, with its own message).
    newName: str | None = None
    allowPartial: bool | None = None
    withOverrides: bool | None = None
    denyApplyOnAmbiguous: bool | None = None


class ActionsArgs(EditArgs):
    #: The action to preview or apply (absent: list the actions).
    actionId: str | None = None
    #: Sent by the client and the CLI with the edit options; no check reads it for actions.
    denyApplyOnAmbiguous: bool | None = None


class CheckArgs(EditArgs):
    #: Required: the unified diff (checked by the handler, with its own message).
    patch: str | None = None


def expected(annotation: Any) -> str:
    """What an argument of this type holds, in words: ``an integer``, ``a list of strings``."""
    words = {int: "an integer", bool: "a boolean", str: "a string"}
    kinds: list[str] = []
    union = typing.get_origin(annotation) in (typing.Union, types.UnionType)
    for part in typing.get_args(annotation) if union else (annotation,):
        if part is type(None):
            continue
        if typing.get_origin(part) is Annotated:
            part = typing.get_args(part)[0]
        kinds.append(words.get(part, "a list of strings" if typing.get_origin(part) is tuple else str(part)))
    return " or ".join(kinds)


def parse_args(model: type[A], cmd: str, args: Mapping[str, Any]) -> A:
    """``args`` as ``model``; E/BAD_REQUEST naming the first argument that is unknown or of the wrong type."""
    try:
        return model.model_validate(dict(args))
    except ValidationError as exc:
        fields = model.model_fields
        for error in exc.errors():
            key = str(error["loc"][0]) if error["loc"] else ""
            if key not in fields:
                takes = ", ".join(fields) or "none"
                raise BadRequest(
                    f"invalid request: args.{key}: {cmd} takes no argument {key!r} (it takes: {takes})",
                    field=f"args.{key}",
                ) from None
        first = exc.errors()[0]
        key = str(first["loc"][0])
        raise BadRequest(
            f"invalid request: args.{key}: expected {expected(fields[key].annotation)}", field=f"args.{key}"
        ) from None
