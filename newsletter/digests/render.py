"""Rendering: a composed digest -> subject, preheader, HTML (Jinja2 -> MJML -> HTML) and text.

Rendered once per variant. Where a recipient's own links go the output holds the literal
placeholders of ``newsletter.mailparts``; the sender substitutes them per recipient.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import jinja2
from babel.dates import format_date
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import NullTranslations, Translations
from mjml import mjml2html

from newsletter import mailparts
from newsletter.digests.compose import MUNICIPALITY_SECTION, DigestContent
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


@cache
def translations(locale: str) -> NullTranslations:
    """This package's catalogue, read from the .po file so a missing .mo cannot go unnoticed."""
    po = CATALOGUES / locale / "LC_MESSAGES" / "messages.po"
    if not po.exists():
        return NullTranslations()
    with po.open("rb") as fh:
        catalog = read_po(fh, locale=locale)
    buffer = io.BytesIO()
    write_mo(buffer, catalog)
    buffer.seek(0)
    return Translations(buffer)


@cache
def _environment(templates_dir: str, locale: str, html: bool) -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(templates_dir),
        autoescape=html,  # noqa: S701 - the text part is plain text, not HTML
        extensions=["jinja2.ext.i18n"],
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        undefined=jinja2.StrictUndefined,
    )
    env.install_gettext_translations(translations(locale), newstyle=True)  # type: ignore[attr-defined]
    return env


def local_date(value: datetime, locale: str, timezone: str) -> str:
    """``23 novembre 2026`` / ``23 November 2026``, on the wall clock of ``timezone``."""
    return format_date(value.astimezone(ZoneInfo(timezone)).date(), "d MMMM y", locale=locale)


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


def template_context(
    content: DigestContent,
    topics: Mapping[str, TopicLabel],
    *,
    base_url: str,
    timezone: str,
    subject: str,
    preheader: str,
) -> dict[str, Any]:
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
        sections.append(
            {
                "key": section.key,
                "title": title,
                "articles": [
                    {
                        "title": a.title,
                        "url": a.url,
                        "summary": a.summary,
                        "date": local_date(a.published_at, locale, timezone),
                        "iso_date": a.published_at.astimezone(ZoneInfo(timezone)).date(),
                        "image_url": a.image_url,
                        "image_alt": a.image_alt or a.title,
                    }
                    for a in section.articles
                ],
            }
        )
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
) -> RenderedDigest:
    """Subject, preheader, HTML and text of one variant, with per-recipient placeholders."""
    subject, preheader = subject_and_preheader(content, topics, timezone)
    context = template_context(
        content, topics, base_url=base_url, timezone=timezone, subject=subject, preheader=preheader
    )
    locale = content.audience.locale
    mjml = _environment(str(templates_dir), locale, True).get_template("digest.mjml")
    text = _environment(str(templates_dir), locale, False).get_template("digest.txt")
    # MJML wraps the message in one role="article" labelled with the <mj-title> (the subject).
    html = mjml2html(mjml.render(context), disable_comments=True)
    return RenderedDigest(
        subject=subject, preheader=preheader, html=html, text=text.render(context).strip() + "\n"
    )
