"""A minimal Chat Completions client (stdlib urllib): timeouts, retries with backoff, raw errors kept.

Retried: HTTP 429 and 5xx, connection errors and timeouts, with the delays
of :func:`backoff_schedule` (``Retry-After`` wins when the server sends one,
capped).  Not retried: other 4xx; a context-length error is raised as
:class:`ContextOverflow` so the agent can shrink its history.  When the
retries run out the error is :class:`EndpointDown`, an infrastructure
failure (the attempt ends ``infra_error``, not counted against the model).
"""

from __future__ import annotations

import http.client
import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

__all__ = ["ChatClient", "ChatError", "ContextOverflow", "EndpointDown", "Reply", "backoff_schedule"]


class ChatError(Exception):
    """The endpoint refused a request for a reason retries do not fix (a 4xx)."""

    def __init__(self, message: str, *, status: int | None = None, raw: str = "") -> None:
        super().__init__(message)
        self.status, self.raw = status, raw


class ContextOverflow(ChatError):
    """The request is longer than the model's context window."""


class EndpointDown(ChatError):
    """Every try failed with 429/5xx/timeout/connection errors: the endpoint is not serving."""

    def __init__(
        self, message: str, *, status: int | None = None, raw: str = "", tries: list[dict[str, Any]] | None = None
    ) -> None:
        super().__init__(message, status=status, raw=raw)
        self.tries = tries or []


def backoff_schedule(retries: int, base: float = 1.0, factor: float = 2.0, cap: float = 30.0) -> list[float]:
    """The delays slept before each retry: base, base*factor, ... each at most ``cap``.
    Deterministic (no jitter): runs are reproducible and one agent per worker does not stampede."""
    return [min(cap, base * factor**i) for i in range(retries)]


@dataclass
class Reply:
    body: dict[str, Any]
    latency_s: float
    tries: list[dict[str, Any]] = field(default_factory=list)


_OVERFLOW_MARKERS = (
    "context_length_exceeded",
    "maximum context length",
    "context length",
    "too many tokens",
    "prompt is too long",
    "exceeds the context",
)


def _is_overflow(status: int, raw: str) -> bool:
    low = raw.lower()
    return status in (400, 413) and any(m in low for m in _OVERFLOW_MARKERS)


class ChatClient:
    def __init__(
        self,
        base_url: str,
        api_key: str | None = None,
        *,
        timeout: float = 120.0,
        retries: int = 4,
        backoff_base: float = 1.0,
        backoff_cap: float = 30.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.url = base_url.rstrip("/") + "/chat/completions"
        self.api_key = api_key
        self.timeout = timeout
        self.delays = backoff_schedule(retries, backoff_base, cap=backoff_cap)
        self.cap = backoff_cap
        self.sleep = sleep

    def complete(self, payload: dict[str, Any]) -> Reply:
        data = json.dumps(payload).encode()
        headers = {"Content-Type": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        tries: list[dict[str, Any]] = []
        for attempt in range(len(self.delays) + 1):
            started = time.monotonic()
            status: int | None = None
            retry_after: float | None = None
            try:
                req = urllib.request.Request(self.url, data=data, headers=headers, method="POST")
                with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                    raw = resp.read().decode("utf-8", "replace")
                latency = time.monotonic() - started
                try:
                    body = json.loads(raw)
                except ValueError:
                    tries.append({"error": "response is not JSON", "raw": raw[:2000]})
                    raise ChatError(
                        "the endpoint answered something that is not JSON", status=200, raw=raw[:2000]
                    ) from None
                if not isinstance(body, dict) or not body.get("choices"):
                    raise ChatError("the endpoint's answer has no choices", status=200, raw=raw[:2000])
                return Reply(body, latency, tries)
            except urllib.error.HTTPError as exc:
                status = exc.code
                raw = exc.read().decode("utf-8", "replace")[:4000]
                if _is_overflow(status, raw):
                    raise ContextOverflow(
                        "the request exceeds the model's context window", status=status, raw=raw
                    ) from None
                if status != 429 and status < 500:
                    raise ChatError(
                        f"the endpoint refused the request: HTTP {status}", status=status, raw=raw
                    ) from None
                ra = exc.headers.get("Retry-After") if exc.headers else None
                if ra and ra.strip().isdigit():
                    retry_after = float(ra.strip())
                tries.append({"status": status, "raw": raw})
            except (urllib.error.URLError, TimeoutError, ConnectionError, http.client.HTTPException) as exc:
                reason = getattr(exc, "reason", exc)
                tries.append({"error": f"{type(exc).__name__}: {reason}"})
            if attempt < len(self.delays):
                delay = self.delays[attempt]
                if retry_after is not None:
                    delay = min(max(delay, retry_after), self.cap)
                self.sleep(delay)
        last = tries[-1] if tries else {}
        what = f"HTTP {last['status']}" if "status" in last else last.get("error", "no answer")
        raise EndpointDown(
            f"the model endpoint {self.url} failed {len(tries)} times (last: {what})",
            status=last.get("status"),
            raw=str(last.get("raw", last.get("error", ""))),
            tries=tries,
        )
