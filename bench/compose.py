"""Benchmark: the weekly digests for 100,000 subscribers over all 15 topic sets, both languages.

    .venv/bin/python bench/compose.py [--subscribers N] [--postgres URL] [--no-comuni]

Citizens live in the 48 comuni (spread evenly); 3 in 10 also take every article about their
comune (``local_news``) and 1 in 20 reads only their comune's news. The week's 40 articles each
name one comune, so 40 comuni have news.

Prints the time to compose and render every variant (target: under 2 s) and, separately, the
time to insert the Digest and Delivery rows, on SQLite and (with --postgres) on PostgreSQL.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from newsletter import create_app
from newsletter.articles.models import (
    Article,
    ArticleMunicipality,
    ArticleTopic,
    Source,
    SourceKind,
    TopicAssignment,
)
from newsletter.digests.compose import topic_sets
from newsletter.digests.models import Digest
from newsletter.digests.service import build_digests
from newsletter.extensions import db
from newsletter.reference.models import Municipality, Topic
from newsletter.subscriptions.models import Subscriber, Subscription

FIRE = datetime(2026, 11, 23, 6, 0, tzinfo=UTC)  # Monday 07:00 in Rome
MAYORS = 48


def populate(subscribers: int, comuni: bool = True) -> None:
    topics = {slug: id_ for slug, id_ in db.session.execute(sa.select(Topic.slug, Topic.id))}
    towns = list(db.session.scalars(sa.select(Municipality.id).order_by(Municipality.id)))
    source = Source(name="bench", kind=SourceKind.FILE)
    db.session.add(source)
    db.session.flush()
    slugs = sorted(topics)
    for n in range(40):
        published = FIRE - timedelta(hours=3 + n * 4)
        article = Article(
            source_id=source.id,
            external_id=f"bench-{n}",
            url=f"https://www.example.org/news/{n}",
            title=f"Notizia numero {n} dell'Area Omogenea Cremasca",
            summary="Un riassunto di due righe, come quelli che scrivono i comuni. " * 2,
            image_url=f"https://www.example.org/img/{n}.jpg" if n % 3 == 0 else None,
            published_at=published,
            created_at=published,
        )
        db.session.add(article)
        db.session.flush()
        for slug in {slugs[n % 4], slugs[(n * 7) % 4]}:
            db.session.add(
                ArticleTopic(
                    article_id=article.id, topic_id=topics[slug], assigned_by=TopicAssignment.SOURCE
                )
            )
        db.session.add(ArticleMunicipality(article_id=article.id, municipality_id=towns[n % 48]))
    db.session.commit()

    sets = topic_sets(slugs)
    now = datetime.now(UTC)
    people, links = [], []
    for n in range(1, subscribers + 1):
        mayor = n <= MAYORS
        town = towns[n % len(towns)] if comuni and not mayor else None
        local_only = town is not None and n % 20 == 0
        people.append(
            {
                "id": n,
                "email": f"person{n}@example.org",
                "locale": "en" if n % 5 == 0 else "it",
                "status": "active",
                "role": "mayor" if mayor else "citizen",
                "frequency": "weekly",
                "municipality_id": towns[n - 1] if mayor else town,
                "local_news": town is not None and (local_only or n % 10 < 3),
                "created_at": now,
                "soft_bounces": 0,
            }
        )
        for slug in () if mayor or local_only else sets[n % len(sets)]:
            links.append({"subscriber_id": n, "topic_id": topics[slug], "created_at": now})
    db.session.execute(sa.insert(Subscriber.__table__), people)
    db.session.execute(sa.insert(Subscription.__table__), links)
    db.session.commit()


def run(url: str, subscribers: int, comuni: bool = True) -> None:
    with tempfile.TemporaryDirectory() as instance:
        app = create_app(
            {
                "ENV_NAME": "test",
                "DATABASE_URL": url,
                "INSTANCE_PATH": instance,
                "LOG_LEVEL": "WARNING",
            }
        )
        with app.app_context():
            from newsletter.extensions import migrate

            migrate.upgrade()
            populate(subscribers, comuni)
            started = time.perf_counter()
            result = build_digests("weekly", FIRE)
            total = time.perf_counter() - started
            print(
                f"{db.engine.dialect.name}: {result.period_key}: {result.digests} digests, "
                f"{result.deliveries} deliveries for {subscribers} subscribers"
            )
            keys = list(db.session.scalars(sa.select(Digest.audience_key)))
            local = sum(bool(re.search(r":m\d+", key)) for key in keys)
            print(f"  variants: {len(keys)} ({local} with a comune's section)")
            print(f"  load subscribers + articles:        {result.timings['load']:.3f} s")
            print(
                f"  compose + render (all variants):    {result.timings['compose_render']:.3f} s"
                f" (CPU {result.timings['compose_render_cpu']:.3f} s)"
            )
            print(f"  load average now: {', '.join(f'{x:.1f}' for x in os.getloadavg())}")
            print(f"  insert digests + delivery rows:     {result.timings['store']:.3f} s")
            print(f"  build_digests total:                {total:.3f} s")
            again = build_digests("weekly", FIRE)
            print(
                f"  second run (idempotent): {again.digests} digests, {again.deliveries} deliveries"
            )
            db.engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subscribers", type=int, default=100_000)
    parser.add_argument(
        "--postgres", metavar="URL", help="e.g. postgresql://postgres@127.0.0.1/test"
    )
    parser.add_argument(
        "--no-comuni", action="store_true", help="citizens without a comune (the old benchmark)"
    )
    args = parser.parse_args()
    comuni = not args.no_comuni
    with tempfile.TemporaryDirectory() as folder:
        run(f"sqlite:///{Path(folder) / 'bench.sqlite3'}", args.subscribers, comuni)
    if args.postgres:
        base = sa.engine.make_url(args.postgres).set(drivername="postgresql+psycopg")
        admin = sa.create_engine(base, isolation_level="AUTOCOMMIT")
        name = f"nl_bench_{uuid.uuid4().hex[:10]}"
        with admin.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
        try:
            run(
                base.set(database=name).render_as_string(hide_password=False),
                args.subscribers,
                comuni,
            )
        finally:
            with admin.connect() as conn:
                conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            admin.dispose()


if __name__ == "__main__":
    main()
