"""The channel sender: the outbox rows that are not e-mail (Web Push, Telegram).

Same outbox, same guarantees as mail: rows are claimed with a lease (a crashed sender's rows
come back when it expires), each result is recorded right after the remote service answered
(at-least-once with a window of the rows in flight), temporary failures retry with the outbox's
backoff (never earlier than a ``Retry-After`` the service asked for), permanent ones never.

Each kind has a messenger, registered by its domain (``hooks.register_messenger``): a function
from a :class:`ChannelRow` to a :class:`ChannelResult`. Messengers run on a small thread pool;
a dispatcher gives each remote host at most half of the pool, so one slow push service cannot
hold up the others.
"""

from __future__ import annotations

import enum
import logging
import os
import socket
import threading
import time
from collections import Counter, deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Protocol

import sqlalchemy as sa
from flask import Flask

from newsletter.db import utcnow
from newsletter.delivery import store
from newsletter.delivery.models import Delivery, DeliveryStatus
from newsletter.extensions import db
from newsletter.hooks import registry

log = logging.getLogger(__name__)
delivery_t: sa.Table = Delivery.__table__


class ChannelOutcome(enum.StrEnum):
    SENT = "sent"
    RETRY = "retry"  # temporary: 429, 5xx, a timeout, a dropped connection
    FAILED = "failed"  # permanent: the service refused this message (400, 413, 403)
    GONE = "gone"  # the recipient no longer exists (push 404/410): never again
    LATER = "later"  # not attempted (a channel's own pace): due again after ``retry_after``
    DROPPED = "dropped"  # not attempted, never will be: moot (an alert that has expired)


@dataclass(frozen=True)
class ChannelResult:
    outcome: ChannelOutcome
    detail: str = ""
    retry_after: float | None = None  # seconds the service asked us to wait


@dataclass(frozen=True)
class ChannelRow:
    id: int
    kind: str
    target: str
    payload: dict[str, Any]
    attempts: int


class Messenger(Protocol):
    def __call__(self, row: ChannelRow) -> ChannelResult: ...


@dataclass
class ChannelReport:
    sent: int = 0
    retried: int = 0
    failed: int = 0
    dropped: int = 0  # moot, never attempted (an expired alert, a row deleted under us)
    by_kind: Counter[str] = field(default_factory=Counter)

    def summary(self) -> str:
        text = f"channels: {self.sent} sent, {self.retried} to retry, {self.failed} failed"
        return text + (f", {self.dropped} dropped" if self.dropped else "")


def host_of(row: ChannelRow) -> str:
    """What the dispatcher spreads the pool over: the push service's host, the chat."""
    return str(row.payload.get("host") or row.target)


class ChannelSender:
    def __init__(self, app: Flask, *, name: str | None = None) -> None:
        cfg = app.config
        self.app = app
        self.config = cfg
        self.messengers = dict(registry(app).messengers)
        self.lane = store.Lane(only=frozenset(self.messengers))
        self.name = name or f"{socket.gethostname()}:{os.getpid()}:channels"
        self.workers = max(1, int(cfg.get("CHANNEL_CONCURRENCY", 8)))
        self.per_host = max(1, self.workers // 2)
        self.batch_size = max(1, int(cfg.get("CHANNEL_BATCH_SIZE", 200)))
        self.lease_seconds = float(cfg["SEND_LEASE_SECONDS"])
        self.schedule: tuple[float, ...] = tuple(cfg["RETRY_SCHEDULE_SECONDS"])
        self.give_up = timedelta(seconds=float(cfg["RETRY_GIVE_UP"]))
        self.idle_seconds = float(cfg.get("SEND_IDLE_SECONDS", 2.0))
        self.max_unrecorded = max(1, int(cfg.get("CHANNEL_MAX_UNRECORDED", 2 * self.workers)))

    def _rows(self, claimed: list[store.Claimed]) -> list[tuple[store.Claimed, ChannelRow]]:
        by_id = {c.id: c for c in claimed}
        with db.engine.connect() as conn:
            found = conn.execute(
                sa.select(
                    delivery_t.c.id, delivery_t.c.kind, delivery_t.c.target, delivery_t.c.payload
                ).where(delivery_t.c.id.in_(list(by_id)))
            ).all()
        position = {c.id: n for n, c in enumerate(claimed)}  # priority rows first, as claimed
        return [
            (
                by_id[r.id],
                ChannelRow(
                    r.id, str(r.kind), r.target or "", dict(r.payload or {}), by_id[r.id].attempts
                ),
            )
            for r in sorted(found, key=lambda r: position[r.id])
        ]

    def result_for(self, claimed: store.Claimed, answer: ChannelResult) -> store.Result:
        now = utcnow()
        if answer.outcome is ChannelOutcome.SENT:
            return store.Result(claimed.id, DeliveryStatus.SENT)
        if answer.outcome is ChannelOutcome.DROPPED:
            return store.Result(
                claimed.id, DeliveryStatus.CANCELLED, error=answer.detail, attempted=False
            )
        if answer.outcome is ChannelOutcome.LATER:
            return store.Result(
                claimed.id,
                DeliveryStatus.QUEUED,
                attempted=False,
                next_attempt_at=now + timedelta(seconds=answer.retry_after or 1.0),
            )
        if answer.outcome is ChannelOutcome.RETRY:
            first = claimed.first_attempt_at or now
            if now - first >= self.give_up:
                return store.Result(
                    claimed.id,
                    DeliveryStatus.FAILED,
                    error=f"gave up: {answer.detail}",
                    first_attempt_at=first,
                )
            when = store.retry_at(claimed.attempts + 1, self.schedule, now)
            if answer.retry_after is not None:
                when = max(when, now + timedelta(seconds=answer.retry_after))
            return store.Result(
                claimed.id,
                DeliveryStatus.QUEUED,
                error=answer.detail,
                next_attempt_at=when,
                first_attempt_at=first,
            )
        prefix = "gone: " if answer.outcome is ChannelOutcome.GONE else ""
        return store.Result(claimed.id, DeliveryStatus.FAILED, error=prefix + answer.detail)

    def _deliver(self, row: ChannelRow) -> ChannelResult:
        messenger = self.messengers.get(row.kind)
        if messenger is None:
            return ChannelResult(ChannelOutcome.RETRY, f"no messenger for {row.kind} rows")
        with self.app.app_context():
            try:
                return messenger(row)
            except Exception as exc:  # a bug must not leave the row leased forever
                log.exception("channel delivery %s failed", row.id)
                return ChannelResult(ChannelOutcome.RETRY, f"internal error: {exc}")
            finally:
                db.session.remove()

    def _record(self, results: list[store.Result], report: ChannelReport) -> None:
        with db.engine.begin() as conn:
            store.record(conn, results, config=self.config)
        for result in results:
            if result.status is DeliveryStatus.SENT:
                report.sent += 1
            elif result.status is DeliveryStatus.QUEUED:
                report.retried += 1
            elif result.status is DeliveryStatus.CANCELLED:
                report.dropped += 1
            else:
                report.failed += 1

    def run_batch(self, batch: list[store.Claimed], report: ChannelReport) -> None:
        """Deliver one claimed batch: at most ``per_host`` rows of one host at a time."""
        pending = deque(self._rows(batch))
        missing = {c.id for c in batch} - {row.id for _c, row in pending}
        if missing:  # deleted under us (cascade): nothing to send
            self._record(
                [store.Result(i, DeliveryStatus.CANCELLED, attempted=False) for i in missing],
                report,
            )
        busy: Counter[str] = Counter()
        # One row per recipient at a time: two messages to one browser or chat (an alert's
        # update, then its cancellation) arrive in the order they were queued.
        sending: set[str] = set()
        done: list[store.Result] = []
        lock = threading.Condition()

        def finished(
            claimed: store.Claimed, row: ChannelRow, future: Future[ChannelResult]
        ) -> None:
            result = self.result_for(claimed, future.result())
            with lock:
                busy[host_of(row)] -= 1
                sending.discard(row.target)
                done.append(result)
                lock.notify_all()

        last_flush = time.monotonic()
        with ThreadPoolExecutor(self.workers, thread_name_prefix="channel") as pool:
            in_flight = 0
            while pending or in_flight:
                chosen: tuple[store.Claimed, ChannelRow] | None = None
                with lock:
                    # Record in groups (one commit for many answers), but never let more
                    # than ``max_unrecorded`` answers wait: that is the duplicate window.
                    due = len(done) >= self.max_unrecorded or (
                        done and (not pending or time.monotonic() - last_flush > 0.2)
                    )
                    flushed, done[:] = (list(done), []) if due else ([], done)
                    in_flight -= len(flushed)
                    if in_flight - len(done) < self.workers:  # running, not unrecorded
                        for index, (claimed, row) in enumerate(pending):
                            if busy[host_of(row)] < self.per_host and row.target not in sending:
                                chosen = (claimed, row)
                                del pending[index]
                                busy[host_of(row)] += 1
                                sending.add(row.target)
                                in_flight += 1
                                break
                    if chosen is None and not flushed and (pending or in_flight):
                        lock.wait(0.05)
                if flushed:
                    self._record(flushed, report)  # right after the answers: a tiny window
                    last_flush = time.monotonic()
                if chosen is not None:
                    claimed, row = chosen
                    future = pool.submit(self._deliver, row)
                    future.add_done_callback(
                        lambda f, c=claimed, r=row: finished(c, r, f)  # type: ignore[misc]
                    )

    def run(self, stop: threading.Event, *, until_idle: bool = False) -> ChannelReport:
        report = ChannelReport()
        if not self.messengers:
            return report
        while not stop.is_set():
            batch = store.claim(
                db.engine,
                worker=self.name,
                limit=self.batch_size,
                lease_seconds=self.lease_seconds,
                lane=self.lane,
            )
            if batch:
                self.run_batch(batch, report)
                continue
            if store.has_due(db.engine, self.lane):
                continue
            if until_idle:
                break
            wait = store.next_due_in(db.engine, self.lane)
            stop.wait(self.idle_seconds if wait is None else min(wait, self.idle_seconds))
        return report


def serve_forever(app: Flask, stop: threading.Event) -> None:
    """The worker's channel loop (beside the mail sender)."""
    while not stop.is_set():
        try:
            ChannelSender(app).run(stop)
        except Exception:
            log.exception("channel sender failed; restarting in 5 s")
            stop.wait(5.0)


def channel_loop(app: Flask) -> Callable[[threading.Event], None]:
    def loop(stop: threading.Event) -> None:
        serve_forever(app, stop)

    return loop
