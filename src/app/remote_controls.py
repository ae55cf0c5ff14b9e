"""What each Telegram command does to a running daemon: read its state, pause, resume a pause, stop, or hard-stop."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

from src.db import Database
from src.model.exit_codes import EXIT_HARD_STOP
from src.model.models import SECONDS_PER_DAY, usd, utc_day_number
from src.notify.pause import PauseGate
from src.risk.kill_switch import KillSwitch
from src.risk.remote_halt import RemoteHaltError, request_hard_stop

log = logging.getLogger("polybot.notify")


class DaemonControls:
    """Implements src.notify.commands.Controls. Nothing here can make the bot trade more than before."""

    def __init__(
        self,
        *,
        status_line: Callable[[], str],
        pause_gate: PauseGate,
        kill_switch: KillSwitch,
        kill_switch_root: Path,
        db: Database,
        clock: Callable[[], float],
        request_stop: Callable[[int], None],
    ) -> None:
        self._status_line = status_line
        self._pause = pause_gate
        self._ks = kill_switch
        self._ks_root = kill_switch_root
        self._db = db
        self._clock = clock
        self._request_stop = request_stop

    def _kill_state(self) -> str:
        status = self._ks.status()
        state = status.state.value
        return state if status.reason == "ok" else f"{state} ({status.reason}: {status.detail})"

    def status_text(self) -> str:
        paused = "PAUSED from Telegram (/resume to lift). " if self._pause.paused else ""
        return f"{paused}{self._status_line()}"

    def pnl_text(self) -> str:
        day = utc_day_number(self._clock())
        today = self._db.realized_pnl(day * SECONDS_PER_DAY, (day + 1) * SECONDS_PER_DAY)
        total = self._db.realized_pnl()
        return (f"P&L today {usd(today)}, all time {usd(total)}. "
                f"Bankroll {usd(self._ks.bankroll)}. Kill switch {self._kill_state()}.")

    def pause(self, by: str) -> str:
        fresh = self._pause.pause(by)
        head = "Paused" if fresh else "Already paused"
        return f"{head}: no new orders until /resume. Open positions settle normally."

    def resume(self) -> str:
        lifted = self._pause.resume()
        head = "Pause lifted." if lifted else "Not paused."
        state = self._ks.status()
        if state.reason != "ok" or self._ks.hard_stopped:
            # /resume lifts only what /pause set; the kill switch decides for itself.
            return f"{head} The kill switch still refuses orders: {self._kill_state()}. /resume cannot lift that."
        return f"{head} Trading may place orders again (kill switch {state.state.value})."

    def stop(self, by: str) -> str:
        log.warning("remote stop requested by %s", by)
        self._request_stop(0)
        return "Stopping cleanly, as Ctrl-C would: the order in flight finishes, then the bot exits."

    def halt(self, by: str) -> str:
        try:
            done = request_hard_stop(self._ks, self._ks_root, by, self._clock())
        except RemoteHaltError as exc:
            # Still stop trading: a clean shutdown is the next safest thing.
            self._request_stop(EXIT_HARD_STOP)
            return f"HALT could not lock the kill switch ({exc}); the bot is shutting down instead."
        self._request_stop(self._ks.exit_code)
        if not done:
            return "Already in HARD STOP."
        return ("HARD STOP: orders refused, cancel of all open orders requested, kill_switch.lock written. "
                "Reset only at the terminal: python main.py --reset-killswitch.")

