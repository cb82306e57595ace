"""Migration 0005 on a SQLite database with data: AUTOINCREMENT, a key per row, nothing lost.

The table is rebuilt (batch mode); with foreign keys on, SQLite's DROP TABLE would first delete
every subscriber and cascade into subscriptions and deliveries, so this runs on real rows.
"""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa

from newsletter import create_app
from newsletter.extensions import db, migrate


def _app(path: Path) -> object:
    return create_app(
        {
            "ENV_NAME": "test",
            "DATABASE_URL": f"sqlite:///{path / 'old.sqlite3'}",
            "INSTANCE_PATH": str(path / "instance"),
        }
    )


def test_upgrade_keeps_rows_and_stops_id_reuse(tmp_path: Path) -> None:
    app = _app(tmp_path)
    with app.app_context():  # type: ignore[attr-defined]
        migrate.upgrade("0004")
        with db.engine.begin() as conn:
            crema = conn.execute(
                sa.text("SELECT id FROM municipality WHERE name = 'Crema'")
            ).scalar_one()
            topic = conn.execute(sa.text("SELECT id FROM topic WHERE slug = 'energy'")).scalar()
            for n in (1, 2, 3):
                conn.execute(
                    sa.text(
                        "INSERT INTO subscriber (id, email, locale, status, role, frequency,"
                        " municipality_id, local_news, created_at, soft_bounces) VALUES"
                        " (:id, :email, 'it', 'active', 'citizen', 'weekly', :m, 0,"
                        " '2026-01-01 00:00:00', 0)"
                    ),
                    {"id": n, "email": f"p{n}@example.org", "m": crema},
                )
                conn.execute(
                    sa.text(
                        "INSERT INTO subscription (subscriber_id, topic_id, created_at)"
                        " VALUES (:s, :t, '2026-01-01 00:00:00')"
                    ),
                    {"s": n, "t": topic},
                )
            conn.execute(sa.text("DELETE FROM subscription WHERE subscriber_id = 3"))
            conn.execute(sa.text("DELETE FROM subscriber WHERE id = 3"))  # the erased last row
        db.engine.dispose()

        migrate.upgrade()

        with db.engine.begin() as conn:
            schema = conn.execute(
                sa.text(
                    "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'subscriber'"
                )
            ).scalar_one()
            assert "AUTOINCREMENT" in schema
            rows = conn.execute(
                sa.text("SELECT id, municipality_id, link_key FROM subscriber ORDER BY id")
            ).all()
            assert [(r.id, r.municipality_id) for r in rows] == [(1, crema), (2, crema)]
            keys = [r.link_key for r in rows]
            assert all(keys)
            assert len(set(keys)) == 2
            assert conn.execute(sa.text("SELECT count(*) FROM subscription")).scalar() == 2
            assert conn.execute(sa.text("PRAGMA foreign_keys")).scalar() == 1  # back on
            for table in ("subscription", "consent_event"):
                fks = conn.execute(sa.text(f"PRAGMA foreign_key_list({table})")).all()
                assert "subscriber" in {fk[2] for fk in fks if fk[3] == "subscriber_id"}
            # The outbox has none since 0011 (bulk enqueue); erase deletes its rows itself.
            assert conn.execute(sa.text("PRAGMA foreign_key_list(delivery)")).all() == []
            conn.execute(sa.text("DELETE FROM subscriber WHERE id = 2"))
            conn.execute(
                sa.text(
                    "INSERT INTO subscriber (email, locale, status, role, frequency, local_news,"
                    " created_at, soft_bounces, link_key) VALUES ('new@example.org', 'it',"
                    " 'pending', 'citizen', 'weekly', 0, '2026-02-01 00:00:00', 0, 'k')"
                )
            )
            new_id = conn.execute(
                sa.text("SELECT id FROM subscriber WHERE email = 'new@example.org'")
            ).scalar_one()
        assert new_id > 2  # the erased id 2 does not come back
        db.engine.dispose()
