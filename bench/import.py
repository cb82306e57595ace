"""Roster import speed: ``newsletter subscribers import`` of an N-row CSV, SQLite and PostgreSQL.

    .venv/bin/python bench/import.py [-n 20000] [--db sqlite|postgres|both] [--repeat 2]
        [--postgres-url postgresql://postgres@127.0.0.1:5432/test]

For each database: a fresh, migrated database; a CSV of N people (10% mayors and officials,
60% citizens with consent_at/consent_source, 30% citizens without, who become pending with a
confirmation mail); then ``--repeat`` dry runs, the import (all new) and ``--repeat`` imports of
the same file again (all updates), timed around ``import_roster`` (rows/s of wall time, and
rows per CPU-second of this process plus PostgreSQL's server process, which a shared machine
disturbs less), and once more through the console script in its own process (wall time with
and without its start-up, measured apart with ``--help``).
The target (issue 16): >= 10,000 rows/s, 20,000 rows in under 2 s plus start-up.
"""

from __future__ import annotations

import argparse
import os
import random
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import sqlalchemy as sa

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from newsletter import create_app  # noqa: E402
from newsletter.audit import Actor  # noqa: E402

TOPICS = ("welfare", "mobility", "energy", "governance")
COMUNI = ("Crema", "Offanengo", "Pandino", "Spino d'Adda", "Vaiano Cremasco")


def write_csv(path: Path, n: int) -> None:
    rng = random.Random(16)
    lines = ["email,role,municipality,topics,frequency,locale,name,consent_at,consent_source"]
    for i in range(n):
        topics = ";".join(rng.sample(TOPICS, rng.randint(1, 4)))
        comune = rng.choice(COMUNI)
        kind = rng.random()
        if kind < 0.05:
            row = f"sindaco{i}@comune{i}.example.org,mayor,{comune},{topics},weekly,it,Sindaco,,"
        elif kind < 0.10:
            row = f"ufficio{i}@comune{i}.example.org,official,{comune},{topics},daily,it,,,"
        elif kind < 0.70:
            row = (
                f"persona{i}@example.org,citizen,{comune},{topics},weekly,it,Persona {i},"
                "2024-03-01T10:00:00+01:00,modulo cartaceo"
            )
        else:
            row = f"nuova{i}@example.org,citizen,{comune},{topics},immediate,en,,,"
        lines.append(row)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def run(env: dict[str, str], *args: str) -> tuple[str, float]:
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "newsletter.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    wall = time.monotonic() - started
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(args)} failed: {done.stdout}{done.stderr}")
    return done.stdout.strip().splitlines()[-1], wall


def backend_cpu(database: Any) -> float | None:
    """CPU seconds used so far by this session's PostgreSQL server process (on this machine),
    None on SQLite (the database works inside this process: its time is in "CPU here")."""
    conn = database.session.connection()
    if conn.dialect.name != "postgresql":
        return None
    pid = conn.exec_driver_sql("SELECT pg_backend_pid()").scalar()
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def bench(db: str, n: int, postgres_url: str, repeat: int) -> None:
    workdir = Path(tempfile.mkdtemp(prefix="bench-import-"))
    instance = workdir / "instance"
    admin_engine = None
    pg_name = None
    if db == "postgres":
        admin_url = sa.engine.make_url(postgres_url).set(drivername="postgresql+psycopg")
        admin_engine = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
        pg_name = f"bench_import_{uuid.uuid4().hex[:8]}"
        with admin_engine.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{pg_name}"'))
        database_url = admin_url.set(database=pg_name).render_as_string(hide_password=False)
    else:
        database_url = f"sqlite:///{workdir / 'bench.sqlite3'}"
    try:
        config = {
            "ENV_NAME": "embedded",
            "DATABASE_URL": database_url,
            "INSTANCE_PATH": str(instance),
            "SECRET_KEY": "bench-secret",
        }
        app = create_app(config)
        with app.app_context():
            from newsletter.extensions import migrate

            migrate.upgrade()
            from newsletter.extensions import db as database

            database.engine.dispose()
        csv_path = workdir / "roster.csv"
        write_csv(csv_path, n)
        env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSLETTER_")}
        env.update(
            NEWSLETTER_INSTANCE_PATH=str(instance),
            NEWSLETTER_DATABASE_URL=database_url,
            NEWSLETTER_SECRET_KEY="bench-secret",
        )
        started = time.monotonic()
        run(env, "--help")
        startup = time.monotonic() - started
        print(f"{db}: {n} rows; console script start-up {startup:.2f}s")
        text = csv_path.read_text(encoding="utf-8")
        app = create_app(config)
        with app.app_context():
            from newsletter.extensions import db as database
            from newsletter.subscriptions.roster import import_roster

            runs = [("dry run", True)] * repeat + [("import (new)", False)]
            runs += [("import (again)", False)] * repeat
            for label, dry_run in runs:
                server = backend_cpu(database)
                started = time.perf_counter()
                cpu_started = time.process_time()
                report = import_roster(text, actor=Actor("cli:bench"), dry_run=dry_run)
                took = time.perf_counter() - started
                cpu = time.process_time() - cpu_started
                after = backend_cpu(database)
                server_cpu = None if server is None or after is None else after - server
                both = cpu if server_cpu is None else cpu + server_cpu
                split = "" if server_cpu is None else f" + {server_cpu:.2f}s server"
                print(
                    f"  {db:<8} {label:<15} {n / took:>9,.0f} rows/s  "
                    f"({took:.2f}s wall, {cpu:.2f}s CPU here{split} = "
                    f"{n / both:,.0f} rows per CPU-second; "
                    f"created {report.created}, updated {report.updated}, "
                    f"pending {report.pending})"
                )
            database.engine.dispose()
        line, wall = run(env, "subscribers", "import", str(csv_path))
        print(
            f"  {db:<8} {'command':<15} {wall:.2f}s wall with start-up, "
            f"{wall - startup:.2f}s without | {line}"
        )
        print(f"  load average {os.getloadavg()[0]:.2f}")
    finally:
        if admin_engine is not None and pg_name is not None:
            with admin_engine.connect() as conn:
                conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{pg_name}" WITH (FORCE)'))


def calibrate() -> float:
    """Microseconds for a fixed pure-Python task (json.dumps of a small dict): about 2-3 on an
    idle modern core; a larger number means a busy or slow machine, and every rate below is
    that much pessimistic."""
    import json
    import timeit

    row = {"role": "citizen", "topics": ["welfare", "energy"], "locale": "it", "status": "active"}
    return min(timeit.repeat(lambda: json.dumps(row), number=20_000, repeat=3)) / 20_000 * 1e6


def main() -> None:
    print(f"machine: json.dumps of a small dict takes {calibrate():.1f} us (idle: ~2-3 us)")
    print("load average (1, 5, 15 min): {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=2, help="dry runs and re-imports timed")
    parser.add_argument("--db", choices=("sqlite", "postgres", "both"), default="both")
    parser.add_argument("--postgres-url", default="postgresql://postgres@127.0.0.1:5432/test")
    args = parser.parse_args()
    for db in ("sqlite", "postgres") if args.db == "both" else (args.db,):
        bench(db, args.n, args.postgres_url, args.repeat)


if __name__ == "__main__":
    main()
