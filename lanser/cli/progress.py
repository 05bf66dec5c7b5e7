"""The progress of ``lanser bench run`` on stderr: a bar on a terminal, plain lines elsewhere.

On a terminal one line is redrawn in place::

    [########------------] 4/10  3 passed, 1 failed, elapsed 0:42, eta 1:03  toy-c/reverse: resolved

Elsewhere (a log file, CI) every finished task is one line with the same
counts, and nothing is redrawn.  On a terminal the line is also redrawn
every ``tick`` seconds (a daemon thread), so elapsed time and ETA move
while a long task (a kernel build) runs.  Outcomes come from the harness's progress
callback ``(i, n, task_id, line)``, whose line starts with the verdict's
outcome (``resolved``, ``tests_failed``, ``infra_error``, ...) or says the
task was done before; a task whose line says ``(reused from run R)`` is counted by its outcome
and as reused (it took no time).  The clock and the stream are injectable, so tests
render exact text.
"""

from __future__ import annotations

import shutil
import sys
import threading
import time
from collections.abc import Callable
from typing import TextIO

__all__ = ["ProgressBar"]

WIDTH = 20


def _clock(seconds: float) -> str:
    seconds = int(round(seconds))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


class ProgressBar:
    """Counts finished tasks by outcome and renders them; call :meth:`close` at the end."""

    def __init__(
        self,
        total: int,
        *,
        stream: TextIO | None = None,
        tty: bool | None = None,
        clock: Callable[[], float] = time.monotonic,
        width: int | None = None,
        tick: float | None = 1.0,
    ) -> None:
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty() if tty is None else tty
        self.clock = clock
        self.width = width
        self.total = total
        self.started = clock()
        self.done = self.passed = self.failed = self.infra = self.skipped = self.reused = 0
        self.last = ""
        self._drawn = False
        self._lock = threading.Lock()
        self._stop = threading.Event()
        if self.tty and total:
            self._draw()
            if tick:
                threading.Thread(target=self._tick, args=(tick,), name="lanser-progress", daemon=True).start()

    def update(self, i: int, n: int, task_id: str, line: str) -> None:
        """The harness's progress callback: task ``task_id`` (``i`` of ``n``) ended with ``line``."""
        self.total = n
        self.done += 1
        outcome = line.split(" ", 1)[0] if line else ""
        if "(reused from " in line:
            self.reused += 1
        if line.startswith("done before"):
            self.skipped += 1
        elif outcome == "resolved":
            self.passed += 1
        elif outcome == "infra_error":
            self.infra += 1
        else:
            self.failed += 1
        self.last = f"{task_id}: {line}"
        with self._lock:
            if self.tty:
                self._draw()
            else:
                self.stream.write(f"[{self.done}/{self.total}] {self.last}  ({self._counts()})\n")
                self.stream.flush()

    def echo(self, message: str) -> None:
        """A message (a retry notice, say) that must not be drawn over."""
        with self._lock:
            if self.tty and self._drawn:
                self.stream.write("\r\x1b[2K")
            self.stream.write(message + "\n")
            if self.tty and self.total:
                self._draw()
            self.stream.flush()

    def close(self) -> None:
        self._stop.set()
        with self._lock:
            if self.tty and self._drawn:
                self.stream.write("\n")
                self.stream.flush()
                self._drawn = False

    def _tick(self, every: float) -> None:
        while not self._stop.wait(every):
            with self._lock:
                if self._stop.is_set():
                    return
                self._draw()

    # -- rendering ---------------------------------------------------------------

    def _counts(self) -> str:
        parts = [f"{self.passed} passed", f"{self.failed} failed"]
        if self.infra:
            parts.append(f"{self.infra} infra errors")
        if self.skipped:
            parts.append(f"{self.skipped} done before")
        if self.reused:
            parts.append(f"{self.reused} reused")
        parts.append(f"elapsed {_clock(self.clock() - self.started)}")
        eta = self._eta()
        if eta is not None:
            parts.append(f"eta {_clock(eta)}")
        return ", ".join(parts)

    def _eta(self) -> float | None:
        ran = self.done - self.skipped - self.reused
        left = self.total - self.done
        if ran <= 0 or left <= 0:
            return None
        return (self.clock() - self.started) / ran * left

    def _draw(self) -> None:
        filled = WIDTH * self.done // self.total if self.total else WIDTH
        bar = "#" * filled + "-" * (WIDTH - filled)
        text = f"[{bar}] {self.done}/{self.total}  {self._counts()}"
        if self.last:
            text += f"  {self.last}"
        width = self.width or shutil.get_terminal_size((100, 24)).columns
        if len(text) > width - 1:
            text = text[: max(width - 2, 0)] + "…"
        self.stream.write("\r\x1b[2K" + text)
        self.stream.flush()
        self._drawn = True
