"""A HARD STOP on the owner's remote request, through the kill switch's own lock-file path."""

from __future__ import annotations

from pathlib import Path

from src.model.models import utc_from_ts
from src.risk.kill_switch import RESET_COMMAND, KillSwitch
from src.risk.lockfile import LockWriteError, write_lock

REMOTE_HALT_REASON = "remote_halt"


class RemoteHaltError(Exception):
    """The lock could not be written, so the kill switch could not be made to stop."""


def request_hard_stop(kill_switch: KillSwitch, root: Path, requested_by: str, now: float) -> bool:
    """Write kill_switch.lock, then let the kill switch see it: exactly the stop a lock on disk causes.

    The kill switch then refuses every order, cancels all open orders, logs KILL_SWITCH_EVENT.log,
    records the event and asks the loop to exit with code 3; only --reset-killswitch at the
    terminal removes the lock. Returns False when it was already hard-stopped (nothing to do).
    """
    if kill_switch.hard_stopped:
        return False
    status = kill_switch.status()
    payload = {
        "version": 1,
        "reason": REMOTE_HALT_REASON,
        "message": f"HARD STOP requested remotely ({requested_by})",
        "ts": now,
        "at": utc_from_ts(now).isoformat(),
        # The mode tells --reset-killswitch which database records the reset, as for the kill switch's own lock.
        "mode": status.mode.value,
        "figures": {
            "mode": status.mode.value,
            "starting_bankroll": str(status.starting_bankroll),
            "bankroll": str(status.bankroll),
            "today_pnl": str(status.today_pnl),
            "loss_since_reset": str(status.loss_since_reset),
            "state_before": status.state.value,
        },
        "reset": RESET_COMMAND,
    }
    try:
        write_lock(root, payload)
    except (LockWriteError, OSError) as exc:
        raise RemoteHaltError(f"could not write the lock: {exc}") from None
    kill_switch.refresh()
    if not kill_switch.hard_stopped:
        raise RemoteHaltError("the lock was written but the kill switch did not stop")
    return True
