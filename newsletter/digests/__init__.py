"""The digests domain: composition, rendering, enqueueing, the public archive."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    from newsletter.digests.cli import digests_group
    from newsletter.digests.views import bp

    app.register_blueprint(bp)
    app.cli.add_command(digests_group)
