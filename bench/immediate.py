"""How immediate is "immediately": from an article's POST to its e-mail reaching the relay.

    .venv/bin/python bench/immediate.py [-n 20000] [--db sqlite|postgres] [--postgres-url URL]

N citizens take every topic "immediately". An article is POSTed to the API; the worker's
scheduler builds the immediate batch at the end of the batch window it falls in
(``IMMEDIATE_BATCH_MINUTES``, default 10, on a fixed UTC grid), and the sender delivers it. The
bench does not sleep through the window: it runs, at once and as real processes, what the
worker runs when the window closes (``newsletter digests build --frequency immediate --at
<window end>``, then ``newsletter send --until-idle`` into Postfix's ``smtp-sink``) and adds
the wait. Printed: this run's wait (POST to window end), the build, the sending (first and last
message accepted by the relay) and the worst case: a full window plus build plus sending.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from send import find_postfix_tools, free_port  # noqa: E402

from newsletter import create_app  # noqa: E402
from newsletter.api.service import create_token  # noqa: E402
from newsletter.audit import Actor  # noqa: E402
from newsletter.delivery.models import Delivery, DeliveryStatus  # noqa: E402
from newsletter.digests.windows import immediate_period  # noqa: E402
from newsletter.extensions import db  # noqa: E402
from newsletter.reference.models import Topic  # noqa: E402
from newsletter.subscriptions.models import Subscriber, Subscription  # noqa: E402


def populate(n: int) -> None:
    now = datetime.now(UTC)
    topics = list(db.session.scalars(sa.select(Topic.id)))
    first = (db.session.scalar(sa.select(sa.func.max(Subscriber.id))) or 0) + 1
    people = [
        {
            "id": first + i,
            "email": f"citizen{i}@example.org",
            "locale": "it",
            "status": "active",
            "role": "citizen",
            "frequency": "immediate",
            "created_at": now,
            "soft_bounces": 0,
        }
        for i in range(n)
    ]
    links = [
        {"subscriber_id": first + i, "topic_id": t, "created_at": now}
        for i in range(n)
        for t in topics
    ]
    for start in range(0, n, 5000):
        db.session.execute(sa.insert(Subscriber.__table__), people[start : start + 5000])
    for start in range(0, len(links), 20000):
        db.session.execute(sa.insert(Subscription.__table__), links[start : start + 20000])
    db.session.commit()


def run(env: dict[str, str], *args: str) -> tuple[float, str]:
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "newsletter.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"newsletter {' '.join(args)} failed: {done.stdout}{done.stderr}")
    return time.monotonic() - started, done.stdout.strip()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=20_000)
    parser.add_argument("--db", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--postgres-url", default="postgresql://postgres@127.0.0.1:5432/test")
    args = parser.parse_args()

    sink_bin, _ = find_postfix_tools()
    workdir = Path(tempfile.mkdtemp(prefix="bench-immediate-"))
    instance = workdir / "instance"
    admin_engine = pg_name = None
    if args.db == "postgres":
        admin_url = sa.engine.make_url(args.postgres_url).set(drivername="postgresql+psycopg")
        admin_engine = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
        pg_name = f"bench_immediate_{uuid.uuid4().hex[:8]}"
        with admin_engine.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{pg_name}"'))
        database_url = admin_url.set(database=pg_name).render_as_string(hide_password=False)
    else:
        database_url = f"sqlite:///{workdir / 'bench.sqlite3'}"
    port = free_port()
    sink = subprocess.Popen(
        [sink_bin, "-u", os.environ.get("USER", "nobody"), f"127.0.0.1:{port}", "1024"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        config = {
            "ENV_NAME": "embedded",
            "DATABASE_URL": database_url,
            "INSTANCE_PATH": str(instance),
            "BASE_URL": "https://newsletter.example.org",
            "SECRET_KEY": "bench-secret",
        }
        app = create_app(config)
        window = int(app.config["IMMEDIATE_BATCH_MINUTES"])
        with app.app_context():
            from newsletter.extensions import migrate

            migrate.upgrade()
            populate(args.n)
            _, token = create_token("bench-cms", actor=Actor("bench"))
            db.session.commit()
            posted_at = datetime.now(UTC)
            response = app.test_client().post(
                "/api/v1/articles",
                headers={"Authorization": f"Bearer {token}"},
                json={
                    "external_id": "bench-1",
                    "title": "Chiusura temporanea della SP 235 a Crema",
                    "url": "https://www.example.org/news/sp235",
                    "published_at": posted_at.isoformat(),
                    "body": "La strada provinciale resta chiusa per lavori fino a venerdì. " * 5,
                    "topics": ["mobility"],
                },
            )
            if response.status_code not in (200, 201):
                raise SystemExit(
                    f"POST failed: {response.status_code} {response.get_data(as_text=True)}"
                )
            db.engine.dispose()
        closes = immediate_period(window, posted_at).end + timedelta(minutes=window)
        wait = (closes - posted_at).total_seconds()

        env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSLETTER_")}
        env.update(
            NEWSLETTER_INSTANCE_PATH=str(instance),
            NEWSLETTER_DATABASE_URL=database_url,
            NEWSLETTER_SECRET_KEY="bench-secret",
            NEWSLETTER_BASE_URL="https://newsletter.example.org",
            NEWSLETTER_SMTP_PORT=str(port),
        )
        build_s, built = run(
            env, "digests", "build", "--frequency", "immediate", "--at", closes.isoformat()
        )
        send_started = datetime.now(UTC)
        send_s, sent = run(env, "send", "--until-idle")
        app = create_app(config)
        with app.app_context():
            first, last, count = db.session.execute(
                sa.select(
                    sa.func.min(Delivery.sent_at), sa.func.max(Delivery.sent_at), sa.func.count()
                ).where(Delivery.status == DeliveryStatus.SENT)
            ).one()
            db.engine.dispose()
        if count < args.n:
            raise SystemExit(f"only {count} of {args.n} sent: {sent}")
        first = first.replace(tzinfo=UTC) if first.tzinfo is None else first
        last = last.replace(tzinfo=UTC) if last.tzinfo is None else last
        first_s = (first - send_started).total_seconds()
        last_s = (last - send_started).total_seconds()
        processing = build_s + send_s
        load = os.getloadavg()[0]
        print(f"database:            {args.db}; {args.n} immediate subscribers, one article")
        print(f"batch window:        {window} min (IMMEDIATE_BATCH_MINUTES), UTC grid")
        print(f"this run's wait:     {wait:.0f} s from the POST to the window's end")
        print(f"build:               {build_s:.1f} s ({built})")
        print(
            f"sending:             {send_s:.1f} s ({sent}); first accepted after "
            f"{build_s + first_s:.1f} s, last after {build_s + last_s:.1f} s from the window's end"
        )
        print(
            f"worst case:          {window * 60 + processing:.0f} s = {window} min window + "
            f"{processing:.0f} s build and sending (start-up of both commands included)"
        )
        print(f"load average:        {load:.1f} on {os.cpu_count()} CPUs (shared machine)")
    finally:
        sink.terminate()
        sink.wait()
        if admin_engine is not None and pg_name is not None:
            with admin_engine.connect() as conn:
                conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{pg_name}" WITH (FORCE)'))
            admin_engine.dispose()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
