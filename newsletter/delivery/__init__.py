"""The delivery domain: the outbox sender, bounces, and the demo's mail capture."""

from __future__ import annotations

import threading
from typing import Any

from flask import Flask

from newsletter.hooks import register_demo_process, register_worker_loop


def _sender_loop(app: Flask) -> Any:
    def loop(stop: threading.Event) -> None:
        from newsletter.delivery.cli import sender_lock
        from newsletter.delivery.sender import serve_forever
        from newsletter.delivery.transport import RelayPool

        with sender_lock(app):
            serve_forever(app, RelayPool.from_config(app.config), stop)

    return loop


def init_app(app: Flask) -> None:
    from newsletter.delivery.cli import bounces_group, mailcapture_command, send_command

    app.cli.add_command(send_command)
    app.cli.add_command(bounces_group)
    app.cli.add_command(mailcapture_command)
    register_worker_loop(app, "sender", _sender_loop(app))
    from newsletter.delivery.channels import channel_loop

    register_worker_loop(app, "channels", channel_loop(app))
    register_demo_process(
        app, "mail", lambda app, ports: ["mailcapture", "--port", str(ports["smtp_port"])]
    )
    if app.config.get("DEMO"):
        from newsletter.delivery.capture import bp

        app.register_blueprint(bp)
