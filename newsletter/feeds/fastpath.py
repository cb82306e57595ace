"""Per-request work that feed polls do not need.

Feed readers poll forever, send no cookies and mostly get a 304. Two shortcuts, for ``/feeds/``
only:

* ``SessionlessFeeds``: no session is opened for a feed URL (opening one builds a signing
  serializer per request); every other URL keeps the app's own session interface.
* ``FeedFastPath``: WSGI middleware answering a poll whose feed version is still fresh (within
  ``FEEDS_VERSION_TTL``) and whose bytes are cached, without entering Flask. Every other
  request (a first poll, a stale version, an unknown topic, anything not a feed) goes through the
  app unchanged. Its responses carry the same headers as the app's: the per-feed ones it builds
  as the view does, the rest (security headers added by the app's ``after_request`` hooks) it
  copies from the app's last answer for a feed. Hooks that count requests do not see these hits.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from flask import Flask, Request, Response
from flask.sessions import SessionInterface, SessionMixin
from werkzeug.http import http_date, parse_date, parse_etags

if TYPE_CHECKING:
    from newsletter.feeds.service import RenderedFeed

FEEDS_PREFIX = "/feeds/"
FEED_PATH = re.compile(r"^/feeds/([^/.]+)\.(rss|atom|json|cap)$")
PER_RESPONSE = {"etag", "last-modified", "content-type", "content-length", "cache-control", "date"}
StartResponse = Callable[..., Any]


class SessionlessFeeds(SessionInterface):
    def __init__(self, inner: SessionInterface) -> None:
        self.inner = inner

    def open_session(self, app: Flask, request: Request) -> SessionMixin | None:
        if request.path.startswith(FEEDS_PREFIX):
            return None  # Flask falls back to a null session
        return self.inner.open_session(app, request)

    def save_session(self, app: Flask, session: SessionMixin, response: Response) -> None:
        self.inner.save_session(app, session, response)

    def make_null_session(self, app: Flask) -> Any:
        return self.inner.make_null_session(app)

    def is_null_session(self, obj: object) -> bool:
        return self.inner.is_null_session(obj)


def not_modified(environ: dict[str, Any], feed: RenderedFeed) -> bool:
    """RFC 9110: If-None-Match wins when present; else If-Modified-Since, to the second."""
    if_none_match = environ.get("HTTP_IF_NONE_MATCH")
    if if_none_match:
        return parse_etags(if_none_match).contains_weak(feed.etag.strip('"'))
    since = parse_date(environ.get("HTTP_IF_MODIFIED_SINCE"))
    return since is not None and feed.last_modified is not None and feed.last_modified <= since


def feed_headers(feed: RenderedFeed, cache_control: str) -> list[tuple[str, str]]:
    headers = [("ETag", feed.etag), ("Cache-Control", cache_control)]
    if feed.last_modified is not None:
        headers.append(("Last-Modified", http_date(feed.last_modified)))
    return headers


class FeedFastPath:
    """The middleware. ``clock`` is the monotonic clock the feed versions' expiry times are read
    on and ``cache_control`` the views' header: both injected by ``feeds.init_app``, so this
    module knows nothing of the views (which use its helpers)."""

    def __init__(
        self,
        app: Flask,
        wsgi_app: Callable[..., Iterable[bytes]],
        *,
        clock: Callable[[], float],
        cache_control: str,
    ) -> None:
        self.app = app
        self.wsgi_app = wsgi_app
        self.clock = clock
        self.cache_control = cache_control
        self.extra_headers: list[tuple[str, str]] | None = None

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if not path.startswith(FEEDS_PREFIX):
            return self.wsgi_app(environ, start_response)
        match = FEED_PATH.match(path)
        if match is not None and environ.get("REQUEST_METHOD") in ("GET", "HEAD"):
            answer = self._answer(match[1], match[2], environ, start_response)
            if answer is not None:
                return answer
        return self.wsgi_app(environ, self._capturing(start_response))

    def _answer(
        self, name: str, fmt: str, environ: dict[str, Any], start_response: StartResponse
    ) -> Iterable[bytes] | None:
        from newsletter.feeds.service import mimetype_of

        extra = self.extra_headers
        known = self.app.extensions["newsletter.feeds.versions"].get(name)
        if extra is None or known is None or known[0] <= self.clock():
            return None
        feed = self.app.extensions["newsletter.feeds.cache"].get(name, fmt, known[1])
        if feed is None:
            return None
        headers = feed_headers(feed, self.cache_control)
        if not_modified(environ, feed):
            # As werkzeug does for a 304: no entity headers (RFC 9110 15.4.5 needs none).
            headers = [(key, value) for key, value in headers if key != "Last-Modified"]
            start_response("304 NOT MODIFIED", headers + extra)
            return [b""]
        headers.append(("Content-Type", f"{mimetype_of(fmt)}; charset=utf-8"))
        headers.append(("Content-Length", str(len(feed.body))))
        start_response("200 OK", headers + extra)
        return [b""] if environ["REQUEST_METHOD"] == "HEAD" else [feed.body]

    def _capturing(self, start_response: StartResponse) -> StartResponse:
        """Remember the app's own headers on a feed answer, to add them to fast answers."""

        def capture(status: str, headers: list[tuple[str, str]], *args: Any) -> Any:
            if status[:3] in ("200", "304"):
                self.extra_headers = [
                    (key, value) for key, value in headers if key.lower() not in PER_RESPONSE
                ]
            return start_response(status, headers, *args)

        return capture


def install(app: Flask, *, clock: Callable[[], float], cache_control: str) -> None:
    if not isinstance(app.session_interface, SessionlessFeeds):
        app.session_interface = SessionlessFeeds(app.session_interface)
    if not isinstance(app.wsgi_app, FeedFastPath):
        app.wsgi_app = FeedFastPath(  # type: ignore[method-assign]
            app, app.wsgi_app, clock=clock, cache_control=cache_control
        )
