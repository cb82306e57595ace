"""Building a period's digests: compose and render each variant once, enqueue one delivery each.

Everything a build writes (Digest rows, their article links, the deliveries) goes in one
transaction. The unique keys make it idempotent: a variant whose (audience_key, period_key)
already exists was built by an earlier run or by a concurrent builder, and is left alone
together with its deliveries, so a second run for the same period changes nothing.
"""

from __future__ import annotations

import logging
import time as clock
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.dialects import postgresql, sqlite

from newsletter import events
from newsletter.articles.models import Article, ArticleMunicipality, ArticleTopic
from newsletter.articles.queries import is_visible
from newsletter.db import utcnow
from newsletter.delivery import outbox
from newsletter.delivery.models import DeliveryKind
from newsletter.digests import windows
from newsletter.digests.compose import (
    ArticleSnapshot,
    Audience,
    DigestContent,
    compose,
    effective_audience,
    in_window,
    prepare,
    should_send,
)
from newsletter.digests.models import Digest, DigestArticle, DigestKind
from newsletter.digests.render import RenderCache, RenderedDigest, TopicLabel, render
from newsletter.exceptions import ValidationError
from newsletter.extensions import db
from newsletter.paging import Page, paginate
from newsletter.reference.models import Municipality, Topic
from newsletter.reference.service import municipality_by_name, topics_by_slug
from newsletter.subscriptions.models import (
    Role,
    Subscriber,
    SubscriberStatus,
    Subscription,
)
from newsletter.vocabulary import AudienceKind, Frequency, Locale

log = logging.getLogger(__name__)

KIND_OF_AUDIENCE = {
    AudienceKind.CITIZEN: DigestKind.CITIZEN,
    AudienceKind.IMMEDIATE: DigestKind.IMMEDIATE,
    AudienceKind.MAYOR: DigestKind.INSTITUTIONAL,
    AudienceKind.OFFICIAL: DigestKind.INSTITUTIONAL,
    AudienceKind.EDITION: DigestKind.EDITION,
}


@dataclass(frozen=True)
class BuildResult:
    period_key: str
    digests: int  # variants created by this run
    deliveries: int  # delivery rows created by this run
    timings: dict[str, float] = field(default_factory=dict, compare=False)
    editions: int = field(default=0, compare=False)  # archive editions among the new variants


# --- periods -------------------------------------------------------------------------------


def schedule(frequency: str) -> windows.Schedule:
    cfg = current_app.config
    if frequency == Frequency.DAILY:
        return windows.parse_daily(cfg["DAILY_AT"], cfg["TIMEZONE"])
    return windows.parse_weekly(cfg["WEEKLY_AT"], cfg["TIMEZONE"])


def period_due(frequency: str, at: datetime | None = None) -> windows.Period:
    """The period whose digest is due at ``at`` (default: now)."""
    if not Frequency.knows(frequency):
        raise ValidationError(f"unknown frequency: {frequency}", {"frequency": frequency})
    at = at or utcnow()
    if at.tzinfo is None:
        raise ValidationError("the time needs a UTC offset, e.g. 2026-11-23T07:00+01:00")
    if frequency == Frequency.IMMEDIATE:
        return windows.immediate_period(int(current_app.config["IMMEDIATE_BATCH_MINUTES"]), at)
    return windows.due_period(frequency, schedule(frequency), at)


def _max_age() -> timedelta:
    return timedelta(days=int(current_app.config["DIGEST_MAX_ARTICLE_AGE_DAYS"]))


# --- loading snapshots ---------------------------------------------------------------------


def topic_labels() -> dict[str, TopicLabel]:
    return {
        t.slug: TopicLabel(t.slug, t.name_it, t.name_en, t.position)
        for t in db.session.scalars(sa.select(Topic))
    }


def load_articles(period: windows.Period) -> list[ArticleSnapshot]:
    """Visible articles that may fall in ``period`` (compose decides exactly)."""
    oldest = period.end - _max_age()
    rows = db.session.execute(
        sa.select(Article).where(
            is_visible(),
            Article.published_at >= oldest,
            Article.published_at < period.end,
            Article.created_at < period.end,
            sa.or_(Article.created_at >= period.start, Article.published_at >= period.start),
        )
    ).scalars()
    articles = list(rows)
    ids = [a.id for a in articles]
    topics: dict[int, list[str]] = defaultdict(list)
    places: dict[int, list[int]] = defaultdict(list)
    if ids:
        for article_id, slug in db.session.execute(
            sa.select(ArticleTopic.article_id, Topic.slug)
            .join(Topic, Topic.id == ArticleTopic.topic_id)
            .where(ArticleTopic.article_id.in_(ids))
        ):
            topics[article_id].append(slug)
        for article_id, municipality_id in db.session.execute(
            sa.select(ArticleMunicipality.article_id, ArticleMunicipality.municipality_id).where(
                ArticleMunicipality.article_id.in_(ids)
            )
        ):
            places[article_id].append(municipality_id)
    return [
        ArticleSnapshot(
            id=a.id,
            title=a.title,
            url=a.url,
            summary=a.summary or "",
            published_at=a.published_at,
            created_at=a.created_at,
            topics=tuple(sorted(topics[a.id])),
            municipality_ids=tuple(sorted(places[a.id])),
            image_url=a.image_url,
            image_alt=a.image_alt,
            hidden=a.hidden,
        )
        for a in articles
    ]


# role, locale, town, topics, local_news
RecipientGroup = tuple[str, str, int | None, tuple[str, ...], bool]


def load_recipients(frequency: str) -> dict[RecipientGroup, list[int]]:
    """Active readers of ``frequency`` grouped by what decides their variant, in one query.

    Mayors and officials get only the weekly institutional digest. Topic sets come back as a
    bit mask summed in SQL, so 100,000 readers are 100,000 short rows, not 300,000.
    """
    topic_bits = {
        topic_id: (1 << n, slug)
        for n, (topic_id, slug) in enumerate(
            db.session.execute(sa.select(Topic.id, Topic.slug).order_by(Topic.slug))
        )
    }
    institutional = Subscriber.role.in_([Role.MAYOR, Role.OFFICIAL])
    citizens = sa.and_(Subscriber.role == Role.CITIZEN, Subscriber.frequency == frequency)
    who = sa.or_(citizens, institutional) if frequency == Frequency.WEEKLY else citizens
    mask = sa.func.coalesce(
        sa.func.sum(
            sa.case({tid: bit for tid, (bit, _) in topic_bits.items()}, value=Subscription.topic_id)
        ),
        0,
    )
    rows = db.session.execute(
        sa.select(
            Subscriber.id,
            sa.type_coerce(Subscriber.role, sa.String()),
            Subscriber.locale,
            Subscriber.municipality_id,
            Subscriber.local_news,
            mask,
        )
        .outerjoin(Subscription, Subscription.subscriber_id == Subscriber.id)
        .where(Subscriber.status == SubscriberStatus.ACTIVE, who)
        .group_by(
            Subscriber.id,
            Subscriber.role,
            Subscriber.locale,
            Subscriber.municipality_id,
            Subscriber.local_news,
        )
    )
    by_mask: dict[int, tuple[str, ...]] = {}
    groups: dict[RecipientGroup, list[int]] = defaultdict(list)
    for subscriber_id, role, locale, municipality_id, local_news, bits in rows:
        topics = by_mask.get(bits)
        if topics is None:
            topics = by_mask[bits] = tuple(
                slug for bit, slug in sorted(topic_bits.values(), key=lambda t: t[1]) if bits & bit
            )
        local = bool(local_news) and municipality_id is not None and role == Role.CITIZEN
        locale = locale if Locale.knows(locale) else Locale.IT.value
        groups[(role, locale, municipality_id, topics, local)].append(subscriber_id)
    return groups


def citizen_kind(frequency: str) -> AudienceKind:
    """A citizen's digest: the immediate batch, or the daily/weekly one."""
    return AudienceKind.IMMEDIATE if frequency == Frequency.IMMEDIATE else AudienceKind.CITIZEN


def audience_of(
    group: RecipientGroup, frequency: str, all_topics: tuple[str, ...], names: dict[int, str]
) -> Audience | None:
    """The variant a group of readers reads before the period is looked at (see
    ``compose.effective_audience``); None for citizens with nothing to read: no topic and no
    comune's news (e.g. someone who asked only for their comune's urgent alerts, which go out
    as alerts, never as a digest; ``subscriptions.rules.gets_a_digest`` says the same)."""
    role, locale, municipality_id, topics, local_news = group
    if role in (Role.MAYOR, Role.OFFICIAL):
        if role == Role.MAYOR and municipality_id in names:
            return Audience(
                AudienceKind.MAYOR,
                Frequency.WEEKLY,
                locale,
                all_topics,
                municipality_id,
                names[municipality_id],
            )
        return Audience(AudienceKind.OFFICIAL, Frequency.WEEKLY, locale, all_topics)
    kind = citizen_kind(frequency)
    if municipality_id in names:
        if not topics and not local_news:
            return None  # alerts only: no digest, not even an empty one
        return Audience(
            kind,
            frequency,
            locale,
            topics,
            municipality_id,
            names[municipality_id],
            local_news=local_news,
        )
    if not topics:
        return None
    return Audience(kind, frequency, locale, topics)


# --- building ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Variant:
    audience: Audience
    content: DigestContent
    rendered: RenderedDigest
    recipients: tuple[int, ...]


def compose_variants(
    frequency: str,
    period: windows.Period,
    articles: list[ArticleSnapshot],
    recipients: dict[RecipientGroup, list[int]],
    topics: dict[str, TopicLabel],
    names: dict[int, str],
) -> list[Variant]:
    """Map reader groups to variants, then compose and render each variant once."""
    cfg = current_app.config
    all_topics = tuple(sorted(topics))
    in_period = prepare(articles, period, _max_age())
    by_town: dict[int, list[ArticleSnapshot]] = defaultdict(list)
    for article in in_period:
        for town in article.municipality_ids:
            by_town[town].append(article)
    groups: dict[Audience, list[int]] = defaultdict(list)
    for group, ids in recipients.items():
        audience = audience_of(group, frequency, all_topics, names)
        if audience is not None and audience.municipality_id is not None:
            audience = effective_audience(audience, by_town.get(audience.municipality_id, []))
        if audience is not None:
            groups[audience].extend(ids)
    if frequency in (Frequency.DAILY, Frequency.WEEKLY):
        for locale in Locale:
            groups.setdefault(Audience(AudienceKind.EDITION, frequency, locale, all_topics), [])
    positions = {slug: label.position for slug, label in topics.items()}
    variants = []
    pieces = RenderCache()  # each article block, heading and frame rendered once per build
    for audience in sorted(groups, key=lambda a: a.key):
        content = compose(
            in_period,
            period,
            audience,
            topic_positions=positions,
            max_age=_max_age(),
            prepared=True,
        )
        if not should_send(content, bool(cfg["SEND_EMPTY_DIGESTS"])):
            continue
        rendered = render(
            content, topics, base_url=cfg["BASE_URL"], timezone=cfg["TIMEZONE"], cache=pieces
        )
        variants.append(Variant(audience, content, rendered, tuple(sorted(groups[audience]))))
    return variants


def _insert(table: sa.Table) -> Any:
    dialect = db.session.get_bind().dialect.name
    return (postgresql if dialect == "postgresql" else sqlite).insert(table)


def _still_active(subscriber_id: sa.ColumnElement[int]) -> sa.ColumnElement[bool]:
    """Checked inside the INSERT: someone who left since the recipients were loaded gets none."""
    return sa.exists().where(
        Subscriber.id == subscriber_id, Subscriber.status == SubscriberStatus.ACTIVE
    )


def store_variants(period: windows.Period, variants: list[Variant]) -> tuple[int, int, int]:
    """Write the variants not built yet and their deliveries; the caller commits.
    Returns (new digests, new deliveries, new archive editions)."""
    digests = deliveries = editions = 0
    now = utcnow()
    digest_table = Digest.__table__
    for variant in variants:  # sorted by audience key: concurrent builders lock in one order
        audience, rendered = variant.audience, variant.rendered
        statement = (
            _insert(digest_table)
            .values(
                audience_key=audience.key,
                period_key=period.key,
                kind=KIND_OF_AUDIENCE[audience.kind],
                frequency=audience.frequency,
                locale=audience.locale,
                topic_slugs=";".join(audience.topics),
                municipality_id=audience.municipality_id,
                window_start=period.start,
                window_end=period.end,
                subject=rendered.subject,
                preheader=rendered.preheader,
                html=rendered.html,
                text=rendered.text,
                article_count=variant.content.article_count,
                created_at=now,
            )
            .on_conflict_do_nothing(index_elements=["audience_key", "period_key"])
            .returning(digest_table.c.id)
        )
        digest_id = db.session.execute(statement).scalar()
        if digest_id is None:
            continue  # built before, or by a concurrent builder: its deliveries are its own
        digests += 1
        editions += audience.kind == "edition"
        links = [
            {"digest_id": digest_id, "article_id": article.id, "position": i, "section": s.key}
            for i, (s, article) in enumerate(
                (s, a) for s in variant.content.sections for a in s.articles
            )
        ]
        if links:
            db.session.execute(sa.insert(DigestArticle.__table__), links)
        deliveries += outbox.enqueue_many(
            DeliveryKind.DIGEST, digest_id, variant.recipients, only=_still_active, now=now
        )
    return digests, deliveries, editions


def build_digests(
    frequency: str, at: datetime | None = None, progress: Callable[[int], None] | None = None
) -> BuildResult:
    """Compose, render and enqueue the digests due at ``at``, in one transaction; idempotent.
    ``progress`` (optional) is called once after each of the three stages (load, compose and
    render, store)."""
    step = progress or (lambda n: None)
    period = period_due(frequency, at)
    timings: dict[str, float] = {}
    started = clock.perf_counter()
    articles = load_articles(period)
    recipients = load_recipients(frequency)
    topics = topic_labels()
    names = {i: n for i, n in db.session.execute(sa.select(Municipality.id, Municipality.name))}
    timings["load"] = clock.perf_counter() - started
    step(1)

    started, cpu = clock.perf_counter(), clock.process_time()
    variants = compose_variants(frequency, period, articles, recipients, topics, names)
    timings["compose_render"] = clock.perf_counter() - started
    timings["compose_render_cpu"] = clock.process_time() - cpu  # less moved by a busy machine
    step(1)

    started = clock.perf_counter()
    try:
        digests, deliveries, editions = store_variants(period, variants)
        result = BuildResult(period.key, digests, deliveries, timings, editions)
        if digests:
            # In the build's transaction: what receivers write (the WebSub ping of the
            # digests feed) commits with the digests or not at all.
            events.digest_built.send(result, editions=editions)
        if frequency == "immediate":
            # Push and Telegram enqueue for the same new articles, in the same transaction.
            fresh = [a for a in articles if in_window(a, period, _max_age())]
            events.immediate_batch.send(period, period_key=period.key, articles=fresh)
        db.session.commit()
    except BaseException:
        db.session.rollback()
        raise
    timings["store"] = clock.perf_counter() - started
    step(1)
    log.info(
        "digests built",
        extra={"period": period.key, "digests": digests, "deliveries": deliveries},
    )
    return result


def preview_digest(
    frequency: str,
    topics: list[str] | tuple[str, ...],
    locale: str,
    *,
    mayor: str | None = None,
    at: datetime | None = None,
) -> RenderedDigest:
    """Render any variant of the period due at ``at`` without storing or sending anything."""
    if not Locale.knows(locale):
        raise ValidationError(f"unknown language: {locale}", {"lang": locale})
    period = period_due(frequency, at)
    labels = topic_labels()
    if mayor is not None:
        municipality = municipality_by_name(mayor)
        audience = Audience(
            AudienceKind.MAYOR,
            Frequency.WEEKLY,
            locale,
            tuple(sorted(labels)),
            municipality.id,
            municipality.name,
        )
    else:
        chosen = tuple(sorted(t.slug for t in topics_by_slug(list(topics))))
        if not chosen:
            raise ValidationError("choose at least one topic", {"topics": []})
        audience = Audience(citizen_kind(frequency), frequency, locale, chosen)
    content = compose(
        load_articles(period),
        period,
        audience,
        topic_positions={s: label.position for s, label in labels.items()},
        max_age=_max_age(),
    )
    cfg = current_app.config
    return render(content, labels, base_url=cfg["BASE_URL"], timezone=cfg["TIMEZONE"])


# --- archive -------------------------------------------------------------------------------


@dataclass(frozen=True)
class ArchiveSection:
    key: str
    title: str
    articles: list[Article]


def list_editions(locale: str, page: int = 1, per_page: int = 20) -> Page:
    """The all-topics editions in ``locale``, newest first; ``pages`` counted for the pager."""
    query = (
        sa.select(Digest)
        .where(Digest.kind == DigestKind.EDITION, Digest.locale == locale)
        .order_by(Digest.window_end.desc(), Digest.frequency.desc(), Digest.id.desc())
    )
    return paginate(query, page, per_page, count=True)


def get_edition(digest_id: int) -> Digest:
    from newsletter.exceptions import NotFound

    digest = db.session.get(Digest, digest_id)
    if digest is None or digest.kind != DigestKind.EDITION:
        raise NotFound("no such edition in the archive", {"id": digest_id})
    return digest


def edition_sections(digest: Digest, locale: str) -> list[ArchiveSection]:
    """The edition's articles as stored, by section; articles hidden since are left out."""
    labels = topic_labels()
    rows = db.session.execute(
        sa.select(DigestArticle.section, Article)
        .join(Article, Article.id == DigestArticle.article_id)
        .where(DigestArticle.digest_id == digest.id, is_visible())
        .order_by(DigestArticle.position)
    ).all()
    sections: dict[str, list[Article]] = {}
    for section, article in rows:
        sections.setdefault(section, []).append(article)
    return [
        ArchiveSection(key, labels[key].name(locale) if key in labels else key, articles)
        for key, articles in sections.items()
    ]
