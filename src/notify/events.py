"""What the owner can be told: the kinds of notification, their levels, and one notification as a value."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Kind(StrEnum):
    """One per key of `notify.levels` in config.yaml."""

    START_STOP = "start_stop"
    ORDER_FILLED = "order_filled"
    SETTLEMENT = "settlement"
    KILL_SWITCH = "kill_switch"
    AUTH_HALT = "auth_halt"
    OUTAGE = "outage"
    RECONCILIATION = "reconciliation"
    REMOTE_COMMAND = "remote_command"
    DAILY_SUMMARY = "daily_summary"
    WEEKLY_SUMMARY = "weekly_summary"


# Quietest first; "off" is below all of them and never sent.
LEVELS: tuple[str, ...] = ("info", "warning", "critical")


def level_rank(level: str) -> int:
    """0 for "off", then 1.. in LEVELS order; unknown levels are refused."""
    if level == "off":
        return 0
    if level not in LEVELS:
        raise ValueError(f"unknown notification level {level!r}")
    return LEVELS.index(level) + 1


@dataclass(frozen=True, slots=True)
class Notification:
    """One message for the owner. Text only: never a URL, a key or a token (ground rule 4)."""

    kind: Kind
    level: str
    title: str
    body: str
    ts: float
