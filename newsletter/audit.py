"""The audit log: who changed what, written by the operation itself in its own transaction.

Every state-changing operation that staff or programs can start (tokens, sources, the roster,
municipalities, accounts, hiding and re-filing articles, unsubscribing or erasing someone) takes
an explicit ``Actor`` and records one row here, whichever door it came through: the admin area,
the API or the console. A row that only the admin wrappers wrote would miss the other two.
"""

from __future__ import annotations

import getpass
import os
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from newsletter.db import utcnow
from newsletter.extensions import db

if TYPE_CHECKING:
    from newsletter.admin.models import User


class AuditEntry(db.Model):  # type: ignore[name-defined,misc]
    __tablename__ = "audit_entry"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("user_account.id", ondelete="SET NULL"), index=True
    )
    actor: Mapped[str] = mapped_column(sa.String(320))  # kept when the account is deleted
    action: Mapped[str] = mapped_column(sa.String(80))
    target: Mapped[str | None] = mapped_column(sa.String(300))
    details: Mapped[dict[str, Any] | None] = mapped_column(sa.JSON)
    occurred_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)


@dataclass(frozen=True)
class Actor:
    """Who is acting: an admin account (its e-mail), an API token (``api:<name>``) or a person
    at the console (``cli:<os user>``)."""

    name: str
    user_id: int | None = None

    @classmethod
    def of_user(cls, user: User) -> Actor:
        return cls(user.email, user.id)

    @classmethod
    def of_token(cls, token_name: str) -> Actor:
        return cls(f"api:{token_name}")

    @classmethod
    def console(cls) -> Actor:
        """The operating-system account that ran the command."""
        try:
            who = getpass.getuser()
        except (KeyError, OSError):  # no passwd entry (containers) and no $USER
            who = os.environ.get("USER") or f"uid{os.getuid()}"
        return cls(f"cli:{who}")


def record(
    actor: Actor, action: str, target: str | None = None, details: dict[str, Any] | None = None
) -> AuditEntry:
    """Add one row to the caller's transaction (not committed: it lands with the change)."""
    entry = AuditEntry(
        user_id=actor.user_id, actor=actor.name, action=action, target=target, details=details
    )
    db.session.add(entry)
    return entry
