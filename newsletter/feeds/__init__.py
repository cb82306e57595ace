"""The feeds domain: RSS 2.0, Atom and JSON Feed of the articles and of past digests."""

from __future__ import annotations

from flask import Flask, Response, request

from newsletter.hooks import register_outbox_handler

_limiter_filtered: list[bool] = []


def _is_feed_request() -> bool:
    return request.blueprint == "feeds"


def init_app(app: Flask) -> None:
    from newsletter.extensions import limiter
    from newsletter.feeds import autodiscovery, fastpath, views, websub
    from newsletter.feeds.cache import FeedCache
    from newsletter.feeds.views import bp

    app.extensions["newsletter.feeds.cache"] = FeedCache()
    app.extensions["newsletter.feeds.versions"] = {}
    if not _limiter_filtered:
        # Feeds carry no limits; a filter skips Flask-Limiter's per-request bookkeeping early.
        limiter.request_filter(_is_feed_request)
        _limiter_filtered.append(True)
    app.register_blueprint(bp)
    # The views' clock, read through the module so a test can set it for both.
    fastpath.install(app, clock=lambda: views._clock(), cache_control=views.CACHE_CONTROL)

    app.extensions[websub.ENABLED_KEY] = True
    websub.listen()
    register_outbox_handler(app, "websub", websub.deliver_ping)

    app.context_processor(autodiscovery.template_context)

    @app.after_request
    def _advertise_feeds(response: Response) -> Response:
        """HTTP Link autodiscovery on public HTML pages (RFC 8288), beside the <link> tags."""
        if (
            request.blueprint == "public"
            and response.status_code == 200
            and response.mimetype == "text/html"
        ):
            response.headers.add("Link", autodiscovery.link_header())
        return response
