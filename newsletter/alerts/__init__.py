"""Urgent alerts: a road closed, a weather warning, a water cut, for the comuni concerned.

Issued from the admin area or the API, approved by a second person when severe, delivered on
every channel in the outbox's priority lane, and published as pages and feeds (RSS, Atom,
JSON, CAP 1.2). See docs/alerts.md.
"""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    """Channels connect to ``events.alert_released`` in their own ``init_app``."""
    from newsletter.alerts.views import bp

    app.register_blueprint(bp)
