"""Name a HARD STOP the kill switch saw as "lock present" by the reason written in the lock (a remote halt)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from src.risk.kill_switch import KillSwitchEvent
from src.risk.lockfile import read_lock

LOCK_PRESENT = "lock_present"  # src.risk.protections.Reason.LOCK_PRESENT, as it reaches an event


def named_by_lock(event: KillSwitchEvent, lock_root: Path) -> KillSwitchEvent:
    """The event with the lock's own reason and message when it is a lock-present HARD STOP.

    The kill switch reacts to kill_switch.lock appearing on disk (a Telegram /halt writes it, or
    another process) with reason "lock_present"; the lock itself says why it was written
    ("remote_halt", "total_loss", ...), which is what the owner needs on his phone. A lock that
    cannot be read, or names no reason, leaves the event as it is.
    """
    if event.kind != "hard_stop" or event.reason != LOCK_PRESENT:
        return event
    info = read_lock(lock_root)
    data = info.data if info is not None else None
    if not data:
        return event
    reason, message = data.get("reason"), data.get("message")
    if not isinstance(reason, str) or not reason or reason == LOCK_PRESENT:
        return event
    text = message if isinstance(message, str) and message else event.message
    return replace(event, reason=reason[:60], message=text[:300])
