"""Helpers for bench/feeds.sh: a fresh database with articles, and the bare comparison app.

python bench/feeds_support.py fresh-postgres URL   # prints the URL of a new, empty database
python bench/feeds_support.py drop-postgres URL
python bench/feeds_support.py load N               # N articles into NEWSLETTER_DATABASE_URL
python bench/feeds_support.py bare PORT BODY ETAG CONTENT_TYPE [WORKERS THREADS]
"""

from __future__ import annotations

import sys
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa


def _admin(url: str) -> sa.engine.URL:
    return sa.engine.make_url(url).set(drivername="postgresql+psycopg")


def fresh_postgres(url: str) -> None:
    admin = sa.create_engine(_admin(url), isolation_level="AUTOCOMMIT")
    name = f"bench_feeds_{uuid.uuid4().hex[:10]}"
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    print(_admin(url).set(database=name).render_as_string(hide_password=False))


def drop_postgres(url: str) -> None:
    target = _admin(url)
    admin = sa.create_engine(target.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{target.database}" WITH (FORCE)'))
    admin.dispose()


def load(count: int) -> None:
    """Articles shaped like the real ones: a title, a link, a paragraph or three, 1-2 topics."""
    from newsletter import create_app
    from newsletter.articles.models import (
        Article,
        ArticleTopic,
        Source,
        SourceKind,
        TopicAssignment,
    )
    from newsletter.extensions import db
    from newsletter.reference.models import Topic

    app = create_app()
    start = datetime(2024, 1, 1, 8, tzinfo=UTC)
    with app.app_context():
        topics = list(db.session.scalars(sa.select(Topic).order_by(Topic.position)))
        source = Source(name="bench", kind=SourceKind.FILE)
        db.session.add(source)
        for n in range(count):
            paragraph = (
                f"<p>Il Comune n. {n % 48 + 1} dell'Area Omogenea Cremasca comunica le novità "
                "su servizi, bandi e cantieri: orari, requisiti e scadenze per i cittadini.</p>"
            )
            article = Article(
                source=source,
                external_id=f"bench-{n}",
                title=f"Notizia {n}: aggiornamento su servizi, bandi & cantieri del territorio",
                url=f"https://www.comune.example.it/notizie/{n}",
                published_at=start + timedelta(hours=3 * n),
                summary="Aggiornamento per i cittadini dell'Area Omogenea Cremasca.",
                body_html=paragraph * (1 + n % 3),
            )
            for topic in {topics[n % 4], topics[(n * 7) % 4]}:
                article.topic_links.append(
                    ArticleTopic(topic=topic, assigned_by=TopicAssignment.SOURCE)
                )
            db.session.add(article)
            if n % 200 == 199:
                db.session.commit()
        db.session.commit()
        print(f"loaded {count} articles")


def bare(
    port: int, body_file: str, etag: str, content_type: str, workers: int, threads: int
) -> None:
    """The floor to compare with: Flask returning fixed bytes, under the same gunicorn setup."""
    from flask import Flask, Response, request

    from newsletter.ops.cli import run_gunicorn

    body = Path(body_file).read_bytes()
    app = Flask("bare")

    @app.get("/feeds/all.rss")
    def feed() -> Response:
        headers = {"ETag": etag, "Cache-Control": "public, max-age=300"}
        if request.headers.get("If-None-Match") == etag:
            return Response(status=304, headers=headers)
        return Response(body, headers=headers, content_type=content_type)

    run_gunicorn(app, "127.0.0.1", port, workers, threads)


def main(argv: list[str]) -> None:
    command, *args = argv
    if command == "fresh-postgres":
        fresh_postgres(args[0])
    elif command == "drop-postgres":
        drop_postgres(args[0])
    elif command == "load":
        load(int(args[0]))
    elif command == "bare":
        port, body_file, etag, content_type, *rest = args
        workers, threads = (int(rest[0]), int(rest[1])) if rest else (2, 4)
        bare(int(port), body_file, etag, content_type, workers, threads)
    else:
        raise SystemExit(__doc__)


if __name__ == "__main__":
    main(sys.argv[1:])
