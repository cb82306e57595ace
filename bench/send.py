"""Throughput of the sender against Postfix's smtp-sink, compared with smtp-source.

    .venv/bin/python bench/send.py [-n 100000] [--db sqlite|postgres] [--concurrency 4]

Builds N active recipients of one weekly digest, runs ``newsletter send --until-idle`` (the real
console script, SEND_RATE unlimited) against ``smtp-sink``, then times ``smtp-source`` sending
N messages of the same size to the same sink, and prints both rates, their ratio and the
sender's peak RSS. Installs postfix with apt when smtp-sink is missing.
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from datetime import timedelta
from pathlib import Path

import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from newsletter import create_app, mailparts  # noqa: E402
from newsletter.db import utcnow  # noqa: E402
from newsletter.delivery import outbox  # noqa: E402
from newsletter.delivery.message import Recipient, build_template, personalise  # noqa: E402
from newsletter.delivery.models import Delivery, DeliveryKind, DeliveryStatus  # noqa: E402
from newsletter.digests.models import Digest, DigestKind  # noqa: E402
from newsletter.extensions import db  # noqa: E402
from newsletter.subscriptions.models import Subscriber, SubscriberStatus  # noqa: E402


class PeakRss:
    """The sender's own peak RSS (``VmHWM``), read from /proc while it runs.

    Not ``ru_maxrss`` from ``wait4``: Popen starts the child with vfork, and when the child
    calls exec the kernel records the high-water mark of the memory it leaves behind, which
    is this process's (the bench, which just wrote 100,000 rows): 150 MB reported for a
    sender that never passed 130."""

    def __init__(self, pid: int) -> None:
        self.path = Path(f"/proc/{pid}/status")
        self.kib = 0
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()

    def _watch(self) -> None:
        while not self._done.wait(0.05):
            try:
                status = self.path.read_text()
            except OSError:
                return
            for line in status.splitlines():
                if line.startswith("VmHWM:"):
                    self.kib = max(self.kib, int(line.split()[1]))

    def stop(self) -> None:
        self._done.set()
        self._thread.join()


def find_postfix_tools() -> tuple[str, str]:
    sink, source = (
        shutil.which("smtp-sink", path="/usr/sbin:/usr/bin"),
        shutil.which("smtp-source", path="/usr/sbin:/usr/bin"),
    )
    if sink and source:
        return sink, source
    print("installing postfix (for smtp-sink and smtp-source) ...", flush=True)
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    sudo = [] if os.geteuid() == 0 else ["sudo", "-n"]
    subprocess.run([*sudo, "apt-get", "install", "-y", "-q", "postfix"], check=True, env=env)
    return "/usr/sbin/smtp-sink", "/usr/sbin/smtp-source"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def weekly_digest_body() -> tuple[str, str]:
    """About the size of a real weekly digest: ~12 articles, ~25 KB of HTML."""
    articles = [
        f"Articolo {n}: il Comune di Crema comunica novità su servizi, bandi e viabilità. "
        "Le domande si presentano entro la fine del mese presso gli uffici comunali. " * 2
        for n in range(12)
    ]
    text = "Novità della settimana\n\n" + "\n\n".join(
        f"{a}\nhttps://www.comune.crema.cr.it/notizie/{n}" for n, a in enumerate(articles)
    )
    text += (
        f"\n\nPreferenze: {mailparts.PREFERENCES_URL}\nDisiscriviti: {mailparts.UNSUBSCRIBE_URL}\n"
    )
    html = (
        "<!doctype html><html><head><style>body{font-family:sans-serif}</style></head><body>"
        + "".join(
            f'<table role="presentation" width="100%"><tr><td style="padding:12px">'
            f'<h2><a href="https://www.comune.crema.cr.it/notizie/{n}">Titolo {n}</a></h2>'
            f"<p>{a}</p></td></tr></table>"
            for n, a in enumerate(articles)
        )
        + f'<p><a href="{mailparts.PREFERENCES_URL}">Preferenze</a> · '
        f'<a href="{mailparts.UNSUBSCRIBE_URL}">Disiscriviti</a></p></body></html>'
    )
    return text, html


def populate(n: int) -> None:
    now = utcnow()
    text, html = weekly_digest_body()
    digest = Digest(
        audience_key="weekly:it:welfare;mobility;energy;governance",
        period_key="2026-W47",
        kind=DigestKind.CITIZEN,
        frequency="weekly",
        locale="it",
        topic_slugs="welfare;mobility;energy;governance",
        window_start=now - timedelta(days=7),
        window_end=now,
        subject="Area Omogenea Cremasca: le novità della settimana",
        html=html,
        text=text,
        article_count=12,
    )
    db.session.add(digest)
    db.session.commit()
    sub_t = Subscriber.__table__
    with db.engine.begin() as conn:
        for start in range(0, n, 10000):
            conn.execute(
                sa.insert(sub_t),
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
                    for i in range(start, min(n, start + 10000))
                ],
            )
    # The outbox rows as ``digests build`` writes them (which also refreshes PostgreSQL's
    # statistics after a bulk insert, as the sender's claim plans depend on them).
    ids = list(db.session.execute(sa.select(sub_t.c.id).order_by(sub_t.c.id)).scalars())
    outbox.enqueue_many(DeliveryKind.DIGEST, digest.id, ids, now=now)
    db.session.commit()


def message_size(app_config: dict[str, object]) -> int:
    text, html = weekly_digest_body()
    template = build_template(
        mail_from=str(app_config["MAIL_FROM"]),
        subject="Area Omogenea Cremasca: le novità della settimana",
        text=text,
        html=html,
        list_id_value="<weekly.localhost>",
    )
    url = "https://newsletter.example.org/unsubscribe/" + "x" * 40
    return len(personalise(template, Recipient("reader12345@example.org", "<1.abc@x>", url, url)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=100_000)
    parser.add_argument("--db", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--postgres-url", default="postgresql://postgres@127.0.0.1:5432/test")
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument(
        "--profile",
        metavar="FILE",
        help="run the sender under py-spy and write its collapsed stacks to FILE",
    )
    parser.add_argument(
        "--gil",
        action="store_true",
        help="with --profile: only samples holding the GIL (CPU in Python, not waits)",
    )
    args = parser.parse_args()

    sink_bin, source_bin = find_postfix_tools()
    workdir = Path(tempfile.mkdtemp(prefix="bench-send-"))
    instance = workdir / "instance"
    admin_engine = None
    pg_name = None
    if args.db == "postgres":
        admin_url = sa.engine.make_url(args.postgres_url).set(drivername="postgresql+psycopg")
        admin_engine = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
        pg_name = f"bench_send_{uuid.uuid4().hex[:8]}"
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
        with app.app_context():
            from newsletter.extensions import migrate

            migrate.upgrade()
            started = time.monotonic()
            populate(args.n)
            print(f"database:        {args.db} ({db.engine.url.render_as_string()})")
            print(f"recipients:      {args.n} (outbox filled in {time.monotonic() - started:.1f}s)")
            size = message_size(app.config)
            db.engine.dispose()
        print(f"message size:    {size} bytes")
        print(f"concurrency:     {args.concurrency} relay connections, SEND_RATE unlimited")

        env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSLETTER_")}
        env.update(
            NEWSLETTER_INSTANCE_PATH=str(instance),
            NEWSLETTER_DATABASE_URL=database_url,
            NEWSLETTER_SECRET_KEY="bench-secret",
            NEWSLETTER_BASE_URL="https://newsletter.example.org",
            NEWSLETTER_SMTP_PORT=str(port),
            NEWSLETTER_SEND_RATE="0",
            NEWSLETTER_SEND_CONCURRENCY=str(args.concurrency),
            NEWSLETTER_SEND_BATCH_SIZE=str(args.batch),
        )
        started = time.monotonic()
        command = [sys.executable, "-m", "newsletter.cli", "send", "--until-idle"]
        if args.profile:
            spy = str(Path(sys.executable).with_name("py-spy"))
            if not Path(spy).exists():  # a bench tool, not a dependency of the project
                print("installing py-spy (for --profile) ...", flush=True)
                subprocess.run([sys.executable, "-m", "pip", "install", "-q", "py-spy"], check=True)
            command = [
                spy,
                "record",
                "--format",
                "raw",
                "-t",
                *(["--gil"] if args.gil else []),
                "-o",
                args.profile,
                "--",
                *command,
            ]
        sender = subprocess.Popen(
            command,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        peak = PeakRss(sender.pid)
        _, status, usage = os.wait4(sender.pid, 0)
        wall = time.monotonic() - started
        peak.stop()
        assert sender.stdout is not None
        output = sender.stdout.read().decode().strip()
        sender.returncode = os.waitstatus_to_exitcode(status)
        if sender.returncode != 0:
            raise SystemExit(f"sender failed ({sender.returncode}): {output}")
        peak_rss_mb = peak.kib / 1024
        sender_cpu = usage.ru_utime + usage.ru_stime
        app = create_app(config)
        with app.app_context():
            del_t = Delivery.__table__
            with db.engine.connect() as conn:
                sent, first, last = conn.execute(
                    sa.select(
                        sa.func.count(), sa.func.min(del_t.c.sent_at), sa.func.max(del_t.c.sent_at)
                    ).where(del_t.c.status == DeliveryStatus.SENT)
                ).one()
            db.engine.dispose()
        if sent != args.n:
            raise SystemExit(f"only {sent} of {args.n} marked sent: {output}")
        span = (last - first).total_seconds() if first and last else wall
        sender_rate = args.n / wall
        print(f"sender:          {output.splitlines()[-1]}")  # the summary after progress
        print(
            f"sender:          {args.n} messages in {wall:.1f}s = {sender_rate:.0f} msg/s "
            f"(including start-up; {args.n / max(span, 1e-9):.0f} msg/s between first and last)"
        )
        print(f"sender peak RSS: {peak_rss_mb:.1f} MB")
        print(
            f"sender CPU:      {sender_cpu:.1f}s user+sys "
            f"({sender_cpu / args.n * 1e6:.0f} µs per message, start-up included)"
        )

        started = time.monotonic()
        before = os.times()
        subprocess.run(
            [
                source_bin,
                "-s",
                str(args.concurrency),
                "-m",
                str(args.n),
                "-l",
                str(size),
                "-f",
                "newsletter@localhost",
                "-t",
                "reader@example.org",
                f"127.0.0.1:{port}",
            ],
            check=True,
        )
        source_wall = time.monotonic() - started
        after = os.times()
        source_cpu = (after.children_user - before.children_user) + (
            after.children_system - before.children_system
        )
        source_rate = args.n / source_wall
        print(
            f"smtp-source:     {args.n} messages in {source_wall:.1f}s = {source_rate:.0f} msg/s "
            f"({args.concurrency} sessions, {size} bytes each; "
            f"{source_cpu / args.n * 1e6:.0f} µs CPU per message)"
        )
        load = os.getloadavg()[0]
        print(
            f"ratio:           {sender_rate / source_rate:.2f} (target >= 0.5, aim 0.8; "
            f"load average {load:.1f} on {os.cpu_count()} CPUs during the run)"
        )
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
