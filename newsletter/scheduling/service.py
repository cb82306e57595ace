"""The worker's jobs: every job the domains register (digests, articles, subscriptions, ...).

Each run records a JobRun keyed by (job, scheduled_for); a second worker firing the same run
finds the row and does nothing. After downtime ``catch_up`` runs only the most recent missed
period of each periodic job (one with a ``hooks.CatchUp``, e.g. the digests), if it is not
absurdly late, and logs the older ones it skips. Nothing here knows what a digest is.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from flask import Flask, current_app
from sqlalchemy.dialects import postgresql, sqlite

from newsletter.db import utcnow
from newsletter.extensions import db
from newsletter.hooks import ScheduledJob, registry
from newsletter.scheduling.models import JobRun

log = logging.getLogger(__name__)

GRID_EPOCH = datetime(2000, 1, 3, tzinfo=UTC)  # interval jobs of every worker share this grid
MAX_SKIPPED_LOGGED = 20


def all_jobs(app: Flask) -> list[ScheduledJob]:
    """Every job the domains registered (digests, articles, subscriptions, ...)."""
    return list(registry(app).jobs)


def _insert(table: sa.Table) -> Any:
    dialect = db.session.get_bind().dialect.name
    return (postgresql if dialect == "postgresql" else sqlite).insert(table)


def claim_run(job: str, scheduled_for: datetime, status: str = "running") -> int | None:
    """Record the run; None when another worker (or an earlier start) already has it."""
    statement = (
        _insert(JobRun.__table__)
        .values(job=job, scheduled_for=scheduled_for, started_at=utcnow(), status=status)
        .on_conflict_do_nothing(index_elements=["job", "scheduled_for"])
        .returning(JobRun.__table__.c.id)
    )
    run_id = db.session.execute(statement).scalar()
    db.session.commit()
    return run_id


def run_job(job: str, func: Callable[[], Any], scheduled_for: datetime) -> bool:
    """Run ``func`` once for ``scheduled_for``; False when that run was already taken."""
    run_id = claim_run(job, scheduled_for)
    if run_id is None:
        log.info("job %s for %s already run elsewhere", job, scheduled_for.isoformat())
        return False
    try:
        outcome = func()
    except Exception as exc:
        db.session.rollback()
        log.exception("job %s for %s failed", job, scheduled_for.isoformat())
        _finish(run_id, "error", f"{type(exc).__name__}: {exc}")
        return True
    log.info("job %s for %s done: %s", job, scheduled_for.isoformat(), outcome or "ok")
    _finish(run_id, "ok", str(outcome) if outcome is not None else None)
    return True


def _finish(run_id: int, status: str, message: str | None) -> None:
    run = db.session.get(JobRun, run_id)
    if run is not None:
        run.status, run.message, run.finished_at = status, message, utcnow()
        db.session.commit()


def last_fire_time(trigger: Any, now: datetime) -> datetime:
    """The latest fire time of an APScheduler trigger at or before ``now``: the run it stands
    for, the same in every worker even when one fires a little late."""
    for lookback in (timedelta(hours=2), timedelta(days=2), timedelta(days=9), timedelta(days=40)):
        previous: datetime | None = None
        candidate = trigger.get_next_fire_time(None, now - lookback)
        while candidate is not None and candidate <= now:
            previous = candidate
            candidate = trigger.get_next_fire_time(candidate, candidate + timedelta(seconds=1))
        if previous is not None:
            return previous.astimezone(UTC)
    return now.replace(second=0, microsecond=0)


# --- catch-up ------------------------------------------------------------------------------


@dataclass(frozen=True)
class CatchUp:
    job: str
    built: str | None  # the period built now, if any
    skipped: tuple[str, ...]  # periods left out (older ones, or a too late latest one)


def catch_up(now: datetime | None = None) -> list[CatchUp]:
    """At worker start: run the latest missed period of each periodic job once, skip older."""
    now = now or utcnow()
    done = []
    for scheduled in registry(current_app).jobs:
        rule = scheduled.catch_up
        if rule is None:
            continue
        job = scheduled.name
        latest = rule.due(now)
        last_run = db.session.scalar(
            sa.select(sa.func.max(JobRun.scheduled_for)).where(JobRun.job == job)
        )
        if last_run is not None and last_run >= latest.end:
            continue  # nothing missed
        older: list[str] = []
        if last_run is not None:
            period = latest
            while len(older) < 1000:
                period = rule.previous(period)
                if period.end <= last_run:
                    break
                older.append(period.key)
        if older:
            shown = ", ".join(older[:MAX_SKIPPED_LOGGED]) + (" ..." if len(older) > 20 else "")
            log.warning("catch-up %s: skipping %d older missed periods: %s", job, len(older), shown)
        if now - latest.end > rule.max_lateness():
            log.warning("catch-up %s: %s is too late to send, skipped", job, latest.key)
            claim_run(job, latest.end, status="skipped")
            done.append(CatchUp(job, None, (latest.key, *older)))
            continue
        log.info("catch-up %s: building missed period %s", job, latest.key)
        run_job(job, functools.partial(rule.run_for, latest.end), latest.end)
        done.append(CatchUp(job, latest.key, tuple(older)))
    return done
