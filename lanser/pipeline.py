"""Many requests, answered in input order with several in flight at once.

A language server answers one request after another, but a client that
waits for each answer before sending the next leaves it idle while the
answer travels back, is parsed, normalised, hashed and written out.
:func:`answer_batch` keeps up to ``window`` read-only requests in flight
(definition, references, hover, document symbols, locate) so that the
server works on the next while lanser finishes the last; on two cores the
two overlap.  Anything else (diagnostics, edits, workspace symbols, a
reward) is a barrier: the requests before it are answered first, it runs
alone, and only then does the pipeline fill again.  Bundles come out in
input order, and a batch answers against one snapshot of the workspace
(:meth:`Orchestrator.batch`), so the output is the same for every window.
A request that failed for the server's sake (crash, timeout, cancellation)
while others were in flight with it is asked again alone: a window must
not turn one request's crash into its neighbours' failures, nor count time
spent queued behind them against its timeout.

A trace recorder forces a window of one: replay answers from the recorded
frames in the order they were sent.
"""

from __future__ import annotations

import dataclasses
from collections import deque
from collections.abc import AsyncGenerator, Iterable, Mapping
from typing import TYPE_CHECKING, Any

from lanser.errors import BadRequest, LanserError

if TYPE_CHECKING:
    import asyncio

    from lanser.bundle.models import Request
    from lanser.orchestrator import Orchestrator, Rendered

__all__ = ["DEFAULT_WINDOW", "MAX_WINDOW", "answer_batch", "parse_request", "pipelined"]

#: Requests kept in flight by default.  bench/daemon_batch.py, 1,000 queries on rich, quiet machine:
#: lanser / raw (raw pipelined alike) 1.11x at 4, 1.09x at 8, 1.04x at 16 (bench/DAEMON.md).
DEFAULT_WINDOW = 16
#: More holds more answers in memory and gains nothing: basedpyright answers one request at a time,
#: clangd on a few worker threads.
MAX_WINDOW = 64

_READ_ONLY = frozenset({"definition", "references", "hover", "locate"})


def pipelined(request: Request) -> bool:
    """True for requests that only read and depend on nothing but the held snapshot."""
    if request.args.get("apply"):
        return False
    if request.cmd == "symbols":
        return request.selector is not None  # workspace symbols first load the whole project
    return request.cmd in _READ_ONLY


def parse_request(raw: Any) -> Request:
    """A Request from untrusted JSON data, or E/BAD_REQUEST saying what is wrong."""
    from pydantic import ValidationError

    from lanser.bundle.models import Request

    if not isinstance(raw, dict):
        raise BadRequest("a request must be a JSON object")
    if "__invalid__" in raw:
        raise BadRequest(str(raw["__invalid__"]))
    try:
        return Request.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "request"
        raise BadRequest(f"invalid request: {where}: {first['msg']}", field=where) from None


async def answer_batch(
    orch: Orchestrator, raws: Iterable[Any], *, window: int | None = None, ids: Mapping[int, str] | None = None
) -> AsyncGenerator[Rendered, None]:
    """Each raw request's bundle, rendered, in input order.

    A line that is not a Request gets its E/BAD_REQUEST bundle in its
    place.  Closing the iterator early (the reader went away) cancels the
    requests still in flight.  ``ids``: the request ids of the lines that
    write, by index; each is the current scope's id while its line runs
    (:mod:`lanser.cancel`: what the daemon records before writing).
    """
    import asyncio  # here, not above: the CLI imports this module for its constants

    from lanser.bundle.hashing import render_json
    from lanser.cancel import CURRENT
    from lanser.orchestrator import Rendered, failure_bundle

    window = 1 if orch.recorder is not None else max(1, min(window or DEFAULT_WINDOW, MAX_WINDOW))
    pending: deque[_Slot] = deque()
    loop = asyncio.get_running_loop()

    async def head() -> Rendered:
        slot = pending.popleft()
        answer = await slot.future
        request = slot.request
        if request is not None and slot.accompanied and _server_trouble(answer) and not _cancelled():
            # Requests in flight together share a server's crash, timeout or restart: ask
            # this one again alone, once the others are answered, as one at a time would.
            await asyncio.wait([s.future for s in pending] or [slot.future])
            answer = await orch.run_json(request)
        return answer

    def submit(request: Request) -> None:
        slot = _Slot(request, asyncio.ensure_future(orch.run_json(request)))
        for other in pending:
            if not other.future.done():
                other.accompanied = slot.accompanied = True
        pending.append(slot)

    with orch.batch():
        try:
            for index, raw in enumerate(raws):
                try:
                    request = parse_request(raw)
                except LanserError as exc:
                    data = failure_bundle(None, exc)
                    done: asyncio.Future[Rendered] = loop.create_future()
                    done.set_result(Rendered(render_json(data), data))
                    pending.append(_Slot(None, done))
                    continue
                if not pipelined(request):
                    while pending:
                        yield await head()
                    scope = CURRENT.get()
                    if scope is not None and ids and index in ids:
                        scope.request_id = ids[index]  # a barrier runs alone: the scope is its own
                    try:
                        answer = await orch.run_json(request)
                    finally:
                        if scope is not None and ids and index in ids:
                            scope.request_id = None
                    yield answer
                    continue
                while len(pending) >= window:
                    yield await head()
                submit(request)
            while pending:
                yield await head()
        finally:
            for slot in pending:  # the reader went away: what it will not read need not be answered
                slot.future.cancel()
                slot.future.add_done_callback(_retrieve)


@dataclasses.dataclass
class _Slot:
    """A request of the window: its answer to come, and whether others were in flight with it."""

    request: Request | None  # None: a line that is not a Request (its answer is ready)
    future: asyncio.Future[Rendered]
    accompanied: bool = False


#: Failures of the server rather than of the request; never cached (``orchestrator._cacheable``).
_TROUBLE = frozenset({"E/LS_CRASH", "E/LS_TIMEOUT", "E/REQUEST_CANCELLED", "E/CONTENT_MODIFIED"})


def _server_trouble(answer: Rendered) -> bool:
    """A failure the window may have caused: not an error the server answered this request with."""
    data = answer.data  # None only for a cache hit, and the cache holds no server trouble
    if data is None or data.get("status") != "error":
        return False
    error = data.get("error") or {}
    return error.get("code") in _TROUBLE and "rpcCode" not in (error.get("details") or {})


def _cancelled() -> bool:
    """Whether the front door cancelled the batch (Ctrl-C, its reader gone): ask nothing again."""
    from lanser.cancel import CURRENT

    scope = CURRENT.get()
    return scope is not None and scope.cancelled


def _retrieve(future: asyncio.Future[Any]) -> None:
    if not future.cancelled():
        future.exception()  # retrieved: no "exception was never retrieved" at exit
