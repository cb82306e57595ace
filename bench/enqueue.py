"""Time to write the outbox rows of one digest for N subscribers (issue 16 item 2).

    .venv/bin/python bench/enqueue.py [-n 100000] [--db sqlite|postgres|both] [--repeat 3]

For each database: a fresh, migrated database with N active subscribers; then, for each of
``--repeat`` digests, ``outbox.enqueue_many`` as ``digests build`` calls it (with its "still
active" condition), timed, committed; then the first call again (idempotent: inserts nothing),
timed; then, for comparison, the statement the builder used before the outbox API (INSERT ...
SELECT with a 5,000-id IN list and RETURNING) into another digest. Target: under 2 s for
100,000 on PostgreSQL. The summary gives the best and median wall time and the median CPU
time, with the load average: on a shared machine the best run is the one that got the CPU.

Each line gives wall time and CPU time (this process, plus the PostgreSQL backend's when the
server runs on this machine and /proc is readable): on a shared machine the CPU time is the
closer estimate of the wall time on an idle one.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from datetime import timedelta
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from newsletter import create_app  # noqa: E402
from newsletter.db import UTCDateTime, utcnow  # noqa: E402
from newsletter.delivery import outbox  # noqa: E402
from newsletter.delivery.models import Delivery, DeliveryKind, DeliveryStatus  # noqa: E402
from newsletter.digests.models import Digest, DigestKind  # noqa: E402
from newsletter.digests.service import _still_active  # noqa: E402
from newsletter.extensions import db  # noqa: E402
from newsletter.subscriptions.models import Subscriber, SubscriberStatus  # noqa: E402


def make_digest(period_key: str) -> int:
    now = utcnow()
    digest = Digest(
        audience_key="citizen:weekly:welfare:it",
        period_key=period_key,
        kind=DigestKind.CITIZEN,
        frequency="weekly",
        locale="it",
        topic_slugs="welfare",
        window_start=now - timedelta(days=7),
        window_end=now,
        subject="Novità della settimana",
        html="<p>Novità</p>",
        text="Novità",
        article_count=1,
    )
    db.session.add(digest)
    db.session.commit()
    return digest.id


def add_subscribers(n: int) -> list[int]:
    table = Subscriber.__table__
    now = utcnow()
    with db.engine.begin() as conn:
        for start in range(0, n, 10_000):
            conn.execute(
                sa.insert(table),
                [
                    {
                        "email": f"reader{i}@example.org",
                        "locale": "it",
                        "status": SubscriberStatus.ACTIVE,
                        "role": "citizen",
                        "frequency": "weekly",
                        "created_at": now,
                        "soft_bounces": 0,
                    }
                    for i in range(start, min(n, start + 10_000))
                ],
            )
        return sorted(conn.execute(sa.select(table.c.id)).scalars())


def previous_enqueue(digest_id: int, ids: list[int]) -> int:
    """What ``digests/service.py`` did before the outbox API, kept here as the baseline."""
    dialect = db.session.get_bind().dialect.name
    insert = (postgresql if dialect == "postgresql" else sqlite).insert
    now = utcnow()
    inserted = 0
    for offset in range(0, len(ids), 5000):
        chunk = ids[offset : offset + 5000]
        rows = sa.select(
            sa.literal(DeliveryKind.DIGEST.value, sa.String()),
            sa.literal(digest_id, sa.Integer()),
            Subscriber.id,
            sa.literal(DeliveryStatus.QUEUED.value, sa.String()),
            sa.literal(0, sa.Integer()),
            sa.literal(now, UTCDateTime()),
            sa.literal(now, UTCDateTime()),
        ).where(Subscriber.id.in_(chunk), Subscriber.status == SubscriberStatus.ACTIVE)
        statement = (
            insert(Delivery.__table__)
            .from_select(
                [
                    "kind",
                    "digest_id",
                    "subscriber_id",
                    "status",
                    "attempts",
                    "next_attempt_at",
                    "created_at",
                ],
                rows,
            )
            .on_conflict_do_nothing(index_elements=["digest_id", "subscriber_id"])
            .returning(Delivery.__table__.c.id)
        )
        inserted += len(db.session.execute(statement).all())
    return inserted


def backend_cpu() -> float | None:
    """CPU seconds used so far by the database server process of this session (PostgreSQL
    on this machine only): on a shared machine CPU time says more than wall time."""
    conn = db.session.connection()
    if conn.dialect.name != "postgresql":
        return None
    pid = conn.exec_driver_sql("SELECT pg_backend_pid()").scalar()
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def timed(label: str, n: int, work: object) -> tuple[float, float]:
    server_before = backend_cpu()
    started, cpu_started = time.perf_counter(), time.process_time()
    inserted = work()  # type: ignore[operator]
    server_after = backend_cpu()
    db.session.commit()
    elapsed = time.perf_counter() - started
    cpu = time.process_time() - cpu_started
    split = ""
    if server_before is not None and server_after is not None:
        server = server_after - server_before
        split = f" ({cpu:.2f} here + {server:.2f} server)"
        cpu += server
    print(f"  {label:<34} {inserted:>7} rows in {elapsed:6.2f} s wall, {cpu:6.2f} s CPU{split}")
    return elapsed, cpu


def run(kind: str, n: int, postgres_url: str, repeat: int) -> None:
    workdir = Path(tempfile.mkdtemp(prefix="bench-enqueue-"))
    admin_engine = None
    pg_name = None
    if kind == "postgres":
        admin_url = sa.engine.make_url(postgres_url).set(drivername="postgresql+psycopg")
        admin_engine = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
        pg_name = f"bench_enqueue_{uuid.uuid4().hex[:8]}"
        with admin_engine.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{pg_name}"'))
        database_url = admin_url.set(database=pg_name).render_as_string(hide_password=False)
    else:
        database_url = f"sqlite:///{workdir / 'bench.sqlite3'}"
    try:
        app = create_app(
            {
                "ENV_NAME": "embedded",
                "DATABASE_URL": database_url,
                "INSTANCE_PATH": str(workdir / "instance"),
                "BASE_URL": "https://newsletter.example.org",
                "SECRET_KEY": "bench-secret",
            }
        )
        with app.app_context():
            from newsletter.extensions import migrate

            migrate.upgrade()
            ids = add_subscribers(n)
            first, second = make_digest("2026-W47"), make_digest("2026-W48")
            print(f"{kind}: {n} subscribers")
            walls, cpus = [], []
            for run_number in range(repeat):
                digest = first if run_number == 0 else make_digest(f"2027-W{run_number:02d}")
                elapsed, cpu = timed(
                    "outbox.enqueue_many" + (f" (digest {run_number + 1})" if repeat > 1 else ""),
                    n,
                    lambda d=digest: outbox.enqueue_many(
                        DeliveryKind.DIGEST, d, ids, only=_still_active
                    ),
                )
                walls.append(elapsed)
                cpus.append(cpu)
            timed(
                "outbox.enqueue_many again (no-op)",
                n,
                lambda: outbox.enqueue_many(DeliveryKind.DIGEST, first, ids, only=_still_active),
            )
            timed("before: IN list + RETURNING", n, lambda: previous_enqueue(second, ids))
            best, middle = min(walls), statistics.median(walls)
            verdict = "under" if best < 2 else "OVER"
            print(
                f"  => {n} rows: best {best:.2f} s wall, median {middle:.2f} s wall, "
                f"median {statistics.median(cpus):.2f} s CPU; {verdict} the 2 s target "
                f"(load average {os.getloadavg()[0]:.2f})"
            )
            db.session.remove()
            db.engine.dispose()
    finally:
        if admin_engine is not None and pg_name is not None:
            with admin_engine.connect() as conn:
                conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{pg_name}" WITH (FORCE)'))
            admin_engine.dispose()
        shutil.rmtree(workdir, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3, help="digests enqueued, one timing each")
    parser.add_argument("--db", choices=("sqlite", "postgres", "both"), default="both")
    parser.add_argument("--postgres-url", default="postgresql://postgres@127.0.0.1:5432/test")
    args = parser.parse_args()
    print("load average (1, 5, 15 min): {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))
    for kind in ("sqlite", "postgres") if args.db == "both" else (args.db,):
        run(kind, args.n, args.postgres_url, args.repeat)


if __name__ == "__main__":
    main()
