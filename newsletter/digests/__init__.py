"""The digests domain: composition, rendering, enqueueing, the public archive."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    from newsletter.digests.cli import digests_group
    from newsletter.digests.jobs import digest_jobs
    from newsletter.digests.views import bp
    from newsletter.hooks import register_job

    app.register_blueprint(bp)
    app.cli.add_command(digests_group)
    for job in digest_jobs(app):
        register_job(app, job)
