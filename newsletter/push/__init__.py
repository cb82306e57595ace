"""Web Push: browsers subscribe to topics (and a comune) and get a notification per batch, and
their comune's urgent alerts at once."""

from __future__ import annotations

from flask import Flask, current_app

from newsletter import events
from newsletter.hooks import register_demo_content, register_messenger


def init_app(app: Flask) -> None:
    from newsletter.push import service
    from newsletter.push.cli import push_cli
    from newsletter.push.views import bp
    from newsletter.push.webpush import WebPushMessenger

    service.check_config(app.config)
    app.register_blueprint(bp)
    app.cli.add_command(push_cli)
    register_messenger(app, "push", WebPushMessenger(app))

    def push_topics() -> list[object]:
        from newsletter.reference.service import list_topics

        return list(list_topics())

    def push_municipalities() -> list[object]:
        from newsletter.reference.service import list_municipalities

        return list(list_municipalities())

    app.jinja_env.globals["push_topic_list"] = push_topics
    app.jinja_env.globals["push_subscription_count"] = service.count  # counted, never listed
    app.jinja_env.globals["push_municipality_list"] = push_municipalities

    def _on_batch(period: object, **kwargs: object) -> None:
        if current_app._get_current_object() is not app:  # type: ignore[attr-defined]
            return  # a receiver of another app instance (tests make many)
        articles = service.batch_articles(kwargs["articles"])  # type: ignore[arg-type]
        service.enqueue_batch(str(kwargs["period_key"]), period.end, articles)  # type: ignore[attr-defined]

    def _on_alert(notice: object, **kwargs: object) -> None:
        if current_app._get_current_object() is not app:  # type: ignore[attr-defined]
            return  # a receiver of another app instance (tests make many)
        service.enqueue_alert(notice)  # type: ignore[arg-type]

    events.immediate_batch.connect(_on_batch, weak=False)
    events.alert_released.connect(_on_alert, weak=False)
    register_demo_content(app, _demo_keys)


def _demo_keys(app: Flask) -> None:
    """The demo makes its VAPID key pair once, so notifications work on http://127.0.0.1."""
    from newsletter.push import vapid

    path = vapid.key_path(app.config, app.instance_path)
    if not path.exists():
        vapid.create(path)
