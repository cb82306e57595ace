"""Telegram channels: each new article posted once to the channels of its topics and comuni,
each urgent alert once to the channels of its comuni and the alerts channel.

Configured with ``TELEGRAM_BOT_TOKEN`` and ``TELEGRAM_CHANNELS`` (``topic=@channel``,
``all=@channel``, ``comune:<slug>=@channel``, ``alerts=@channel``). Posts go through the outbox
(one row per article and channel, with a unique key: never twice, re-imports and edits
included) and the channel sender, at no more than one post every ``TELEGRAM_POST_INTERVAL``
seconds per channel; alerts in the outbox's priority lane.
"""

from __future__ import annotations

from flask import Flask, current_app

from newsletter import events
from newsletter.hooks import register_messenger


def init_app(app: Flask) -> None:
    from newsletter.telegram import service

    service.parse_channels(app.config.get("TELEGRAM_CHANNELS"))  # a bad setting stops the start
    register_messenger(app, "telegram", service.TelegramMessenger())

    def _on_batch(period: object, **kwargs: object) -> None:
        if current_app._get_current_object() is not app:  # type: ignore[attr-defined]
            return  # a receiver of another app instance (tests make many)
        service.enqueue_batch(str(kwargs["period_key"]), kwargs["articles"])  # type: ignore[arg-type]

    def _on_alert(notice: object, **kwargs: object) -> None:
        if current_app._get_current_object() is not app:  # type: ignore[attr-defined]
            return  # a receiver of another app instance (tests make many)
        service.enqueue_alert(notice)  # type: ignore[arg-type]

    events.immediate_batch.connect(_on_batch, weak=False)
    events.alert_released.connect(_on_alert, weak=False)
