"""Admin-area accounts. The audit log of what they (and the API and console) did is
``newsletter.audit``."""

from __future__ import annotations

import enum
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from newsletter.audit import AuditEntry as AuditEntry  # re-exported; defined in the kernel
from newsletter.db import str_enum, utcnow
from newsletter.extensions import db


class UserRole(enum.StrEnum):
    EDITOR = "editor"
    ADMIN = "admin"


class User(db.Model):  # type: ignore[name-defined,misc]
    __tablename__ = "user_account"
    __table_args__ = (sa.CheckConstraint("email = lower(email)", name="email_lowercase"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(sa.String(320), unique=True)
    password_hash: Mapped[str] = mapped_column(sa.String(200))  # argon2id
    role: Mapped[UserRole] = mapped_column(str_enum(UserRole, "user_role"))
    active: Mapped[bool] = mapped_column(default=True)
    failed_logins: Mapped[int] = mapped_column(default=0)
    locked_until: Mapped[datetime | None]
    last_login_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Copied into the session at login and compared on every request: bumping it (logout,
    # password change, second-factor reset) ends every session of the account at once.
    session_version: Mapped[int] = mapped_column(default=0, server_default="0")
    # TOTP (RFC 6238) shared secret, base32; None: the account has no second factor.
    totp_secret: Mapped[str | None] = mapped_column(sa.String(64))
    # The last 30-second step whose code was accepted: the same code never works twice.
    totp_last_step: Mapped[int | None] = mapped_column(sa.BigInteger)
