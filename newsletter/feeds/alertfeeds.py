"""Feeds of urgent alerts: every public alert, or a comune's (its own and the all-area ones),
as RSS, Atom and JSON Feed, and the CAP index (``/feeds/avvisi.cap``): an Atom feed whose
entries link to each alert's CAP 1.2 document and carry its main CAP values.

One entry per alert, latest change first; an update moves its ``updated``, never its id. The
content does not depend on the clock (an expired alert reads the same as before it expired), so
the version query needs no time in it and the bytes stay stable.
"""

from __future__ import annotations

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

ALERTS_TITLE = f"{SITE_NAME} – Avvisi urgenti"
ALERTS_DESCRIPTION = (
    "Gli avvisi urgenti dei 48 comuni dell'Area Omogenea Cremasca: strade chiuse, allerte "
    "meteo, interruzioni dei servizi."
)
WHEN = "d MMMM y, HH:mm"


def comune_alerts_name(slug: str) -> str:
    return f"{COMUNI}{slug}/{ALERTS}"


def _when(value: datetime, tz: ZoneInfo) -> str:
    return format_datetime(value, WHEN, tzinfo=tz, locale="it")


def _alert_item(alert: Alert, base_url: str, tz: ZoneInfo) -> FeedItem:
    cancelled = alert.state is AlertState.CANCELLED
    released = [m for m in alert.messages if m.status is MessageStatus.RELEASED]
    area = (
        "tutti i 48 comuni dell'area"
        if alert.all_municipalities
        else ", ".join(m.name for m in alert.municipalities)
    )
    facts = (
        f"Avviso {alert.identifier} · gravità {severity_word(alert.severity, 'it')} · {area} · "
        f"dal {_when(alert.starts_at, tz)} al {_when(alert.expires_at, tz)}"
    )
    if cancelled and alert.cancelled_at is not None:
        facts = f"Revocato il {_when(alert.cancelled_at, tz)}. " + facts
    paragraphs = [p.strip() for p in alert.text.split("\n") if p.strip()]  # a line each
    html = f"<p><strong>{escape(facts)}</strong></p>" + "".join(
        f"<p>{escape(p)}</p>" for p in paragraphs
    )
    if alert.url:
        html += f'<p><a href="{escape(alert.url)}">Maggiori informazioni</a></p>'
    assert alert.published_at is not None
    assert alert.updated_at is not None
    topic = alert.topic
    return FeedItem(
        id=tag_uri("alert", alert.id),
        title=f"Revocato: {alert.headline}" if cancelled else alert.headline,
        link=f"{base_url}/avvisi/{alert.id}",
        published=alert.published_at,
        updated=max(alert.updated_at, alert.published_at),
        summary_html=html,
        summary_text=f"{facts}\n\n{alert.text}",
        categories=((topic.slug, topic.name_it),) if topic is not None else (),
        cap_url=f"{base_url}/avvisi/{alert.id}.cap",
        cap_fields=(
            ("identifier", alerts.cap_identifier(alert.id, released[-1].sequence)),
            ("msgType", MSG_TYPES[released[-1].msg_type]),
            ("status", "Actual"),
            ("severity", SEVERITIES[alert.severity]),
            ("urgency", "Immediate"),
            ("effective", cap_time(alert.starts_at, tz)),
            ("expires", cap_time(alert.expires_at, tz)),
            ("areaDesc", ALL_AREA if alert.all_municipalities else area),
        ),
    )


def alert_document(version: FeedVersion) -> FeedDocument:
    """The newest FEED_ITEMS public alerts of the feed (a comune's: its own and all-area)."""
    base_url = feed_urls().base_url
    tz = ZoneInfo(str(current_app.config["TIMEZONE"]))
    found = alerts.recent_public(
        int(current_app.config["FEED_ITEMS"]), municipality_id=version.municipality_id
    )
    items = [_alert_item(alert, base_url, tz) for alert in found]
    if version.municipality_id is None:
        title, description, home = ALERTS_TITLE, ALERTS_DESCRIPTION, f"{base_url}/avvisi"
    else:
        title = f"{ALERTS_TITLE}: {version.topic_name}"
        description = (
            f"Gli avvisi urgenti che riguardano {version.topic_name}, compresi quelli per tutta "
            "l'Area Omogenea Cremasca."
        )
        home = f"{base_url}/{version.name.removesuffix('/' + ALERTS)}"
    return FeedDocument(
        id=tag_uri("feed", version.name),
        name=version.name,
        title=title,
        description=description,
        home_url=home,
        updated=max((item.updated for item in items), default=EPOCH),
        items=tuple(items),
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
