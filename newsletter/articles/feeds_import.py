"""Pulling RSS/Atom feeds: conditional GET, parsing, upsert by entry id, failures recorded.

A feed that fails (timeout, HTTP error, not a feed) is logged and recorded on its Source
(``last_status``/``last_error``); nothing is deleted and the poller carries on with the next one.
"""

from __future__ import annotations

import calendar
import logging
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from typing import Any, NoReturn
from urllib.parse import urlsplit
from xml.sax import SAXException

import sqlalchemy as sa
from flask import current_app

from newsletter import audit, fetch
from newsletter.articles import schemas, service
from newsletter.articles.models import Article, Source, SourceKind
from newsletter.articles.sanitize import clean_control, plain_text, safe_url
from newsletter.audit import Actor
from newsletter.db import get_or_404, utcnow
from newsletter.exceptions import Conflict, NewsletterError, NotFound, ValidationError
from newsletter.extensions import db
from newsletter.reference.models import Topic

log = logging.getLogger(__name__)


class FeedError(NewsletterError):
    """The feed could not be fetched or read: recorded on the Source, reported in one line."""

    status_code = 502


@dataclass(frozen=True)
class FetchResult:
    status: str  # ok, not-modified
    counts: service.ImportCounts
    entries: int = 0


def user_agent() -> str:
    try:
        own = version("newsletter-cremasco")
    except PackageNotFoundError:
        own = "0"
    return f"newsletter-cremasco/{own} (+{current_app.config['BASE_URL']})"


def check_feed_url(url: str) -> str:
    """An http(s) URL whose host is not an inside address (checked again on every fetch)."""
    url = url.strip()
    if not safe_url(url) or len(url) > 2000:
        raise ValidationError(f"not an http(s) URL: {url}", {"url": "must be http or https"})
    try:
        fetch.check_url(url)
    except fetch.FetchRefused as exc:
        log.warning("feed URL %s refused: %s", url, exc.detail)
        raise ValidationError(f"{url}: {exc.message}", {"url": fetch.REFUSED_MESSAGE}) from None
    return url


def add_source(url: str, name: str | None = None, *, actor: Actor) -> Source:
    """Register a feed for the worker to poll; its name defaults to the URL's host."""
    url = check_feed_url(url)
    if db.session.scalar(sa.select(Source).where(Source.url == url)) is not None:
        raise Conflict(f"a source with URL {url} exists already", {"url": url})
    name = (name or urlsplit(url).netloc or url).strip()[:120]
    if db.session.scalar(sa.select(Source).where(Source.name == name)) is not None:
        raise Conflict(f"a source named {name!r} exists already; pick another with --name")
    source = Source(name=name, kind=SourceKind.FEED, url=url, poll=True)
    db.session.add(source)
    audit.record(actor, "source.add", url, {"name": name})
    db.session.commit()
    return source


def list_sources() -> list[Source]:
    return list(db.session.scalars(sa.select(Source).order_by(Source.name)))


def source_for_url(url: str) -> Source:
    """The Source of a feed URL; imported once from the command line, it is not polled."""
    url = check_feed_url(url)
    source = db.session.scalar(sa.select(Source).where(Source.url == url))
    if source is not None:
        if source.kind != SourceKind.FEED:
            raise Conflict(f"{url} belongs to a source that is not a feed")
        return source
    name = (urlsplit(url).netloc or url)[:100]
    if db.session.scalar(sa.select(Source).where(Source.name == name)) is not None:
        name = url[-120:]
    source = Source(name=name, kind=SourceKind.FEED, url=url, poll=False)
    db.session.add(source)
    db.session.commit()
    return source


def _record(source: Source, status: str, error: str | None = None) -> None:
    source.last_status = status
    source.last_error = error
    source.last_fetched_at = utcnow()
    db.session.commit()


ProgressFactory = Callable[[int], AbstractContextManager[Callable[[], None]]]


def _no_progress(total: int) -> AbstractContextManager[Callable[[], None]]:
    return nullcontext(lambda: None)


def fetch_source(source: Source, progress: ProgressFactory = _no_progress) -> FetchResult:
    """Fetch one feed with its validators and upsert its entries. FeedError on failure,
    after recording it on the Source (the caller reports it: log line or CLI error)."""
    source_id, url = source.id, source.url
    if url is None:
        raise NotFound(f"source {source.name} has no URL")
    headers = {
        "User-Agent": user_agent(),
        "Accept": "application/rss+xml, application/atom+xml, application/xml;q=0.9, */*;q=0.5",
    }
    if source.etag:
        headers["If-None-Match"] = source.etag
    if source.last_modified:
        headers["If-Modified-Since"] = source.last_modified
    try:
        response = fetch.fetch(url, headers=headers, accept_statuses=(200,))
    except fetch.FetchRefused as exc:
        log.warning("feed source %s: %s refused: %s", source_id, url, exc.detail)
        return _fail(source, "error", f"{url}: {exc.message}")
    except fetch.FetchTimeout:
        return _fail(source, "timeout", f"{url}: no answer within the time limit")
    except fetch.FetchError as exc:
        return _fail(source, "error", f"{url}: {exc.message}")
    if response.status == 304:
        _record(source, "not-modified")
        return FetchResult("not-modified", service.ImportCounts())
    if response.status != 200:
        return _fail(source, "error", f"{url}: HTTP {response.status}")
    content = response.body
    # The body is decoded already: feedparser needs the type and charset, not the encoding.
    response_headers = {k: v for k, v in response.headers.items() if k != "content-encoding"}
    import feedparser  # on first use: ~0.1 s of start-up for every other command

    parsed = feedparser.parse(content, response_headers=response_headers)
    reason = parsed.get("bozo_exception")
    # Broken XML (a truncated download, say) is refused rather than half-imported.
    if isinstance(reason, SAXException) or (not parsed.get("version") and not parsed.entries):
        detail = f": {str(reason).splitlines()[0][:200]}" if reason else ""
        return _fail(source, "error", f"{url}: not a readable RSS/Atom feed{detail}")
    try:
        names = _topic_names()
        items = [entry_input(source, entry, names) for entry in parsed.entries]
        valid = [item for item in items if item is not None]
        with progress(len(valid)) as step:
            counts = service.upsert_many(source, valid, progress=step)
    except NewsletterError as exc:
        db.session.rollback()
        source = _reload(source_id)
        return _fail(source, "error", f"{url}: {exc.message}")
    counts = counts + service.ImportCounts(skipped=len(items) - len(valid))
    source = _reload(source_id)
    source.etag = (response.headers.get("etag") or "")[:500] or None
    source.last_modified = (response.headers.get("last-modified") or "")[:100] or None
    _record(source, "ok")
    log.info("feed %s: %s", url, counts.line())
    return FetchResult("ok", counts, len(items))


def _reload(source_id: int) -> Source:
    source = db.session.get(Source, source_id)
    assert source is not None
    return source


def _fail(source: Source, status: str, message: str) -> NoReturn:
    _record(source, status, message)
    raise FeedError(message, {"source": source.name})


def _entry_time(entry: Any) -> datetime | None:
    for key in ("published_parsed", "updated_parsed", "created_parsed"):
        value = entry.get(key)
        if value:
            try:
                return datetime.fromtimestamp(calendar.timegm(value), tz=UTC)
            except (OverflowError, ValueError, OSError):
                continue
    return None


def _topic_names() -> dict[str, str]:
    names: dict[str, str] = {}
    for topic in db.session.scalars(sa.select(Topic)):
        for label in (topic.slug, topic.name_it, topic.name_en):
            names[label.casefold()] = topic.slug
    return names


def _entry_topics(entry: Any, names: dict[str, str]) -> tuple[str, ...]:
    """Feed categories that name one of our topics (by slug or name) count as the source's."""
    found = []
    for tag in entry.get("tags") or []:
        term = str(tag.get("term") or tag.get("label") or "").strip().casefold()
        if term in names:
            found.append(names[term])
    return tuple(dict.fromkeys(found))


def _entry_image(entry: Any) -> str | None:
    candidates: list[str] = []
    for enclosure in entry.get("enclosures") or []:
        if str(enclosure.get("type", "")).startswith("image/"):
            candidates.append(str(enclosure.get("href") or enclosure.get("url") or ""))
    for media in (entry.get("media_content") or []) + (entry.get("media_thumbnail") or []):
        candidates.append(str(media.get("url") or ""))
    for candidate in candidates:
        if safe_url(candidate) and len(candidate) <= 2000:
            return candidate
    return None


def entry_input(
    source: Source, entry: Any, topic_names: dict[str, str]
) -> service.ArticleInput | None:
    """One feed entry in the article format; None (skipped, logged) when it has no title or id."""
    link = str(entry.get("link") or "").strip() or None
    if link is not None and not (safe_url(link) and len(link) <= 2000):
        link = None
    external_id = str(entry.get("id") or "").strip() or link
    title = plain_text(str(entry.get("title") or ""))[: schemas.MAX_TITLE]
    if not external_id or not title:
        log.info("feed %s: entry without %s skipped", source.url, "id" if title else "title")
        return None
    external_id = clean_control(external_id[: schemas.MAX_EXTERNAL_ID])
    published = _entry_time(entry)
    if published is None:  # keep the first sighting's time, so re-polls change nothing
        published = db.session.scalar(
            sa.select(Article.published_at).where(
                Article.source_id == source.id, Article.external_id == external_id
            )
        ) or utcnow().replace(microsecond=0)
    content = entry.get("content") or []
    body_html = str(content[0].get("value") or "") if content else ""
    summary = str(entry.get("summary") or "")
    if not body_html:
        body_html, summary = summary, ""
    return service.ArticleInput(
        external_id=external_id,
        title=title,
        published_at=published,
        url=link,
        summary=summary[: schemas.MAX_TEXT],
        body_html=body_html[: schemas.MAX_TEXT],
        image_url=_entry_image(entry),
        topics=_entry_topics(entry, topic_names),
    )


def poll_all_sources() -> None:
    """The worker's job: every polled feed in turn; one failing feed never stops the others."""
    ids = list(
        db.session.scalars(
            sa.select(Source.id).where(Source.poll.is_(True), Source.kind == SourceKind.FEED)
        )
    )
    for source_id in ids:
        source = db.session.get(Source, source_id)
        if source is None:
            continue
        try:
            fetch_source(source)
        except FeedError as exc:  # recorded on the Source already
            log.warning("feed source %s failed: %s", source_id, exc.message)
        except Exception:  # an unexpected bug in one feed must not stop the poller
            db.session.rollback()
            log.exception("feed source %s: unexpected error", source_id)
            failed = db.session.get(Source, source_id)
            if failed is not None:
                _record(failed, "error", "unexpected error, see the worker's log")


def poll_now(source_id: int, *, actor: Actor) -> FetchResult:
    """Fetch one feed now, at someone's request; a failure is recorded on the source and raised
    as FeedError."""
    source = get_or_404(Source, source_id, f"no source {source_id}")
    if source.kind != SourceKind.FEED:
        raise ValidationError(f"{source.name} is not an RSS/Atom feed: nothing to poll")
    audit.record(actor, "source.poll", f"source:{source_id}")
    db.session.commit()
    return fetch_source(source)
