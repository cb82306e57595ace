"""Composition: which articles a reader's digest holds, in which sections. Pure: no Flask, no DB.

Which articles belong to a window: an article counts from the moment it is both published and
received, ``max(published_at, created_at)``; it belongs to the window containing that instant.
So an article pushed late with an old publication date still goes out once (in the next digest),
one scheduled for the future goes out when it is published, and since windows are contiguous it
never goes out twice. Articles published more than ``max_age`` before the window's end (bulk
imports of old news) and hidden articles are left out.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from newsletter.digests.windows import Period
from newsletter.vocabulary import AudienceKind

FIXED_TOPIC_ORDER = ("welfare", "mobility", "energy", "governance")
MUNICIPALITY_SECTION = "municipality"
DEFAULT_MAX_AGE = timedelta(days=14)


@dataclass(frozen=True)
class ArticleSnapshot:
    id: int
    title: str
    url: str | None
    summary: str
    published_at: datetime
    created_at: datetime
    topics: tuple[str, ...] = ()
    municipality_ids: tuple[int, ...] = ()
    image_url: str | None = None
    image_alt: str | None = None
    hidden: bool = False

    @property
    def available_at(self) -> datetime:
        return max(self.published_at, self.created_at)


@dataclass(frozen=True)
class Audience:
    """One variant's readers."""

    kind: AudienceKind
    frequency: str
    locale: str
    topics: tuple[str, ...] = ()  # sorted slugs; editions and institutional digests: all
    municipality_id: int | None = None
    municipality_name: str | None = None
    local_news: bool = False  # citizens: the comune's articles whatever their topic

    def __post_init__(self) -> None:
        object.__setattr__(self, "kind", AudienceKind(self.kind))  # "mayor" from a caller is fine

    @property
    def key(self) -> str:
        joined = "+".join(self.topics)
        place = ""
        citizenish = (AudienceKind.CITIZEN, AudienceKind.IMMEDIATE)
        if self.kind in citizenish and self.municipality_id is not None:
            place = f":m{self.municipality_id}{'+all' if self.local_news else ''}"
        if self.kind is AudienceKind.CITIZEN:
            return f"citizen:{self.frequency}:{joined}:{self.locale}{place}"
        if self.kind is AudienceKind.IMMEDIATE:
            return f"immediate:{joined}:{self.locale}{place}"
        if self.kind is AudienceKind.MAYOR:
            return f"mayor:{self.municipality_id}:{self.locale}"
        if self.kind is AudienceKind.OFFICIAL:
            return f"official:{self.locale}"
        return f"edition:{self.frequency}:{self.locale}"


@dataclass(frozen=True)
class Section:
    key: str  # a topic slug, or MUNICIPALITY_SECTION
    articles: tuple[ArticleSnapshot, ...]


@dataclass(frozen=True)
class DigestContent:
    audience: Audience
    period: Period
    sections: tuple[Section, ...] = field(default_factory=tuple)

    @property
    def article_count(self) -> int:
        return sum(len(section.articles) for section in self.sections)

    @property
    def is_empty(self) -> bool:
        return self.article_count == 0


def topic_sort_key(slug: str, positions: dict[str, int] | None = None) -> tuple[int, int, str]:
    """Welfare, mobility, energy, governance; any other topic after them by position."""
    if slug in FIXED_TOPIC_ORDER:
        return (FIXED_TOPIC_ORDER.index(slug), 0, slug)
    return (len(FIXED_TOPIC_ORDER), (positions or {}).get(slug, 0), slug)


def in_window(article: ArticleSnapshot, period: Period, max_age: timedelta) -> bool:
    if article.hidden:
        return False
    if article.published_at < period.end - max_age:
        return False
    return period.start <= article.available_at < period.end


def prepare(
    articles: Iterable[ArticleSnapshot], period: Period, max_age: timedelta
) -> list[ArticleSnapshot]:
    """The period's articles, newest first."""
    return sorted(
        (a for a in articles if in_window(a, period, max_age)),
        key=lambda a: (-a.published_at.timestamp(), -a.available_at.timestamp(), a.id),
    )


def compose(
    articles: Iterable[ArticleSnapshot],
    period: Period,
    audience: Audience,
    *,
    topic_positions: dict[str, int] | None = None,
    max_age: timedelta = DEFAULT_MAX_AGE,
    prepared: bool = False,
) -> DigestContent:
    """The digest of ``audience`` for ``period``: each article once, in its first section.

    ``prepared``: ``articles`` are already ``prepare(articles, period, max_age)`` (a build
    composing hundreds of variants filters and sorts once)."""
    chosen = list(articles) if prepared else prepare(articles, period, max_age)
    wanted = set(audience.topics)
    seen: set[int] = set()
    sections: list[Section] = []

    if audience.kind is AudienceKind.MAYOR and audience.municipality_id is not None:
        local = tuple(a for a in chosen if audience.municipality_id in a.municipality_ids)
        seen.update(a.id for a in local)
        sections.append(Section(MUNICIPALITY_SECTION, local))
    elif audience.municipality_id is not None:
        # A citizen's comune: its articles on their topics (all of them with local_news) come
        # first, under "In your municipality"; left out when there are none.
        local = local_articles(chosen, audience.municipality_id, wanted, audience.local_news)
        seen.update(a.id for a in local)
        if local:
            sections.append(Section(MUNICIPALITY_SECTION, local))

    order = sorted(wanted, key=lambda slug: topic_sort_key(slug, topic_positions))
    for slug in order:
        picked = tuple(a for a in chosen if slug in a.topics and a.id not in seen)
        seen.update(a.id for a in picked)
        if picked:
            sections.append(Section(slug, picked))
    # The municipality section stays even when empty ("nothing this week"), unless all is empty.
    if all(not s.articles for s in sections):
        sections = []
    return DigestContent(audience=audience, period=period, sections=tuple(sections))


def local_articles(
    articles: Iterable[ArticleSnapshot],
    municipality_id: int,
    topics: set[str] | frozenset[str],
    local_news: bool,
) -> tuple[ArticleSnapshot, ...]:
    """The articles about a comune that a citizen reads in its section."""
    return tuple(
        a
        for a in articles
        if municipality_id in a.municipality_ids and (local_news or topics.intersection(a.topics))
    )


def effective_audience(audience: Audience, local: Sequence[ArticleSnapshot]) -> Audience | None:
    """The smallest audience giving the same digest, so variants stay few.

    ``local`` are the period's (in-window) articles about the audience's comune. A citizen whose
    comune has nothing for them this period reads the plain topics variant; ``local_news``
    that adds nothing beyond the topics is dropped. None: nothing to read at all.
    """
    if audience.kind not in ("citizen", "immediate") or audience.municipality_id is None:
        return audience
    wanted = set(audience.topics)
    mine = local_articles(local, audience.municipality_id, wanted, audience.local_news)
    if not mine:
        plain = replace(audience, municipality_id=None, municipality_name=None, local_news=False)
        return plain if plain.topics else None
    if audience.local_news and all(wanted.intersection(a.topics) for a in mine):
        return replace(audience, local_news=False)
    return audience


def should_send(content: DigestContent, send_empty: bool) -> bool:
    return send_empty or not content.is_empty


def topic_sets(slugs: Sequence[str]) -> list[tuple[str, ...]]:
    """Every non-empty set of the given topics, as sorted tuples (15 for four topics)."""
    ordered = sorted(slugs)
    return [
        tuple(s for i, s in enumerate(ordered) if mask & (1 << i))
        for mask in range(1, 1 << len(ordered))
    ]
