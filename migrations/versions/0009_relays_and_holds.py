"""Several relays and digests that stop themselves.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-30

``delivery.relay``: which relay (host:port, never credentials) answered a row, for sent and
failed counts per relay. ``paused`` deliveries and ``delivery_hold``: a digest with more than
``SEND_ERROR_THRESHOLD`` permanent failures in its first 500 attempts pauses its remaining rows
until an administrator resumes or cancels them.
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

OLD_STATUSES = ("queued", "sending", "sent", "failed", "bounced", "cancelled")
NEW_STATUSES = (*OLD_STATUSES, "paused")


def _status_check(statuses: tuple[str, ...]) -> str:
    return "status IN (" + ", ".join(f"'{s}'" for s in statuses) + ")"


def upgrade():
    with op.batch_alter_table("delivery", schema=None) as batch_op:
        batch_op.add_column(sa.Column("relay", sa.String(length=120), nullable=True))
        batch_op.drop_constraint(op.f("ck_delivery_delivery_status"), type_="check")
        batch_op.create_check_constraint("delivery_status", _status_check(NEW_STATUSES))
    op.create_table(
        "delivery_hold",
        sa.Column("digest_id", sa.Integer(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("paused", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "resolution",
            sa.Enum(
                "resumed",
                "cancelled",
                name="hold_resolution",
                native_enum=False,
                create_constraint=True,
                length=13,
            ),
            nullable=True,
        ),
        sa.Column("resolved_by", sa.String(length=320), nullable=True),
        sa.ForeignKeyConstraint(
            ["digest_id"],
            ["digest.id"],
            name=op.f("fk_delivery_hold_digest_id_digest"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("digest_id", name=op.f("pk_delivery_hold")),
    )


def downgrade():
    op.drop_table("delivery_hold")
    op.execute("UPDATE delivery SET status = 'queued' WHERE status = 'paused'")
    with op.batch_alter_table("delivery", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_delivery_delivery_status"), type_="check")
        batch_op.create_check_constraint("delivery_status", _status_check(OLD_STATUSES))
        batch_op.drop_column("relay")
