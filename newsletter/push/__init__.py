"""Web Push: browsers subscribe to topics (and a comune) and get a notification per batch."""

from __future__ import annotations

from flask import Flask, current_app

from newsletter import events
from newsletter.hooks import register_messenger


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

    app.jinja_env.globals["push_topic_list"] = push_topics

    def _on_batch(period: object, **kwargs: object) -> None:
        if current_app._get_current_object() is not app:  # type: ignore[attr-defined]
            return  # a receiver of another app instance (tests make many)
        articles = service.batch_articles(kwargs["articles"])  # type: ignore[arg-type]
        service.enqueue_batch(str(kwargs["period_key"]), period.end, articles)  # type: ignore[attr-defined]

    events.immediate_batch.connect(_on_batch, weak=False)
