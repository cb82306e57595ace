"""The sender: claims due outbox rows, sends them through the transport, records each answer.

Threads: a claimer thread claims the next batch while the caller's thread prepares this one's
bytes; ``SEND_CONCURRENCY`` threads each hold one relay session; one recording thread writes
results in tiny groups. A message is recorded as sent right after the relay's 250; at most
``SEND_MAX_UNRECORDED`` messages are ever sent-but-unrecorded (a semaphore released only after
the commit), which bounds the duplicates a crash can cause. Stopping finishes the messages on
the wire and gives the rest of the claimed rows back.
"""

from __future__ import annotations

import logging
import os
import queue
import secrets
import socket
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from flask import Flask

from newsletter.db import utcnow
from newsletter.delivery import store
from newsletter.delivery.bounces import VerpSigner, bounce_domain
from newsletter.delivery.message import (
    HeaderInjection,
    Recipient,
    Template,
    build_template,
    domain_of,
    list_id,
    personalise,
)
from newsletter.delivery.models import Delivery, DeliveryKind, DeliveryStatus
from newsletter.delivery.ratelimit import TokenBucket
from newsletter.delivery.transport import (
    Outcome,
    RelayUnavailable,
    SendResult,
    Session,
    Transport,
)
from newsletter.digests.models import Digest
from newsletter.exceptions import TransportError
from newsletter.extensions import db
from newsletter.hooks import VariantMail, registry
from newsletter.signing import secret_keys

log = logging.getLogger("newsletter.delivery")
digest_t = Digest.__table__


@dataclass(slots=True)
class Job:
    claimed: store.Claimed
    sender: str
    recipient: str
    data: bytes
    message_id: str


@dataclass
class SendReport:
    sent: int = 0
    retried: int = 0
    failed: int = 0
    cancelled: int = 0
    bounced: int = 0
    released: int = 0
    relay_error: str | None = None
    counts_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def count(self, result: store.Result) -> None:
        with self.counts_lock:
            if not result.attempted and result.status is DeliveryStatus.QUEUED:
                self.released += 1
            elif result.status is DeliveryStatus.SENT:
                self.sent += 1
            elif result.status is DeliveryStatus.QUEUED:
                self.retried += 1
            elif result.status is DeliveryStatus.CANCELLED:
                self.cancelled += 1
            else:
                self.failed += 1
            if result.bounce_subscriber_id is not None:
                self.bounced += 1

    def summary(self) -> str:
        return (
            f"sent {self.sent}, retry later {self.retried}, failed {self.failed}, "
            f"cancelled {self.cancelled}, subscribers bounced {self.bounced}"
        )


_STOP = object()
CHUNK = 8  # most jobs handed to a sending thread at once


class Sender:
    def __init__(self, app: Flask, transport: Transport, *, name: str | None = None) -> None:
        cfg = app.config
        self.app = app
        self.config = cfg
        self.transport = transport
        self.name = name or f"{socket.gethostname()}:{os.getpid()}"
        self.engine: sa.Engine = db.engine
        self.concurrency = max(1, int(cfg["SEND_CONCURRENCY"]))
        self.batch_size = max(1, int(cfg["SEND_BATCH_SIZE"]))
        self.lease_seconds = float(cfg["SEND_LEASE_SECONDS"])
        self.schedule: tuple[float, ...] = tuple(cfg["RETRY_SCHEDULE_SECONDS"])
        self.give_up = timedelta(seconds=float(cfg["RETRY_GIVE_UP"]))
        self.idle_seconds = float(cfg.get("SEND_IDLE_SECONDS", 2.0))
        self.bucket = TokenBucket(float(cfg["SEND_RATE"]))
        if self.bucket.rate > 0:
            # This batch and the one claimed ahead must both start well within their lease
            # (within half of it), or slow sending would hand rows back unsent at the deadline.
            fits = int(self.bucket.rate * self.lease_seconds / 4)
            self.batch_size = max(1, min(self.batch_size, fits))
        self.base_url = str(cfg["BASE_URL"]).rstrip("/")
        self.mail_from = str(cfg["MAIL_FROM"])
        self.domain = domain_of(self.mail_from)
        self.verp = VerpSigner(secret_keys(cfg), bounce_domain(cfg))
        self.templates: dict[int, Template | None] = {}
        self.variants: dict[tuple[str, int], Template | None] = {}  # (kind, variant id)
        self.purposes: dict[tuple[str, int], tuple[str, str]] = {}  # its personal links
        # A sending thread holds up to two slots at once (a message on the wire and the next
        # one it admits), so the window must exceed the thread count or they could all wait.
        self.max_unrecorded = max(2 * self.concurrency, int(cfg.get("SEND_MAX_UNRECORDED", 64)))
        self.window = threading.BoundedSemaphore(self.max_unrecorded)
        from newsletter.delivery.dkim import signer_from_config

        self.dkim = signer_from_config(cfg)
        # Message-IDs are <delivery-id><suffix>: unique per delivery and per run, and the
        # recorder can compute them in SQL (one UPDATE per group instead of one per row).
        self.message_id_suffix = f".{secrets.token_hex(8)}@{self.domain}>"
        # Rows of the channels beyond e-mail (push, Telegram) are the channel sender's.
        self.lane = store.Lane(without=frozenset(registry(app).messengers))
        self.paused_digests: set[int] = set()  # paused by this run's recorder: stop sending them

    # --- preparing -------------------------------------------------------------------------

    def _digest_template(self, digest_id: int) -> Template | None:
        if digest_id not in self.templates:
            if len(self.templates) > 256:
                self.templates.clear()
            with self.engine.connect() as conn:
                row = conn.execute(
                    sa.select(
                        digest_t.c.subject,
                        digest_t.c.text,
                        digest_t.c.html,
                        digest_t.c.audience_key,
                    ).where(digest_t.c.id == digest_id)
                ).first()
            self.templates[digest_id] = (
                None
                if row is None
                else build_template(
                    mail_from=self.mail_from,
                    subject=row.subject,
                    text=row.text,
                    html=row.html,
                    list_id_value=list_id(row.audience_key, self.domain),
                    unsubscribe_mailto=self.config.get("MAIL_UNSUBSCRIBE_MAILTO"),
                )
            )
        return self.templates[digest_id]

    def _finish(self, data: bytes) -> bytes:
        return self.dkim.sign(data) if self.dkim is not None else data

    def _later(self, claimed: store.Claimed, error: str) -> store.Result:
        """Not attempted (nothing to send it with yet): look again after the longest backoff."""
        return store.Result(
            claimed.id,
            DeliveryStatus.QUEUED,
            attempted=False,
            error=error,
            next_attempt_at=utcnow() + timedelta(seconds=self.schedule[-1]),
        )

    def message_id(self, delivery_id: int) -> str:
        return f"<{delivery_id}{self.message_id_suffix}"

    def prepare(self, claimed: store.Claimed) -> Job | store.Result:
        """The bytes for one row, or the row's final result when nothing is to be sent."""
        if claimed.kind is DeliveryKind.DIGEST:
            return self._prepare_digest(claimed)
        if claimed.kind is DeliveryKind.WEBSUB:
            return self._run_handler(claimed)
        variant = registry(self.app).mail_variants.get(claimed.kind.value)
        if variant is not None:
            return self._prepare_variant(claimed, variant)
        return self._prepare_service(claimed)

    def _prepare_variant(self, claimed: store.Claimed, spec: VariantMail) -> Job | store.Result:
        """A row naming a mail rendered once for many (an alert in one language): dropped when
        moot (the person left or turned it off, the message expired), else the variant's
        cached template with this recipient's address and links."""
        payload = claimed.payload or {}
        reason = None
        if not claimed.subscriber_active or claimed.email is None or claimed.link_key is None:
            reason = "subscriber is no longer active"
        elif spec.needs_alerts and not claimed.subscriber_alerts:
            reason = "subscriber turned urgent alerts off"
        elif _expired(payload.get("expires")):
            reason = "expired before it could be sent"
        if reason is not None:
            return store.Result(claimed.id, DeliveryStatus.CANCELLED, attempted=False, error=reason)
        variant_id = payload.get(spec.payload_key)
        if not isinstance(variant_id, int):
            return store.Result(claimed.id, DeliveryStatus.FAILED, error="no variant in payload")
        loaded = self._variant_template(claimed, spec, variant_id)
        if isinstance(loaded, store.Result):
            return loaded
        template, unsubscribe, preferences = loaded
        assert claimed.email is not None
        recipient = Recipient(
            address=claimed.email,
            message_id=self.message_id(claimed.id),
            unsubscribe_url=self._personal_url(unsubscribe, claimed),
            preferences_url=self._personal_url(preferences, claimed),
        )
        return self._job(claimed, template, recipient)

    def _variant_template(
        self, claimed: store.Claimed, spec: VariantMail, variant_id: int
    ) -> tuple[Template, str, str] | store.Result:
        """Built once per variant and kept (like ``_digest_template``), with its link purposes."""
        key = (claimed.kind.value, variant_id)
        if key not in self.variants:
            try:
                variant = spec.load(variant_id)
                db.session.commit()
            except Exception as exc:
                db.session.rollback()
                log.exception("loading %s variant %s failed", claimed.kind, variant_id)
                return self._retry_result(claimed, f"loading the message failed: {exc}")
            finally:
                db.session.remove()
            if len(self.variants) > 256:
                self.variants.clear()
            self.variants[key] = None
            self.purposes[key] = ("", "")
            if variant is not None:
                self.variants[key] = build_template(
                    mail_from=self.mail_from,
                    subject=variant.subject,
                    text=variant.text,
                    html=variant.html,
                    list_id_value=list_id(variant.list_label, self.domain),
                    unsubscribe_mailto=self.config.get("MAIL_UNSUBSCRIBE_MAILTO"),
                )
                self.purposes[key] = (variant.unsubscribe_purpose, variant.preferences_purpose)
        template = self.variants[key]
        if template is None:
            return store.Result(claimed.id, DeliveryStatus.CANCELLED, error="message is gone")
        return (template, *self.purposes[key])

    def _prepare_digest(self, claimed: store.Claimed) -> Job | store.Result:
        if (
            not claimed.subscriber_active
            or claimed.email is None
            or claimed.digest_id is None
            or claimed.link_key is None
        ):
            return store.Result(
                claimed.id,
                DeliveryStatus.CANCELLED,
                attempted=False,
                error="subscriber is no longer active",
            )
        template = self._digest_template(claimed.digest_id)
        if template is None:
            return store.Result(claimed.id, DeliveryStatus.CANCELLED, error="digest is gone")
        assert claimed.subscriber_id is not None
        recipient = Recipient(
            address=claimed.email,
            message_id=self.message_id(claimed.id),
            unsubscribe_url=self._personal_url("unsubscribe", claimed),
            preferences_url=self._personal_url("preferences", claimed),
        )
        return self._job(claimed, template, recipient)

    def _job(
        self, claimed: store.Claimed, template: Template, recipient: Recipient
    ) -> Job | store.Result:
        """The finished bytes for one recipient, or why this address cannot be written to."""
        try:
            data = self._finish(personalise(template, recipient))
        except UnicodeEncodeError:
            return store.Result(
                claimed.id, DeliveryStatus.FAILED, error="address needs SMTPUTF8, not supported"
            )
        except HeaderInjection as exc:
            return store.Result(claimed.id, DeliveryStatus.FAILED, error=str(exc))
        return Job(
            claimed, self.verp.address(claimed.id), recipient.address, data, recipient.message_id
        )

    def _personal_url(self, purpose: str, claimed: store.Claimed) -> str:
        """Built by subscriptions (``hooks.register_personal_url``), like every personal link."""
        builder = registry(self.app).personal_url
        if builder is None:
            raise RuntimeError("no personal link builder registered (subscriptions)")
        assert claimed.subscriber_id is not None
        assert claimed.link_key is not None
        return builder(purpose, claimed.subscriber_id, claimed.link_key)

    def _prepare_service(self, claimed: store.Claimed) -> Job | store.Result:
        renderer = registry(self.app).service_mail.get(claimed.kind.value)
        if renderer is None:
            return self._later(claimed, f"no renderer registered for {claimed.kind.value} mail")
        try:
            delivery = db.session.get(Delivery, claimed.id)
            mail = renderer(delivery) if delivery is not None else None
            db.session.commit()
        except Exception as exc:
            db.session.rollback()
            log.exception("rendering %s mail for delivery %s failed", claimed.kind, claimed.id)
            return self._retry_result(claimed, f"rendering failed: {exc}")
        finally:
            db.session.remove()
        if mail is None:
            return store.Result(
                claimed.id, DeliveryStatus.CANCELLED, attempted=False, error="nothing to send"
            )
        template = build_template(
            mail_from=self.mail_from,
            subject=mail.subject,
            text=mail.text,
            html=mail.html,
        )
        return self._job(claimed, template, Recipient(mail.to, self.message_id(claimed.id)))

    def _run_handler(self, claimed: store.Claimed) -> store.Result:
        handler = registry(self.app).outbox_handlers.get(claimed.kind.value)
        if handler is None:
            return self._later(claimed, f"no handler registered for {claimed.kind.value} rows")
        try:
            delivery = db.session.get(Delivery, claimed.id)
            if delivery is not None:
                handler(delivery)
            db.session.commit()
        except TransportError as exc:
            db.session.rollback()
            return self._retry_result(claimed, exc.message)
        except Exception as exc:
            db.session.rollback()
            log.exception("outbox handler for delivery %s failed", claimed.id)
            return self._retry_result(claimed, f"handler failed: {exc}")
        finally:
            db.session.remove()
        return store.Result(claimed.id, DeliveryStatus.SENT)

    # --- results ---------------------------------------------------------------------------

    def _retry_result(self, claimed: store.Claimed, error: str) -> store.Result:
        now = utcnow()
        first = claimed.first_attempt_at or now
        if now - first >= self.give_up:
            return store.Result(
                claimed.id, DeliveryStatus.FAILED, error=f"gave up: {error}", first_attempt_at=first
            )
        return store.Result(
            claimed.id,
            DeliveryStatus.QUEUED,
            error=error,
            next_attempt_at=store.retry_at(claimed.attempts + 1, self.schedule, now),
            first_attempt_at=first,
        )

    def result_for(self, job: Job, answer: SendResult) -> store.Result:
        claimed = job.claimed
        if answer.outcome is Outcome.SENT:
            return store.Result(
                claimed.id, DeliveryStatus.SENT, message_id=job.message_id, relay=answer.relay
            )
        if answer.outcome is Outcome.TEMPORARY:
            result = self._retry_result(claimed, answer.detail)
            result.relay = answer.relay
            return result
        bounce = claimed.subscriber_id if answer.outcome is Outcome.REJECTED else None
        return store.Result(
            claimed.id,
            DeliveryStatus.FAILED,
            error=answer.detail,
            bounce_subscriber_id=bounce,
            relay=answer.relay,
            digest_id=claimed.digest_id,
        )

    # --- running ---------------------------------------------------------------------------

    def run(
        self,
        stop: threading.Event,
        *,
        until_idle: bool = False,
        progress: Callable[[int], None] | None = None,
    ) -> SendReport:
        """Send until ``stop`` is set (or, with ``until_idle``, until nothing is due);
        ``progress(n)`` is told of every group of results recorded."""
        report = SendReport()
        # Jobs travel in small chunks: one queue operation (and one thread hand-off) per chunk
        # instead of per message.
        jobs: queue.Queue[Any] = queue.Queue(maxsize=2 * self.concurrency)
        results: queue.SimpleQueue[Any] = queue.SimpleQueue()
        relay_down = threading.Event()
        outstanding = _Counter()

        def put_result(result: store.Result, held: bool) -> None:
            results.put((result, held))

        workers = [
            threading.Thread(
                target=self._work,
                args=(jobs, put_result, stop, relay_down, report),
                name=f"sender-{n}",
                daemon=True,
            )
            for n in range(self.concurrency)
        ]
        recorder = threading.Thread(
            target=self._record_loop,
            args=(results, report, outstanding, progress),
            name="recorder",
        )
        for thread in (*workers, recorder):
            thread.start()
        # The next batch is claimed (in its own thread, mostly waiting on the database) while
        # this one is prepared and sent: the relay connections never wait for a claim.
        claimer = ThreadPoolExecutor(1, thread_name_prefix="claimer")
        pending: Future[list[store.Claimed]] | None = None
        try:
            while not stop.is_set() and not relay_down.is_set():
                if pending is None:
                    pending = claimer.submit(self._claim)
                batch = pending.result()
                pending = None
                if not batch:
                    outstanding.wait_zero(stop, relay_down)
                    if store.has_due(self.engine, self.lane):
                        continue
                    if until_idle:
                        break
                    wait = store.next_due_in(self.engine, self.lane)
                    stop.wait(self.idle_seconds if wait is None else min(wait, self.idle_seconds))
                    continue
                outstanding.add(len(batch))
                pending = claimer.submit(self._claim)
                chunk_size = max(1, min(CHUNK, len(batch) // (2 * self.concurrency)))
                chunk: list[Job] = []
                for claimed in batch:
                    if (
                        stop.is_set()
                        or relay_down.is_set()
                        or claimed.deadline < time.monotonic()
                        or claimed.digest_id in self.paused_digests
                    ):
                        put_result(store.Result(claimed.id, DeliveryStatus.QUEUED, False), False)
                        continue
                    prepared = self.prepare(claimed)
                    if isinstance(prepared, store.Result):
                        put_result(prepared, False)
                        continue
                    chunk.append(prepared)
                    if len(chunk) >= chunk_size:
                        jobs.put(chunk)
                        chunk = []
                if chunk:
                    jobs.put(chunk)
        finally:
            if pending is not None:  # claimed ahead, never started: given back untouched
                try:
                    ahead = pending.result()
                except Exception:
                    log.exception("claiming ahead failed")
                    ahead = []
                outstanding.add(len(ahead))
                for claimed in ahead:
                    put_result(store.Result(claimed.id, DeliveryStatus.QUEUED, False), False)
            claimer.shutdown()
            for _ in workers:
                jobs.put(_STOP)
            for thread in workers:
                thread.join()
            results.put(_STOP)
            recorder.join()
        if relay_down.is_set():
            report.relay_error = self._relay_error
        return report

    _relay_error: str | None = None

    def _claim(self) -> list[store.Claimed]:
        return store.claim(
            self.engine,
            worker=self.name,
            limit=self.batch_size,
            lease_seconds=self.lease_seconds,
            lane=self.lane,
        )

    def _work(
        self,
        jobs: queue.Queue[Any],
        put_result: Callable[[store.Result, bool], None],
        stop: threading.Event,
        relay_down: threading.Event,
        report: SendReport,
    ) -> None:
        session = self.transport.open_session()
        try:
            while True:
                chunk = jobs.get()
                if chunk is _STOP:
                    return
                self._send_chunk(session, chunk, put_result, stop, relay_down)
        finally:
            session.close()

    def _send_chunk(
        self,
        session: Session,
        chunk: list[Job],
        put_result: Callable[[store.Result, bool], None],
        stop: threading.Event,
        relay_down: threading.Event,
    ) -> None:
        """Hand a chunk to the session (pipelined on one relay connection); rows it did not
        start (stopping, relay unavailable) go back untouched."""
        run = _Run(self, chunk, put_result, stop, relay_down)
        try:
            session.run(run)
        except RelayUnavailable as exc:
            self._relay_error = exc.message
            relay_down.set()
        except Exception as exc:  # a bug must not leave the rows leased forever
            log.exception("sending %d deliveries failed", len(chunk))
            for index in run.unresolved():
                if run.admitted[index]:
                    run.done(index, SendResult(Outcome.TEMPORARY, 0, f"internal error: {exc}"))
        for index in run.unresolved():
            job = chunk[index]
            put_result(store.Result(job.claimed.id, DeliveryStatus.QUEUED, False), False)
            if run.admitted[index]:
                self.window.release()

    def _record_loop(
        self,
        results: queue.SimpleQueue[Any],
        report: SendReport,
        outstanding: _Counter,
        progress: Callable[[int], None] | None = None,
    ) -> None:
        """Commit results as they come, a few at a time; each commit frees window slots."""
        done = False
        with self.engine.connect() as conn:
            if conn.dialect.name == "sqlite":
                # Like synchronous_commit=off: survives a process crash, not a power cut;
                # a lost "sent" mark means a duplicate, never a lost message.
                conn.exec_driver_sql("PRAGMA synchronous = OFF")
            else:
                conn.exec_driver_sql("SET synchronous_commit = off")
            conn.commit()
            while not done:
                item = results.get()
                group: list[tuple[store.Result, bool]] = []
                if item is _STOP:
                    break
                group.append(item)
                while len(group) < self.max_unrecorded:
                    try:
                        item = results.get_nowait()
                    except queue.Empty:
                        break
                    if item is _STOP:
                        done = True
                        break
                    group.append(item)
                self._commit(conn, [r for r, _ in group])
                for result, held in group:
                    report.count(result)
                    if held:
                        self.window.release()
                outstanding.add(-len(group))
                if progress is not None:
                    progress(len(group))

    def _commit(self, conn: sa.Connection, group: list[store.Result]) -> None:
        for attempt in range(5):
            try:
                with conn.begin():
                    paused = store.record(
                        conn,
                        group,
                        config=self.config,
                        message_id_suffix=self.message_id_suffix,
                        worker=self.name,
                    )
                for digest_id in paused:
                    log.error("digest %s paused: too many permanent failures", digest_id)
                self.paused_digests.update(paused)
                return
            except sa.exc.OperationalError:
                if attempt == 4:
                    raise
                log.warning("recording %d results failed, retrying", len(group), exc_info=True)
                time.sleep(0.5 * (attempt + 1))


class _Run:
    """A chunk of jobs as the transport sees it (``transport.Batch``): ``admit`` takes a slot
    of the unrecorded window and a rate-limit token right before the content goes out;
    ``done`` turns the relay's answer into the row's result for the recorder."""

    def __init__(
        self,
        sender: Sender,
        jobs: list[Job],
        put_result: Callable[[store.Result, bool], None],
        stop: threading.Event,
        relay_down: threading.Event,
    ) -> None:
        self.sender = sender
        self.messages = jobs
        self.put_result = put_result
        self.stop = stop
        self.relay_down = relay_down
        self.admitted = [False] * len(jobs)
        self.resolved = [False] * len(jobs)

    def more(self, index: int) -> bool:
        claimed = self.messages[index].claimed
        return (
            not self.stop.is_set()
            and not self.relay_down.is_set()
            and claimed.deadline > time.monotonic()
            and claimed.digest_id not in self.sender.paused_digests
        )

    def admit(self, index: int) -> None:
        self.sender.window.acquire()
        self.admitted[index] = True
        self.sender.bucket.acquire()

    def done(self, index: int, result: SendResult) -> None:
        self.resolved[index] = True
        self.put_result(self.sender.result_for(self.messages[index], result), self.admitted[index])

    def unresolved(self) -> list[int]:
        return [i for i, done in enumerate(self.resolved) if not done]


class _Counter:
    """Rows claimed but not yet recorded; ``until_idle`` waits for zero before looking again."""

    def __init__(self) -> None:
        self._value = 0
        self._cond = threading.Condition()

    def add(self, delta: int) -> None:
        with self._cond:
            self._value += delta
            if self._value <= 0:
                self._cond.notify_all()

    def wait_zero(self, *events: threading.Event) -> None:
        """Until every claimed row is recorded, or one of ``events`` (stop, relay down) is set."""
        with self._cond:
            while self._value > 0 and not any(event.is_set() for event in events):
                self._cond.wait(0.1)


def _expired(value: object) -> bool:
    """A payload's ``expires`` (ISO-8601) has passed; no or unreadable value: not expired."""
    if not isinstance(value, str):
        return False
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return False
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment <= utcnow()


def serve_forever(app: Flask, transport: Transport, stop: threading.Event) -> None:
    """The worker loop: send, and while the relay is unreachable, wait with growing pauses."""
    pause = 1.0
    while not stop.is_set():
        report = Sender(app, transport).run(stop)
        if report.relay_error is None:
            pause = 1.0
            continue
        log.error("relay unavailable, pausing sending for %.0fs: %s", pause, report.relay_error)
        stop.wait(pause)
        pause = min(pause * 2, 300.0)
