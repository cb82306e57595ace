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
    _warn_about_rate_limit_storage(app)


def _warn_about_rate_limit_storage(app: Flask) -> None:
    """Under bare gunicorn (``wsgi:app``) with several workers, say so at start too, not only
    in /healthz (production has refused to start already, in settings)."""
    import logging
    import os

    from newsletter.settings import rate_limit_storage_problem

    problem = rate_limit_storage_problem(app.config, os.environ)
    if problem:
        logging.getLogger("newsletter.ops").warning("WARNING: %s", problem)
