"""Digest windows: UTC periods from Europe/Rome wall-clock schedules, across DST changes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from newsletter.digests import windows
from newsletter.exceptions import ConfigurationError

ROME = "Europe/Rome"
DAILY = windows.parse_daily("07:00", ROME)
WEEKLY = windows.parse_weekly("mon 07:00", ROME)


def test_weekly_window_across_spring_dst_change_is_167_hours() -> None:
    period = windows.due_period("weekly", WEEKLY, datetime(2026, 3, 30, 9, 0, tzinfo=UTC))
    assert period.start == datetime(2026, 3, 23, 6, 0, tzinfo=UTC)  # 07:00 CET
    assert period.end == datetime(2026, 3, 30, 5, 0, tzinfo=UTC)  # 07:00 CEST
    assert period.hours == 167
    assert period.key == "weekly:2026-W14"


def test_weekly_window_across_autumn_dst_change_is_169_hours() -> None:
    period = windows.due_period("weekly", WEEKLY, datetime(2026, 10, 26, 6, 0, tzinfo=UTC))
    assert period.start == datetime(2026, 10, 19, 5, 0, tzinfo=UTC)
    assert period.end == datetime(2026, 10, 26, 6, 0, tzinfo=UTC)
    assert period.hours == 169


@pytest.mark.parametrize(("day", "hours"), [(29, 23), (30, 24)])
def test_daily_windows_around_29_march(day: int, hours: int) -> None:
    period = windows.due_period("daily", DAILY, datetime(2026, 3, day, 12, 0, tzinfo=UTC))
    assert period.key == f"daily:2026-03-{day}"
    assert period.hours == hours


def test_daily_window_on_25_october_is_25_hours() -> None:
    period = windows.due_period("daily", DAILY, datetime(2026, 10, 25, 6, 0, tzinfo=UTC))
    assert (period.key, period.hours) == ("daily:2026-10-25", 25)


def test_just_before_the_fire_time_the_previous_period_is_due() -> None:
    fire = datetime(2026, 11, 23, 6, 0, tzinfo=UTC)
    assert windows.due_period("weekly", WEEKLY, fire).end == fire
    assert windows.due_period("weekly", WEEKLY, fire - timedelta(seconds=1)).end == fire - (
        timedelta(days=7)
    )


@pytest.mark.parametrize(("frequency", "schedule"), [("daily", DAILY), ("weekly", WEEKLY)])
def test_a_year_of_periods_is_contiguous_and_never_overlaps(
    frequency: str, schedule: windows.Schedule
) -> None:
    period = windows.due_period(frequency, schedule, datetime(2026, 12, 31, 12, tzinfo=UTC))
    keys = set()
    while period.end > datetime(2026, 1, 1, tzinfo=UTC):
        earlier = windows.previous_period(frequency, schedule, period)
        assert earlier.end == period.start
        assert earlier.start < earlier.end
        assert period.key not in keys
        keys.add(period.key)
        period = earlier
    assert len(keys) == (365 if frequency == "daily" else 52)


def test_immediate_batches_follow_a_fixed_grid() -> None:
    period = windows.immediate_period(10, datetime(2026, 11, 23, 7, 14, 59, tzinfo=UTC))
    assert (period.start, period.end) == (
        datetime(2026, 11, 23, 7, 0, tzinfo=UTC),
        datetime(2026, 11, 23, 7, 10, tzinfo=UTC),
    )
    assert period.key == "immediate:2026-11-23T07:10Z"


@pytest.mark.parametrize("value", ["7", "25:00", "07:60", "noon"])
def test_bad_daily_schedules_are_configuration_errors(value: str) -> None:
    with pytest.raises(ConfigurationError, match="DAILY_AT"):
        windows.parse_daily(value, ROME)


@pytest.mark.parametrize("value", ["monday", "xyz 07:00", "mon 7"])
def test_bad_weekly_schedules_are_configuration_errors(value: str) -> None:
    with pytest.raises(ConfigurationError, match="WEEKLY_AT"):
        windows.parse_weekly(value, ROME)
