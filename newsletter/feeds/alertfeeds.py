"""Feeds of urgent alerts: every public alert, or a comune's (its own and the all-area ones),
as RSS, Atom and JSON Feed, and the CAP index (``/feeds/avvisi.cap``): an Atom feed whose
entries link to each alert's CAP 1.2 document and carry its main CAP values.

One entry per alert, latest change first; an update moves its ``updated``, never its id. Each
feed has an English twin (``/feeds/alerts.*``, ``comuni/<slug>/alerts``): the issuer's English
headline and text when given, else the Italian ones, with English fixed parts. The
content does not depend on the clock (an expired alert reads the same as before it expired), so
the version query needs no time in it and the bytes stay stable.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from html import escape
from zoneinfo import ZoneInfo

from babel.dates import format_datetime
from flask import current_app
from lxml import etree

from newsletter.alerts import service as alerts
from newsletter.alerts.cap import ALL_AREA, CAP_NS, MSG_TYPES, SEVERITIES, cap_time
from newsletter.alerts.models import Alert, AlertState, MessageStatus
from newsletter.alerts.words import severity_word
from newsletter.feeds.service import (
    ALERTS,
    ALERTS_EN,
    CAP_INDEX,
    COMUNI,
    EPOCH,
    RENDERERS,
    SITE_NAME,
    FeedDocument,
    FeedFormat,
    FeedItem,
    FeedUrls,
    FeedVersion,
    RenderedFeed,
    atom_tree,
    body_etag,
    feed_urls,
    tag_uri,
)

WHEN = "d MMMM y, HH:mm"


@dataclass(frozen=True)
class Words:
    """A feed's fixed text in one language (feeds are rendered once per version, outside any
    request's locale: the language is the feed's, not the reader's)."""

    title: str
    description: str
    comune_title: str  # {name}
    comune_description: str  # {name}
    all_area: str
    facts: str  # {id} {severity} {area} {start} {end}
    cancelled_on: str  # {when}
    cancelled: str  # {headline}
    more: str
    page_suffix: str  # the alert pages' language


WORDS = {
    "it": Words(
        title=f"{SITE_NAME} – Avvisi urgenti",
        description=(
            "Gli avvisi urgenti dei 48 comuni dell'Area Omogenea Cremasca: strade chiuse, "
            "allerte meteo, interruzioni dei servizi."
        ),
        comune_title=f"{SITE_NAME} – Avvisi urgenti: {{name}}",
        comune_description=(
            "Gli avvisi urgenti che riguardano {name}, compresi quelli per tutta "
            "l'Area Omogenea Cremasca."
        ),
        all_area="tutti i 48 comuni dell'area",
        facts="Avviso {id} · gravità {severity} · {area} · dal {start} al {end}",
        cancelled_on="Revocato il {when}. ",
        cancelled="Revocato: {headline}",
        more="Maggiori informazioni",
        page_suffix="",
    ),
    "en": Words(
        title=f"{SITE_NAME} – Urgent alerts",
        description=(
            "Urgent alerts of the 48 comuni of the Area Omogenea Cremasca: closed roads, "
            "weather warnings, service interruptions."
        ),
        comune_title=f"{SITE_NAME} – Urgent alerts: {{name}}",
        comune_description=(
            "Urgent alerts concerning {name}, including those for the whole Area Omogenea Cremasca."
        ),
        all_area="all 48 comuni of the area",
        facts="Alert {id} · severity {severity} · {area} · from {start} to {end}",
        cancelled_on="Cancelled on {when}. ",
        cancelled="Cancelled: {headline}",
        more="More information",
        page_suffix="?lang=en",
    ),
}


def alerts_name(language: str = "it") -> str:
    """The alert feed's name in ``language`` (``avvisi`` or ``alerts``)."""
    return ALERTS_EN if language == "en" else ALERTS


def comune_alerts_name(slug: str, language: str = "it") -> str:
    return f"{COMUNI}{slug}/{alerts_name(language)}"


def _when(value: datetime, tz: ZoneInfo, language: str) -> str:
    return format_datetime(value, WHEN, tzinfo=tz, locale=language)


def _alert_item(alert: Alert, base_url: str, tz: ZoneInfo, language: str = "it") -> FeedItem:
    words = WORDS[language]
    english = language == "en"
    headline = (alert.headline_en if english else None) or alert.headline
    text = (alert.text_en if english else None) or alert.text
    cancelled = alert.state is AlertState.CANCELLED
    released = [m for m in alert.messages if m.status is MessageStatus.RELEASED]
    names = ", ".join(m.name for m in alert.municipalities)
    area = words.all_area if alert.all_municipalities else names
    facts = words.facts.format(
        id=alert.identifier,
        severity=severity_word(alert.severity, language),
        area=area,
        start=_when(alert.starts_at, tz, language),
        end=_when(alert.expires_at, tz, language),
    )
    if cancelled and alert.cancelled_at is not None:
        facts = words.cancelled_on.format(when=_when(alert.cancelled_at, tz, language)) + facts
    paragraphs = [p.strip() for p in text.split("\n") if p.strip()]  # a line each
    html = f"<p><strong>{escape(facts)}</strong></p>" + "".join(
        f"<p>{escape(p)}</p>" for p in paragraphs
    )
    if alert.url:
        html += f'<p><a href="{escape(alert.url)}">{words.more}</a></p>'
    assert alert.published_at is not None
    assert alert.updated_at is not None
    topic = alert.topic
    return FeedItem(
        id=tag_uri("alert", alert.id),
        title=words.cancelled.format(headline=headline) if cancelled else headline,
        link=f"{base_url}/avvisi/{alert.id}{words.page_suffix}",
        published=alert.published_at,
        updated=max(alert.updated_at, alert.published_at),
        summary_html=html,
        summary_text=f"{facts}\n\n{text}",
        categories=((topic.slug, topic.name(language)),) if topic is not None else (),
        cap_url=f"{base_url}/avvisi/{alert.id}.cap",
        cap_fields=(
            ("identifier", alerts.cap_identifier(alert.id, released[-1].sequence)),
            ("msgType", MSG_TYPES[released[-1].msg_type]),
            ("status", "Actual"),
            ("severity", SEVERITIES[alert.severity]),
            ("urgency", "Immediate"),
            ("effective", cap_time(alert.starts_at, tz)),
            ("expires", cap_time(alert.expires_at, tz)),
            ("areaDesc", ALL_AREA if alert.all_municipalities else names),
        ),
    )


def alert_document(version: FeedVersion) -> FeedDocument:
    """The newest FEED_ITEMS public alerts of the feed (a comune's: its own and all-area)."""
    base_url = feed_urls().base_url
    tz = ZoneInfo(str(current_app.config["TIMEZONE"]))
    found = alerts.recent_public(
        int(current_app.config["FEED_ITEMS"]), municipality_id=version.municipality_id
    )
    language = version.language
    words = WORDS[language]
    items = [_alert_item(alert, base_url, tz, language) for alert in found]
    if version.municipality_id is None:
        title, description = words.title, words.description
        home = f"{base_url}/avvisi{words.page_suffix}"
    else:
        title = words.comune_title.format(name=version.topic_name)
        description = words.comune_description.format(name=version.topic_name)
        town_page = version.name.rpartition("/")[0]
        home = f"{base_url}/{town_page}{words.page_suffix}"
    return FeedDocument(
        id=tag_uri("feed", version.name),
        name=version.name,
        title=title,
        description=description,
        home_url=home,
        updated=max((item.updated for item in items), default=EPOCH),
        items=tuple(items),
        language=language,
    )


def render_cap_index(doc: FeedDocument, urls: FeedUrls) -> bytes:
    """Atom with the CAP values of each alert as ``cap:`` elements (the OASIS CAP feeds
    practice), the CAP document as the entry's first alternate link."""
    tree = atom_tree(doc, CAP_INDEX, urls)
    entries = tree.getroot().xpath("*[local-name()='entry']")
    for entry, item in zip(entries, doc.items, strict=True):
        for name, value in item.cap_fields:
            etree.SubElement(entry, f"{{{CAP_NS}}}{name}").text = value
    etree.cleanup_namespaces(tree, top_nsmap={"cap": CAP_NS})
    return bytes(etree.tostring(tree, encoding="UTF-8", xml_declaration=True))


def render(version: FeedVersion, fmt: str) -> RenderedFeed:
    doc = alert_document(version)
    urls = feed_urls()
    renderer = render_cap_index if fmt == CAP_INDEX else RENDERERS[FeedFormat(fmt)]
    body = renderer(doc, urls)
    newest = max((item.updated for item in doc.items), default=None)
    return RenderedFeed(body, body_etag(body), newest.replace(microsecond=0) if newest else None)
