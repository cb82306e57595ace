"""What the admin pages read beyond their domains' own reads: the audit log, searches, digest
previews and test sends, the schedule. The dashboard's aggregates are in ``dashboard``.

State changes are the domains' operations, called by the views with an explicit ``Actor``; each
writes its own audit row, so the console and the API leave the same trace as these pages.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.orm import selectinload

from newsletter import audit
from newsletter.admin.models import User
from newsletter.articles.models import Article, Source
from newsletter.articles.queries import search_articles
from newsletter.audit import Actor, AuditEntry
from newsletter.db import get_or_404, utcnow
from newsletter.delivery import holds, outbox
from newsletter.delivery.models import Delivery, DeliveryStatus, HoldResolution
from newsletter.digests.models import Digest
from newsletter.exceptions import NewsletterError, ValidationError
from newsletter.extensions import db
from newsletter.hooks import ServiceMail
from newsletter.paging import Page, paginate
from newsletter.scheduling.models import JobRun
from newsletter.subscriptions.models import ConsentEvent, Subscriber, normalize_email
from newsletter.vocabulary import Frequency, Locale

log = logging.getLogger(__name__)


def _page(query: sa.Select[Any], page: int) -> Page:
    return paginate(query, page, int(current_app.config["ADMIN_PAGE_SIZE"]))


# --- audit log ---------------------------------------------------------------------------


def audit_log(page: int = 1, action: str | None = None) -> Page:
    query = sa.select(AuditEntry).order_by(AuditEntry.occurred_at.desc(), AuditEntry.id.desc())
    if action:
        query = query.where(AuditEntry.action == action)
    return _page(query, page)


def audit_actions() -> list[str]:
    return list(db.session.scalars(sa.select(AuditEntry.action).distinct().order_by("action")))


# --- subscribers -------------------------------------------------------------------------


def search_subscribers(query: str, *, exact: bool = False, page: int = 1) -> Page:
    """By address: the whole address (exact) or any part of it."""
    text = normalize_email(query)
    stmt = sa.select(Subscriber).options(
        selectinload(Subscriber.subscriptions), selectinload(Subscriber.municipality)
    )
    if exact:
        stmt = stmt.where(Subscriber.email == text)
    elif text:
        escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        stmt = stmt.where(Subscriber.email.like(f"%{escaped}%", escape="\\"))
    return _page(stmt.order_by(Subscriber.email), page)


@dataclass(frozen=True)
class SubscriberDetail:
    subscriber: Subscriber
    consent: Sequence[ConsentEvent]


def subscriber_detail(subscriber_id: int) -> SubscriberDetail:
    subscriber = get_or_404(Subscriber, subscriber_id, "no such subscriber")
    events = db.session.scalars(
        sa.select(ConsentEvent)
        .where(ConsentEvent.subscriber_id == subscriber_id)
        .order_by(ConsentEvent.occurred_at.desc(), ConsentEvent.id.desc())
    ).all()
    return SubscriberDetail(subscriber=subscriber, consent=events)


# --- articles, sources, users ------------------------------------------------------------


def list_articles(
    query: str = "", topic: str | None = None, hidden: bool | None = None, page: int = 1
) -> Page:
    """The articles domain's search, paged, with what the list shows loaded up front."""
    stmt = search_articles(query, topic=topic, hidden=hidden).options(
        selectinload(Article.topic_links), selectinload(Article.source)
    )
    return _page(stmt, page)


def get_article(article_id: int) -> Article:
    return get_or_404(Article, article_id, "no such article")


def list_sources() -> Sequence[Source]:
    return db.session.scalars(sa.select(Source).order_by(Source.name)).all()


def article_counts_by_source() -> dict[int, int]:
    rows = db.session.execute(
        sa.select(Article.source_id, sa.func.count()).group_by(Article.source_id)
    ).all()
    return {source_id: n for source_id, n in rows}


def list_users() -> Sequence[User]:
    return db.session.scalars(sa.select(User).order_by(User.email)).all()


# --- digests: previews, test sends, deliveries, schedule ----------------------------------


@dataclass(frozen=True)
class PreviewRequest:
    """One digest variant: what the preview page and a test send's payload both describe."""

    frequency: str
    topics: tuple[str, ...]
    lang: str
    mayor: str | None = None

    def payload(self) -> dict[str, Any]:
        return {
            "frequency": self.frequency,
            "topics": list(self.topics),
            "lang": self.lang,
            "mayor": self.mayor,
        }

    def query_args(self) -> dict[str, Any]:
        args: dict[str, Any] = {"frequency": self.frequency, "topics": list(self.topics)}
        args["lang"] = self.lang
        if self.mayor:
            args["mayor"] = self.mayor
        return args

    @classmethod
    def from_payload(cls, data: dict[str, Any]) -> PreviewRequest:
        return cls(
            frequency=str(data.get("frequency") or Frequency.WEEKLY),
            topics=tuple(str(t) for t in data.get("topics") or ()),
            lang=str(data.get("lang") or Locale.IT),
            mayor=data.get("mayor") or None,
        )


def render_preview(request: PreviewRequest) -> Any:
    """The variant rendered as the builder would render it; nothing stored or sent."""
    from newsletter.digests.service import preview_digest

    if not Frequency.knows(request.frequency):
        raise ValidationError(
            f"unknown frequency: {request.frequency}", {"frequency": request.frequency}
        )
    return preview_digest(request.frequency, request.topics, request.lang, mayor=request.mayor)


def queue_test_send(to_address: str, request: PreviewRequest, *, actor: Actor) -> Delivery:
    """An outbox row the sender delivers; the request itself never talks to the relay."""
    from newsletter.delivery.models import DeliveryKind
    from newsletter.subscriptions.roster import check_address

    address = check_address(to_address)
    _check_test_send_allowed(address)
    render_preview(request)  # a variant that cannot render is refused now, not in the worker
    delivery = outbox.enqueue(DeliveryKind.TEST, to_address=address, payload=request.payload())
    audit.record(actor, "digest.test_send", address, request.payload())
    db.session.commit()
    return delivery


def _check_test_send_allowed(address: str) -> None:
    from flask import has_request_context

    from newsletter.admin import testsends
    from newsletter.admin.auth import current_user

    testsends.check_allowed(address, current_user() if has_request_context() else None, utcnow())


def render_test_mail(delivery: Delivery) -> ServiceMail | None:
    """The service-mail renderer for kind "test": the preview, marked as a test, with the
    personal links pointing at the public subscribe page (a tester has no token)."""
    from newsletter import mailparts

    if not delivery.to_address:
        return None
    try:
        rendered = render_preview(PreviewRequest.from_payload(delivery.payload or {}))
    except NewsletterError as exc:
        # The variant no longer exists (a municipality renamed since): cancel, do not retry.
        log.warning("test send %s cancelled: %s", delivery.id, exc.message)
        return None
    subscribe_url = current_app.config["BASE_URL"].rstrip("/") + "/subscribe"

    def links(body: str) -> str:
        return body.replace(mailparts.UNSUBSCRIBE_URL, subscribe_url).replace(
            mailparts.PREFERENCES_URL, subscribe_url
        )

    return ServiceMail(
        to=delivery.to_address,
        subject=f"[TEST] {rendered.subject}",
        text=links(rendered.text),
        html=links(rendered.html),
    )


@dataclass(frozen=True)
class DigestRow:
    digest: Digest
    by_status: dict[str, int]


def list_digests(page: int = 1) -> tuple[Page, list[DigestRow]]:
    result = _page(sa.select(Digest).order_by(Digest.created_at.desc(), Digest.id.desc()), page)
    ids = [d.id for d in result.items]
    counts: dict[int, dict[str, int]] = {i: {} for i in ids}
    if ids:
        rows = db.session.execute(
            sa.select(Delivery.digest_id, Delivery.status, sa.func.count())
            .where(Delivery.digest_id.in_(ids))
            .group_by(Delivery.digest_id, Delivery.status)
        )
        for digest_id, status, n in rows:
            counts[digest_id][str(getattr(status, "value", status))] = n
    return result, [DigestRow(d, counts[d.id]) for d in result.items]


def retry_failed(digest_id: int, *, actor: Actor) -> int:
    """Failed deliveries of a digest back in the queue, due now; attempts are kept, so the
    backoff and the give-up limit still apply."""
    get_or_404(Digest, digest_id, f"no digest {digest_id}")
    count = outbox.requeue(digest_id=digest_id, status=DeliveryStatus.FAILED)
    audit.record(actor, "digest.retry_failed", f"digest:{digest_id}", {"deliveries": count})
    db.session.commit()
    return count


@dataclass(frozen=True)
class JobSchedule:
    name: str
    next_run: datetime | None
    last_run: JobRun | None


def job_schedule(now: datetime | None = None) -> list[JobSchedule]:
    """Each registered job's next fire time (its APScheduler trigger in the configured time
    zone, as the worker builds it) and its latest recorded run."""
    from newsletter.scheduling.service import all_jobs
    from newsletter.scheduling.worker import make_trigger

    app = current_app._get_current_object()  # type: ignore[attr-defined]
    now = now or utcnow()
    tz = ZoneInfo(current_app.config["TIMEZONE"])
    result = []
    for job in all_jobs(app):
        trigger = make_trigger(app, job)
        next_run = trigger.get_next_fire_time(None, now.astimezone(tz))
        last = db.session.scalar(
            sa.select(JobRun)
            .where(JobRun.job == job.name)
            .order_by(JobRun.scheduled_for.desc(), JobRun.id.desc())
            .limit(1)
        )
        result.append(JobSchedule(job.name, next_run, last))
    return sorted(result, key=lambda j: (j.next_run is None, j.next_run or now, j.name))


def paused_digests() -> list[tuple[holds.Hold, Digest | None]]:
    """Digests that stopped themselves, with why, for the digests page."""
    found = holds.open_holds(db.session)
    return [(hold, db.session.get(Digest, hold.digest_id)) for hold in found]


def resolve_hold(digest_id: int, resume: bool, *, actor: Actor) -> int:
    """An administrator's decision on a paused digest: send the rest, or cancel it."""
    resolution = HoldResolution.RESUMED if resume else HoldResolution.CANCELLED
    count = holds.resolve(db.session, digest_id, resolution, by=actor.name)
    audit.record(
        actor, f"digest.{resolution.value}_paused", f"digest:{digest_id}", {"deliveries": count}
    )
    db.session.commit()
    return count
