"""Outbox: the lease and sent_at indexes only hold the rows they are for.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30

A digest build inserts one queued row per subscriber; every index on ``delivery`` costs each of
those rows an index insertion. ``ix_delivery_lease`` is only read for rows being sent
(``status = 'sending'``) and ``ix_delivery_sent_at`` only for rows already sent, so both become
partial indexes and a fresh queued row no longer touches them (issue 16: enqueue at bulk speed).
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

SENDING = sa.text("status = 'sending'")
SENT = sa.text("sent_at IS NOT NULL")


def upgrade() -> None:
    op.drop_index("ix_delivery_lease", table_name="delivery")
    op.drop_index("ix_delivery_sent_at", table_name="delivery")
    op.create_index(
        "ix_delivery_lease",
        "delivery",
        ["lease_expires_at"],
        postgresql_where=SENDING,
        sqlite_where=SENDING,
    )
    op.create_index(
        "ix_delivery_sent_at",
        "delivery",
        ["sent_at"],
        postgresql_where=SENT,
        sqlite_where=SENT,
    )


def downgrade() -> None:
    op.drop_index("ix_delivery_sent_at", table_name="delivery")
    op.drop_index("ix_delivery_lease", table_name="delivery")
    op.create_index("ix_delivery_sent_at", "delivery", ["sent_at"])
    op.create_index("ix_delivery_lease", "delivery", ["status", "lease_expires_at"])
