"""Web Push at scale: an article's POST to the last notification decrypted at the receiver.

    .venv/bin/python bench/push.py [-n 20000] [--db sqlite|postgres] [--workers 8]

A local push service runs in its own process (the tests' receiver: real P-256 keys per
browser, VAPID checked, every payload decrypted with http_ece). N push subscriptions are
stored, one article is POSTed to ``/api/v1/articles``, the immediate batch is built (as the
worker does every IMMEDIATE_BATCH_MINUTES) and ``newsletter send --until-idle`` (the real
console script) delivers. Prints the time of each step, the sender's push throughput and the
worst case a citizen waits: the batch window plus build and send.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
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

RECEIVER = """
import json, sys, time, threading
from http.server import BaseHTTPRequestHandler
sys.path.insert(0, {root!r})
from tests.fixtures.push import PushService
service = PushService()
browsers = [service.browser() for _ in range({n})]
with open({out!r}, "w") as handle:
    json.dump([b.subscription() for b in browsers], handle)
service.thread.start()
print(service.origin, flush=True)
while True:
    time.sleep(0.5)
    with service.lock:
        times = [r.at for r in service.received]
        errors = len(service.errors)
    with open({stats!r} + ".tmp", "w") as handle:
        json.dump({{"count": len(times), "errors": errors, "times": times}}, handle)
    import os
    os.replace({stats!r} + ".tmp", {stats!r})
"""


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("-n", type=int, default=20_000)
    parser.add_argument("--db", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--workers", type=int, default=8)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-push-"))
    subs_file, stats_file = work / "subs.json", work / "stats.json"
    receiver = subprocess.Popen(
        [
            sys.executable,
            "-c",
            RECEIVER.format(root=str(ROOT), n=args.n, out=str(subs_file), stats=str(stats_file)),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert receiver.stdout is not None
    receiver.stdout.readline()

    if args.db == "postgres":
        base = os.environ.get(
            "NEWSLETTER_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1/test"
        )
        admin = sa.create_engine(
            sa.engine.make_url(base).set(drivername="postgresql+psycopg"),
            isolation_level="AUTOCOMMIT",
        )
        name = f"bench_push_{uuid.uuid4().hex[:8]}"
        with admin.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
        url = sa.engine.make_url(base).set(database=name).render_as_string(hide_password=False)
    else:
        url = f"sqlite:///{work / 'bench.sqlite3'}"
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("NEWSLETTER_")},
        "NEWSLETTER_ENV": "test",
        "NEWSLETTER_DATABASE_URL": url,
        "NEWSLETTER_INSTANCE_PATH": str(work / "instance"),
        "NEWSLETTER_CHANNEL_CONCURRENCY": str(args.workers),
        "NEWSLETTER_PUSH_INSECURE_ENDPOINTS": "1",
        "NEWSLETTER_QUIET_HOURS": "",
    }
    os.environ.update(env)

    from newsletter import create_app
    from newsletter.extensions import db, migrate
    from newsletter.push import vapid
    from newsletter.push.models import PushSubscription

    app = create_app("test")
    with app.app_context():
        migrate.upgrade()
        vapid.create(vapid.key_path(app.config, app.instance_path), force=True)
        subscriptions = json.loads(subs_file.read_text())
        now = datetime.now(UTC)
        started = time.perf_counter()
        db.session.execute(
            sa.insert(PushSubscription),
            [
                {
                    "endpoint": s["endpoint"],
                    "p256dh": s["keys"]["p256dh"],
                    "auth": s["keys"]["auth"],
                    "topics": ["mobility"],
                    "local_news": False,
                    "locale": "it",
                    "created_at": now,
                    "updated_at": now,
                }
                for s in subscriptions
            ],
        )
        db.session.commit()
        print(f"{args.n} push subscriptions stored in {time.perf_counter() - started:.1f} s")
        made = subprocess.run(
            [sys.executable, "-m", "newsletter.cli", "token", "create", "bench"],
            env=env,
            check=True,
            capture_output=True,
            text=True,
        )
        token = made.stdout.strip().splitlines()[-1]  # the contract: alone on the last line

        client = app.test_client()
        t0 = time.perf_counter()
        answer = client.post(
            "/api/v1/articles",
            json={
                "external_id": "bench-1",
                "title": "Nuovi treni tra Crema e Treviglio",
                "url": "https://www.example.org/news/treni",
                "published_at": datetime.now(UTC).isoformat(),
                "summary": "Più corse al mattino per i pendolari.",
                "topics": ["mobility"],
            },
            headers={"Authorization": f"Bearer {token}"},
        )
        assert answer.status_code == 201, answer.get_data(as_text=True)
        posted = time.perf_counter() - t0
        batch = datetime.now(UTC) + timedelta(minutes=int(app.config["IMMEDIATE_BATCH_MINUTES"]))

    cli = [sys.executable, "-m", "newsletter.cli"]
    t1 = time.perf_counter()
    subprocess.run(
        [*cli, "digests", "build", "--frequency", "immediate", "--at", batch.isoformat()],
        env=env,
        check=True,
        capture_output=True,
    )
    built = time.perf_counter() - t1
    t2 = time.perf_counter()
    cpu_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    sent = subprocess.run(
        [*cli, "send", "--until-idle"], env=env, check=True, capture_output=True, text=True
    )
    sending = time.perf_counter() - t2
    cpu_after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (cpu_after.ru_utime - cpu_before.ru_utime) + (cpu_after.ru_stime - cpu_before.ru_stime)
    deadline = time.time() + 60
    stats = {"count": 0, "errors": 0}
    while time.time() < deadline:
        if stats_file.exists():
            stats = json.loads(stats_file.read_text())
            if stats["count"] >= args.n:
                break
        time.sleep(0.5)
    total = time.perf_counter() - t0
    receiver.terminate()
    window = int(app.config["IMMEDIATE_BATCH_MINUTES"]) * 60
    print(sent.stdout.strip().splitlines()[-1])
    print(
        f"db={args.db} n={args.n} workers={args.workers}: POST {posted * 1000:.0f} ms, "
        f"build {built:.1f} s, send {sending:.1f} s ({args.n / sending:.0f} notifications/s), "
        f"sender CPU {cpu:.1f} s ({args.n / cpu:.0f} notifications per CPU-second), "
        f"received {stats['count']} decrypted ({stats['errors']} errors); "
        f"POST to last notification {total:.1f} s + the batch window (at most {window} s): "
        f"worst case {window + total:.0f} s"
    )
    return 0 if stats["count"] >= args.n and not stats["errors"] else 1


if __name__ == "__main__":
    sys.exit(main())
