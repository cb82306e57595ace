"""The shared progress helper: a bar with rate and ETA on a terminal, plain lines in logs."""

from __future__ import annotations

import io

from newsletter.progress import progress


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_on_a_terminal_a_bar_with_percent_rate_and_eta() -> None:
    terminal = Terminal()
    clock = Clock()
    with progress(1000, "sending", stream=terminal, clock=clock) as step:
        for _ in range(10):
            clock.now += 1
            step(100)
    shown = terminal.getvalue()
    assert "sending" in shown
    assert "100%" in shown
    assert "100/s" in shown  # 1000 items in 10 s
    assert "\r" in shown  # redrawn in place, as a bar


def test_a_terminal_bar_is_redrawn_ten_times_a_second_at_most() -> None:
    terminal = Terminal()
    clock = Clock()
    with progress(10_000, "sending", stream=terminal, clock=clock) as step:
        for _ in range(10_000):  # 10,000 steps in one second
            clock.now += 0.0001
            step(1)
    shown = terminal.getvalue()
    assert shown.count("\r") <= 15  # the first and last drawings, and ~10 in between
    assert "100%" in shown
    assert "10000/s" in shown


def test_in_logs_plain_periodic_lines_and_a_last_one() -> None:
    log = io.StringIO()
    clock = Clock()
    with progress(1000, "sending", stream=log, every=10, clock=clock) as step:
        for _ in range(40):
            clock.now += 1
            step(25)
    lines = log.getvalue().splitlines()
    assert "\r" not in log.getvalue()
    assert lines[0] == "sending: 250/1000 (25%), 25/s, ETA 30s"
    assert lines[1] == "sending: 500/1000 (50%), 25/s, ETA 20s"
    assert lines[-1] == "sending: 1000 in 40s (25/s)"
    assert len(lines) == 5


def test_quick_or_small_work_prints_nothing() -> None:
    log, terminal, clock = io.StringIO(), Terminal(), Clock()
    with progress(1000, "sending", stream=log, every=10, clock=clock) as step:
        step(1000)  # done before the first line was due
    with progress(5, "sending", stream=terminal, clock=clock) as step:
        step(5)  # under min_items
    assert log.getvalue() == ""
    assert terminal.getvalue() == ""
