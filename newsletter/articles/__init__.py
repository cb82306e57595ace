"""The articles domain: taking articles in (API, files, feeds), topics and municipality mentions."""

from __future__ import annotations

from flask import Flask

from newsletter.hooks import ScheduledJob, register_demo_content, register_job


def init_app(app: Flask) -> None:
    from newsletter.articles.cli import articles_cli
    from newsletter.articles.demo import load_demo_articles
    from newsletter.articles.feeds_import import poll_all_sources
    from newsletter.articles.training import retrain

    app.cli.add_command(articles_cli)
    register_job(
        app,
        ScheduledJob(
            "poll-sources",
            poll_all_sources,
            trigger=lambda app: {
                "trigger": "interval",
                "minutes": app.config["SOURCE_POLL_MINUTES"],
            },
        ),
    )
    register_job(
        app,
        ScheduledJob(
            "retrain-topic-model",
            retrain,
            trigger=lambda app: {"trigger": "cron", "hour": 3, "minute": 40},
        ),
    )
    register_demo_content(app, load_demo_articles)
