"""An urgent alert overtaking a weekly digest: from the approval to the last alert delivered.

    .venv/bin/python bench/alerts.py [--digest 100000] [--alerts 20000] [--push 2000]
                                     [--db sqlite|postgres] [--postgres-url URL]

A weekly digest of ``--digest`` recipients is queued and ``newsletter send`` (the real console
script, mail and channel senders together, default settings) is delivering it into Postfix's
``smtp-sink``. Once the sender is busy (``--head-start`` digest messages accepted), an editor
issues a *severe* alert for Crema, whose ``--alerts`` subscribers (among the digest's readers)
and ``--push`` browsers (at a local push service that checks VAPID and decrypts every payload)
opted in, and a second person approves it. Printed: for e-mail and push, the time from the
approval's commit to each alert reaching the relay / the push receiver (p50, p95, max), and
how many digest messages were still waiting when the last alert went out (the lane works if
that is most of them).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import statistics
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

from push import RECEIVER  # noqa: E402  (the local push service, decrypting, with times)
from send import find_postfix_tools, free_port, populate  # noqa: E402


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered)) - 1))]


def summary(name: str, delays: list[float], expected: int) -> str:
    if not delays:
        return f"{name:<8} none of {expected} arrived"
    return (
        f"{name:<8} {len(delays)}/{expected}: p50 {statistics.median(delays):.1f} s, "
        f"p95 {percentile(delays, 95):.1f} s, max {max(delays):.1f} s after the approval"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--digest", type=int, default=100_000)
    parser.add_argument("--alerts", type=int, default=20_000)
    parser.add_argument("--push", type=int, default=2_000)
    parser.add_argument("--head-start", type=int, default=5_000)
    parser.add_argument("--db", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--postgres-url", default="postgresql://postgres@127.0.0.1:5432/test")
    args = parser.parse_args()
    if args.alerts > args.digest:
        raise SystemExit("--alerts must not exceed --digest (alert readers are digest readers)")

    sink_bin, _ = find_postfix_tools()
    work = Path(tempfile.mkdtemp(prefix="bench-alerts-"))
    subs_file, stats_file = work / "subs.json", work / "stats.json"
    receiver = subprocess.Popen(
        [
            sys.executable,
            "-c",
            RECEIVER.format(root=str(ROOT), n=args.push, out=str(subs_file), stats=str(stats_file)),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert receiver.stdout is not None
    receiver.stdout.readline()
    port = free_port()
    sink = subprocess.Popen(
        [sink_bin, "-u", os.environ.get("USER", "nobody"), f"127.0.0.1:{port}", "1024"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    admin_engine = pg_name = None
    sender: subprocess.Popen[bytes] | None = None
    if args.db == "postgres":
        admin_url = sa.engine.make_url(args.postgres_url).set(drivername="postgresql+psycopg")
        admin_engine = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
        pg_name = f"bench_alerts_{uuid.uuid4().hex[:8]}"
        with admin_engine.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{pg_name}"'))
        database_url = admin_url.set(database=pg_name).render_as_string(hide_password=False)
    else:
        database_url = f"sqlite:///{work / 'bench.sqlite3'}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSLETTER_")}
    env.update(
        NEWSLETTER_INSTANCE_PATH=str(work / "instance"),
        NEWSLETTER_DATABASE_URL=database_url,
        NEWSLETTER_SECRET_KEY="bench-secret",
        NEWSLETTER_BASE_URL="https://newsletter.example.org",
        NEWSLETTER_SMTP_PORT=str(port),
        NEWSLETTER_PUSH_INSECURE_ENDPOINTS="1",
        # The night: quiet hours cover the whole day, and alerts must ignore them.
        NEWSLETTER_QUIET_HOURS="00:00-23:59",
    )
    os.environ.update(env)
    try:
        from newsletter import create_app
        from newsletter.alerts import service as alerts
        from newsletter.alerts.schemas import AlertIn
        from newsletter.audit import Actor
        from newsletter.delivery.models import Delivery, DeliveryKind, DeliveryStatus
        from newsletter.extensions import db, migrate
        from newsletter.push import vapid
        from newsletter.push.models import PushSubscription
        from newsletter.reference.models import Municipality
        from newsletter.subscriptions.models import Subscriber

        app = create_app({"ENV_NAME": "embedded", "DATABASE_URL": database_url})
        with app.app_context():
            migrate.upgrade()
            vapid.create(vapid.key_path(app.config, app.instance_path), force=True)
            populate(args.digest)
            crema = db.session.scalar(
                sa.select(Municipality.id).where(Municipality.name == "Crema")
            )
            sub_t = Subscriber.__table__
            first = db.session.scalar(sa.select(sa.func.min(sub_t.c.id))) or 1
            db.session.execute(
                sa.update(sub_t)
                .where(sub_t.c.id < first + args.alerts)
                .values(municipality_id=crema, alerts=True)
            )
            now = datetime.now(UTC)
            browsers = json.loads(subs_file.read_text())
            if browsers:  # --push 0: e-mail only
                db.session.execute(
                    sa.insert(PushSubscription),
                    [
                        {
                            "endpoint": s["endpoint"],
                            "p256dh": s["keys"]["p256dh"],
                            "auth": s["keys"]["auth"],
                            "topics": [],
                            "municipality_id": crema,
                            "local_news": False,
                            "alerts": True,
                            "locale": "it",
                            "created_at": now,
                            "updated_at": now,
                        }
                        for s in browsers
                    ],
                )
            db.session.commit()
            db.engine.dispose()
        print(
            f"database: {args.db}; digest queued for {args.digest}; {args.alerts} of them and "
            f"{args.push} browsers take Crema's alerts; default sender settings"
        )

        sender = subprocess.Popen(
            [sys.executable, "-m", "newsletter.cli", "send"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        del_t = Delivery.__table__

        def count(kind: DeliveryKind, status: DeliveryStatus) -> int:
            with db.engine.connect() as conn:
                return int(
                    conn.execute(
                        sa.select(sa.func.count())
                        .select_from(del_t)
                        .where(del_t.c.kind == kind.value, del_t.c.status == status.value)
                    ).scalar_one()
                )

        with app.app_context():
            deadline = time.monotonic() + 600
            while count(DeliveryKind.DIGEST, DeliveryStatus.SENT) < args.head_start:
                if time.monotonic() > deadline or sender.poll() is not None:
                    raise SystemExit("the sender did not get going")
                time.sleep(0.2)
            issued = alerts.issue(
                AlertIn.model_validate(
                    {
                        "headline": "Crema: esondazione del Serio, evacuare i piani terra",
                        "text": "Il livello del fiume Serio supera la soglia di guardia. "
                        "Chi abita ai piani terra lungo il fiume salga ai piani alti.",
                        "severity": "severe",
                        "municipalities": ["Crema"],
                        "expires_at": (datetime.now(UTC) + timedelta(hours=12)).isoformat(),
                    }
                ),
                actor=Actor("editor@example.org"),
            )
            db.session.commit()
            digest_sent_before = count(DeliveryKind.DIGEST, DeliveryStatus.SENT)
            started = time.time()
            alerts.approve(issued.id, actor=Actor("sindaco@example.org"))
            db.session.commit()
            approved = time.time()
            deadline = time.monotonic() + 600
            mail_done = push_done = False
            while time.monotonic() < deadline and not (mail_done and push_done):
                mail_done = count(DeliveryKind.ALERT, DeliveryStatus.SENT) >= args.alerts
                if stats_file.exists():
                    push_done = len(json.loads(stats_file.read_text())["times"]) >= args.push
                time.sleep(0.2)
            digest_waiting = count(DeliveryKind.DIGEST, DeliveryStatus.QUEUED)
            with db.engine.connect() as conn:
                sent_at = list(
                    conn.execute(
                        sa.select(del_t.c.sent_at).where(
                            del_t.c.kind == DeliveryKind.ALERT.value,
                            del_t.c.status == DeliveryStatus.SENT.value,
                        )
                    ).scalars()
                )
            db.engine.dispose()
        mail = [
            (s.replace(tzinfo=UTC) if s.tzinfo is None else s).timestamp() - approved
            for s in sent_at
        ]
        stats = json.loads(stats_file.read_text()) if stats_file.exists() else {"times": []}
        push = [t - approved for t in stats["times"]]
        print(
            f"approval: {(approved - started) * 1000:.0f} ms (render once per language, "
            f"{args.alerts} mail rows and {args.push} push rows queued, committed)"
        )
        print(summary("e-mail", mail, args.alerts))
        print(summary("push", push, args.push) + f" ({stats.get('errors', 0)} errors)")
        print(
            f"digest:  {digest_sent_before} sent before the approval, {digest_waiting} still "
            f"queued when the last alert was out"
        )
        print(f"load average: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
        ok = len(mail) >= args.alerts and len(push) >= args.push
        return 0 if ok else 1
    finally:
        if sender is not None:
            sender.send_signal(signal.SIGTERM)
            try:
                sender.wait(timeout=30)
            except subprocess.TimeoutExpired:
                sender.kill()
        sink.terminate()
        receiver.terminate()
        if admin_engine is not None and pg_name is not None:
            with admin_engine.connect() as conn:
                conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{pg_name}" WITH (FORCE)'))
            admin_engine.dispose()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
