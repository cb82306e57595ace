"""API token scopes: what each token may do.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-30

Existing tokens keep the one thing they were made for, pushing articles (``articles``): a CMS
token no longer adds subscribers. Give a token ``subscribers`` by creating a new one with
``newsletter token create NAME --scope subscribers``.
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("api_token", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("scopes", sa.String(length=200), nullable=False, server_default="articles")
        )


def downgrade():
    with op.batch_alter_table("api_token", schema=None) as batch_op:
        batch_op.drop_column("scopes")
