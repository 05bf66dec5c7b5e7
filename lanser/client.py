"""The lanser client SDK: every front door's one way to ask lanser something.

::

    from lanser import Client

    lanser = Client("examples/sample")                 # the workspace's warm daemon
    result = lanser.definition("pkg/report.py@L10:C27")
    if result.ok:
        print(result.data["facts"]["definitions"][0]["path"], result.bundle_id)

    with Client("examples/sample", daemon=False) as lanser:   # in this process, servers kept open
        plan = lanser.rename("py://pkg.shapes#total_area", "sum_areas")   # a preview: nothing written
        print(plan.exit_code, plan.data["edits"]["diff"])

    async with AsyncClient("examples/sample") as lanser:      # or Client(...).aio
        hover = await lanser.hover("pkg/shapes.py@L39:C5")

One method per command, keyword arguments mirroring the CLI's options
(``rename(selector, new_name, apply=True, allow_dirty=True)`` is
``lanser rename SELECTOR NEW_NAME --apply --allow-dirty``); each returns a
:class:`Result`: the Analysis Bundle as JSON data (``.data``), its exit
code, ``.ok``, ``.error``, and ``.bundle`` (the validated pydantic
:class:`~lanser.bundle.models.Bundle`, built on first use).  A failure is a
result, never an exception; :meth:`Result.raise_for_error` turns it into
the :class:`~lanser.errors.LanserError` of its code.

Through the daemon (``daemon=True``, the default) or in this process
(``daemon=False``, or a ``trace_file``, or when no daemon can be started),
the bundles are byte-identical.  A request that writes (``apply=True``)
goes to the daemon alone, with an id, and is never sent twice: if the
daemon dies before answering, the next one is asked what became of it.
In-process, a call outside ``with`` starts the language servers for that
call (``batch`` answers many at once); inside ``with Client(...)`` they stay
up until the block ends.

This module imports only the standard library at the top: the CLI answers
``lanser def`` through the daemon without importing pydantic, lsprotocol or
pygls, and goes through here.  :class:`Requests` builds the request objects
alone (the JSON a ``lanser batch`` line or a daemon message holds).
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Generic, TypeVar

if TYPE_CHECKING:
    from lanser.bundle.models import Bundle
    from lanser.errors import LanserError
    from lanser.orchestrator import Orchestrator

__all__ = ["AsyncClient", "Client", "Failure", "Requests", "Result"]

_T = TypeVar("_T")


# -- results ---------------------------------------------------------------


class Failure:
    """A failed result's error object (the bundle's ``error``).

    A plain class, not a dataclass: making a dataclass execs generated code, milliseconds on
    the CLI's hot path (``lanser def`` through the daemon imports this module).
    """

    __slots__ = ("code", "details", "exit_code", "message", "retryable")

    def __init__(
        self,
        code: str,
        exit_code: int,
        message: str,
        retryable: bool | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        self.code, self.exit_code, self.message, self.retryable = code, exit_code, message, retryable
        self.details: dict[str, Any] = details or {}

    def _key(self) -> tuple[Any, ...]:
        return self.code, self.exit_code, self.message, self.retryable, self.details

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Failure) and self._key() == other._key()

    __hash__ = None  # type: ignore[assignment]  # mutable details

    def __repr__(self) -> str:
        return (
            f"Failure(code={self.code!r}, exit_code={self.exit_code}, message={self.message!r}, "
            f"retryable={self.retryable!r}, details={self.details!r})"
        )

    def exception(self) -> LanserError:
        """The :class:`~lanser.errors.LanserError` of this code (``LanserError`` itself for E/INTERNAL)."""
        from lanser.errors import ERROR_CLASSES, InfrastructureError, LanserError

        cls = next((c for c in ERROR_CLASSES if c.code == self.code), LanserError)
        exc = cls.__new__(cls)  # not cls(...): some constructors take their details as keywords
        Exception.__init__(exc, self.message)
        exc.message, exc.details = self.message, dict(self.details)
        if isinstance(exc, InfrastructureError):
            exc.stage, exc.log_tail = self.details.get("stage"), self.details.get("logTail")
        return exc


class Result:
    """One request's answer: its Analysis Bundle.

    ``data`` is the bundle as JSON data (what ``lanser --json`` prints),
    ``text`` the same as one line of JSON, keys sorted (byte for byte what
    the CLI prints); each is made from the other on first use, since the
    daemon's lines can be passed on without being parsed.
    """

    __slots__ = ("_data", "_exit_code", "_text")

    def __init__(
        self, data: dict[str, Any] | None = None, *, text: str | None = None, exit_code: int | None = None
    ) -> None:
        if data is None and text is None:
            raise ValueError("a Result needs its bundle's data or text")
        self._data = data
        self._text = text
        self._exit_code = exit_code

    @property
    def data(self) -> dict[str, Any]:
        if self._data is None:
            assert self._text is not None
            self._data = json.loads(self._text)
        return self._data

    @property
    def text(self) -> str:
        if self._text is None:
            self._text = json.dumps(self.data, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
        return self._text

    @property
    def exit_code(self) -> int:
        """0 for success, else the error's exit code (``lanser.errors``)."""
        if self._exit_code is None:
            self._exit_code = int((self.data.get("meta") or {}).get("exit_code", 0))
        return self._exit_code

    @property
    def ok(self) -> bool:
        return self.data.get("status") == "ok"

    @property
    def bundle_id(self) -> str | None:
        value = self.data.get("bundleId")
        return value if isinstance(value, str) else None

    @property
    def facts(self) -> dict[str, Any]:
        facts = self.data.get("facts")
        return facts if isinstance(facts, dict) else {}

    @property
    def error(self) -> Failure | None:
        """The error, or None when the request succeeded."""
        error = self.data.get("error")
        if self.ok or not isinstance(error, dict):
            return None
        return Failure(
            code=str(error.get("code")),
            exit_code=int(error.get("exitCode", self.exit_code)),
            message=str(error.get("message")),
            retryable=error.get("retryable"),
            details=dict(error.get("details") or {}),
        )

    @property
    def bundle(self) -> Bundle:
        """The bundle as the validated pydantic model (imports pydantic on first use)."""
        from lanser.bundle.models import Bundle

        return Bundle.model_validate(self.data)

    def raise_for_error(self) -> Result:
        """This result if it succeeded; else raise its error as the LanserError of its code."""
        failure = self.error
        if failure is not None:
            raise failure.exception()
        return self

    def __repr__(self) -> str:
        return f"Result(status={self.data.get('status')!r}, exit_code={self.exit_code}, bundleId={self.bundle_id!r})"


# -- requests --------------------------------------------------------------


def _flag(value: bool) -> bool | None:
    """A CLI flag as the request carries it: present when set, absent otherwise."""
    return True if value else None


def _guards(
    apply: bool, allow_dirty: bool, allow: Sequence[str], deny: Sequence[str], commit: bool, message: str | None
) -> dict[str, Any]:
    return {
        "apply": _flag(apply),
        "allowDirty": _flag(allow_dirty),
        "allow": list(allow) or None,
        "deny": list(deny) or None,
        "commit": _flag(commit),
        "message": message,
    }


class _Commands(Generic[_T]):
    """One method per command, building its request; :meth:`_send` decides what comes back."""

    index_io: str = "utf-16"

    def _send(self, request: dict[str, Any]) -> _T:
        raise NotImplementedError

    def request(self, cmd: str, selector: str | None = None, **args: Any) -> _T:
        """Any command by name, its arguments as the request names them (``newName``, ``allowDirty``);
        None leaves an argument out."""
        return self._send(
            {
                "cmd": cmd,
                "selector": selector,
                "args": {k: v for k, v in args.items() if v is not None},
                "indexIo": self.index_io,
            }
        )

    def definition(self, selector: str) -> _T:
        """Where the symbol at ``selector`` is defined (``lanser def``)."""
        return self.request("definition", selector)

    def references(
        self, selector: str, *, limit: int | None = None, cursor: str | None = None, include_declaration: bool = True
    ) -> _T:
        """Every reference to the symbol at ``selector`` (``lanser refs``); pages with ``limit``/``cursor``."""
        return self.request(
            "references",
            selector,
            limit=limit,
            cursor=cursor,
            includeDeclaration=None if include_declaration else False,
        )

    def hover(self, selector: str) -> _T:
        """Type and documentation of the symbol at ``selector``."""
        return self.request("hover", selector)

    def symbols(
        self,
        selector: str | None = None,
        *,
        query: str | None = None,
        language: str | None = None,
        depth: int | None = None,
        kind: Iterable[str] | None = None,
        locals: bool = True,
    ) -> _T:
        """The symbols of one file (``selector``), or of the workspace matching ``query``; ``depth``
        nesting levels, only the kinds ``kind``, without variables inside functions unless ``locals``."""
        from lanser.errors import BadRequest

        if selector is None and query is None:
            raise BadRequest("give a file selector or query=")
        kinds = sorted({k.strip() for k in kind if k.strip()}) if kind is not None else None
        if kind is not None and not kinds:
            raise BadRequest("give at least one kind", field="kind")
        return self.request(
            "symbols",
            selector,
            query=query,
            language=language,
            depth=depth,
            kind=kinds,
            locals=None if locals else False,
        )

    def diagnostics(
        self,
        selector: str | None = None,
        *,
        language: str | None = None,
        profile: str | None = None,
        severity: str | None = None,
        limit: int | None = None,
    ) -> _T:
        """Diagnostics of one file, or of every file of the workspace (``lanser diag``): ``profile``
        "agent" or "all", only those at least as severe as ``severity``, at most ``limit``."""
        return self.request(
            "diagnostics",
            selector,
            language=language,
            profile=profile,
            severity="information" if severity == "info" else severity,
            limit=limit,
        )

    def locate(self, selector: str) -> _T:
        """Resolve ``selector`` to a range and the code there."""
        return self.request("locate", selector)

    def prepare_rename(self, selector: str) -> _T:
        """Whether the symbol at ``selector`` can be renamed, its range and current name."""
        return self.request("prepareRename", selector)

    def rename(
        self,
        selector: str,
        new_name: str,
        *,
        apply: bool = False,
        allow_dirty: bool = False,
        allow: Sequence[str] = (),
        deny: Sequence[str] = (),
        via_git: bool = False,
        commit: bool = False,
        message: str | None = None,
        allow_partial: bool = False,
        with_overrides: bool = False,
        deny_apply_on_ambiguous: bool = False,
    ) -> _T:
        """Rename the symbol at ``selector`` everywhere or not at all; a preview unless ``apply``."""
        return self.request(
            "rename",
            selector,
            **_guards(apply, allow_dirty, allow, deny, commit, message),
            viaGit=_flag(via_git),
            newName=new_name,
            allowPartial=_flag(allow_partial),
            withOverrides=_flag(with_overrides),
            denyApplyOnAmbiguous=_flag(deny_apply_on_ambiguous),
        )

    def actions(
        self,
        selector: str,
        *,
        action_id: str | None = None,
        apply: bool = False,
        allow_dirty: bool = False,
        allow: Sequence[str] = (),
        deny: Sequence[str] = (),
        via_git: bool = False,
        commit: bool = False,
        message: str | None = None,
        deny_apply_on_ambiguous: bool = False,
    ) -> _T:
        """The code actions at ``selector``, or one by ``action_id`` (previewed unless ``apply``): ``lanser action``."""
        if apply and not action_id:
            from lanser.errors import BadRequest

            raise BadRequest("apply needs action_id (list the actions first)", field="actionId")
        return self.request(
            "actions",
            selector,
            **_guards(apply, allow_dirty, allow, deny, commit, message),
            viaGit=_flag(via_git),
            actionId=action_id,
            denyApplyOnAmbiguous=_flag(deny_apply_on_ambiguous),
        )

    def check(
        self,
        patch: str,
        *,
        selector: str | None = None,
        apply: bool = False,
        allow_dirty: bool = False,
        allow: Sequence[str] = (),
        deny: Sequence[str] = (),
        commit: bool = False,
        message: str | None = None,
    ) -> _T:
        """Evaluate a unified diff without writing it (diagnostics that appear and go, the process
        reward); written only with ``apply``."""
        return self.request("check", selector, patch=patch, **_guards(apply, allow_dirty, allow, deny, commit, message))


class Requests(_Commands[dict[str, Any]]):
    """The request objects alone: ``Requests().rename("a.py@L3:C5", "b")`` is the JSON of a batch line.

    >>> Requests().references("pkg/shapes.py@L39:C5", limit=2)
    {'cmd': 'references', 'selector': 'pkg/shapes.py@L39:C5', 'args': {'limit': 2}, 'indexIo': 'utf-16'}
    """

    def __init__(self, index_io: str = "utf-16") -> None:
        self.index_io = index_io

    def _send(self, request: dict[str, Any]) -> dict[str, Any]:
        return request


# -- the client ------------------------------------------------------------


class _Config:
    """A client's options (a plain class, as :class:`Failure`, for the hot path's sake)."""

    def __init__(
        self,
        workspace: Path,
        daemon: bool,
        python: str | None,
        timeout: float,
        verbose: bool,
        idle: float,
        window: int | None,
        trace_file: Path | None,
        cache: bool,
    ) -> None:
        self.workspace, self.daemon, self.python = workspace, daemon, python
        self.timeout, self.verbose = timeout, verbose
        self.idle, self.window, self.trace_file, self.cache = idle, window, trace_file, cache
        #: Called before the first in-process answer (the CLI quiets the libraries' loggers there).
        self.on_in_process: Callable[[bool], None] | None = None

    @property
    def through_daemon(self) -> bool:
        return self.daemon and self.trace_file is None and self.workspace.is_dir()

    def options(self) -> dict[str, Any]:
        return {"timeout": self.timeout, "verbose": self.verbose, "window": self.window}


class Client(_Commands[Result]):
    """lanser for one workspace, from Python: each command method returns a :class:`Result`.

    ``root``: the workspace (selector paths are relative to it).  ``daemon``:
    through the workspace's warm daemon (started if need be; in-process when
    none can be), or in this process.  ``timeout``: seconds per server
    request.  ``python``: the interpreter whose environment Python code is
    analysed against.  ``index_io``: how the columns of selectors and
    answers are counted (utf-16, utf-8, codepoint).  ``window``: read-only
    requests of a batch kept in flight at once.  ``trace_file``: record
    requests, frames and bundles (answers in-process).  ``cache``:
    in-process, whether answers may be served from the snapshot cache.
    """

    def __init__(
        self,
        root: str | Path = ".",
        *,
        daemon: bool = True,
        timeout: float = 30.0,
        python: str | None = None,
        index_io: str = "utf-16",
        verbose: bool = False,
        idle_timeout: float = 900.0,
        window: int | None = None,
        trace_file: str | Path | None = None,
        cache: bool = True,
    ) -> None:
        self.index_io = index_io
        self._config = _Config(
            Path(root),
            daemon,
            python,
            timeout,
            verbose,
            idle_timeout,
            window,
            Path(trace_file) if trace_file is not None else None,
            cache,
        )
        self._session: _Session | None = None

    @classmethod
    def _from_settings(cls, settings: Any, *, on_in_process: Callable[[bool], None] | None = None) -> Client:
        """The CLI's client: its global options (``lanser.cli.main.Settings``)."""
        client = cls(
            settings.workspace,
            daemon=settings.daemon,
            timeout=settings.timeout,
            python=settings.python,
            index_io=settings.index_io,
            verbose=settings.verbose,
            idle_timeout=settings.idle,
            window=settings.window,
            trace_file=settings.trace_file,
        )
        client._config.on_in_process = on_in_process
        return client

    @property
    def root(self) -> Path:
        return self._config.workspace

    @property
    def aio(self) -> AsyncClient:
        """The same client with ``async`` methods."""
        return AsyncClient._wrapping(self)

    # -- sending

    def _send(self, request: dict[str, Any]) -> Result:
        return self.batch([request])[0]

    def batch(self, requests: Iterable[Any]) -> list[Result]:
        """Many requests (objects of :class:`Requests`, batch lines' JSON, or pydantic
        :class:`~lanser.bundle.models.Request` models), answered in order against one snapshot of the
        workspace; one result each, a malformed one's an E/BAD_REQUEST."""
        return [Result(data) for data in self._answer(_plain(requests))]

    def iter_batch(self, requests: Iterable[Any]) -> Iterator[Result]:
        """:meth:`batch`, each result as soon as it is known (through the daemon: as it is written)."""
        if self._session is not None:
            yield from self.batch(requests)
            return
        yield from _stream(self._config, _plain(requests))

    def _answer(self, requests: list[Any]) -> list[dict[str, Any]]:
        if self._session is not None:
            return self._session.answer(requests)
        return _answer(self._config, requests)

    # -- a session: in-process servers kept up between calls

    def open(self) -> Client:
        """In-process (``daemon=False``): keep the language servers up until :meth:`close`.
        Through the daemon there is nothing to keep: the daemon does."""
        if self._session is None and not self._config.through_daemon:
            self._session = _Session(self._config)
            self._session.start()  # the workspace is opened now (recovery, the interpreter); servers on first use
        return self

    def close(self) -> None:
        session, self._session = self._session, None
        if session is not None:
            session.close()

    def __enter__(self) -> Client:
        return self.open()

    def __exit__(self, *exc: object) -> None:
        self.close()


def _plain(requests: Iterable[Any]) -> list[Any]:
    """Requests as JSON data: a pydantic Request model as its dump (what the daemon is sent)."""
    return [r.model_dump(mode="json") if callable(getattr(r, "model_dump", None)) else r for r in requests]


class AsyncClient(_Commands[Awaitable[Result]]):
    """:class:`Client` with ``async`` methods (same arguments; ``await client.hover(...)``).

    Each request runs in a worker thread: through the daemon it is a socket
    exchange, in-process the servers run on that thread's own event loop, so
    the caller's loop is never blocked.  ``async with`` keeps in-process
    servers up, as ``with`` does for :class:`Client`.
    """

    def __init__(self, root: str | Path = ".", **options: Any) -> None:
        self._client = Client(root, **options)
        self.index_io = self._client.index_io

    @classmethod
    def _wrapping(cls, client: Client) -> AsyncClient:
        self = cls.__new__(cls)
        self._client = client
        self.index_io = client.index_io
        return self

    @property
    def root(self) -> Path:
        return self._client.root

    async def _one(self, request: dict[str, Any]) -> Result:
        return (await self.batch([request]))[0]

    def _send(self, request: dict[str, Any]) -> Awaitable[Result]:
        return self._one(request)

    async def batch(self, requests: Iterable[Any]) -> list[Result]:
        import asyncio

        return await asyncio.to_thread(self._client.batch, list(requests))

    async def open(self) -> AsyncClient:
        import asyncio

        await asyncio.to_thread(self._client.open)
        return self

    async def close(self) -> None:
        import asyncio

        await asyncio.to_thread(self._client.close)

    async def __aenter__(self) -> AsyncClient:
        return await self.open()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


class _Session:
    """In-process language servers kept up between calls: one orchestrator on a private event loop.

    Calls may come from any thread (:class:`AsyncClient` uses worker threads), one at a time.
    """

    def __init__(self, config: _Config) -> None:
        import asyncio
        import threading

        self.config = config
        self.loop = asyncio.new_event_loop()
        self.lock = threading.Lock()
        self.orch: Orchestrator | None = None
        self.recorder: Any = None
        self.failed: LanserError | None = None

    def start(self) -> None:
        with self.lock:
            self._start()

    def _start(self) -> None:
        if self.orch is not None or self.failed is not None:
            return
        from lanser.errors import LanserError
        from lanser.orchestrator import Orchestrator

        if self.config.on_in_process is not None:
            self.config.on_in_process(self.config.verbose)
        if self.config.trace_file is not None:
            from lanser.trace import TraceRecorder

            self.recorder = TraceRecorder(self.config.trace_file)
        try:
            self.orch = Orchestrator(
                self.config.workspace,
                timeout=self.config.timeout,
                python=self.config.python,
                verbose=self.config.verbose,
                recorder=self.recorder,
                cache=self.config.cache,
            )
        except LanserError as exc:
            self.failed = exc

    def answer(self, requests: list[Any]) -> list[dict[str, Any]]:
        with self.lock:
            self._start()
            if self.orch is None:
                assert self.failed is not None
                return [_refused(raw, self.failed) for raw in requests]
            return self.loop.run_until_complete(_collect(self.orch, requests, self.config.window))

    def close(self) -> None:
        with self.lock:
            try:
                if self.orch is not None:
                    self.loop.run_until_complete(self.orch.close())
            finally:
                self.orch = None
                if self.recorder is not None:
                    self.recorder.close()
                self.loop.close()


async def _collect(orch: Orchestrator, requests: list[Any], window: int | None) -> list[dict[str, Any]]:
    import contextlib

    from lanser.pipeline import answer_batch

    async with contextlib.aclosing(answer_batch(orch, requests, window=window)) as answers:
        return [answer.bundle async for answer in answers]


# -- the transport: the daemon, or this process -----------------------------


def _answer(config: _Config, requests: list[Any]) -> list[dict[str, Any]]:
    """Answer requests through the warm daemon, or in this process (``daemon=False``, or when no
    daemon can be started).  Both give byte-identical bundles.

    A request that writes (``args.apply``) goes alone, with an id, and is
    never sent twice: if its daemon dies before answering, the next daemon
    is asked what became of it (:func:`_lost`).  Read-only requests are
    simply asked again.
    """
    if not config.through_daemon:
        return _in_process(config, requests)
    if len(requests) == 1 or any(_mutates(raw) for raw in requests):
        out: list[dict[str, Any]] = []
        for raw in requests:
            bundle, interrupted = _through_daemon(config, raw)
            out.append(bundle)
            if interrupted:  # Ctrl-C stops the requests after this one too
                out += [_cancelled(r) for r in requests[len(out) :]]
                break
        return out
    from lanser import __version__
    from lanser.daemon import client

    message = {"op": "batch", "requests": requests, "options": config.options()}
    try:
        exchange = client.Exchange()
        replies = list(client.send(str(config.workspace), config.python, __version__, config.idle, message, exchange))
        if len(replies) == len(requests):
            return replies
        raise client.DaemonUnavailable(f"daemon sent {len(replies)} replies to {len(requests)} requests")
    except KeyboardInterrupt:  # before the message was out: nothing was asked
        return [_cancelled(raw) for raw in requests]
    except (client.DaemonUnavailable, OSError, ValueError) as exc:
        _warn(f"daemon unavailable ({exc}); answering in-process")
    return _in_process(config, requests)


def _stream(config: _Config, requests: list[Any]) -> Iterator[Result]:
    """Each request's result, in order, as soon as it is known (``lanser batch``).

    The daemon's lines are already what ``render_json`` prints, and carry
    their exit code in front ("coded" replies), so they are passed on
    without being parsed.  If the daemon cannot be reached, or goes away
    part of the way through, the requests it has not answered go the way
    every call falls back to (:func:`_answer`): nothing is lost and
    nothing is answered twice.
    """
    done = 0
    ids: dict[str, str] = {}
    exchange: Any = None  # the daemon was not asked
    if requests and config.through_daemon:
        from lanser import __version__
        from lanser.daemon import client

        message = {"op": "batch", "requests": requests, "options": {**config.options(), "coded": True}}
        ids = message["ids"] = client.batch_ids(requests)  # lines that write: never sent twice
        exchange = client.Exchange()
        try:
            for line in client.send_lines(
                str(config.workspace), config.python, __version__, config.idle, message, exchange
            ):
                if done == len(requests):
                    raise client.DaemonUnavailable(f"daemon sent more than {len(requests)} replies")
                code, _, text = line.partition(" ")
                yield Result(text=text, exit_code=int(code))
                done += 1
            if done < len(requests):
                raise client.DaemonUnavailable("the daemon hung up")
        except (client.DaemonUnavailable, OSError, ValueError) as exc:
            import logging

            logging.getLogger("lanser").warning(
                "daemon stopped answering after %d of %d requests (%s)", done, len(requests), exc
            )
    if done < len(requests):
        for data in _answer_rest(config, requests, done, ids, exchange):
            yield Result(data)


def _answer_rest(
    config: _Config, requests: list[Any], done: int, ids: dict[str, str], exchange: Any | None
) -> list[dict[str, Any]]:
    """Bundles for ``requests[done:]``, which a batch's daemon did not answer.

    Interrupted: none of them runs.  The daemon gone while it answered an
    edit (``ids`` has its index): what became of it is asked, it is not run
    again; the rest are answered as usual.
    """
    if exchange is not None and exchange.interrupted:
        return [_cancelled(raw) for raw in requests[done:]]
    out: list[dict[str, Any]] = []
    if exchange is not None and exchange.sent and str(done) in ids:
        out.append(_lost(config, requests[done], ids[str(done)]))
        done += 1
    return out + (_answer(config, requests[done:]) if done < len(requests) else [])


def _mutates(raw: Any) -> bool:
    from lanser.daemon.client import mutates

    return mutates(raw)


def _warn(message: str) -> None:
    import logging

    logging.getLogger("lanser").warning("%s", message)


def _through_daemon(config: _Config, raw: Any) -> tuple[dict[str, Any], bool]:
    """One request through the daemon: its bundle, and whether a signal interrupted it."""
    from lanser import __version__
    from lanser.daemon import client

    try:
        bundle, exchange = client.request(
            str(config.workspace),
            config.python,
            __version__,
            config.idle,
            raw,
            config.options(),
            mutating=_mutates(raw),
        )
    except KeyboardInterrupt:  # before the request was out: nothing was asked
        return _cancelled(raw), True
    except client.DaemonLost as lost:
        _warn(str(lost))
        return _lost(config, raw, lost.request_id), False
    except (client.DaemonUnavailable, OSError, ValueError) as exc:
        _warn(f"daemon unavailable ({exc}); answering in-process")
        return _in_process(config, [raw])[0], False
    if exchange.interrupted:
        _note_interrupted(bundle)
    return bundle, exchange.interrupted


def _note_interrupted(bundle: dict[str, Any]) -> None:
    import sys

    if (bundle.get("edits") or {}).get("applied"):
        sys.stderr.write("lanser: the interrupt came after the edit was committed: it was applied\n")


def _lost(config: _Config, raw: Any, request_id: str) -> dict[str, Any]:
    """The daemon died with mutating request ``request_id`` unanswered: ask the next one, never re-run it."""
    import sys

    from lanser import __version__
    from lanser.daemon import client
    from lanser.errors import ApplyConflict, RequestCancelled

    try:
        known = client.outcome(str(config.workspace), config.python, __version__, config.idle, request_id)
    except (client.DaemonUnavailable, OSError, ValueError, KeyboardInterrupt) as exc:
        # No daemon starts: read the record here.  Without a daemon's recovery a half-applied edit
        # matches neither side and is reported as unknown, which is the truth.
        try:
            from lanser.daemon.outcomes import Outcomes

            known = Outcomes(config.workspace).outcome(request_id)
        except (OSError, ValueError, KeyboardInterrupt):
            known = {"state": "unknown", "why": f"no daemon could be asked ({exc})"}
    state, why = known.get("state"), known.get("why") or ""
    if state == "answered" and isinstance(known.get("bundle"), str):
        sys.stderr.write(
            f"lanser: the daemon died before sending its answer to request {request_id}; "
            "this is the answer it recorded\n"
        )
        data: dict[str, Any] = json.loads(known["bundle"])
        return data
    if state == "committed":
        sys.stderr.write(
            f"lanser: the daemon died after applying request {request_id}, before answering: "
            "the edit was applied, once\n"
        )
        return _committed(raw, request_id, known.get("paths"))
    if state == "not-committed":
        return _refused(
            raw,
            RequestCancelled(
                f"the daemon went away before the edit was applied ({why}): nothing was written; "
                "running the command again is safe",
                requestId=request_id,
            ),
        )
    return _refused(
        raw,
        ApplyConflict(
            f"the daemon went away in the middle of the edit and lanser cannot tell whether it was applied ({why}); "
            "it was not run again: look at the files (git status) before retrying",
            requestId=request_id,
        ),
    )


def _committed(raw: Any, request_id: str, paths: Any) -> dict[str, Any]:
    """A bundle for an edit known to be written whose answer was lost with its daemon."""
    from lanser import __version__
    from lanser.bundle.hashing import finalize
    from lanser.bundle.models import Bundle, Environment
    from lanser.pipeline import parse_request

    bundle = Bundle(request=parse_request(raw), environment=Environment(lanser=__version__))
    files = [{"path": p} for p in paths if isinstance(p, str)] if isinstance(paths, list) else []
    bundle.edits = {
        "workspaceEdit": None,
        "diff": None,
        "applied": True,
        "requestId": request_id,
        "files": files,
        "via": "transaction, answer lost with its daemon",
        "note": "the daemon died after writing this edit and before answering; "
        "lanser found every file it changed with its new content",
    }
    return finalize(bundle)


def _cancelled(raw: Any) -> dict[str, Any]:
    from lanser.errors import RequestCancelled

    return _refused(raw, RequestCancelled("interrupted"))


def _refused(raw: Any, exc: LanserError) -> dict[str, Any]:
    """The error bundle of ``exc`` for ``raw`` (without its request when ``raw`` is not one)."""
    from lanser.errors import LanserError
    from lanser.orchestrator import failure_bundle
    from lanser.pipeline import parse_request

    try:
        return failure_bundle(parse_request(raw), exc)
    except LanserError:
        return failure_bundle(None, exc)


def _in_process(config: _Config, requests: list[Any]) -> list[dict[str, Any]]:
    """The requests answered by language servers started in this process for them.

    Ctrl-C (and SIGTERM) cancel the request being answered, unless it
    passed its commit point; the rest are answered E/REQUEST_CANCELLED.
    """
    if config.on_in_process is not None:
        config.on_in_process(config.verbose)  # the libraries that log are imported only on this path
    import asyncio
    import contextlib
    import signal

    from lanser.cancel import CURRENT, Scope
    from lanser.errors import LanserError
    from lanser.orchestrator import Orchestrator
    from lanser.pipeline import answer_batch

    scope = Scope()
    out: list[dict[str, Any]] = []
    interrupted: list[int] = []

    async def go() -> None:
        # A plain handler, not the loop's: it notes the signal at once, even while an apply holds
        # the loop, so that an answer that comes right after it is known to have been interrupted.
        CURRENT.set(scope)
        main = asyncio.current_task()
        assert main is not None
        scope.watch(main)
        loop = asyncio.get_running_loop()

        def on_signal(signum: int, frame: Any) -> None:
            interrupted.append(signum)
            loop.call_soon_threadsafe(scope.cancel)

        old: dict[int, Any] = {}
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                old[sig] = signal.signal(sig, on_signal)
            except ValueError:  # not the main thread (the MCP server's and AsyncClient's workers)
                break
        try:
            await answer_all()
        finally:
            for number, handler in old.items():
                signal.signal(number, handler)

    async def answer_all() -> None:
        recorder = None
        if config.trace_file is not None:
            from lanser.trace import TraceRecorder

            recorder = TraceRecorder(config.trace_file)
        try:
            orch = Orchestrator(
                config.workspace,
                timeout=config.timeout,
                python=config.python,
                verbose=config.verbose,
                recorder=recorder,
                cache=config.cache,
            )
        except LanserError as exc:
            out.extend(_refused(raw, exc) for raw in requests)
            return
        async with orch:
            async with contextlib.aclosing(answer_batch(orch, requests, window=config.window)) as answers:
                async for answer in answers:
                    out.append(answer.bundle)
                    if interrupted:
                        _note_interrupted(out[-1])
                        break
                    scope.delivered()
            scope.forget()  # closing the servers is not cancelled
        if recorder is not None:
            recorder.close()

    try:
        asyncio.run(go())
    except (KeyboardInterrupt, asyncio.CancelledError):
        pass
    return out + [_cancelled(raw) for raw in requests[len(out) :]]
