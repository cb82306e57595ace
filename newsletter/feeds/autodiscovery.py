"""Feed autodiscovery: ``<link rel="alternate">`` tags for pages and an HTTP Link header."""

from __future__ import annotations

from dataclasses import dataclass

from flask_babel import gettext
from markupsafe import Markup

from newsletter.feeds.alertfeeds import alerts_name, comune_alerts_name
from newsletter.feeds.service import ALL, CAP_INDEX, MIMETYPES, FeedFormat, feed_urls
from newsletter.i18n import select_locale

FORMAT_LABELS = {FeedFormat.RSS: "RSS", FeedFormat.ATOM: "Atom", FeedFormat.JSON: "JSON Feed"}


@dataclass(frozen=True)
class FeedLink:
    href: str
    type: str
    title: str


def feed_links(topic: str | None = None, topic_name: str | None = None) -> list[FeedLink]:
    """The feeds of everything, and of ``topic`` when the page is about one."""
    urls = feed_urls()
    links = [
        FeedLink(
            urls.feed(ALL, fmt),
            fmt.mimetype,
            gettext("All news (%(format)s)", format=FORMAT_LABELS[fmt]),
        )
        for fmt in FeedFormat
    ]
    if topic:
        links += [
            FeedLink(
                urls.feed(topic, fmt),
                fmt.mimetype,
                gettext(
                    "%(topic)s news (%(format)s)",
                    topic=topic_name or topic,
                    format=FORMAT_LABELS[fmt],
                ),
            )
            for fmt in FeedFormat
        ]
    return links


def alert_feed_links(comune: str | None = None, comune_name: str | None = None) -> list[FeedLink]:
    """The feeds of urgent alerts in the page's language; on a comune's page, that comune's
    alerts feed (Atom)."""
    urls = feed_urls()
    language = select_locale()
    if comune:
        return [
            FeedLink(
                urls.feed(comune_alerts_name(comune, language), FeedFormat.ATOM),
                FeedFormat.ATOM.mimetype,
                gettext("Urgent alerts for %(name)s (Atom)", name=comune_name or comune),
            )
        ]
    links = [
        FeedLink(
            urls.feed(alerts_name(language), fmt),
            fmt.mimetype,
            gettext("Urgent alerts (%(format)s)", format=FORMAT_LABELS[fmt]),
        )
        for fmt in FeedFormat
    ]
    links.append(
        FeedLink(
            urls.feed(alerts_name(language), CAP_INDEX),
            MIMETYPES[FeedFormat.ATOM],
            gettext("Urgent alerts (CAP 1.2 index)"),
        )
    )
    return links


def _tags(links: list[FeedLink]) -> Markup:
    return Markup("\n").join(
        Markup('<link rel="alternate" type="{}" title="{}" href="{}">').format(
            link.type, link.title, link.href
        )
        for link in links
    )


def feed_link_tags(topic: str | None = None, topic_name: str | None = None) -> Markup:
    """For a page's <head>: ``{{ feed_link_tags() }}``, on a topic's page
    ``{{ feed_link_tags(topic.slug, topic.name(current_locale)) }}``."""
    return _tags(feed_links(topic, topic_name))


def alert_feed_link_tags(comune: str | None = None, comune_name: str | None = None) -> Markup:
    """``{{ alert_feed_link_tags() }}`` on the alert pages and the home page; on a comune's
    page ``{{ alert_feed_link_tags(town.slug, town.name) }}``."""
    return _tags(alert_feed_links(comune, comune_name))


def link_header() -> str:
    urls = feed_urls()
    return ", ".join(
        f'<{urls.feed(ALL, fmt)}>; rel="alternate"; type="{fmt.mimetype}"' for fmt in FeedFormat
    )


def template_context() -> dict[str, object]:
    return {
        "feed_link_tags": feed_link_tags,
        "feed_links": feed_links,
        "alert_feed_link_tags": alert_feed_link_tags,
    }
