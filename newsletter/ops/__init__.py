"""Operations: health and metrics endpoints, the ``serve`` and ``demo`` commands."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    from newsletter.hooks import register_demo_content
    from newsletter.ops.cli import demo_command, serve_command
    from newsletter.ops.story import load_story
    from newsletter.ops.views import bp

    app.register_blueprint(bp)
    app.cli.add_command(serve_command)
    app.cli.add_command(demo_command)
    register_demo_content(app, load_story)  # after the articles' samples (domain order)
