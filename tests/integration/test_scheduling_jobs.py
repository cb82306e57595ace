"""The worker's jobs: Europe/Rome triggers, one run per scheduled time, catch-up after downtime."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
import time_machine
from flask import Flask

from newsletter.digests.jobs import digest_jobs
from newsletter.digests.models import Digest
from newsletter.extensions import db
from newsletter.scheduling import service
from newsletter.scheduling.models import JobRun
from newsletter.scheduling.worker import build_scheduler, make_trigger
from tests.fixtures.digests import WEEKLY_FIRE


def test_scheduler_holds_digest_jobs_and_registered_ones_in_rome_time(app: Flask) -> None:
    scheduler = build_scheduler(app)
    jobs = {job.id: job for job in scheduler.get_jobs()}
    # the digest jobs, plus those the other domains registered (articles, subscriptions)
    assert set(jobs) == {
        "digests.daily",
        "digests.weekly",
        "digests.immediate",
        "poll-sources",
        "purge-pending",
        "retrain-topic-model",
    }
    assert str(scheduler.timezone) == "Europe/Rome"

    weekly = jobs["digests.weekly"].trigger
    before_spring = datetime(2026, 3, 24, tzinfo=UTC)
    assert weekly.get_next_fire_time(None, before_spring) == datetime(2026, 3, 30, 5, tzinfo=UTC)
    assert weekly.get_next_fire_time(None, datetime(2026, 10, 20, tzinfo=UTC)) == datetime(
        2026, 10, 26, 6, tzinfo=UTC
    )
    poll = jobs["poll-sources"].trigger
    first = poll.get_next_fire_time(None, datetime(2026, 11, 23, 7, 7, tzinfo=UTC))
    assert first == datetime(2026, 11, 23, 7, 15, tzinfo=UTC)  # the grid every worker shares


def test_a_run_is_recorded_once_whoever_fires_it(app: Flask) -> None:
    calls: list[int] = []
    when = datetime(2026, 11, 23, 6, tzinfo=UTC)
    assert service.run_job("test.job", lambda: calls.append(1), when) is True
    assert service.run_job("test.job", lambda: calls.append(2), when) is False
    assert calls == [1]
    run = db.session.scalar(sa.select(JobRun))
    assert run is not None
    assert (run.status, run.scheduled_for) == ("ok", when)


def test_a_failing_job_is_recorded_as_an_error(app: Flask) -> None:
    def broken() -> None:
        raise RuntimeError("relay on fire")

    assert service.run_job("test.broken", broken, WEEKLY_FIRE)
    run = db.session.scalar(sa.select(JobRun))
    assert run is not None
    assert run.status == "error"
    assert "relay on fire" in (run.message or "")


def test_last_fire_time_is_the_run_a_late_fire_stands_for(app: Flask) -> None:
    daily = make_trigger(app, digest_jobs(app)[0])
    late = datetime(2026, 11, 23, 6, 0, 41, tzinfo=UTC)
    assert service.last_fire_time(daily, late) == datetime(2026, 11, 23, 6, tzinfo=UTC)
    immediate = make_trigger(app, digest_jobs(app)[2])
    assert service.last_fire_time(immediate, late) == datetime(2026, 11, 23, 6, tzinfo=UTC)


def _record(job: str, when: datetime) -> None:
    db.session.add(JobRun(job=job, scheduled_for=when, status="ok"))
    db.session.commit()


def test_catch_up_builds_the_latest_missed_period_once_and_logs_older_ones(
    app: Flask, digest_data: Callable[..., Any], caplog: pytest.LogCaptureFixture
) -> None:
    from tests.fixtures.digests import add_article

    digest_data()
    add_article("Sunday news", ["energy"], datetime(2026, 11, 22, 12, tzinfo=UTC))
    # The worker last ran on Tuesday 17 November, then was down for a week.
    _record("digests.daily", datetime(2026, 11, 17, 6, tzinfo=UTC))
    _record("digests.weekly", datetime(2026, 11, 16, 6, tzinfo=UTC))
    caplog.set_level(logging.INFO, logger="newsletter.scheduling")
    with time_machine.travel(datetime(2026, 11, 23, 9, 30, tzinfo=UTC), tick=False):
        done = {c.job: c for c in service.catch_up()}
        again = service.catch_up()

    assert done["digests.weekly"].built == "weekly:2026-W48"
    assert done["digests.daily"].built == "daily:2026-11-23"
    assert done["digests.daily"].skipped == tuple(f"daily:2026-11-{d}" for d in range(22, 17, -1))
    assert again == []  # a restart does not build anything twice
    periods = set(db.session.scalars(sa.select(Digest.period_key)))
    assert periods == {"weekly:2026-W48", "daily:2026-11-23"}
    assert "skipping 5 older missed periods" in caplog.text
    runs = {
        (r.job, r.status)
        for r in db.session.scalars(
            sa.select(JobRun).where(JobRun.scheduled_for > WEEKLY_FIRE - timedelta(hours=1))
        )
    }
    assert ("digests.daily", "ok") in runs
    assert ("digests.weekly", "ok") in runs


def test_catch_up_skips_a_daily_digest_that_would_be_too_late(
    app: Flask, digest_data: Callable[..., Any], caplog: pytest.LogCaptureFixture
) -> None:
    digest_data()
    _record("digests.daily", datetime(2026, 11, 20, 6, tzinfo=UTC))
    _record("digests.weekly", WEEKLY_FIRE)
    # 20:00 in Rome: this morning's daily digest is 13 hours late (limit 12).
    with time_machine.travel(datetime(2026, 11, 23, 19, 0, tzinfo=UTC), tick=False):
        done = {c.job: c for c in service.catch_up()}
    assert done["digests.daily"].built is None
    assert done["digests.daily"].skipped[0] == "daily:2026-11-23"
    assert "digests.weekly" not in done
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Digest)) == 0
    skipped = db.session.scalar(
        sa.select(JobRun.status).where(
            JobRun.job == "digests.daily", JobRun.scheduled_for == WEEKLY_FIRE
        )
    )
    assert skipped == "skipped"
    assert "too late to send" in caplog.text


def test_worker_runs_registered_loops_and_returns_0_when_stopped(app: Flask) -> None:
    import threading

    from flask import current_app

    from newsletter.hooks import register_worker_loop
    from newsletter.scheduling.worker import run_worker

    seen: list[str] = []
    started = threading.Event()

    def sender(stop: threading.Event) -> None:
        seen.append(current_app.name)  # runs inside an app context
        started.set()
        stop.wait(30)
        seen.append("stopped")

    register_worker_loop(app, "sender", sender)
    stop = threading.Event()
    outcome: list[int] = []
    worker = threading.Thread(target=lambda: outcome.append(run_worker(app, stop)))
    worker.start()
    assert started.wait(30)
    stop.set()
    worker.join(30)
    assert outcome == [0]
    assert seen == ["newsletter", "stopped"]
