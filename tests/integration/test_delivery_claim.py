"""Claiming: the queries walk their indexes in order, and the batch claimed ahead is given
back when the sender stops. On SQLite and PostgreSQL."""

from __future__ import annotations

import threading
import time
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask

from newsletter.db import utcnow
from newsletter.delivery import outbox, store
from newsletter.delivery.models import Delivery, DeliveryKind, DeliveryStatus
from newsletter.delivery.queue import oldest_due_age
from newsletter.delivery.sender import Sender
from newsletter.delivery.transport import Batch, InMemoryTransport, SendResult, Session
from newsletter.extensions import db
from tests.fixtures.delivery import add_subscribers, deliveries, make_digest

delivery_t = Delivery.__table__


def plan(statement: sa.Select[Any]) -> str:
    """The database's plan for ``statement``, as one text."""
    connection = db.session.connection()
    dialect = connection.dialect
    compiled = statement.compile(dialect=dialect, compile_kwargs={"literal_binds": True})
    prefix = "EXPLAIN QUERY PLAN " if dialect.name == "sqlite" else "EXPLAIN "
    rows = connection.exec_driver_sql(prefix + str(compiled)).all()
    return "\n".join(" ".join(str(value) for value in row) for row in rows)


def test_claim_walks_the_claim_index_in_order_without_sorting(app: Flask) -> None:
    """With a digest's rows queued (all with one next_attempt_at), taking the next 500 is an
    index walk that stops, not a sort of every due row: the sort cost 20-65 ms per claim
    with 100,000 rows on PostgreSQL and stalled the relay connections."""
    digest = make_digest()
    ids = add_subscribers(6000)
    # As ``digests build`` writes them; on PostgreSQL this also refreshes the statistics.
    outbox.enqueue_many(DeliveryKind.DIGEST, digest.id, ids)
    db.session.commit()

    priority, abandoned, queued = store.claim_queries(
        utcnow(),
        store.Lane(without=frozenset({"push"})),
        500,
        locking=db.engine.dialect.name == "postgresql",
    )
    found = plan(queued)
    assert "ix_delivery_claim" in found, found
    assert "Sort" not in found, found  # PostgreSQL
    assert "Seq Scan" not in found, found
    assert "TEMP B-TREE" not in found, found  # SQLite
    # The priority lane is a range of the same index (priority above 0), not a walk of every
    # queued row filtered by priority; the abandoned leases have their partial index.
    found = plan(priority)
    assert "ix_delivery_claim" in found, found
    assert "priority>" in found.replace(" ", ""), found
    assert "Seq Scan" not in found, found
    assert "Seq Scan" not in plan(abandoned)


ROWS = 6_234  # a digest's rows: over outbox.ANALYZE_AFTER, and unlike any other test's count


@pytest.mark.postgres
def test_a_bulk_enqueue_refreshes_postgresqls_statistics(app: Flask) -> None:
    """Until autovacuum analyses it (a minute or more), the planner would take the table for
    as small as before the build and scan it whole on every claim: the build analyses it."""
    digest = make_digest()
    outbox.enqueue_many(DeliveryKind.DIGEST, digest.id, add_subscribers(ROWS))

    # In the build's own transaction: the estimate counts the rows it has just written.
    estimate = db.session.execute(
        sa.text("SELECT reltuples FROM pg_class WHERE relname = 'delivery'")
    ).scalar_one()
    assert estimate == pytest.approx(ROWS, rel=0.02)
    db.session.commit()


class _Watching:
    """An in-memory relay session that, at its first message, waits until the sender has
    claimed its next batch ahead, notes how many rows are leased, and asks the sender to stop."""

    def __init__(self, stop: threading.Event, leased: list[int]) -> None:
        self.engine = db.engine  # the sending thread has no app context
        self.stop = stop
        self.leased = leased
        self.inner = InMemoryTransport().open_session()

    def count_leased(self) -> int:
        with self.engine.connect() as conn:
            return int(
                conn.execute(
                    sa.select(sa.func.count())
                    .select_from(delivery_t)
                    .where(delivery_t.c.status == DeliveryStatus.SENDING)
                ).scalar_one()
            )

    def send(self, sender: str, recipient: str, data: bytes) -> SendResult:
        if not self.leased:
            deadline = time.monotonic() + 10
            while self.count_leased() < 6 and time.monotonic() < deadline:
                time.sleep(0.02)
            self.leased.append(self.count_leased())
            self.stop.set()
        return self.inner.send(sender, recipient, data)

    def run(self, batch: Batch) -> int:
        started = 0
        for index, message in enumerate(batch.messages):
            if not batch.more(index):
                break
            batch.admit(index)
            batch.done(index, self.send(message.sender, message.recipient, message.data))
            started += 1
        return started

    def close(self) -> None:
        pass


class _WatchingTransport:
    def __init__(self, session: _Watching) -> None:
        self.session = session

    def open_session(self) -> Session:
        return self.session


def test_the_next_batch_is_claimed_ahead_and_given_back_on_stop(app: Flask) -> None:
    app.config.update(SEND_BATCH_SIZE=3, SEND_CONCURRENCY=1)
    digest = make_digest()
    outbox.enqueue_many(DeliveryKind.DIGEST, digest.id, add_subscribers(10))
    db.session.commit()
    stop = threading.Event()
    leased: list[int] = []

    report = Sender(app, _WatchingTransport(_Watching(stop, leased))).run(stop)

    # While the first message went out, its batch and at least the next one were leased
    # (more when the main loop had already taken the next batch to prepare it).
    assert len(leased) == 1
    assert leased[0] >= 6
    assert report.sent == 1
    rows = deliveries()
    assert [r.status for r in rows].count(DeliveryStatus.SENT) == 1
    rest = [r for r in rows if r.status is not DeliveryStatus.SENT]
    # Everything else, the batch claimed ahead included, is queued again, untouched.
    assert len(rest) == 9
    assert {(r.status, r.attempts, r.leased_by, r.lease_expires_at) for r in rest} == {
        (DeliveryStatus.QUEUED, 0, None, None)
    }


def test_a_slow_send_rate_claims_batches_that_fit_in_the_lease(app: Flask) -> None:
    """At 2 messages a second and a 20 s lease, a batch of 200 (and the one claimed ahead)
    could not start before the lease ran out: batches shrink to what two can send in half
    the lease."""
    app.config.update(SEND_RATE=2, SEND_LEASE_SECONDS=20, SEND_BATCH_SIZE=200)
    assert Sender(app, InMemoryTransport()).batch_size == 10
    app.config.update(SEND_RATE=0)
    assert Sender(app, InMemoryTransport()).batch_size == 200


def test_the_earliest_queued_row_is_found_in_either_lane(app: Flask) -> None:
    """The queue's age (/healthz, /metrics) and the idle sender's wait look at both lanes of
    the claim index: a priority row alone, or older than the rest, is seen."""
    digest = make_digest()
    ids = add_subscribers(3)
    now = utcnow()
    outbox.enqueue_many(DeliveryKind.DIGEST, digest.id, ids[:2], now=now - timedelta(minutes=1))
    urgent = outbox.enqueue(DeliveryKind.WEBSUB, due=now - timedelta(minutes=5), now=now)
    urgent.priority = outbox.PRIORITY_ALERT  # a row of the priority lane
    db.session.commit()

    assert oldest_due_age(now) == pytest.approx(300, abs=1)

    db.session.execute(sa.update(Delivery).values(next_attempt_at=now + timedelta(minutes=10)))
    db.session.execute(
        sa.update(Delivery)
        .where(Delivery.priority > 0)
        .values(next_attempt_at=now + timedelta(minutes=2))
    )
    db.session.commit()
    assert oldest_due_age(now) is None
    wait = store.next_due_in(db.engine)
    assert wait is not None
    assert 100 < wait <= 120
