"""Feed routes: one version query, then a 304 or cached bytes; a render once per version."""

from __future__ import annotations

import time

from flask import Blueprint, Response, current_app, redirect, request, url_for
from werkzeug.wrappers import Response as BaseResponse

from newsletter.exceptions import NotFound
from newsletter.feeds import alertfeeds, service
from newsletter.feeds.cache import FeedCache
from newsletter.feeds.fastpath import feed_headers, not_modified
from newsletter.reference.service import municipality_by_slug

bp = Blueprint("feeds", __name__)

# Readers poll every few minutes; five minutes of shared caching costs little staleness.
CACHE_CONTROL = "public, max-age=300"
_clock = time.monotonic


def feed_cache() -> FeedCache:
    cache: FeedCache = current_app.extensions["newsletter.feeds.cache"]
    return cache


def current_version(name: str) -> service.FeedVersion:
    """The feed's version, asked of the database at most once per FEEDS_VERSION_TTL seconds.

    With a TTL of 0 every request runs the version query; the default (1 s) lets a busy worker
    answer most polls from memory, and delays a change by at most that second (readers are told
    to cache for five minutes anyway).
    """
    ttl = float(current_app.config["FEEDS_VERSION_TTL"])
    if ttl <= 0:
        return service.feed_version(name)
    known: dict[str, tuple[float, service.FeedVersion]]
    known = current_app.extensions["newsletter.feeds.versions"]
    now = _clock()
    found = known.get(name)
    if found is not None and found[0] > now:
        return found[1]
    version = service.feed_version(name)  # NotFound for an unknown topic: nothing kept
    known[name] = (now + ttl, version)
    return version


@bp.get("/feeds/<name>.<any(rss, atom, json):fmt>")
def feed(name: str, fmt: str) -> Response:
    return _serve(name, fmt)


@bp.get("/feeds/comuni/<slug>.<any(rss, atom, json):fmt>")
def comune_feed(slug: str, fmt: str) -> BaseResponse:
    """A comune's articles; a former slug (the comune was renamed) redirects for good."""
    try:
        return _serve(service.COMUNI + slug, fmt)
    except NotFound:
        municipality, renamed = municipality_by_slug(slug)  # NotFound (404) when unknown
        if not renamed:
            raise
        return redirect(url_for("feeds.comune_feed", slug=municipality.slug, fmt=fmt), 301)


# The decorator nearest the function registers first: url_for without ``lang`` builds the
# Italian URL, as before the English twin existed.
@bp.get("/feeds/alerts.<any(rss, atom, json, cap):fmt>", defaults={"lang": "en"})
@bp.get("/feeds/avvisi.<any(rss, atom, json, cap):fmt>", defaults={"lang": "it"})
def alerts_feed(fmt: str, lang: str) -> Response:
    """Urgent alerts (``avvisi`` in Italian, ``alerts`` in English); ``.cap`` is the Atom
    index of their CAP 1.2 documents."""
    return _serve(alertfeeds.alerts_name(lang), fmt)


@bp.get("/feeds/comuni/<slug>/alerts.atom", defaults={"lang": "en"})
@bp.get("/feeds/comuni/<slug>/avvisi.atom", defaults={"lang": "it"})
def comune_alerts_feed(slug: str, lang: str) -> BaseResponse:
    """A comune's alerts (and the all-area ones); a former slug redirects for good."""
    try:
        return _serve(alertfeeds.comune_alerts_name(slug, lang), "atom")
    except NotFound:
        municipality, renamed = municipality_by_slug(slug)  # NotFound (404) when unknown
        if not renamed:
            raise
        target = url_for("feeds.comune_alerts_feed", slug=municipality.slug, lang=lang)
        return redirect(target, 301)


def _serve(name: str, fmt: str) -> Response:
    version = current_version(name)  # NotFound (404) for an unknown topic
    cache = feed_cache()
    rendered = cache.get(name, fmt, version)
    if rendered is None:
        if version.alerts:
            rendered = alertfeeds.render(version, fmt)
        else:
            rendered = service.render(version, service.FeedFormat(fmt))
        cache.put(name, fmt, version, rendered)
    headers = feed_headers(rendered, CACHE_CONTROL)
    if not_modified(request.environ, rendered):
        return Response(status=304, headers=headers)
    return Response(
        rendered.body, headers=headers, content_type=f"{service.mimetype_of(fmt)}; charset=utf-8"
    )
