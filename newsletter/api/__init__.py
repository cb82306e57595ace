"""The JSON API (/api/v1) and its tokens."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    from newsletter.api.cli import token_cli
    from newsletter.api.views import bp
    from newsletter.extensions import csrf

    csrf.exempt(bp)  # Bearer tokens, no cookies: nothing for a forged form to ride on
    app.register_blueprint(bp)
    app.cli.add_command(token_cli)
