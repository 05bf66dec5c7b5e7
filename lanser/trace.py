"""Record and replay: a run's Requests, JSON-RPC frames and Bundles as JSONL.

Events, one JSON object per line (schema: ``schemas/trace-event.schema.json``)::

    {"event": "header", "lanser", "workspace": {"snapshot"}, "interpreter", "options"}
    {"event": "request", "seq", "request", "snapshot"}
    {"event": "spawn", "server": {"name", "version", "languages", "needsIndex"}}
    {"event": "frame", "server", "dir": "in" | "out", "message"}
    {"event": "bundle", "seq", "bundle"}

Frames are stored with machine-specific strings replaced by placeholders
(the workspace root, the typeshed / site-packages / stdlib / clang roots,
the client's process id), so a trace replays in another directory.

Replay runs the same Orchestrator with a :class:`ReplayTransport` per
server: each frame lanser writes is checked against the next recorded one
(method and id), then the server frames that followed it are fed back.  No
server runs.  The regenerated bundles must equal the recorded ones byte for
byte; any divergence is E/REPLAY_MISMATCH (76).
"""

from __future__ import annotations

import asyncio
import json
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from lanser import __version__
from lanser.bundle.environment import Interpreter
from lanser.errors import LanserError, ReplayMismatch
from lanser.lsp.registry import ServerSpec
from lanser.lsp.transport import Channel

__all__ = ["ReplayTransport", "TraceRecorder", "entries", "read_trace", "replay", "reward_series"]

FAKE_ROOT = "/nonexistent/lanser-replay"


class _Redactor:
    """Machine-specific strings <-> placeholders, longest first."""

    def __init__(self, root: Path, roots: list[tuple[str, Path]]) -> None:
        pairs: list[tuple[str, str]] = []
        for label, path in [("workspace", root), *roots]:
            placeholder = "${" + label + "}"
            pairs.append((path.as_uri(), "${uri:" + label + "}"))
            pairs.append((str(path), placeholder))
        self.pairs = sorted(pairs, key=lambda p: -len(p[0]))

    def redact(self, value: Any) -> Any:
        return _map_strings(value, self._out)

    def restore(self, value: Any) -> Any:
        return _map_strings(value, self._in)

    def _out(self, s: str) -> str:
        for real, placeholder in self.pairs:
            if real in s:
                s = s.replace(real, placeholder)
        return s

    def _in(self, s: str) -> str:
        if "${" not in s:
            return s
        for real, placeholder in self.pairs:
            s = s.replace(placeholder, real)
        return s


def _map_strings(value: Any, fn: Any) -> Any:
    if isinstance(value, str):
        return fn(value)
    if isinstance(value, list):
        return [_map_strings(v, fn) for v in value]
    if isinstance(value, dict):
        return {fn(k): _map_strings(v, fn) for k, v in value.items()}
    return value


class TraceRecorder:
    """Writes trace events to a JSONL file as the orchestrator works."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fh: IO[str] = open(path, "w", encoding="utf-8")
        self._seq = 0
        self._redactor: _Redactor | None = None
        self._spawned: set[int] = set()

    def _write(self, event: dict[str, Any]) -> None:
        self._fh.write(json.dumps(event, sort_keys=True, ensure_ascii=False) + "\n")
        self._fh.flush()

    def request(self, orch: Any, request: Any, snapshot: str) -> None:
        if self._redactor is None:
            self._redactor = _Redactor(orch.root, orch.roots)
            interp = orch.interpreter
            self._write({
                "event": "header",
                "lanser": __version__,
                "workspace": {"snapshot": snapshot, "path": str(orch.root)},
                "interpreter": {"version": interp.version, "implementation": interp.implementation},
                "roots": [label for label, _ in orch.roots],
                "options": {"timeout": orch.timeout, "verbose": orch.verbose},
            })
        self._seq += 1
        self._write({"event": "request", "seq": self._seq, "request": request.model_dump(mode="json"),
                     "snapshot": snapshot})

    def bundle(self, data: dict[str, Any]) -> None:
        self._write({"event": "bundle", "seq": self._seq, "bundle": data})

    def spawn(self, spec: ServerSpec) -> None:
        self._write({"event": "spawn", "server": {"name": spec.name, "version": spec.version,
                                                   "languages": list(spec.languages),
                                                   "needsIndex": spec.needs_index}})

    def frame(self, server: str, direction: str, message: dict[str, Any]) -> None:
        if direction == "out" and message.get("method") == "initialize":
            params = message.get("params") or {}
            params["processId"] = None
        redacted = self._redactor.redact(message) if self._redactor else message
        self._write({"event": "frame", "server": server, "dir": direction, "message": redacted})

    def close(self) -> None:
        self._fh.close()


def read_trace(path: Path) -> list[dict[str, Any]]:
    events = []
    with open(path, encoding="utf-8") as fh:
        for n, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                event = json.loads(line)
            except ValueError as exc:
                raise ReplayMismatch(f"{path}:{n}: not a JSON line: {exc}", line=n) from None
            if not isinstance(event, dict) or "event" not in event:
                raise ReplayMismatch(f"{path}:{n}: not a trace event", line=n)
            events.append(event)
    return events


# -- replay ---------------------------------------------------------------------


class _ReplayProcess:
    pid = 0

    def __init__(self, reader: asyncio.StreamReader) -> None:
        self.returncode: int | None = None
        self.stderr_tail: deque[str] = deque(maxlen=40)
        self.failure: LanserError | None = None
        self._reader = reader
        self._exited = asyncio.Event()

    async def wait(self) -> int:
        await self._exited.wait()
        return self.returncode or 0

    def exit(self, code: int, failure: LanserError | None = None) -> None:
        if self.returncode is None:
            self.returncode = code
            self.failure = failure
            self._reader.feed_eof()
            self._exited.set()

    def kill(self) -> None:
        self.exit(-9)

    async def close(self) -> None:
        self.kill()


class _ReplayWriter:
    def __init__(self, frames: list[tuple[str, dict[str, Any]]], reader: asyncio.StreamReader,
                 process: _ReplayProcess, server: str) -> None:
        self.frames, self.reader, self.process, self.server = frames, reader, process, server
        self.i = 0
        self.pump()

    def pump(self) -> None:
        while self.i < len(self.frames) and self.frames[self.i][0] == "in":
            body = json.dumps(self.frames[self.i][1]).encode()
            self.reader.feed_data(b"Content-Length: %d\r\n\r\n" % len(body) + body)
            self.i += 1

    def write(self, data: bytes) -> None:
        if self.process.returncode is not None:
            return
        message = json.loads(data.partition(b"\r\n\r\n")[2])
        if self.i >= len(self.frames):
            self._beyond(message)
            return
        expected = self.frames[self.i][1]
        if (expected.get("method"), expected.get("id")) != (message.get("method"), message.get("id")):
            self.process.exit(1, ReplayMismatch(
                f"{self.server}: the trace has {_describe(expected)} next, lanser sent {_describe(message)}",
                server=self.server, expected=_describe(expected), got=_describe(message)))
            return
        self.i += 1
        self.pump()

    def _beyond(self, message: dict[str, Any]) -> None:
        """After the recorded frames: let lanser shut the replayed server down."""
        if message.get("method") == "shutdown":
            body = json.dumps({"jsonrpc": "2.0", "id": message.get("id"), "result": None}).encode()
            self.reader.feed_data(b"Content-Length: %d\r\n\r\n" % len(body) + body)
        elif message.get("method") == "exit":
            self.process.exit(0)
        elif "id" in message and "method" in message:
            self.process.exit(1, ReplayMismatch(
                f"{self.server}: lanser sent {_describe(message)} after the end of the trace",
                server=self.server, got=_describe(message)))

    def close(self) -> None:
        self.process.exit(0)


def _describe(message: dict[str, Any]) -> str:
    if "method" in message:
        kind = "request" if "id" in message else "notification"
        return f"{kind} {message['method']}" + (f" #{message['id']}" if "id" in message else "")
    return f"response #{message.get('id')}"


@dataclass
class ReplayTransport:
    """Answers one server's sessions from its recorded incarnations, in order."""

    server: str
    incarnations: deque[list[tuple[str, dict[str, Any]]]] = field(default_factory=deque)

    async def open(self, spec: ServerSpec, cwd: str, env: dict[str, str] | None) -> Channel:
        frames = self.incarnations.popleft() if self.incarnations else []
        reader = asyncio.StreamReader(limit=1 << 26)
        process = _ReplayProcess(reader)
        writer = _ReplayWriter(frames, reader, process, self.server)
        if not frames:
            process.exit(1, ReplayMismatch(f"the trace never started {self.server} (again)", server=self.server))
        return Channel(reader, writer, process)


@dataclass
class ReplayResult:
    seq: int
    request: dict[str, Any]
    recorded: dict[str, Any]
    replayed: dict[str, Any]

    @property
    def match(self) -> bool:
        """Byte-identical, but for ``environment.host`` (this machine's paths, by design)."""
        return _render(self.recorded) == _render(self.replayed)


def _render(data: dict[str, Any]) -> str:
    data = json.loads(json.dumps(data))
    (data.get("environment") or {}).pop("host", None)
    (data.get("meta") or {}).pop("timing", None)
    return json.dumps(data, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def _pairs(events: list[dict[str, Any]]) -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
    pending: dict[int, dict[str, Any]] = {}
    for e in events:
        if e["event"] == "request":
            pending[e["seq"]] = e
        elif e["event"] == "bundle" and e["seq"] in pending:
            yield pending.pop(e["seq"]), e


async def replay(path: Path, workspace: Path, *, verify: bool = False) -> list[ReplayResult]:
    """Regenerate every recorded bundle of the trace at ``path`` against ``workspace``."""
    from lanser.bundle.models import Request
    from lanser.orchestrator import Orchestrator
    from lanser.snapshot import SnapshotTracker
    from lanser.workspace import Workspace

    events = read_trace(path)
    header = next((e for e in events if e["event"] == "header"), None)
    if header is None:
        raise ReplayMismatch(f"{path}: no header event: not a lanser trace")
    if verify:
        now = SnapshotTracker(Workspace(workspace)).take().digest
        if now != header["workspace"]["snapshot"]:
            raise ReplayMismatch("the workspace is not the snapshot the trace was recorded on",
                                 recorded=header["workspace"]["snapshot"], current=now)
    specs: dict[str, ServerSpec] = {}
    transports: dict[str, ReplayTransport] = {}
    current: dict[str, list[tuple[str, dict[str, Any]]]] = {}
    for e in events:
        if e["event"] == "spawn":
            s = e["server"]
            spec = ServerSpec(name=s["name"], version=s["version"], languages=tuple(s["languages"]), command=(),
                              needs_index=bool(s["needsIndex"]))
            for lang in spec.languages:
                specs[lang] = spec
            frames: list[tuple[str, dict[str, Any]]] = []
            transports.setdefault(spec.name, ReplayTransport(spec.name)).incarnations.append(frames)
            current[spec.name] = frames
        elif e["event"] == "frame" and e["server"] in current:
            current[e["server"]].append((e["dir"], e["message"]))

    roots = [(label, Path(FAKE_ROOT) / label) for label in header.get("roots", [])]
    interp = header.get("interpreter", {})
    interpreter = Interpreter(f"{FAKE_ROOT}/python", interp.get("version", "unknown"),
                              interp.get("implementation", "unknown"), f"{FAKE_ROOT}/prefix", "", "")

    def spec_for(language: str) -> ServerSpec:
        if language not in specs:
            raise ReplayMismatch(f"the trace has no {language} server")
        return specs[language]

    options = header.get("options", {})
    orch = Orchestrator(workspace, timeout=float(options.get("timeout", 30.0)),
                        verbose=bool(options.get("verbose", False)), cache=False, interpreter=interpreter,
                        roots=roots, specs=spec_for, transport_for=lambda spec: transports[spec.name])
    redactor = _Redactor(orch.root, roots)
    for t in transports.values():
        for frames in t.incarnations:
            frames[:] = [(d, redactor.restore(m)) for d, m in frames]
    results = []
    async with orch:
        for req_event, bundle_event in _pairs(events):
            request = Request.model_validate(req_event["request"])
            data = await orch.run(request)
            results.append(ReplayResult(req_event["seq"], req_event["request"], bundle_event["bundle"], data))
    return results


def entries(path: Path) -> list[dict[str, Any]]:
    """The requests of a trace with their recorded bundles, in order."""
    out = []
    for req, bun in _pairs(read_trace(path)):
        b = bun["bundle"]
        out.append({"seq": req["seq"], "cmd": req["request"].get("cmd"), "selector": req["request"].get("selector"),
                    "status": b.get("status"), "exitCode": (b.get("meta") or {}).get("exit_code", 0),
                    "bundleId": b.get("bundleId"), "bundle": b})
    return out


def reward_series(path: Path) -> list[dict[str, Any]]:
    """Every recorded process reward of a trace, recomputed from its components and checked."""
    from lanser.reward import Weights, process_reward

    rows = []
    for e in entries(path):
        pr = e["bundle"].get("processReward")
        if not pr:
            continue
        c = pr["components"]
        again = process_reward(c["d_prev"], c["d_now"], bool(c["safety"]), c["alpha_conf"], Weights(**pr["weights"]))
        rows.append({"seq": e["seq"], "cmd": e["cmd"], "selector": e["selector"], "r": pr["r"], "components": c,
                     "consistent": again["r"] == pr["r"]})
    return rows
