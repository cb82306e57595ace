"""Feed routes: one version query, then a 304, cached bytes, or (once per version) a render."""

from __future__ import annotations

from flask import Blueprint, Response, current_app, request
from werkzeug.http import http_date

from newsletter.feeds import service
from newsletter.feeds.cache import FeedCache

bp = Blueprint("feeds", __name__)

# Readers poll every few minutes; five minutes of shared caching costs little staleness.
CACHE_CONTROL = "public, max-age=300"


def feed_cache() -> FeedCache:
    cache: FeedCache = current_app.extensions["newsletter.feeds.cache"]
    return cache


@bp.get("/feeds/<name>.<any(rss, atom, json):fmt>")
def feed(name: str, fmt: str) -> Response:
    feed_format = service.FeedFormat(fmt)
    version = service.feed_version(name)  # NotFound (404) for an unknown topic
    fingerprint = current_app.extensions["newsletter.feeds.fingerprint"]
    etag = version.etag(feed_format, fingerprint)
    last_modified = version.last_modified
    headers = {"ETag": etag, "Cache-Control": CACHE_CONTROL}
    if last_modified is not None:
        headers["Last-Modified"] = http_date(last_modified)
    if _not_modified(etag, version):
        return Response(status=304, headers=headers)
    cache = feed_cache()
    body = cache.get(name, fmt, etag)
    if body is None:
        body = service.render(version, feed_format)
        # Cache only when nothing changed while rendering, so a slot's bytes match its ETag.
        if service.feed_version(name) == version:
            cache.put(name, fmt, etag, body)
        else:
            headers = {"Cache-Control": "no-cache"}
    return Response(body, headers=headers, content_type=f"{feed_format.mimetype}; charset=utf-8")


def _not_modified(etag: str, version: service.FeedVersion) -> bool:
    """RFC 9110: If-None-Match wins when present; else If-Modified-Since, to the second."""
    if request.if_none_match:
        return request.if_none_match.contains_weak(etag.strip('"'))
    since = request.if_modified_since
    modified = version.last_modified
    return since is not None and modified is not None and modified <= since
