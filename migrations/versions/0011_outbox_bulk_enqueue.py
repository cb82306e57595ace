"""Outbox at bulk speed: no foreign keys on delivery's digest and subscriber; partial indexes.

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-30

A digest build inserts one row per subscriber (100,000 at once). Measured on PostgreSQL, the
foreign-key checks ``delivery.digest_id -> digest`` and ``delivery.subscriber_id ->
subscriber`` (a locking look-up per row each; the second also writes to every subscriber's
page) were over half of that insert, and ``target`` and ``dedupe_key`` indexed every digest
row under NULL though only channel rows have them (issue 16: enqueue 100,000 rows in under
2 s). Both foreign keys go: digests are never deleted (the sender cancels a row whose digest
is gone), and subscriptions' ``erase`` and ``purge_pending`` delete a person's rows through
``outbox.forget`` (the cascade made explicit). The two indexes hold only rows with a value.
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

TARGET = sa.text("target IS NOT NULL")
DEDUPE = sa.text("dedupe_key IS NOT NULL")


def upgrade() -> None:
    with op.batch_alter_table("delivery", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("fk_delivery_digest_id_digest"), type_="foreignkey")
        batch_op.drop_constraint(op.f("fk_delivery_subscriber_id_subscriber"), type_="foreignkey")
        batch_op.drop_constraint(op.f("uq_delivery_dedupe_key"), type_="unique")
        batch_op.drop_index(batch_op.f("ix_delivery_target"))
    op.create_index(
        "ix_delivery_target",
        "delivery",
        ["target"],
        postgresql_where=TARGET,
        sqlite_where=TARGET,
    )
    op.create_index(
        "uq_delivery_dedupe_key",
        "delivery",
        ["dedupe_key"],
        unique=True,
        postgresql_where=DEDUPE,
        sqlite_where=DEDUPE,
    )


def downgrade() -> None:
    # Rows whose digest or person is gone (possible without the foreign keys) would refuse them.
    op.execute(
        "DELETE FROM delivery WHERE digest_id IS NOT NULL AND NOT EXISTS "
        "(SELECT 1 FROM digest WHERE digest.id = delivery.digest_id)"
    )
    op.execute(
        "DELETE FROM delivery WHERE subscriber_id IS NOT NULL AND NOT EXISTS "
        "(SELECT 1 FROM subscriber WHERE subscriber.id = delivery.subscriber_id)"
    )
    op.drop_index("uq_delivery_dedupe_key", table_name="delivery")
    op.drop_index("ix_delivery_target", table_name="delivery")
    with op.batch_alter_table("delivery", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_delivery_target"), ["target"], unique=False)
        batch_op.create_unique_constraint(batch_op.f("uq_delivery_dedupe_key"), ["dedupe_key"])
        batch_op.create_foreign_key(
            op.f("fk_delivery_subscriber_id_subscriber"),
            "subscriber",
            ["subscriber_id"],
            ["id"],
            ondelete="CASCADE",
        )
        batch_op.create_foreign_key(
            op.f("fk_delivery_digest_id_digest"),
            "digest",
            ["digest_id"],
            ["id"],
            ondelete="CASCADE",
        )
