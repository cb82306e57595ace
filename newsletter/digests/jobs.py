"""The digests' scheduled jobs: daily, weekly and immediate builds on their Europe/Rome times.

Registered from ``digests.init_app``; the worker (scheduling) runs them and, after downtime,
catches up through each job's :class:`~newsletter.hooks.CatchUp` without knowing digests.
"""

from __future__ import annotations

import functools
from datetime import datetime, timedelta
from typing import Any

from flask import Flask, current_app

from newsletter.digests import service as digests
from newsletter.digests import windows
from newsletter.hooks import CatchUp, PeriodLike, ScheduledJob
from newsletter.vocabulary import Frequency


def every(minutes: int) -> dict[str, Any]:
    """A cron field when the period divides the hour, else an interval on the workers' grid."""
    if 0 < minutes <= 60 and 60 % minutes == 0:
        return {"trigger": "cron", "minute": f"*/{minutes}"}
    return {"trigger": "interval", "minutes": minutes}


def build_due(frequency: str, at: datetime | None = None) -> str:
    result = digests.build_digests(frequency, at)
    return f"{result.period_key}: {result.digests} digests, {result.deliveries} deliveries"


def _lateness(frequency: str) -> timedelta:
    cfg = current_app.config
    if frequency == Frequency.DAILY:
        return timedelta(hours=float(cfg["DIGEST_MAX_LATENESS_HOURS"]))
    if frequency == Frequency.WEEKLY:
        return timedelta(hours=float(cfg["WEEKLY_DIGEST_MAX_LATENESS_HOURS"]))
    return timedelta(minutes=float(cfg["IMMEDIATE_MAX_LATENESS_MINUTES"]))


def _previous(frequency: str, period: PeriodLike) -> windows.Period:
    assert isinstance(period, windows.Period)
    if frequency == Frequency.IMMEDIATE:
        return digests.period_due(Frequency.IMMEDIATE, period.start)
    return windows.previous_period(frequency, digests.schedule(frequency), period)


def _catch_up(frequency: str) -> CatchUp:
    return CatchUp(
        due=functools.partial(digests.period_due, frequency),
        previous=functools.partial(_previous, frequency),
        run_for=functools.partial(build_due, frequency),
        max_lateness=functools.partial(_lateness, frequency),
    )


def digest_jobs(app: Flask) -> list[ScheduledJob]:
    """Daily, weekly and immediate digests as cron jobs read in the configured time zone."""
    cfg = app.config
    daily = windows.parse_daily(cfg["DAILY_AT"], cfg["TIMEZONE"])
    weekly = windows.parse_weekly(cfg["WEEKLY_AT"], cfg["TIMEZONE"])
    return [
        ScheduledJob(
            "digests.daily",
            lambda: build_due(Frequency.DAILY),
            lambda app: {"trigger": "cron", "hour": daily.at.hour, "minute": daily.at.minute},
            catch_up=_catch_up(Frequency.DAILY),
        ),
        ScheduledJob(
            "digests.weekly",
            lambda: build_due(Frequency.WEEKLY),
            lambda app: {
                "trigger": "cron",
                "day_of_week": windows.WEEKDAYS[weekly.weekday or 0],
                "hour": weekly.at.hour,
                "minute": weekly.at.minute,
            },
            catch_up=_catch_up(Frequency.WEEKLY),
        ),
        ScheduledJob(
            "digests.immediate",
            lambda: build_due(Frequency.IMMEDIATE),
            lambda app: every(int(app.config["IMMEDIATE_BATCH_MINUTES"])),
            catch_up=_catch_up(Frequency.IMMEDIATE),
        ),
    ]
