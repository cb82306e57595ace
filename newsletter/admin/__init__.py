"""The admin area: accounts and roles, audit log, dashboard, articles, sources, subscribers.

Other domains add pages and buttons through ``newsletter.admin.extend`` (see docs/admin.md).
"""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    from newsletter.admin.cli import users_cli
    from newsletter.admin.extend import registry
    from newsletter.admin.views import bp

    registry(app)
    app.register_blueprint(bp)
    app.cli.add_command(users_cli)
