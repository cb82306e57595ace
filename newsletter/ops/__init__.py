"""Operations: health and metrics endpoints, the ``serve`` and ``demo`` commands."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    from newsletter.ops.cli import demo_command, serve_command
    from newsletter.ops.views import bp

    app.register_blueprint(bp)
    app.cli.add_command(serve_command)
    app.cli.add_command(demo_command)
