"""The feeds under the real server (`newsletter serve`, gunicorn, two workers), as readers poll."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import feedparser
import requests

from tests.e2e.conftest import clean_env, free_port, newsletter_process, wait_for_http


def add_article(env: dict[str, str], title: str) -> None:
    """Write one article straight into the server's database, from another process."""
    script = f"""
from datetime import datetime, UTC
import sqlalchemy as sa
from newsletter import create_app
from newsletter.extensions import db
from newsletter.articles.models import Article, ArticleTopic, Source, SourceKind, TopicAssignment
from newsletter.reference.models import Topic
app = create_app()
with app.app_context():
    source = db.session.scalar(sa.select(Source).where(Source.name == "e2e")) or Source(
        name="e2e", kind=SourceKind.FILE)
    topic = db.session.scalar(sa.select(Topic).where(Topic.slug == "energy"))
    article = Article(source=source, external_id={title!r}, title={title!r},
                      url="https://comune.example.it/x", published_at=datetime.now(UTC))
    article.topic_links.append(ArticleTopic(topic=topic, assigned_by=TopicAssignment.SOURCE))
    db.session.add(article)
    db.session.commit()
"""
    subprocess.run([sys.executable, "-c", script], env=env, check=True, timeout=120)


def test_poll_under_gunicorn_200_then_304_then_new_content(tmp_path: Path) -> None:
    port = free_port()
    env = clean_env(
        tmp_path / "instance",
        NEWSLETTER_BASE_URL=f"http://127.0.0.1:{port}",
        NEWSLETTER_FEEDS_VERSION_TTL="0.5",
    )
    subprocess.run(
        [sys.executable, "-m", "newsletter.cli", "db", "upgrade"], env=env, check=True, timeout=120
    )
    add_article(env, "Comunità energetica a Crema")
    url = f"http://127.0.0.1:{port}/feeds/energy.atom"
    with newsletter_process(["serve", "--port", str(port)], env) as proc:
        wait_for_http(url, proc)
        first = requests.get(url, timeout=10)
        assert first.status_code == 200
        assert first.headers["Content-Type"] == "application/atom+xml; charset=utf-8"
        assert feedparser.parse(first.content).entries[0].title == "Comunità energetica a Crema"
        etag = first.headers["ETag"]
        # Enough polls to reach both workers, through the fast path and the app alike.
        for _ in range(20):
            again = requests.get(url, headers={"If-None-Match": etag}, timeout=10)
            assert again.status_code == 304
            assert again.content == b""
            assert again.headers["ETag"] == etag
        add_article(env, "Nuovo bando per il fotovoltaico")
        deadline = datetime.now(UTC).timestamp() + 10
        while datetime.now(UTC).timestamp() < deadline:
            changed = requests.get(url, headers={"If-None-Match": etag}, timeout=10)
            if changed.status_code == 200:
                break
        assert changed.status_code == 200
        assert changed.headers["ETag"] != etag
        titles = [e.title for e in feedparser.parse(changed.content).entries]
        assert titles == ["Nuovo bando per il fotovoltaico", "Comunità energetica a Crema"]
