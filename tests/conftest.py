"""Shared fixtures: an app on a migrated database, on SQLite always and PostgreSQL when asked.

Set ``NEWSLETTER_TEST_POSTGRES_URL`` (e.g. ``postgresql://postgres@127.0.0.1:5432/test``) to run
every ``app``-using test on PostgreSQL too: each run gets its own database, dropped afterwards.
``NEWSLETTER_TEST_REQUIRE_POSTGRES=1`` / ``NEWSLETTER_TEST_REQUIRE_BROWSER=1`` (set by .ci/run)
turn the corresponding skips into failures, so CI cannot pass while skipping them.

Fixture modules in ``tests/fixtures/`` are loaded automatically, one per domain.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner

from newsletter import create_app
from newsletter.extensions import db, migrate

pytest_plugins = sorted(
    f"tests.fixtures.{path.stem}"
    for path in (Path(__file__).parent / "fixtures").glob("*.py")
    if path.stem != "__init__"
)

POSTGRES_URL_VAR = "NEWSLETTER_TEST_POSTGRES_URL"
KEEP_TABLES = {"alembic_version"}
SEED_TOPICS = ("welfare", "mobility", "energy", "governance")


def _required(kind: str) -> bool:
    return os.environ.get(f"NEWSLETTER_TEST_REQUIRE_{kind}", "") not in ("", "0", "false")


def skip_or_fail(kind: str, reason: str) -> None:
    if _required(kind):
        pytest.fail(f"{reason} (required: NEWSLETTER_TEST_REQUIRE_{kind} is set)")
    pytest.skip(reason)


def _migrate(url: str, instance: Path) -> None:
    app = create_app({"ENV_NAME": "test", "DATABASE_URL": url, "INSTANCE_PATH": str(instance)})
    with app.app_context():
        migrate.upgrade()
        db.engine.dispose()


def _admin_url(url: str) -> sa.engine.URL:
    return sa.engine.make_url(url).set(drivername="postgresql+psycopg")


@pytest.fixture(scope="session")
def postgres_database(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A fresh, migrated PostgreSQL database for this test run (and xdist worker)."""
    base = os.environ.get(POSTGRES_URL_VAR)
    if not base:
        skip_or_fail("POSTGRES", f"PostgreSQL tests need {POSTGRES_URL_VAR}")
    assert base is not None
    admin = sa.create_engine(_admin_url(base), isolation_level="AUTOCOMMIT")
    name = f"nl_test_{uuid.uuid4().hex[:12]}"
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    url = _admin_url(base).set(database=name).render_as_string(hide_password=False)
    try:
        _migrate(url, tmp_path_factory.mktemp("pg-instance"))
        yield url
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(scope="session")
def sqlite_database(tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("sqlite") / "newsletter.sqlite3"
    url = f"sqlite:///{path}"
    _migrate(url, tmp_path_factory.mktemp("sqlite-instance"))
    return url


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest) -> str:
    return str(request.getfixturevalue(f"{request.param}_database"))


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """``@pytest.mark.postgres`` / ``@pytest.mark.sqlite`` tests run only on that backend."""
    keep, drop = [], []
    for item in items:
        callspec = getattr(item, "callspec", None)
        backend = callspec.params.get("database_url") if callspec else None
        only = next((m for m in ("postgres", "sqlite") if item.get_closest_marker(m)), None)
        if backend is not None and only is not None and only != backend:
            drop.append(item)
        else:
            keep.append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


def _wipe(app: Flask) -> None:
    """Delete every row the test made; keep the schema, the four seeded topics, the 48 comuni."""
    with app.app_context():
        db.session.remove()
        meta = db.metadata
        with db.engine.begin() as conn:
            for table in reversed(meta.sorted_tables):
                if table.name in KEEP_TABLES:
                    continue
                if table.name == "topic":
                    conn.execute(table.delete().where(table.c.slug.not_in(SEED_TOPICS)))
                else:
                    conn.execute(table.delete())
            _reseed_municipalities(conn, meta.tables["municipality"])
        db.engine.dispose()


def _reseed_municipalities(conn: sa.Connection, table: sa.Table) -> None:
    """Back to the 48 comuni that migrations 0002 and 0012 seed (tests may rename or add some)."""
    from newsletter.db import utcnow
    from newsletter.reference.names import slugify
    from newsletter.reference.service import BUNDLED_MUNICIPALITIES

    rows = [
        line.split(",")
        for line in BUNDLED_MUNICIPALITIES.read_text(encoding="utf-8").splitlines()[1:]
        if line.strip()
    ]
    now = utcnow()
    conn.execute(
        table.insert(),
        [
            {"name": name, "slug": slugify(name), "istat_code": code or None, "created_at": now}
            for name, code in rows
        ],
    )


def make_app(database_url: str, instance: Path, **overrides: Any) -> Flask:
    config = {
        "ENV_NAME": "test",
        "DATABASE_URL": database_url,
        "INSTANCE_PATH": str(instance),
        "BASE_URL": "https://newsletter.example.org",
        **overrides,
    }
    return create_app(config)


@pytest.fixture
def app_overrides() -> dict[str, Any]:
    """Override in a test module to change the app's configuration for its tests."""
    return {}


@pytest.fixture
def app(database_url: str, tmp_path: Path, app_overrides: dict[str, Any]) -> Iterator[Flask]:
    application = make_app(database_url, tmp_path / "instance", **app_overrides)
    try:
        with application.app_context():
            yield application
    finally:
        _wipe(application)


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def runner(app: Flask) -> FlaskCliRunner:
    return app.test_cli_runner()


@pytest.fixture
def backend(app: Flask) -> str:
    return str(db.engine.dialect.name)
