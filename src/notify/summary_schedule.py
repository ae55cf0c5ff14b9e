"""When the daily and weekly summaries are due: the next HH:MM UTC, and whether a day is the weekly one."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


def next_daily(now: float, hhmm: str) -> float:
    """The next HH:MM UTC strictly after now, as a timestamp."""
    hour, minute = (int(x) for x in hhmm.split(":"))
    if not (0 <= hour < 24 and 0 <= minute < 60):
        raise ValueError(f"not a time of day: {hhmm!r}")
    current = datetime.fromtimestamp(now, tz=UTC)
    due = current.replace(hour=hour, minute=minute, second=0, microsecond=0)
    if due.timestamp() <= now:
        due += timedelta(days=1)
    return due.timestamp()


def is_weekday(ts: float, weekday: str) -> bool:
    return WEEKDAYS[datetime.fromtimestamp(ts, tz=UTC).weekday()] == weekday
