"""Public pages: home, subscribe, confirm, preferences, unsubscribe, archive, statements."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    from newsletter.public.views import bp

    app.register_blueprint(bp)
