"""The subscriptions domain: double opt-in, preferences, the consent ledger, the roster."""

from __future__ import annotations

from flask import Flask

from newsletter.hooks import (
    ScheduledJob,
    register_job,
    register_personal_url,
    register_service_mail,
)


def _purge_pending_job() -> None:
    from newsletter.subscriptions.service import purge_pending

    purge_pending()


def init_app(app: Flask) -> None:
    from newsletter import events
    from newsletter.subscriptions.cli import subscribers_cli
    from newsletter.subscriptions.links import personal_url
    from newsletter.subscriptions.mail import render_confirm, render_preferences
    from newsletter.subscriptions.service import on_delivery_bounced

    app.cli.add_command(subscribers_cli)
    register_personal_url(app, personal_url)
    events.delivery_bounced.connect(on_delivery_bounced, weak=False)
    register_service_mail(app, "confirm", render_confirm)
    register_service_mail(app, "preferences", render_preferences)
    register_job(
        app,
        ScheduledJob(
            "purge-pending",
            _purge_pending_job,
            trigger=lambda app: {"trigger": "cron", "hour": 3, "minute": 30},
        ),
    )
