"""Urgent alerts: a road closed, a weather warning, a water cut, for the comuni concerned.

Issued from the admin area or the API, approved by a second person when severe, delivered on
every channel in the outbox's priority lane, and published as pages and feeds (RSS, Atom,
JSON, CAP 1.2). See docs/alerts.md.
"""

from __future__ import annotations

from typing import Any

from flask import Flask, current_app

from newsletter import events
from newsletter.hooks import VariantMail, register_mail_variant


def init_app(app: Flask) -> None:
    """The public pages; e-mail, this domain's own channel: the fan-out on
    ``events.alert_released`` and the sender's loader of renditions. Push and Telegram connect
    in their own ``init_app``."""
    from newsletter.alerts import delivery
    from newsletter.alerts.views import bp

    app.register_blueprint(bp)

    def _on_released(notice: Any, **kwargs: Any) -> None:
        if current_app._get_current_object() is not app:  # type: ignore[attr-defined]
            return  # a receiver of another app instance (tests make many)
        delivery.enqueue_mail(notice, now=kwargs["now"])

    events.alert_released.connect(_on_released, weak=False)
    register_mail_variant(
        app,
        "alert",
        VariantMail(load=delivery.load_rendition, payload_key="rendition", needs_alerts=True),
    )
