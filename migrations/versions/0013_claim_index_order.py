"""Outbox: one claim index in claim order, the priority lane included.

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-30

The sender claims queued rows ``ORDER BY next_attempt_at, id``, the priority lane (urgent
alerts) first. A digest build gives its 100,000 rows one ``next_attempt_at``; with an index on
``(status, next_attempt_at)`` PostgreSQL sorted all of them on every claim of 500 (20-65 ms
each, issue 16), and the priority lane's partial index was not used by SQLite (nor by a
prepared PostgreSQL plan), so asking for priority rows walked every queued row. The index
``(status, priority, next_attempt_at, id)`` serves both: the priority rows are a short range
of it, and the others are walked in claim order.
"""

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

PRIORITY = sa.text("status = 'queued' AND priority > 0")


def upgrade() -> None:
    op.drop_index("ix_delivery_claim", table_name="delivery")
    op.drop_index(
        "ix_delivery_priority",
        table_name="delivery",
        postgresql_where=PRIORITY,
        sqlite_where=PRIORITY,
    )
    op.execute("UPDATE delivery SET priority = 0 WHERE priority < 0")
    op.create_index(
        "ix_delivery_claim", "delivery", ["status", "priority", "next_attempt_at", "id"]
    )


def downgrade() -> None:
    op.drop_index("ix_delivery_claim", table_name="delivery")
    op.create_index("ix_delivery_claim", "delivery", ["status", "next_attempt_at"])
    op.create_index(
        "ix_delivery_priority",
        "delivery",
        ["next_attempt_at"],
        postgresql_where=PRIORITY,
        sqlite_where=PRIORITY,
    )
