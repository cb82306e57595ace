"""Channels beyond e-mail: Web Push subscriptions; push and Telegram rows in the outbox.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-30

The outbox gains two kinds (``push``, ``telegram``), a ``target`` (the push subscription or the
channel) and a unique ``dedupe_key`` that makes each notification and each post happen once.
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

OLD_KINDS = ("digest", "confirm", "preferences", "test", "websub", "unlock")
NEW_KINDS = (*OLD_KINDS, "push", "telegram")


def _kind_check(kinds: tuple[str, ...]) -> str:
    return "kind IN (" + ", ".join(f"'{k}'" for k in kinds) + ")"


def upgrade() -> None:
    op.create_table(
        "push_subscription",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("endpoint", sa.String(length=1000), nullable=False),
        sa.Column("p256dh", sa.String(length=200), nullable=False),
        sa.Column("auth", sa.String(length=100), nullable=False),
        sa.Column("topics", sa.JSON(), nullable=False),
        sa.Column("municipality_id", sa.Integer(), nullable=True),
        sa.Column("local_news", sa.Boolean(), nullable=False),
        sa.Column("locale", sa.String(length=5), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["municipality_id"],
            ["municipality.id"],
            name=op.f("fk_push_subscription_municipality_id_municipality"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_push_subscription")),
        sa.UniqueConstraint("endpoint", name=op.f("uq_push_subscription_endpoint")),
    )
    with op.batch_alter_table("push_subscription", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_push_subscription_municipality_id"), ["municipality_id"], unique=False
        )

    with op.batch_alter_table("delivery", schema=None) as batch_op:
        batch_op.add_column(sa.Column("target", sa.String(length=300), nullable=True))
        batch_op.add_column(sa.Column("dedupe_key", sa.String(length=300), nullable=True))
        batch_op.create_index(batch_op.f("ix_delivery_target"), ["target"], unique=False)
        batch_op.create_unique_constraint(batch_op.f("uq_delivery_dedupe_key"), ["dedupe_key"])
        batch_op.drop_constraint(op.f("ck_delivery_delivery_kind"), type_="check")
        batch_op.create_check_constraint("delivery_kind", _kind_check(NEW_KINDS))


def downgrade() -> None:
    op.execute("DELETE FROM delivery WHERE kind IN ('push', 'telegram')")
    with op.batch_alter_table("delivery", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_delivery_delivery_kind"), type_="check")
        batch_op.create_check_constraint("delivery_kind", _kind_check(OLD_KINDS))
        batch_op.drop_constraint(batch_op.f("uq_delivery_dedupe_key"), type_="unique")
        batch_op.drop_index(batch_op.f("ix_delivery_target"))
        batch_op.drop_column("dedupe_key")
        batch_op.drop_column("target")
    with op.batch_alter_table("push_subscription", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_push_subscription_municipality_id"))
    op.drop_table("push_subscription")
