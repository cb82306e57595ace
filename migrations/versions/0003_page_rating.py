"""Page feedback: anonymous counts per page and rating (the feedback domain).

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-30
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "page_rating",
        sa.Column("page", sa.String(length=200), nullable=False),
        sa.Column("rating", sa.SmallInteger(), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.CheckConstraint("rating BETWEEN 1 AND 5", name="ck_page_rating_rating"),
        sa.PrimaryKeyConstraint("page", "rating", name="pk_page_rating"),
    )


def downgrade() -> None:
    op.drop_table("page_rating")
