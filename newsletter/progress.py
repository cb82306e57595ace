"""Progress of long commands: a bar with rate and ETA on a terminal, plain lines elsewhere.

``with progress(total, "importing") as step: ... step(n)`` — on a terminal (stderr is a TTY)
click's progress bar with the percentage, the rate and the ETA; in cron or CI logs, where a bar
would be a mess of carriage returns, one plain line every ``every`` seconds and a last line at
the end. Short work shows nothing: fewer than ``min_items`` items, or (plain lines) finished
before the first line was due. Output goes to stderr, so a command's own result on stdout stays
machine-readable.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import IO, TextIO, cast

import click

MIN_ITEMS = 20
EVERY = 10.0  # seconds between two plain lines
REDRAW = 0.1  # seconds between two drawings of the bar on a terminal


def _duration(seconds: float) -> str:
    seconds = max(0, round(seconds))
    if seconds < 60:
        return f"{seconds}s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}m{seconds:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


class _Plain:
    """Periodic ``label: done/total (pct%), rate/s, ETA ...`` lines for logs."""

    def __init__(
        self, total: int, label: str, stream: IO[str], every: float, clock: Callable[[], float]
    ) -> None:
        self.total, self.label, self.stream, self.every, self.clock = (
            total,
            label,
            stream,
            every,
            clock,
        )
        self.done = 0
        self.started = clock()
        self.next_line = self.started + every
        self.printed = False

    def line(self, final: bool = False) -> str:
        elapsed = max(self.clock() - self.started, 1e-9)
        rate = self.done / elapsed
        if final:
            return f"{self.label}: {self.done} in {_duration(elapsed)} ({rate:.0f}/s)"
        percent = 100 * self.done / self.total if self.total else 100.0
        eta = (self.total - self.done) / rate if rate > 0 else 0.0
        return (
            f"{self.label}: {self.done}/{self.total} ({percent:.0f}%), {rate:.0f}/s, "
            f"ETA {_duration(eta)}"
        )

    def step(self, n: int = 1) -> None:
        self.done += n
        now = self.clock()
        if now >= self.next_line:
            print(self.line(), file=self.stream, flush=True)
            self.printed = True
            self.next_line = now + self.every

    def finish(self) -> None:
        if self.printed:
            print(self.line(final=True), file=self.stream, flush=True)


@contextmanager
def progress(
    total: int,
    label: str,
    *,
    stream: IO[str] | None = None,
    every: float | None = None,
    min_items: int = MIN_ITEMS,
    clock: Callable[[], float] = time.monotonic,
) -> Iterator[Callable[[int], None]]:
    """Yields ``step(n=1)``: call it as items are done."""
    out = stream if stream is not None else sys.stderr
    if total < min_items:

        def nothing(n: int = 1) -> None:
            pass

        yield nothing
        return
    if out.isatty():
        started = clock()
        done = [0]

        def rate(_item: object) -> str:
            elapsed = clock() - started
            return f"{done[0] / elapsed:.0f}/s" if elapsed > 0 else ""

        drawn, drawn_at = [0], [started]  # items on the bar, when it was last drawn

        with click.progressbar(
            length=total,
            label=label,
            file=cast(TextIO, out),
            show_eta=True,
            show_percent=True,
            item_show_func=rate,
        ) as bar:

            def step(n: int = 1) -> None:
                # Drawn at most every REDRAW seconds: the sender reports every few messages,
                # and redrawing each time wrote 200 KB to the terminal for 30,000 mails.
                done[0] += n
                now = clock()
                if now - drawn_at[0] >= REDRAW:
                    bar.update(done[0] - drawn[0], current_item=done[0])
                    drawn[0], drawn_at[0] = done[0], now

            yield step
            if done[0] > drawn[0]:
                bar.update(done[0] - drawn[0], current_item=done[0])
        return
    plain = _Plain(total, label, out, EVERY if every is None else every, clock)
    yield plain.step
    plain.finish()
