"""Articles in: validation of the article format, upsert by (source, external id), topics, mentions.

``upsert_article`` is the one way in for the API, import files and feeds. It leaves
``updated_at`` alone when nothing changed (feeds use it as a content version), classifies
articles that come without topics, and never undoes an editor's choice of topics.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import selectinload

from newsletter import audit, events, schemas
from newsletter.articles import mentions, queries, training
from newsletter.articles.models import (
    Article,
    ArticleMunicipality,
    ArticleMunicipalityEdit,
    ArticleTopic,
    Source,
    SourceKind,
    TopicAssignment,
)
from newsletter.articles.sanitize import (
    clean_control,
    html_to_text,
    plain_text,
    sanitize_html,
    text_to_html,
)
from newsletter.articles.schemas import (
    MAX_EXTERNAL_ID,
    MAX_TITLE,
    ArticleIn,
    ArticleOut,
)
from newsletter.audit import Actor
from newsletter.db import get_or_404, utcnow
from newsletter.exceptions import ValidationError
from newsletter.extensions import db
from newsletter.reference.models import Municipality, Topic

_RFC3339 = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(\.\d+)?([Zz]|[+-]\d{2}:\d{2})"
)
ARTICLE_FIELDS = (
    "external_id",
    "title",
    "url",
    "published_at",
    "summary",
    "body_html",
    "body",
    "image_url",
    "topics",
)


@dataclass(frozen=True)
class ArticleInput:
    """One article as the contract describes it, already checked."""

    external_id: str
    title: str
    published_at: datetime
    url: str | None = None
    summary: str = ""
    body_html: str = ""
    body: str = ""
    image_url: str | None = None
    topics: tuple[str, ...] = ()


@dataclass(frozen=True)
class ImportCounts:
    created: int = 0
    updated: int = 0
    skipped: int = 0

    def __add__(self, other: ImportCounts) -> ImportCounts:
        return ImportCounts(
            self.created + other.created,
            self.updated + other.updated,
            self.skipped + other.skipped,
        )

    def line(self) -> str:
        return f"created {self.created}, updated {self.updated}, skipped {self.skipped}"


def parse_datetime(value: str) -> datetime:
    """An RFC 3339 date-time with an offset, as an aware UTC datetime; ValueError otherwise."""
    match = _RFC3339.fullmatch(value)
    if not match:
        raise ValueError(
            "must be an ISO 8601 date-time with a UTC offset, e.g. 2024-11-18T10:00:00+01:00"
        )
    year, month, day, hour, minute, second = (int(g) for g in match.groups()[:6])
    fraction, offset = match.group(7), match.group(8)
    micro = int((fraction[1:] + "000000")[:6]) if fraction else 0
    second = min(second, 59)  # a leap second is the last second of its minute
    if offset.upper() == "Z":
        tz_offset = 0
    else:
        sign = 1 if offset[0] == "+" else -1
        hours, minutes = int(offset[1:3]), int(offset[4:6])
        if hours > 23 or minutes > 59:
            raise ValueError("has an impossible UTC offset")
        tz_offset = sign * (hours * 60 + minutes)
    try:
        local = datetime(year, month, day, hour, minute, second, micro, tzinfo=UTC)
        result = local - timedelta(minutes=tz_offset)
    except (ValueError, OverflowError):
        raise ValueError("is not a real date and time") from None
    return result


def parse_article(data: Any) -> ArticleInput:
    """Check one article of the contract's format (``ArticleIn``); ValidationError with
    {field: message}."""
    if not isinstance(data, Mapping):
        raise ValidationError("an article must be a JSON object", {"body": "must be an object"})
    item = schemas.validate(ArticleIn, dict(data))
    errors: dict[str, str] = {}
    # A title that is nothing but markup is kept as its literal (escaped when shown) text.
    title = plain_text(item.title) or clean_control(" ".join(item.title.split()) or item.title)
    external_id = item.external_id
    if external_id is None:
        if item.url is None:
            errors["external_id"] = "is required when url is absent"
        elif len(item.url) > MAX_EXTERNAL_ID:
            errors["external_id"] = f"is required when url is longer than {MAX_EXTERNAL_ID}"
        external_id = item.url
    published_at: datetime | None = None
    try:
        published_at = parse_datetime(item.published_at)
    except ValueError as exc:
        errors["published_at"] = str(exc)
    if errors:
        first, message = next(iter(errors.items()))
        raise ValidationError(f"{first} {message}", errors)
    assert published_at is not None
    assert external_id is not None
    return ArticleInput(
        external_id=clean_control(external_id),
        title=title,
        published_at=published_at,
        url=clean_control(item.url) if item.url else None,
        summary=item.summary or "",
        body_html=item.body_html or "",
        body=item.body or "",
        image_url=clean_control(item.image_url) if item.image_url else None,
        topics=tuple(item.topics or ()),
    )


def parse_fixture_article(data: Any, timezone: str = "Europe/Rome") -> ArticleInput:
    """The variant in shared/fixtures: ``id``, ``published`` as a date, ``body``, ``image``."""
    if not isinstance(data, Mapping):
        raise ValidationError("an article must be a JSON object", {"body": "must be an object"})
    converted: dict[str, Any] = {k: v for k, v in data.items() if k in ARTICLE_FIELDS}
    if "id" in data and "external_id" not in data:
        converted["external_id"] = data["id"] if isinstance(data["id"], str) else str(data["id"])
    published = data.get("published")
    if "published_at" not in data and published is not None:
        try:
            day = date.fromisoformat(str(published))
        except ValueError:
            raise ValidationError(
                "published must be a date like 2024-11-18", {"published": "must be a date"}
            ) from None
        midnight = datetime.combine(day, time(0), tzinfo=ZoneInfo(timezone))
        converted["published_at"] = midnight.isoformat()
    try:
        return parse_article(converted)
    except ValidationError as exc:
        details = exc.details or {}
        renamed = {
            ("published" if k == "published_at" and published else k): v for k, v in details.items()
        }
        raise ValidationError(exc.message, renamed) from None


def parse_import_file(items: Any, timezone: str = "Europe/Rome") -> list[ArticleInput]:
    """A JSON list of articles; the first bad item rejects the file, naming index and field."""
    if not isinstance(items, list):
        raise ValidationError("the file must hold a JSON list of articles")
    parsed: list[ArticleInput] = []
    seen: set[str] = set()
    for index, item in enumerate(items):
        try:
            fixture_variant = isinstance(item, Mapping) and (
                "published" in item or ("id" in item and "external_id" not in item)
            )
            article = (
                parse_fixture_article(item, timezone) if fixture_variant else parse_article(item)
            )
        except ValidationError as exc:
            details = exc.details if isinstance(exc.details, dict) else {}
            where = ", ".join(f"{k} {v}" for k, v in details.items()) or exc.message
            raise ValidationError(f"item {index}: {where}", {"item": index, **details}) from None
        if article.external_id in seen:
            raise ValidationError(
                f"item {index}: external_id {article.external_id!r} appears twice",
                {"item": index, "external_id": "appears twice"},
            )
        seen.add(article.external_id)
        parsed.append(article)
    return parsed


def check_topics(items: list[ArticleInput]) -> None:
    """Every topic named by a batch exists; else the first bad item is named, nothing written."""
    known = set(db.session.scalars(sa.select(Topic.slug)))
    for index, item in enumerate(items):
        unknown = [slug for slug in item.topics if slug not in known]
        if unknown:
            message = f"unknown topic: {', '.join(unknown)}"
            raise ValidationError(
                f"item {index}: topics {message}", {"item": index, "topics": message}
            )


# --- storing -------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Content:
    title: str
    url: str | None
    summary: str
    body_html: str
    body_text: str
    image_url: str | None
    published_at: datetime


def _content(item: ArticleInput) -> _Content:
    body_html = sanitize_html(item.body_html) if item.body_html.strip() else ""
    if not body_html and item.body.strip():
        body_html = sanitize_html(text_to_html(item.body))
    body_text = html_to_text(body_html) if body_html else ""
    summary = plain_text(item.summary)
    return _Content(
        title=item.title[:MAX_TITLE],
        url=item.url,
        summary=summary,
        body_html=body_html,
        body_text=body_text,
        image_url=item.image_url,
        published_at=item.published_at,
    )


def _topics_by_slug(slugs: Iterable[str]) -> dict[str, Topic]:
    wanted = list(dict.fromkeys(slugs))
    found = {t.slug: t for t in db.session.scalars(sa.select(Topic).where(Topic.slug.in_(wanted)))}
    unknown = [s for s in wanted if s not in found]
    if unknown:
        raise ValidationError(
            f"topics unknown topic: {', '.join(unknown)}",
            {"topics": f"unknown topic: {', '.join(unknown)}"},
        )
    return found


def municipality_matcher() -> mentions.Matcher:
    rows = db.session.execute(sa.select(Municipality.id, Municipality.name)).all()
    key = tuple(sorted((int(r[0]), str(r[1])) for r in rows))
    cached: tuple[tuple[tuple[int, str], ...], mentions.Matcher] | None = db.session.info.get(
        "municipality_matcher"
    )
    if cached is not None and cached[0] == key:
        return cached[1]
    matcher = mentions.build_matcher(key, mentions.default_gazetteer())
    db.session.info["municipality_matcher"] = (key, matcher)
    return matcher


def _edits(article: Article) -> dict[int, bool]:
    """The editors' corrections: comune -> kept (True) or removed (False)."""
    if article.id is None:
        return {}
    return {
        municipality_id: included
        for municipality_id, included in db.session.execute(
            sa.select(
                ArticleMunicipalityEdit.municipality_id, ArticleMunicipalityEdit.included
            ).where(ArticleMunicipalityEdit.article_id == article.id)
        )
    }


def _set_mentions(article: Article, content: _Content) -> bool:
    """Detected comuni, then the editors' corrections on top (they survive every re-import)."""
    found = municipality_matcher().find(content.title, content.summary, content.body_text)
    for municipality_id, included in _edits(article).items():
        if included:
            found.add(municipality_id)
        else:
            found.discard(municipality_id)
    current = {link.municipality_id for link in article.municipality_links}
    if found == current:
        return False
    article.municipality_links = [
        link for link in article.municipality_links if link.municipality_id in found
    ]
    for municipality_id in sorted(found - current):
        article.municipality_links.append(ArticleMunicipality(municipality_id=municipality_id))
    return True


def _set_topics(
    article: Article, content: _Content, given: tuple[str, ...], reclassify: bool
) -> bool:
    """Source topics when given, the classifier's otherwise; an editor's choice stays."""
    if article.topics_edited_at is not None:
        return False
    current = {(link.topic.slug, link.assigned_by, link.score) for link in article.topic_links}
    wanted: set[tuple[str, TopicAssignment, float | None]]
    if given:
        topics = _topics_by_slug(given)
        wanted = {(slug, TopicAssignment.SOURCE, None) for slug in topics}
    elif (
        reclassify
        or not article.topic_links
        or any(link.assigned_by == TopicAssignment.SOURCE for link in article.topic_links)
    ):
        result = training.classify_text(content.title, f"{content.summary}\n{content.body_text}")
        topics = _topics_by_slug(result.topics)
        wanted = {
            (slug, TopicAssignment.AUTO, float(result.scores.get(slug, 0.0))) for slug in topics
        }
    else:
        return False
    if wanted == current:
        return False
    article.topic_links = []
    db.session.flush()
    for slug, assigned_by, score in sorted(wanted, key=lambda w: w[0]):
        article.topic_links.append(
            ArticleTopic(topic=topics[slug], assigned_by=assigned_by, score=score)
        )
    return True


def upsert_article(source: Source, item: ArticleInput) -> tuple[Article, bool]:
    """Create or update by (source, external id); the caller commits. Returns (article, created).

    ``updated_at`` moves only when something the readers see changed.
    """
    content = _content(item)
    if item.topics:
        _topics_by_slug(item.topics)  # unknown slugs: 422 before anything is written
    article = db.session.scalar(
        sa.select(Article)
        .where(Article.source_id == source.id, Article.external_id == item.external_id)
        .options(selectinload(Article.topic_links), selectinload(Article.municipality_links))
    )
    created = article is None
    if article is None:
        article = Article(source=source, external_id=item.external_id, hidden=False)
        article.topic_links = []
        article.municipality_links = []
        db.session.add(article)
    changed = False
    for name in ("title", "url", "summary", "body_html", "body_text", "image_url", "published_at"):
        value = getattr(content, name)
        if getattr(article, name) != value:
            setattr(article, name, value)
            changed = True
    if created:
        db.session.flush()
    links_changed = _set_topics(article, content, item.topics, reclassify=changed)
    links_changed = _set_mentions(article, content) or links_changed
    if not created and (changed or links_changed):
        article.updated_at = utcnow()
    db.session.flush()
    if not article.hidden and (created or changed or links_changed):
        events.article_published.send(article, created=created)
    return article, created


def upsert_and_commit(source: Source, item: ArticleInput) -> tuple[Article, bool]:
    """``upsert_article`` and commit; a concurrent insert of the same article becomes an update."""
    source_id = source.id
    try:
        result = upsert_article(source, item)
        db.session.commit()
        return result
    except IntegrityError:
        db.session.rollback()
        source_again = db.session.get(Source, source_id)
        assert source_again is not None
        result = upsert_article(source_again, item)
        db.session.commit()
        return result


def upsert_many(
    source: Source, items: Iterable[ArticleInput], progress: Any = None
) -> ImportCounts:
    """Upsert a batch in one transaction; ``progress`` (optional) is called after each item."""
    created = updated = skipped = 0
    for item in items:
        before = _version(source, item.external_id)
        article, was_created = upsert_article(source, item)
        if was_created:
            created += 1
        elif before != article.updated_at:
            updated += 1
        else:
            skipped += 1
        if progress is not None:
            progress()
    db.session.commit()
    return ImportCounts(created, updated, skipped)


def _version(source: Source, external_id: str) -> datetime | None:
    return db.session.scalar(
        sa.select(Article.updated_at).where(
            Article.source_id == source.id, Article.external_id == external_id
        )
    )


def refresh_all() -> tuple[int, int]:
    """Re-run the classifier (auto topics only) and the mention finder on every article, after
    editors changed the keyword lists or the municipality table. Returns (topics, mentions)
    changed."""
    topics_changed = mentions_changed = 0
    ids = list(db.session.scalars(sa.select(Article.id).order_by(Article.id)))
    for start in range(0, len(ids), 200):
        batch = db.session.scalars(
            sa.select(Article)
            .where(Article.id.in_(ids[start : start + 200]))
            .options(selectinload(Article.topic_links), selectinload(Article.municipality_links))
        ).all()
        for article in batch:
            content = _Content(
                title=article.title,
                url=article.url,
                summary=article.summary,
                body_html=article.body_html,
                body_text=article.body_text,
                image_url=article.image_url,
                published_at=article.published_at,
            )
            auto = all(link.assigned_by == TopicAssignment.AUTO for link in article.topic_links)
            changed_topics = auto and _set_topics(article, content, (), reclassify=True)
            changed_mentions = _set_mentions(article, content)
            if changed_topics or changed_mentions:
                article.updated_at = utcnow()
            topics_changed += changed_topics
            mentions_changed += changed_mentions
        db.session.commit()
    return topics_changed, mentions_changed


# --- sources -------------------------------------------------------------------------------


def get_or_create_source(name: str, kind: SourceKind, url: str | None = None) -> Source:
    source = db.session.scalar(sa.select(Source).where(Source.name == name))
    if source is None:
        source = Source(name=name, kind=kind, url=url, poll=False)
        db.session.add(source)
        db.session.flush()
    return source


def file_source() -> Source:
    """Articles imported from JSON files share one source, so a file imported twice upserts."""
    return get_or_create_source("Import file", SourceKind.FILE)


# --- editors ------------------------------------------------------------------------------


def get_article(article_id: int) -> Article:
    return get_or_404(Article, article_id, f"no article {article_id}")


def set_topics_by_editor(article_id: int, slugs: Iterable[str], *, actor: Actor) -> Article:
    """An editor's topics replace all others and survive every later re-import."""
    wanted = [s.strip().lower() for s in slugs if s.strip()]
    if not wanted:
        raise ValidationError("choose at least one topic", {"topics": "choose at least one topic"})
    article = get_article(article_id)
    topics = _topics_by_slug(wanted)
    article.topic_links = []
    db.session.flush()
    for slug in sorted(topics):
        article.topic_links.append(
            ArticleTopic(topic=topics[slug], assigned_by=TopicAssignment.EDITOR, score=None)
        )
    now = utcnow()
    article.topics_edited_at = now
    article.updated_at = now
    audit.record(actor, "article.topics", f"article:{article.id}", {"topics": sorted(topics)})
    db.session.flush()
    if not article.hidden:
        events.article_published.send(article, created=False)
    db.session.commit()
    return article


def set_municipality_by_editor(
    article_id: int, municipality_id: int, included: bool, *, actor: Actor
) -> Article:
    """An editor adds (``included``) or removes a comune; the choice outlives re-imports."""
    article = get_article(article_id)
    if db.session.get(Municipality, municipality_id) is None:
        raise ValidationError(
            f"unknown municipality: {municipality_id}", {"municipality": municipality_id}
        )
    edit = db.session.get(ArticleMunicipalityEdit, (article_id, municipality_id))
    if edit is None:
        edit = ArticleMunicipalityEdit(article_id=article_id, municipality_id=municipality_id)
        db.session.add(edit)
    edit.included = included
    edit.edited_by = actor.name
    edit.edited_at = utcnow()
    audit.record(
        actor,
        "article.municipality.add" if included else "article.municipality.remove",
        f"article:{article_id}",
        {"municipality_id": municipality_id},
    )
    db.session.flush()
    linked = {link.municipality_id for link in article.municipality_links}
    if included and municipality_id not in linked:
        article.municipality_links.append(ArticleMunicipality(municipality_id=municipality_id))
        article.updated_at = utcnow()
    elif not included and municipality_id in linked:
        article.municipality_links = [
            link for link in article.municipality_links if link.municipality_id != municipality_id
        ]
        article.updated_at = utcnow()
    db.session.commit()
    return article


def municipality_edits(article_id: int) -> dict[int, bool]:
    """For the admin page: which comuni an editor added (True) or removed (False)."""
    return _edits(get_article(article_id))


def set_hidden(article_id: int, hidden: bool, *, actor: Actor) -> Article:
    """Hidden articles stay stored (a re-import does not bring them back) but are not shown."""
    article = get_article(article_id)
    if article.hidden != hidden:
        article.hidden = hidden
        article.updated_at = utcnow()
        action = "article.hide" if hidden else "article.restore"
        audit.record(actor, action, f"article:{article.id}", {"title": article.title[:200]})
        if not hidden:
            events.article_published.send(article, created=False)
    db.session.commit()
    return article


# --- reading ------------------------------------------------------------------------------


def list_articles(
    topic: str | None = None,
    since: datetime | None = None,
    limit: int = 20,
    include_hidden: bool = False,
) -> list[Article]:
    """Newest first; ``since`` keeps articles published at or after it."""
    if include_hidden:
        query = queries.newest_first(queries.in_topic(sa.select(Article), slug=topic))
    else:
        query = queries.visible_articles(topic=topic)
    if since is not None:
        query = query.where(Article.published_at >= since)
    query = query.options(
        selectinload(Article.topic_links), selectinload(Article.municipality_links)
    )
    return list(db.session.scalars(query.limit(limit)))


def article_dict(article: Article) -> dict[str, Any]:
    """The stored article as the API shows it (``ArticleOut``)."""
    return schemas.dump(ArticleOut.model_validate(_article_fields(article)))


def _article_fields(article: Article) -> dict[str, Any]:
    return {
        "id": article.id,
        "source": article.source.name,
        "external_id": article.external_id,
        "title": article.title,
        "url": article.url,
        "published_at": _iso(article.published_at),
        "summary": article.summary,
        "body_html": article.body_html,
        "body": article.body_text,
        "image_url": article.image_url,
        "topics": article.topic_slugs,
        "topic_assignments": [
            {"topic": link.topic.slug, "assigned_by": str(link.assigned_by), "score": link.score}
            for link in sorted(article.topic_links, key=lambda link: link.topic.slug)
        ],
        "municipalities": sorted(link.municipality.name for link in article.municipality_links),
        "created_at": _iso(article.created_at),
        "updated_at": _iso(article.updated_at),
    }


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
