"""The outbox API: the only code that writes the ``delivery`` table outside the sender.

Every domain that wants something delivered calls this module, inside its own transaction
(the row is committed with the state change that caused it, or not at all):

- :func:`enqueue` one row (a confirmation mail, a test send, a WebSub ping);
- :func:`enqueue_many` one row per subscriber of a digest, set-based and idempotent;
- :func:`enqueue_once_each` one row per subscriber with a shared payload, once per key (an
  alert's e-mail);
- :func:`enqueue_service_mails` one service mail per subscriber, set-based (roster imports);
- :func:`cancel` what is still queued for a subscriber (all kinds, or some);
- :func:`forget` every row of people who are erased (the table has no foreign keys: a digest
  build inserts 100,000 rows at once, and their checks were over half of its time);
- :func:`requeue` failed rows of a digest;
- :func:`mark_bounced` a bounce (DSN, or the relay's 5xx for a recipient): it announces
  ``events.delivery_bounced`` (subscriptions suppresses the person and writes the consent
  ledger) and, when that suppressed them, cancels their queued rows.

The sender (``store``) claims and records rows; nobody else writes them
(``tests/unit/test_outbox_owner.py`` checks the source).

Adding a delivery kind (push, telegram, alert, ...):

1. add a member to :class:`~newsletter.delivery.models.DeliveryKind` and a migration that
   widens the ``delivery_kind`` CHECK constraint;
2. register it with :func:`register_kind`: whether its rows go to a subscriber (then
   ``cancel`` and a bounce reach them) and whether it is a service mail (superseded by a newer
   one, see :data:`SERVICE_MAIL`);
3. tell the sender how to deliver it from the owning domain's ``init_app``:
   ``hooks.register_service_mail`` for an e-mail rendered at send time, or
   ``hooks.register_outbox_handler`` for anything that is not e-mail (raise TransportError to
   retry with backoff);
4. enqueue rows with :func:`enqueue` / :func:`enqueue_many`.

The priority lane: a kind registered with ``priority`` > 0 (alerts), or channel rows enqueued
with ``priority=`` (an alert's push notifications and Telegram posts), are claimed before any
other due row, so an alert overtakes a digest that is sending (``store.claim``).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, scoped_session

from newsletter import events
from newsletter.db import UTCDateTime, utcnow
from newsletter.delivery.models import Delivery, DeliveryKind, DeliveryStatus
from newsletter.extensions import db

log = logging.getLogger("newsletter.delivery")
delivery_t: sa.Table = Delivery.__table__

#: Subscriber ids per statement of :func:`enqueue_many` and :func:`enqueue_once_each`: they
#: travel as one parameter (an array, a JSON text), so a digest's 100,000 rows are one
#: statement; the chunk only bounds the size of that parameter.
CHUNK = 250_000
ANALYZE_AFTER = 5_000  # rows inserted at once after which PostgreSQL's statistics are refreshed

#: The PostgreSQL advisory lock (a constant key, ASCII "outbox") that every writer of rows
#: naming subscribers holds shared until it commits, and :func:`forget` exclusively: an erasure
#: waits for a build that is inserting rows, then deletes them too; a build that starts later
#: waits for the erasure and no longer finds the person. (The foreign key's cascade did this;
#: it is gone for speed.) SQLite has one writer at a time and needs none.
SUBSCRIBER_ROWS_LOCK = 0x6F7574626F78

#: The priority lane's level for urgent alerts (e-mail, push and Telegram rows alike).
PRIORITY_ALERT = 10


@dataclass(frozen=True)
class KindSpec:
    """What the outbox needs to know about a kind of row."""

    kind: DeliveryKind
    to_subscriber: bool = True  # rows name a subscriber: cancelled when they leave or bounce
    service_mail: bool = False  # one at a time: a newer one supersedes the queued one
    priority: int = 0  # above 0: the priority lane, claimed before every other due row


_KINDS: dict[DeliveryKind, KindSpec] = {}


def register_kind(spec: KindSpec) -> None:
    if spec.priority < 0:
        raise ValueError("a delivery kind's priority is 0 (in turn) or above (the priority lane)")
    _KINDS[spec.kind] = spec


def kind_spec(kind: DeliveryKind) -> KindSpec:
    try:
        return _KINDS[kind]
    except KeyError:
        raise ValueError(f"delivery kind {kind.value!r} is not registered") from None


for _spec in (
    KindSpec(DeliveryKind.DIGEST),
    KindSpec(DeliveryKind.CONFIRM, service_mail=True),
    KindSpec(DeliveryKind.PREFERENCES, service_mail=True),
    KindSpec(DeliveryKind.TEST, to_subscriber=False),
    KindSpec(DeliveryKind.WEBSUB, to_subscriber=False),
    KindSpec(DeliveryKind.PUSH, to_subscriber=False),
    KindSpec(DeliveryKind.TELEGRAM, to_subscriber=False),
    KindSpec(DeliveryKind.UNLOCK, to_subscriber=False),  # admin accounts' unlock links
    KindSpec(DeliveryKind.ALERT, priority=PRIORITY_ALERT),  # urgent alerts, ahead of all
):
    register_kind(_spec)


def service_mail_kinds() -> frozenset[DeliveryKind]:
    return frozenset(k for k, spec in _KINDS.items() if spec.service_mail)


# --- writing -------------------------------------------------------------------------------


def enqueue(
    kind: DeliveryKind,
    *,
    subscriber_id: int | None = None,
    digest_id: int | None = None,
    to_address: str | None = None,
    payload: dict[str, Any] | None = None,
    due: datetime | None = None,
    now: datetime | None = None,
    session: Session | scoped_session[Any] | None = None,
) -> Delivery:
    """Add one queued row to the caller's session (not committed, not flushed), created at
    ``now`` (the operation's time; default: the clock) and due at ``due`` (default: ``now``).

    A service mail supersedes the subscriber's queued service mails: one confirmation or
    preferences mail at a time.
    """
    spec = kind_spec(kind)
    if spec.to_subscriber and subscriber_id is None:
        raise ValueError(f"{kind.value} rows need a subscriber")
    target = session if session is not None else db.session
    if subscriber_id is not None:
        _share_subscriber_lock(target)
    if spec.service_mail and subscriber_id is not None:
        cancel(subscriber_id, kinds=service_mail_kinds(), session=target)
    row = Delivery(
        kind=kind,
        priority=spec.priority,
        subscriber_id=subscriber_id,
        digest_id=digest_id,
        to_address=to_address,
        payload=payload,
        status=DeliveryStatus.QUEUED,
        next_attempt_at=due or now or utcnow(),
        created_at=now or utcnow(),
    )
    target.add(row)
    return row


def _insert(dialect: str) -> Any:
    return (postgresql if dialect == "postgresql" else sqlite).insert(delivery_t)


def _share_subscriber_lock(target: Session | scoped_session[Any]) -> None:
    """Hold :data:`SUBSCRIBER_ROWS_LOCK` shared until the caller's transaction ends."""
    if target.get_bind().dialect.name == "postgresql":
        target.execute(sa.select(sa.func.pg_advisory_xact_lock_shared(SUBSCRIBER_ROWS_LOCK)))


def _id_rows(dialect: str, ids: list[int]) -> tuple[sa.FromClause, sa.ColumnElement[int]]:
    """Subscriber ids as a table for ``INSERT ... SELECT``: one parameter, unnested by the
    database (a PostgreSQL array, a JSON array on SQLite), so 100,000 ids are neither
    100,000 placeholders nor 100,000 round trips."""
    if dialect == "postgresql":
        array = sa.literal(ids, postgresql.ARRAY(sa.Integer()))
        rows = sa.func.unnest(array).table_valued("id").render_derived(name="ids")
        return rows, rows.c.id
    rows = sa.func.json_each(json.dumps(ids)).table_valued("value").alias("ids")
    return rows, sa.cast(rows.c.value, sa.Integer())


def enqueue_many(
    kind: DeliveryKind,
    digest_id: int | None,
    subscriber_ids: Sequence[int],
    *,
    only: Callable[[sa.ColumnElement[int]], sa.ColumnElement[bool]] | None = None,
    now: datetime | None = None,
    session: Session | scoped_session[Any] | None = None,
) -> int:
    """One queued row per subscriber, set-based; rows that exist already are left alone.

    One ``INSERT ... SELECT`` from the unnested ids (see :func:`_id_rows`) for up to
    :data:`CHUNK` subscribers. ``only(id)`` is an optional SQL condition the caller's domain
    adds (e.g. "the subscriber is still active"), checked inside the INSERT. Idempotent
    through the (digest, subscriber) unique key and ``ON CONFLICT DO NOTHING``, so concurrent
    builders cannot double a row. Returns the number of rows inserted.
    """
    kind_spec(kind)
    target = session if session is not None else db.session
    if not subscriber_ids:
        return 0
    now = now or utcnow()
    dialect = target.get_bind().dialect.name
    _share_subscriber_lock(target)
    columns = [
        "kind",
        "digest_id",
        "subscriber_id",
        "status",
        "attempts",
        "next_attempt_at",
        "created_at",
    ]
    inserted = 0
    for offset in range(0, len(subscriber_ids), CHUNK):
        ids, subscriber = _id_rows(
            dialect, [int(i) for i in subscriber_ids[offset : offset + CHUNK]]
        )
        select = sa.select(
            sa.literal(kind.value, sa.String()),
            sa.literal(digest_id, sa.Integer()),
            subscriber,
            sa.literal(DeliveryStatus.QUEUED.value, sa.String()),
            sa.literal(0, sa.Integer()),
            sa.literal(now, UTCDateTime()),
            sa.literal(now, UTCDateTime()),
        ).select_from(ids)
        # Always a WHERE: SQLite would read "SELECT ... FROM t ON CONFLICT" as a join.
        select = select.where(only(subscriber) if only is not None else sa.true())
        statement = (
            _insert(dialect)
            .from_select(columns, select)
            .on_conflict_do_nothing(index_elements=["digest_id", "subscriber_id"])
        )
        inserted += _rowcount(target, statement)
    if dialect == "postgresql" and inserted >= ANALYZE_AFTER:
        _refresh_statistics(target)
    return inserted


def _refresh_statistics(target: Session | scoped_session[Any]) -> None:
    """``ANALYZE delivery`` after a bulk insert, as PostgreSQL's manual advises: until
    autovacuum gets to it (a minute or more), the planner believes the table is as small as
    before the build, and the sender's first claims of the new rows scan the whole table
    instead of its indexes (25 ms per claim of 500 instead of 5). It samples 30,000 rows
    (~50 ms for 100,000) and sees this transaction's own rows; a role that does not own the
    table gets a warning, not an error."""
    target.execute(sa.text("ANALYZE delivery"))
    log.info("outbox statistics refreshed after a bulk enqueue")


def _rowcount(target: Session | scoped_session[Any], statement: Any) -> int:
    """Run an INSERT and say how many rows it wrote (the driver's count: kept, since
    SQLAlchemy drops it for an INSERT without RETURNING on PostgreSQL, and RETURNING every id
    would ship 100,000 rows back)."""
    result = target.connection().execute(statement.execution_options(preserve_rowcount=True))
    return max(int(result.rowcount or 0), 0)


def enqueue_once_each(
    kind: DeliveryKind,
    subscriber_ids: Sequence[int],
    *,
    dedupe_prefix: str,
    payload: dict[str, Any],
    now: datetime | None = None,
    session: Session | scoped_session[Any] | None = None,
) -> int:
    """One queued row per subscriber with the same ``payload``, keyed ``<dedupe_prefix><id>``:
    however often it is called (a retried release, two approvers at once), each person gets
    one row per key. For messages that are not digests (an alert's e-mail: the payload names
    its rendition). Rows take the kind's priority. Set-based like :func:`enqueue_many`;
    returns the number inserted."""
    spec = kind_spec(kind)
    if not spec.to_subscriber:
        raise ValueError(f"{kind.value} rows do not go to subscribers")
    target = session if session is not None else db.session
    now = now or utcnow()
    dialect = target.get_bind().dialect.name
    columns = [
        "kind",
        "subscriber_id",
        "dedupe_key",
        "payload",
        "priority",
        "status",
        "attempts",
        "next_attempt_at",
        "created_at",
    ]
    _share_subscriber_lock(target)
    inserted = 0
    for offset in range(0, len(subscriber_ids), CHUNK):
        ids, subscriber = _id_rows(
            dialect, [int(i) for i in subscriber_ids[offset : offset + CHUNK]]
        )
        select = (
            sa.select(
                sa.literal(kind.value, sa.String()),
                subscriber,
                sa.literal(dedupe_prefix, sa.String()) + sa.cast(subscriber, sa.String()),
                sa.literal(payload, sa.JSON()),
                sa.literal(spec.priority, sa.SmallInteger()),
                sa.literal(DeliveryStatus.QUEUED.value, sa.String()),
                sa.literal(0, sa.Integer()),
                sa.literal(now, UTCDateTime()),
                sa.literal(now, UTCDateTime()),
            )
            .select_from(ids)
            .where(sa.true())  # SQLite would read "FROM t ON CONFLICT" as a join
        )
        statement = (
            _insert(dialect)
            .from_select(columns, select)
            .on_conflict_do_nothing(
                index_elements=["dedupe_key"], index_where=delivery_t.c.dedupe_key.is_not(None)
            )
        )
        inserted += _rowcount(target, statement)
    if dialect == "postgresql" and inserted >= ANALYZE_AFTER:
        _refresh_statistics(target)
    return inserted


def enqueue_service_mails(
    kind: DeliveryKind,
    subscriber_ids: Sequence[int],
    *,
    now: datetime | None = None,
    session: Session | scoped_session[Any] | None = None,
) -> int:
    """One service mail of ``kind`` per subscriber, set-based (the confirmation mails of a
    roster import): like :func:`enqueue` for each, the subscribers' queued service mails are
    superseded first, in one UPDATE instead of one per person. Returns how many rows were
    queued."""
    if not kind_spec(kind).service_mail:
        raise ValueError(f"{kind.value} is not a service mail")
    target = session if session is not None else db.session
    if not subscriber_ids:
        return 0
    kinds = [k.value for k in service_mail_kinds()]
    dialect = target.get_bind().dialect.name
    for offset in range(0, len(subscriber_ids), CHUNK):
        chunk = [int(i) for i in subscriber_ids[offset : offset + CHUNK]]
        if dialect == "postgresql":  # "= ANY(array)": walks ix_delivery_subscriber_id
            named = delivery_t.c.subscriber_id == sa.any_(
                sa.literal(chunk, postgresql.ARRAY(sa.Integer()))
            )
        else:
            ids, subscriber = _id_rows(dialect, chunk)
            named = delivery_t.c.subscriber_id.in_(sa.select(subscriber).select_from(ids))
        target.execute(
            sa.update(delivery_t)
            .where(
                named,
                delivery_t.c.status == DeliveryStatus.QUEUED,
                delivery_t.c.kind.in_(kinds),
            )
            .values(status=DeliveryStatus.CANCELLED)
            .execution_options(synchronize_session=False)
        )
    # No digest: the (digest, subscriber) key never conflicts, every id gets its row.
    return enqueue_many(kind, None, subscriber_ids, now=now, session=target)


@dataclass(frozen=True)
class Keyed:
    """One row for a channel beyond e-mail: its recipient, its once-only key, its content."""

    target: str
    dedupe_key: str
    payload: dict[str, Any]
    due: datetime | None = None


def enqueue_keyed(
    kind: DeliveryKind,
    rows: Sequence[Keyed],
    *,
    priority: int | None = None,
    session: Session | scoped_session[Any] | None = None,
) -> int:
    """Queue rows whose ``dedupe_key`` is new; the others are left alone (a re-import, a
    second build, a concurrent builder). Set-based, in chunks; returns the number inserted.
    ``priority`` puts them in the priority lane (default: the kind's)."""
    spec = kind_spec(kind)
    level = spec.priority if priority is None else max(0, priority)  # never below 0: see claim
    target = session if session is not None else db.session
    if not rows:
        return 0
    now = utcnow()
    dialect = target.get_bind().dialect.name
    inserted = 0
    # One statement run for many parameter sets (compiled once: a 2,000-row VALUES list took
    # SQLAlchemy ~0.5 s to compile per chunk, 20,000 alert notifications 10 s), in chunks.
    chunk_size = 2_000
    for offset in range(0, len(rows), chunk_size):
        values = [
            {
                "kind": kind.value,
                "target": row.target,
                "dedupe_key": row.dedupe_key,
                "payload": row.payload,
                "status": DeliveryStatus.QUEUED.value,
                "priority": level,
                "attempts": 0,
                "next_attempt_at": row.due or now,
                "created_at": now,
            }
            for row in rows[offset : offset + chunk_size]
        ]
        statement = _insert(dialect).on_conflict_do_nothing(
            index_elements=["dedupe_key"], index_where=delivery_t.c.dedupe_key.is_not(None)
        )
        result = target.connection().execute(
            statement.execution_options(preserve_rowcount=True), values
        )
        inserted += max(int(result.rowcount or 0), 0)
    return inserted


def queued_by_keys(kind: DeliveryKind, keys: Sequence[str]) -> dict[str, dict[str, Any]]:
    """Payloads of the still-queued rows with these keys (to extend a held notification)."""
    found: dict[str, dict[str, Any]] = {}
    for offset in range(0, len(keys), 5_000):
        for key, payload in db.session.execute(
            sa.select(delivery_t.c.dedupe_key, delivery_t.c.payload).where(
                delivery_t.c.kind == kind.value,
                delivery_t.c.status == DeliveryStatus.QUEUED,
                delivery_t.c.dedupe_key.in_(list(keys[offset : offset + 5_000])),
            )
        ):
            found[str(key)] = dict(payload or {})
    return found


def replace_payloads(kind: DeliveryKind, payloads: dict[str, dict[str, Any]]) -> int:
    """New content for queued rows, by key; a row already claimed keeps what it had."""
    if not payloads:
        return 0
    statement = (
        sa.update(delivery_t)
        .where(
            delivery_t.c.kind == kind.value,
            delivery_t.c.status == DeliveryStatus.QUEUED,
            delivery_t.c.dedupe_key == sa.bindparam("key"),
        )
        .values(payload=sa.bindparam("new_payload"))
    )
    result = db.session.connection().execute(
        statement, [{"key": k, "new_payload": v} for k, v in payloads.items()]
    )
    return max(int(result.rowcount or 0), 0)


def cancel_target(
    kind: DeliveryKind,
    target: str,
    *,
    reason: str,
    session: Session | scoped_session[Any] | None = None,
) -> int:
    """Cancel the queued rows of one channel recipient (a push subscription that is gone)."""
    owner = session if session is not None else db.session
    result = owner.execute(
        sa.update(delivery_t)
        .where(
            delivery_t.c.kind == kind.value,
            delivery_t.c.target == target,
            delivery_t.c.status == DeliveryStatus.QUEUED,
        )
        .values(status=DeliveryStatus.CANCELLED, last_error=reason)
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def cancel(
    subscriber_id: int,
    *,
    kinds: Iterable[DeliveryKind] | None = None,
    reason: str | None = None,
    session: Session | scoped_session[Any] | None = None,
    conn: sa.Connection | None = None,
) -> int:
    """Cancel the subscriber's queued rows (of ``kinds``; default: every kind); returns how
    many. Rows already claimed by a sender are not touched: the sender re-checks the
    subscriber's status before sending a digest, and service mail re-checks when rendered."""
    statement = sa.update(delivery_t).where(
        delivery_t.c.subscriber_id == subscriber_id,
        delivery_t.c.status == DeliveryStatus.QUEUED,
    )
    if kinds is not None:
        statement = statement.where(delivery_t.c.kind.in_([k.value for k in kinds]))
    values: dict[str, Any] = {"status": DeliveryStatus.CANCELLED}
    if reason is not None:
        values["last_error"] = reason
    statement = statement.values(**values)
    if conn is not None:
        return int(conn.execute(statement).rowcount or 0)
    target = session if session is not None else db.session
    result = target.execute(statement.execution_options(synchronize_session=False))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def forget(
    subscriber_ids: Sequence[int], *, session: Session | scoped_session[Any] | None = None
) -> int:
    """Delete every row naming these subscribers, whatever its kind or status (erasure, the
    purge of unconfirmed addresses: what the foreign key's cascade did). Call it after
    deleting them, in the same transaction. On PostgreSQL it first takes
    :data:`SUBSCRIBER_ROWS_LOCK`: a build inserting rows for them right now commits first, and
    its rows are deleted too. Returns how many rows went."""
    target = session if session is not None else db.session
    if target.get_bind().dialect.name == "postgresql":
        target.execute(sa.select(sa.func.pg_advisory_xact_lock(SUBSCRIBER_ROWS_LOCK)))
    deleted = 0
    for offset in range(0, len(subscriber_ids), 5_000):
        chunk = [int(i) for i in subscriber_ids[offset : offset + 5_000]]
        result = target.execute(
            sa.delete(delivery_t)
            .where(delivery_t.c.subscriber_id.in_(chunk))
            .execution_options(synchronize_session=False)
        )
        deleted += int(result.rowcount or 0)  # type: ignore[attr-defined]
    return deleted


def requeue(
    *,
    digest_id: int,
    status: DeliveryStatus = DeliveryStatus.FAILED,
    session: Session | scoped_session[Any] | None = None,
) -> int:
    """A digest's rows in ``status`` back in the queue, due now; attempts are kept, so the
    backoff and the give-up limit still apply. Returns how many."""
    target = session if session is not None else db.session
    result = target.execute(
        sa.update(delivery_t)
        .where(delivery_t.c.digest_id == digest_id, delivery_t.c.status == status)
        .values(status=DeliveryStatus.QUEUED, next_attempt_at=utcnow(), last_error=None)
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def mark_sent_bounced(conn: sa.Connection, delivery_id: int, reason: str) -> None:
    """A message the relay accepted came back as a hard bounce."""
    conn.execute(
        sa.update(delivery_t)
        .where(delivery_t.c.id == delivery_id, delivery_t.c.status == DeliveryStatus.SENT)
        .values(status=DeliveryStatus.BOUNCED, last_error=reason)
    )


def mark_bounced(
    conn: sa.Connection,
    subscriber_id: int,
    *,
    reason: str,
    channel: Literal["dsn", "relay"],
    notice_version: str,
    hard: bool = True,
    soft_limit: int = 1,
    delivery_id: int | None = None,
    status: str | None = None,
) -> bool:
    """How a bounce reaches subscriptions: True when the subscriber was suppressed by it.

    Subscriptions (the receiver of ``events.delivery_bounced``) counts a soft bounce or
    suppresses the address and writes the consent ledger; then their queued rows are
    cancelled here. Everything runs on ``conn``, in the caller's transaction.
    """
    answers = events.delivery_bounced.send(
        conn,
        subscriber_id=subscriber_id,
        hard=hard,
        reason=reason,
        channel=channel,
        notice_version=notice_version,
        soft_limit=soft_limit,
        delivery_id=delivery_id,
        status=status,
    )
    suppressed = any(bool(answer) for _receiver, answer in answers)
    if suppressed:
        cancel(subscriber_id, reason="subscriber bounced", conn=conn)
    return suppressed


# --- the demo's history ---------------------------------------------------------------------


def add_past(
    kind: DeliveryKind,
    *,
    subscriber_id: int,
    status: DeliveryStatus,
    at: datetime,
    sent_at: datetime | None,
    attempts: int,
    error: str | None = None,
) -> None:
    """A finished row dated in the past: ``newsletter demo``'s story of earlier months (the
    sender records real outcomes; nothing else calls this)."""
    kind_spec(kind)
    delivery = Delivery(kind=kind, subscriber_id=subscriber_id)
    settle_past(delivery, status=status, at=at, sent_at=sent_at, attempts=attempts, error=error)
    db.session.add(delivery)


def settle_past(
    delivery: Delivery,
    *,
    status: DeliveryStatus,
    at: datetime,
    sent_at: datetime | None,
    attempts: int,
    error: str | None = None,
) -> None:
    """Give a queued row of the demo's past editions the outcome the sender would have."""
    delivery.status = status
    delivery.attempts = attempts
    delivery.first_attempt_at = at
    delivery.next_attempt_at = at
    delivery.created_at = at
    delivery.sent_at = sent_at
    delivery.last_error = error


# --- reading -------------------------------------------------------------------------------


def deliveries_of(subscriber_id: int) -> list[Delivery]:
    """A subscriber's rows, oldest first (for their data export)."""
    return list(
        db.session.scalars(
            sa.select(Delivery)
            .where(Delivery.subscriber_id == subscriber_id)
            .order_by(Delivery.created_at, Delivery.id)
        )
    )


def recent(
    subscriber_id: int, kinds: Iterable[DeliveryKind], since: datetime
) -> list[tuple[DeliveryKind, datetime]]:
    """The subscriber's rows of ``kinds`` created since ``since`` that were or will be sent
    (cancelled ones never reached anyone): (kind, created_at), oldest first."""
    rows = db.session.execute(
        sa.select(Delivery.kind, Delivery.created_at)
        .where(
            Delivery.subscriber_id == subscriber_id,
            Delivery.kind.in_(list(kinds)),
            Delivery.created_at >= since,
            Delivery.status != DeliveryStatus.CANCELLED,
        )
        .order_by(Delivery.created_at, Delivery.id)
    )
    return [(DeliveryKind(kind), created) for kind, created in rows]


def queued_payloads(
    kind: DeliveryKind, session: Session | scoped_session[Any] | None = None
) -> list[dict[str, Any]]:
    """Payloads of the queued rows of ``kind``, including those added but not yet flushed."""
    target = session if session is not None else db.session
    pending = [
        obj.payload or {}
        for obj in target.new
        if isinstance(obj, Delivery) and obj.kind == kind and obj.status != DeliveryStatus.CANCELLED
    ]
    stored = target.scalars(
        sa.select(Delivery.payload).where(
            Delivery.kind == kind, Delivery.status == DeliveryStatus.QUEUED
        )
    )
    return [*pending, *((p or {}) for p in stored)]
