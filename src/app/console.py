"""The daemon's terminal lines: numbered start-up steps, one-line errors and --from/--to times."""

from __future__ import annotations

import sys
from datetime import UTC, datetime

from src.config import ConfigError


def say(step: int, text: str) -> None:
    print(f"[{step:>2}/12] {text}", flush=True)


def fail(message: str, code: int) -> int:
    print(f"error: {message}", file=sys.stderr, flush=True)
    return code


def parse_when(text: str | None, flag: str) -> float | None:
    if text is None:
        return None
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ConfigError(f"{flag}: {text!r} is not a date (YYYY-MM-DD) or ISO 8601 time") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.timestamp()
