"""Admin accounts: session version, TOTP second factor; the "unlock" service mail.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-30

``user_account.session_version`` is compared with the copy in each session cookie, so a
logout or a password change ends every session of the account. ``totp_secret`` and
``totp_last_step`` hold the optional second factor. ``delivery.kind`` gains ``unlock``: the
e-mailed link that lets a locked-out account's owner sign in.
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

KINDS_BEFORE = ("digest", "confirm", "preferences", "test", "websub")
KINDS_AFTER = (*KINDS_BEFORE, "unlock")


def _kind_check(kinds: tuple[str, ...]) -> str:
    return "kind IN (" + ", ".join(f"'{k}'" for k in kinds) + ")"


def upgrade() -> None:
    with op.batch_alter_table("user_account") as batch_op:
        batch_op.add_column(
            sa.Column("session_version", sa.Integer(), server_default="0", nullable=False)
        )
        batch_op.add_column(sa.Column("totp_secret", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("totp_last_step", sa.BigInteger(), nullable=True))
    with op.batch_alter_table("delivery") as batch_op:
        batch_op.drop_constraint(op.f("ck_delivery_delivery_kind"), type_="check")
        batch_op.create_check_constraint("delivery_kind", _kind_check(KINDS_AFTER))


def downgrade() -> None:
    op.execute("DELETE FROM delivery WHERE kind = 'unlock'")
    with op.batch_alter_table("delivery") as batch_op:
        batch_op.drop_constraint(op.f("ck_delivery_delivery_kind"), type_="check")
        batch_op.create_check_constraint("delivery_kind", _kind_check(KINDS_BEFORE))
    with op.batch_alter_table("user_account") as batch_op:
        batch_op.drop_column("totp_last_step")
        batch_op.drop_column("totp_secret")
        batch_op.drop_column("session_version")
