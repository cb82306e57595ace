"""Rendering: a composed digest -> subject, preheader, HTML (Jinja2 -> MJML -> HTML) and text.

Rendered once per variant. Where a recipient's own links go the output holds the literal
placeholders of ``newsletter.mailparts``; the sender substitutes them per recipient.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import cache, lru_cache, partial
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import jinja2
from babel.dates import format_date
from babel.support import NullTranslations
from markupsafe import escape
from mjml import mjml2html

from newsletter import mailparts
from newsletter.digests.compose import MUNICIPALITY_SECTION, ArticleSnapshot, DigestContent
from newsletter.i18n import catalogue, mail_templates
from newsletter.vocabulary import AudienceKind, Frequency

TEMPLATES_DIR = Path(__file__).resolve().parents[2] / "templates" / "email"
CATALOGUES = Path(__file__).resolve().parent / "translations"


@dataclass(frozen=True)
class TopicLabel:
    slug: str
    name_it: str
    name_en: str
    position: int = 0

    def name(self, locale: str) -> str:
        return self.name_en if locale == "en" else self.name_it


@dataclass(frozen=True)
class RenderedDigest:
    subject: str
    preheader: str
    html: str
    text: str


def translations(locale: str) -> NullTranslations:
    """This package's catalogue, read from the .po file so a missing .mo cannot go unnoticed."""
    return catalogue(CATALOGUES, locale)


def _environment(templates_dir: str, locale: str, html: bool) -> jinja2.Environment:
    return mail_templates(templates_dir, str(CATALOGUES), locale, html)


def local_date(value: datetime, locale: str, timezone: str) -> str:
    """``23 novembre 2026`` / ``23 November 2026``, on the wall clock of ``timezone``."""
    return _day(value.astimezone(ZoneInfo(timezone)).date(), locale)


@lru_cache(maxsize=4096)
def _day(day: date, locale: str) -> str:
    return format_date(day, "d MMMM y", locale=locale)


def _topic_list(names: list[str], locale: str) -> str:
    if len(names) <= 1:
        return "".join(names)
    conjunction = " and " if locale == "en" else " e "
    return ", ".join(names[:-1]) + conjunction + names[-1]


def subject_and_preheader(
    content: DigestContent, topics: Mapping[str, TopicLabel], timezone: str
) -> tuple[str, str]:
    """Name how many articles and which topics, in the reader's language."""
    audience = content.audience
    locale = audience.locale
    t = translations(locale)
    count = content.article_count
    topic_names = [
        topics[s.key].name(locale) for s in content.sections if s.key != MUNICIPALITY_SECTION
    ]
    everything = (AudienceKind.MAYOR, AudienceKind.OFFICIAL, AudienceKind.EDITION)
    if audience.kind in everything or len(audience.topics) == len(topics):
        topics_text = t.gettext("all topics")
    elif not audience.topics:  # a citizen who reads only their comune's news
        topics_text = audience.municipality_name or ""
    else:
        topics_text = _topic_list(
            [topics[slug].name(locale) for slug in sorted(audience.topics, key=_order(topics))],
            locale,
        )
    if audience.kind is AudienceKind.IMMEDIATE:
        subject = t.ngettext(
            "%(num)d new article on %(topics)s",
            "%(num)d new articles on %(topics)s",
            count,
        ) % {"num": count, "topics": topics_text}
    elif audience.frequency == Frequency.DAILY:
        subject = t.ngettext(
            "Today: %(num)d article on %(topics)s",
            "Today: %(num)d articles on %(topics)s",
            count,
        ) % {"num": count, "topics": topics_text}
    else:
        subject = t.ngettext(
            "This week: %(num)d article on %(topics)s",
            "This week: %(num)d articles on %(topics)s",
            count,
        ) % {"num": count, "topics": topics_text}

    parts = []
    for section in content.sections:
        if section.key == MUNICIPALITY_SECTION:
            label = audience.municipality_name or ""
        else:
            label = topics[section.key].name(locale)
        parts.append(f"{label} ({len(section.articles)})")
    if content.is_empty:
        preheader = t.gettext("No new articles in this period.")
    else:
        preheader = " · ".join(parts)
    if topic_names and content.sections and content.sections[0].articles:
        preheader += " — " + content.sections[0].articles[0].title
    return subject, preheader[:300]


def _order(topics: Mapping[str, TopicLabel]) -> Any:
    from newsletter.digests.compose import topic_sort_key

    positions = {slug: label.position for slug, label in topics.items()}
    return lambda slug: topic_sort_key(slug, positions)


SECTIONS_SLOT = "@@SECTIONS@@"
SUBJECT_SLOT = "@@SUBJECT@@"
PREHEADER_SLOT = "@@PREHEADER@@"


@dataclass
class RenderCache:
    """Pieces already rendered in this build: frames, section headings, article blocks.

    A build's variants share most of their pieces; with a comune in the audience there are
    hundreds of variants, and rendering every piece again for each of them is what would make a
    build slow. One cache per build (article ids are stable within it).
    """

    pieces: dict[tuple[Any, ...], str] = field(default_factory=dict)
    frames: dict[tuple[Any, ...], list[str]] = field(default_factory=dict)


@dataclass(frozen=True)
class _Templates:
    frame: jinja2.Template  # everything around the sections; SECTIONS_SLOT where they go
    section: jinja2.Template  # one section's heading
    article: jinja2.Template  # one article's block


def _cut(source: str, name: str) -> tuple[str, str, str]:
    """(before, inside, after) of the ``{# BEGIN name #}`` ... ``{# END name #}`` markers;
    one newline after each marker belongs to the marker (the text template is line-based)."""
    begin_marker, end_marker = f"{{# BEGIN {name} #}}", f"{{# END {name} #}}"
    begin, end = source.index(begin_marker), source.index(end_marker)
    inside = source[begin + len(begin_marker) : end]
    after = source[end + len(end_marker) :]
    return source[:begin], inside.removeprefix("\n"), after.removeprefix("\n")


@cache
def _templates(templates_dir: str, locale: str, html: bool) -> _Templates:
    """The three pieces of one language; for HTML, MJML runs here, once per process."""
    env = _environment(templates_dir, locale, html)
    assert env.loader is not None
    source, _filename, _uptodate = env.loader.get_source(
        env, "digest.mjml" if html else "digest.txt"
    )
    if html:
        source = source[source.index("<mjml") :]  # the leading Jinja comment is not MJML
        source = mjml2html(source, disable_comments=True)
    before, sections, after = _cut(source, "sections")
    _, section, rest = _cut(sections, "section")
    _, article, _ = _cut(rest, "article")
    return _Templates(
        env.from_string(before + SECTIONS_SLOT + after),
        env.from_string(section),
        env.from_string(article),
    )


def _article_context(article: ArticleSnapshot, locale: str, timezone: str) -> dict[str, Any]:
    return {
        "title": article.title,
        "url": article.url,
        "summary": article.summary,
        "date": local_date(article.published_at, locale, timezone),
        "iso_date": article.published_at.astimezone(ZoneInfo(timezone)).date(),
        "image_url": article.image_url,
        "image_alt": article.image_alt or article.title,
    }


def template_context(
    content: DigestContent,
    topics: Mapping[str, TopicLabel],
    *,
    base_url: str,
    timezone: str,
    subject: str,
    preheader: str,
) -> dict[str, Any]:
    """What the frame and the section headings show; articles are rendered on their own."""
    audience = content.audience
    locale = audience.locale
    t = translations(locale)
    sections = []
    for section in content.sections:
        if section.key == MUNICIPALITY_SECTION:
            title = t.gettext("In your municipality: %(name)s") % {
                "name": audience.municipality_name or ""
            }
        else:
            title = topics[section.key].name(locale)
        sections.append({"key": section.key, "title": title, "articles": section.articles})
    period = content.period
    last_day = period.end.astimezone(ZoneInfo(timezone))
    return {
        "locale": locale,
        "kind": audience.kind,
        "frequency": audience.frequency,
        "subject": subject,
        "preheader": preheader,
        "sections": sections,
        "article_count": content.article_count,
        "period_start": local_date(period.start, locale, timezone),
        "period_end": local_date(last_day, locale, timezone),
        "base_url": base_url,
        "municipality_name": audience.municipality_name,
        "unsubscribe_url": mailparts.UNSUBSCRIBE_URL,
        "preferences_url": mailparts.PREFERENCES_URL,
        "personal_links": audience.kind is not AudienceKind.EDITION,
    }


def render(
    content: DigestContent,
    topics: Mapping[str, TopicLabel],
    *,
    base_url: str,
    timezone: str = "Europe/Rome",
    templates_dir: Path = TEMPLATES_DIR,
    cache: RenderCache | None = None,
) -> RenderedDigest:
    """Subject, preheader, HTML and text of one variant, with per-recipient placeholders.

    MJML compiles the HTML template once per language (``_templates``); the frame, each section
    heading and each article block are rendered once per build (``cache``) and a variant is
    assembled from them, so a build with hundreds of variants stays fast.
    """
    cache = cache if cache is not None else RenderCache()
    subject, preheader = subject_and_preheader(content, topics, timezone)
    context = template_context(
        content,
        topics,
        base_url=base_url,
        timezone=timezone,
        subject=SUBJECT_SLOT,
        preheader=PREHEADER_SLOT,
    )
    audience = content.audience
    locale = audience.locale
    if audience.kind != "mayor":
        context["municipality_name"] = None  # only the mayors' frame names the comune
    names = ("locale", "kind", "frequency", "period_start", "period_end", "municipality_name")
    frame_key = (
        *(context[name] for name in names),
        base_url,
        context["personal_links"],
        bool(content.sections),
    )
    parts: dict[bool, str] = {}
    for html in (True, False):
        templates = _templates(str(templates_dir), locale, html)
        frame = _frame(cache, ("frame", html, *frame_key), templates.frame, context)
        body = []
        for section in context["sections"]:
            heading = {"title": section["title"], "articles": bool(section["articles"])}
            key = ("section", html, locale, section["title"], heading["articles"])
            body.append(_piece(cache, key, templates.section, {"section": heading}))
            for article in section["articles"]:
                key = ("article", html, locale, timezone, article.id)
                body.append(
                    _piece(
                        cache,
                        key,
                        templates.article,
                        partial(_article_only, article, locale, timezone),
                    )
                )
        values = {
            SECTIONS_SLOT: "".join(body),
            SUBJECT_SLOT: str(escape(subject)) if html else subject,
            PREHEADER_SLOT: str(escape(preheader)) if html else preheader,
        }
        parts[html] = "".join(values.get(segment, segment) for segment in frame)
    return RenderedDigest(
        subject=subject, preheader=preheader, html=parts[True], text=parts[False].strip() + "\n"
    )


_SLOTS = re.compile(f"({SECTIONS_SLOT}|{SUBJECT_SLOT}|{PREHEADER_SLOT})")


def _frame(
    cache: RenderCache, key: tuple[Any, ...], template: jinja2.Template, context: dict[str, Any]
) -> list[str]:
    """The frame, split at its slots once; a variant fills them with a join."""
    found = cache.frames.get(key)
    if found is None:
        found = cache.frames[key] = _SLOTS.split(template.render(context))
    return found


def _article_only(article: ArticleSnapshot, locale: str, timezone: str) -> dict[str, Any]:
    return {"article": _article_context(article, locale, timezone)}


def _piece(
    cache: RenderCache,
    key: tuple[Any, ...],
    template: jinja2.Template,
    context: dict[str, Any] | Callable[[], dict[str, Any]],
) -> str:
    found = cache.pieces.get(key)
    if found is None:
        found = cache.pieces[key] = template.render(context() if callable(context) else context)
    return found
