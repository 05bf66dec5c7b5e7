"""The progress of `lanser bench run`: a redrawn bar on a terminal, plain lines elsewhere."""

from __future__ import annotations

import io

from lanser.cli.progress import ProgressBar


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_plain_lines_when_not_a_terminal() -> None:
    out, clock = io.StringIO(), Clock()
    bar = ProgressBar(4, stream=out, tty=False, clock=clock)
    bar.update(1, 4, "a", "done before, skipped")
    clock.now += 10
    bar.update(2, 4, "b", "resolved (reward 0.8, 9.0s)")
    clock.now += 10
    bar.update(3, 4, "c", "tests_failed (reward 0.0, 9.5s)")
    bar.close()
    assert out.getvalue().splitlines() == [
        "[1/4] a: done before, skipped  (0 passed, 0 failed, 1 done before, elapsed 0:00)",
        "[2/4] b: resolved (reward 0.8, 9.0s)  (1 passed, 0 failed, 1 done before, elapsed 0:10, eta 0:20)",
        "[3/4] c: tests_failed (reward 0.0, 9.5s)  (1 passed, 1 failed, 1 done before, elapsed 0:20, eta 0:10)",
    ]
    assert "\r" not in out.getvalue()


def test_bar_is_redrawn_in_place_on_a_terminal_and_notices_do_not_overwrite_it() -> None:
    out, clock = io.StringIO(), Clock()
    bar = ProgressBar(2, stream=out, tty=True, clock=clock, width=200, tick=None)
    clock.now += 65
    bar.update(1, 2, "toy/a", "infra_error (reward 0, 1.0s)")
    bar.echo("toy/a: attempt 1 failed; retrying (2/3)")
    clock.now += 5
    bar.update(2, 2, "toy/a", "resolved (reward 1.0, 2.0s)")
    bar.close()
    frames = out.getvalue().split("\r\x1b[2K")
    assert frames[0] == ""
    assert frames[1] == "[--------------------] 0/2  0 passed, 0 failed, elapsed 0:00"
    assert frames[2] == (
        "[##########----------] 1/2  0 passed, 0 failed, 1 infra errors, elapsed 1:05, eta 1:05  "
        "toy/a: infra_error (reward 0, 1.0s)"
    )
    assert frames[3] == "toy/a: attempt 1 failed; retrying (2/3)\n"
    assert frames[-1] == (
        "[####################] 2/2  1 passed, 0 failed, 1 infra errors, elapsed 1:10  "
        "toy/a: resolved (reward 1.0, 2.0s)\n"
    )


def test_long_lines_are_cut_to_the_terminal() -> None:
    out = io.StringIO()
    bar = ProgressBar(1, stream=out, tty=True, clock=Clock(), width=40, tick=None)
    bar.update(1, 1, "x" * 80, "resolved")
    last = out.getvalue().split("\r\x1b[2K")[-1]
    assert len(last) == 39 and last.endswith("…")


def test_the_clock_moves_between_tasks_on_a_terminal() -> None:
    """A kernel task runs for minutes: elapsed time must not stand still until it ends."""
    import threading

    drawn = threading.Event()

    class Stream(io.StringIO):
        def flush(self) -> None:
            if self.getvalue().count("\r") >= 2:
                drawn.set()

    out, clock = Stream(), Clock()
    bar = ProgressBar(3, stream=out, tty=True, clock=clock, width=200, tick=0.01)
    clock.now += 7
    assert drawn.wait(30), "the ticker never redrew"
    bar.close()
    assert "elapsed 0:07" in out.getvalue()


def test_reused_attempts_count_by_outcome_and_take_no_time_in_the_eta() -> None:
    out, clock = io.StringIO(), Clock()
    bar = ProgressBar(3, stream=out, tty=False, clock=clock)
    bar.update(1, 3, "a #1", "resolved (reused from run first)")
    clock.now += 10
    bar.update(2, 3, "a #2", "tests_failed (reward 0.0, 10.0s)")
    assert out.getvalue().splitlines() == [
        "[1/3] a #1: resolved (reused from run first)  (1 passed, 0 failed, 1 reused, elapsed 0:00)",
        "[2/3] a #2: tests_failed (reward 0.0, 10.0s)  (1 passed, 1 failed, 1 reused, elapsed 0:10, eta 0:10)",
    ]
