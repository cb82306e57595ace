"""The sender's count of claimed-but-unrecorded rows: waiting for zero ends early on stop."""

from __future__ import annotations

import threading
import time

from newsletter.delivery.sender import _Counter


def test_wait_zero_returns_when_the_count_reaches_zero() -> None:
    counter = _Counter()
    counter.add(2)
    threading.Timer(0.05, counter.add, args=(-2,)).start()
    started = time.monotonic()
    counter.wait_zero(threading.Event())
    assert time.monotonic() - started < 2


def test_wait_zero_returns_when_an_event_is_set_although_rows_are_outstanding() -> None:
    counter = _Counter()
    counter.add(1)  # a row whose result will never be recorded (a stuck relay session)
    stop = threading.Event()
    waiter = threading.Thread(target=counter.wait_zero, args=(threading.Event(), stop))
    waiter.start()
    time.sleep(0.05)
    assert waiter.is_alive()  # still waiting: nothing recorded, nothing set
    stop.set()
    waiter.join(2)
    assert not waiter.is_alive()
