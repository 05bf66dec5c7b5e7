"""Every operation lanser answers: one module per command family, in one table.

=============================================  ==================================
command                                        handler
=============================================  ==================================
definition, references, hover, symbols,        :mod:`lanser.commands.navigation`
diagnostics, locate
prepareRename, rename                          :mod:`lanser.commands.rename`
check                                          :mod:`lanser.commands.check`
actions                                        :mod:`lanser.commands.actions`
=============================================  ==================================

A handler is ``async def handler(ctx, request, args, bundle) -> None``: it
fills the bundle's facts (or edits) and raises a
:class:`~lanser.errors.LanserError` to refuse.  ``args`` is the request's
``args`` validated into the command's typed model
(:mod:`lanser.commands.args`), paired with the handler in
:data:`HANDLERS`.  The orchestrator looks the entry up, validates the
arguments once (:meth:`Entry.parse`: an unknown key or a wrong type is
E/BAD_REQUEST) and hands the handler itself as the
:class:`~lanser.commands.context.Context`.  To add a command: write its
arguments model in :mod:`lanser.commands.args` and the handler in its
family's module, add both here, and add its name to ``Command`` in
:mod:`lanser.bundle.models` (docs/design.md).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Generic, TypeVar

from lanser.bundle.models import Bundle, Request
from lanser.commands import actions, check, navigation, rename
from lanser.commands.args import (
    ActionsArgs,
    Args,
    CheckArgs,
    DiagnosticsArgs,
    NoArgs,
    ReferencesArgs,
    RenameArgs,
    SymbolsArgs,
    parse_args,
)
from lanser.commands.context import Context
from lanser.errors import BadRequest

__all__ = ["HANDLERS", "Context", "Entry", "Handler", "handler_for"]

A = TypeVar("A", bound=Args)

Handler = Callable[[Context, Request, A, Bundle], Awaitable[None]]


@dataclasses.dataclass(frozen=True)
class Entry(Generic[A]):
    """One command: its arguments model and its handler (which takes that model)."""

    args: type[A]
    handler: Handler[A]

    def parse(self, cmd: str, args: Mapping[str, Any]) -> A:
        """The request's ``args`` as this command's model; E/BAD_REQUEST naming a bad argument."""
        return parse_args(self.args, cmd, args)


def _entry(args: type[A], handler: Handler[A]) -> Entry[Any]:
    """An entry whose handler mypy checks against its model (``Entry(...)`` in the table would be
    inferred from the table's type, ``Entry[Any]``, and pair anything)."""
    return Entry(args, handler)


#: The one dispatch table: command name (as in a Request) to its arguments model and handler.
HANDLERS: dict[str, Entry[Any]] = {
    "definition": _entry(NoArgs, navigation.definition),
    "references": _entry(ReferencesArgs, navigation.references),
    "hover": _entry(NoArgs, navigation.hover),
    "symbols": _entry(SymbolsArgs, navigation.symbols),
    "diagnostics": _entry(DiagnosticsArgs, navigation.diagnostics),
    "locate": _entry(NoArgs, navigation.locate),
    "prepareRename": _entry(NoArgs, rename.prepare_rename),
    "rename": _entry(RenameArgs, rename.rename),
    "check": _entry(CheckArgs, check.check),
    "actions": _entry(ActionsArgs, actions.actions),
}


def handler_for(cmd: str) -> Entry[Any]:
    """The entry of ``cmd``; E/BAD_REQUEST for a command lanser does not have."""
    try:
        return HANDLERS[cmd]
    except KeyError:
        raise BadRequest(f"unknown command {cmd!r}; one of {', '.join(sorted(HANDLERS))}", field="cmd") from None
