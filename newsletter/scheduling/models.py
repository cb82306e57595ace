"""What the scheduler ran, so catch-up after downtime builds a missed period once."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from newsletter.db import utcnow
from newsletter.extensions import db


class JobRun(db.Model):  # type: ignore[name-defined,misc]
    __tablename__ = "job_run"
    __table_args__ = (sa.UniqueConstraint("job", "scheduled_for"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    job: Mapped[str] = mapped_column(sa.String(60))
    scheduled_for: Mapped[datetime]  # the wall-clock fire time the run stands for, in UTC
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None]
    status: Mapped[str] = mapped_column(sa.String(20), default="running")  # ok, error, skipped
    message: Mapped[str | None] = mapped_column(sa.Text)
