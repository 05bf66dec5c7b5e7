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

A handler is ``async def handler(ctx, request, bundle) -> None``: it fills
the bundle's facts (or edits) and raises a :class:`~lanser.errors.LanserError`
to refuse.  The orchestrator looks the handler up in :data:`HANDLERS` and
hands it itself as the :class:`~lanser.commands.context.Context`.  To add a
command: write the handler in its family's module, add it here, and add its
name to ``Command`` in :mod:`lanser.bundle.models` (docs/design.md).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from lanser.bundle.models import Bundle, Request
from lanser.commands import actions, check, navigation, rename
from lanser.commands.context import Context
from lanser.errors import BadRequest

__all__ = ["HANDLERS", "Context", "Handler", "handler_for"]

Handler = Callable[[Context, Request, Bundle], Awaitable[None]]

#: The one dispatch table: command name (as in a Request) to its handler.
HANDLERS: dict[str, Handler] = {
    "definition": navigation.definition,
    "references": navigation.references,
    "hover": navigation.hover,
    "symbols": navigation.symbols,
    "diagnostics": navigation.diagnostics,
    "locate": navigation.locate,
    "prepareRename": rename.prepare_rename,
    "rename": rename.rename,
    "check": check.check,
    "actions": actions.actions,
}


def handler_for(cmd: str) -> Handler:
    """The handler of ``cmd``; E/BAD_REQUEST for a command lanser does not have."""
    try:
        return HANDLERS[cmd]
    except KeyError:
        raise BadRequest(f"unknown command {cmd!r}; one of {', '.join(sorted(HANDLERS))}", field="cmd") from None
