"""Subscriber ids are never reused; every subscriber gets a random key for its signed links.

On SQLite the table is rebuilt with AUTOINCREMENT (batch mode: copy, drop, rename; env.py turns
foreign keys off around migrations, so the drop cascades nowhere). PostgreSQL's identity
sequence never reused ids; there only the column is added. Existing rows get a key each; links
mailed before this migration carry no key and are checked by date instead (see
newsletter/subscriptions/tokens.py).

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import secrets

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("subscriber", schema=None) as batch_op:
        batch_op.add_column(sa.Column("link_key", sa.String(length=32), nullable=True))

    subscriber = sa.table("subscriber", sa.column("id", sa.Integer), sa.column("link_key"))
    conn = op.get_bind()
    ids = [row[0] for row in conn.execute(sa.select(subscriber.c.id))]
    for start in range(0, len(ids), 1000):
        conn.execute(
            subscriber.update()
            .where(subscriber.c.id == sa.bindparam("row_id"))
            .values(link_key=sa.bindparam("key")),
            [{"row_id": i, "key": secrets.token_urlsafe(12)} for i in ids[start : start + 1000]],
        )

    with op.batch_alter_table(
        "subscriber",
        schema=None,
        recreate="auto" if conn.dialect.name != "sqlite" else "always",
        table_kwargs={"sqlite_autoincrement": True},
    ) as batch_op:
        batch_op.alter_column("link_key", existing_type=sa.String(length=32), nullable=False)


def downgrade() -> None:
    conn = op.get_bind()
    with op.batch_alter_table(
        "subscriber",
        schema=None,
        recreate="auto" if conn.dialect.name != "sqlite" else "always",
        table_kwargs={"sqlite_autoincrement": False},
    ) as batch_op:
        batch_op.drop_column("link_key")
