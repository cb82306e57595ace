"""Periods of the digest schedules: UTC windows computed from Europe/Rome wall-clock times.

A period ends at a scheduled fire time and starts at the previous one, so consecutive periods
are contiguous and never overlap; across a DST change a weekly window lasts 167 or 169 hours.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from newsletter.exceptions import ConfigurationError
from newsletter.vocabulary import Frequency

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_EPOCH = datetime(2000, 1, 3, tzinfo=UTC)  # immediate batches are aligned on this grid


@dataclass(frozen=True)
class Schedule:
    """When digests go out, read in ``timezone``; ``weekday`` is None for daily schedules."""

    at: time
    timezone: str
    weekday: int | None = None


@dataclass(frozen=True)
class Period:
    frequency: str
    key: str
    start: datetime  # inclusive, UTC
    end: datetime  # exclusive, UTC; the scheduled fire time

    @property
    def hours(self) -> float:
        return (self.end - self.start).total_seconds() / 3600


def parse_daily(value: str, timezone: str) -> Schedule:
    """``"07:00"`` -> every day at 07:00 local time."""
    match = re.fullmatch(r"\s*(\d{1,2}):(\d{2})\s*", value)
    if not match or int(match[1]) > 23 or int(match[2]) > 59:
        raise ConfigurationError(f"NEWSLETTER_DAILY_AT must look like 07:00, not {value!r}")
    return Schedule(at=time(int(match[1]), int(match[2])), timezone=timezone)


def parse_weekly(value: str, timezone: str) -> Schedule:
    """``"mon 07:00"`` -> every Monday at 07:00 local time."""
    parts = value.strip().lower().split()
    if len(parts) != 2 or parts[0][:3] not in WEEKDAYS:
        raise ConfigurationError(f"NEWSLETTER_WEEKLY_AT must look like 'mon 07:00', not {value!r}")
    try:
        daily = parse_daily(parts[1], timezone)
    except ConfigurationError:
        raise ConfigurationError(
            f"NEWSLETTER_WEEKLY_AT must look like 'mon 07:00', not {value!r}"
        ) from None
    return Schedule(at=daily.at, timezone=timezone, weekday=WEEKDAYS.index(parts[0][:3]))


def _fire_on(day: date, schedule: Schedule) -> datetime:
    local = datetime.combine(day, schedule.at, tzinfo=ZoneInfo(schedule.timezone))
    return local.astimezone(UTC)


def last_fire(schedule: Schedule, at: datetime) -> datetime:
    """The latest scheduled fire time at or before ``at`` (UTC)."""
    local_day = at.astimezone(ZoneInfo(schedule.timezone)).date()
    for back in range(8):
        day = local_day - timedelta(days=back)
        if schedule.weekday is not None and day.weekday() != schedule.weekday:
            continue
        fire = _fire_on(day, schedule)
        if fire <= at:
            return fire
    raise AssertionError("a schedule fires at least once a week")  # pragma: no cover


def _period_ending(frequency: str, schedule: Schedule, end: datetime) -> Period:
    start = last_fire(schedule, end - timedelta(seconds=1))
    local_end = end.astimezone(ZoneInfo(schedule.timezone)).date()
    if frequency == Frequency.WEEKLY:
        year, week, _ = local_end.isocalendar()
        key = f"weekly:{year}-W{week:02d}"
    else:
        key = f"daily:{local_end.isoformat()}"
    return Period(frequency=frequency, key=key, start=start, end=end)


def due_period(frequency: str, schedule: Schedule, at: datetime) -> Period:
    """The daily or weekly period whose digest is due at ``at``: it ended at the last fire."""
    return _period_ending(frequency, schedule, last_fire(schedule, at))


def previous_period(frequency: str, schedule: Schedule, period: Period) -> Period:
    return _period_ending(frequency, schedule, period.start)


def immediate_period(minutes: int, at: datetime) -> Period:
    """The last complete batch of ``minutes`` before ``at``, on a fixed UTC grid."""
    step = timedelta(minutes=minutes)
    end = _EPOCH + ((at.astimezone(UTC) - _EPOCH) // step) * step
    key = f"immediate:{end.strftime('%Y-%m-%dT%H:%MZ')}"
    return Period(frequency=Frequency.IMMEDIATE, key=key, start=end - step, end=end)
