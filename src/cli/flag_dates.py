"""Read the --from, --to and --date flags' text as UTC times or days; a bad value is a one-line ConfigError."""

from __future__ import annotations

from datetime import UTC, date, datetime

from src.config import ConfigError


def parse_when(text: str | None, flag: str) -> float | None:
    """A day (YYYY-MM-DD) or ISO 8601 time, as epoch seconds; naive means UTC; None when the flag is absent."""
    if text is None:
        return None
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ConfigError(f"{flag}: {text!r} is not a day (YYYY-MM-DD) or an ISO 8601 time") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.timestamp()


def parse_day(text: str | None, flag: str) -> date | None:
    """A YYYY-MM-DD day (UTC); None when the flag is absent."""
    if text is None:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ConfigError(f"{flag}: {text!r} is not a day (YYYY-MM-DD)") from None
