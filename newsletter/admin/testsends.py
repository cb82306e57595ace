"""How many test sends an editor may make: a test send is a real e-mail from the service's
address, so an editor's account must not become a way to mail strangers.

Addresses of the team (the admin area's own accounts) take any number; other addresses at most
``ADMIN_TEST_SENDS_PER_HOUR`` per editor per rolling hour. Administrators are not limited.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import sqlalchemy as sa
from flask import current_app

from newsletter.admin.models import AuditEntry, User, UserRole
from newsletter.exceptions import Forbidden
from newsletter.extensions import db

ACTION = "digest.test_send"


def team_addresses() -> set[str]:
    return set(db.session.scalars(sa.select(User.email).where(User.active.is_(True))))


def check_allowed(address: str, user: User | None, now: datetime) -> None:
    """Raise Forbidden when ``user`` has used up the outside test sends of the last hour."""
    if user is None or user.role == UserRole.ADMIN:
        return
    team = team_addresses()
    if address in team:
        return
    limit = int(current_app.config["ADMIN_TEST_SENDS_PER_HOUR"])
    targets = db.session.scalars(
        sa.select(AuditEntry.target).where(
            AuditEntry.action == ACTION,
            AuditEntry.user_id == user.id,
            AuditEntry.occurred_at > now - timedelta(hours=1),
        )
    ).all()
    if sum(1 for t in targets if t not in team) >= limit:
        raise Forbidden(
            f"at most {limit} test sends per hour to addresses outside the team; "
            "send it to your own account's address instead"
        )
