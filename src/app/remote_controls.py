"""What each Telegram command does to a running daemon: read its state, pause, resume a pause, stop, or hard-stop."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from src.db import Database
from src.model.exit_codes import EXIT_HARD_STOP
from src.model.models import SECONDS_PER_DAY, usd, utc_day_number
from src.notify.pause import PauseGate
from src.risk.kill_switch import KillSwitch
from src.risk.remote_halt import RemoteHaltError, request_hard_stop

log = logging.getLogger("polybot.notify")


@dataclass(frozen=True, slots=True)
class HaltTarget:
    """Another venue's kill switch that a /halt also hard-stops (Polymarket US beside Kalshi)."""

    venue: str
    kill_switch: KillSwitch
    root: Path


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
        also_halt: Sequence[HaltTarget] = (),
    ) -> None:
        self._status_line = status_line
        self._pause = pause_gate
        self._ks = kill_switch
        self._ks_root = kill_switch_root
        self._db = db
        self._clock = clock
        self._request_stop = request_stop
        self._also_halt = also_halt  # read at each /halt: a venue's loop joins once its kill switch exists

    def _kill_state(self, kill_switch: KillSwitch | None = None) -> str:
        status = (kill_switch or self._ks).status()
        state = status.state.value
        return state if status.reason == "ok" else f"{state} ({status.reason}: {status.detail})"

    def _refusing(self, kill_switch: KillSwitch) -> bool:
        return kill_switch.status().reason != "ok" or kill_switch.hard_stopped

    def status_text(self) -> str:
        paused = "PAUSED from Telegram (/resume to lift). " if self._pause.paused else ""
        return f"{paused}{self._status_line()}"

    def pnl_text(self) -> str:
        day = utc_day_number(self._clock())
        today = self._db.realized_pnl(day * SECONDS_PER_DAY, (day + 1) * SECONDS_PER_DAY)
        total = self._db.realized_pnl()
        others = []
        for target in self._also_halt:  # another venue's figures come from its own kill switch
            status = target.kill_switch.status()
            others.append(f" {target.venue}: P&L today {usd(status.today_pnl)}, bankroll {usd(status.bankroll)}, "
                          f"kill switch {self._kill_state(target.kill_switch)}.")
        return (f"Kalshi: P&L today {usd(today)}, all time {usd(total)}. "
                f"Bankroll {usd(self._ks.bankroll)}. Kill switch {self._kill_state()}." + "".join(others))

    def pause(self, by: str) -> str:
        fresh = self._pause.pause(by)
        head = "Paused" if fresh else "Already paused"
        return f"{head}: no new orders on {self._venues()} until /resume. Open positions settle normally."

    def _venues(self) -> str:
        return " or ".join(["Kalshi", *(t.venue for t in self._also_halt)])

    def resume(self) -> str:
        lifted = self._pause.resume()
        head = "Pause lifted." if lifted else "Not paused."
        # /resume lifts only what /pause set; each venue's kill switch decides for itself.
        venues = [("Kalshi", self._ks), *((t.venue, t.kill_switch) for t in self._also_halt)]
        refusing = [f"{name}: {self._kill_state(ks)}" for name, ks in venues if self._refusing(ks)]
        trading = [name for name, ks in venues if not self._refusing(ks)]
        text = head
        if trading:
            text += f" {' and '.join(trading)} may place orders again."
        if refusing:
            text += f" The kill switch still refuses orders on {'; '.join(refusing)}. /resume cannot lift that."
        return text

    def stop(self, by: str) -> str:
        log.warning("remote stop requested by %s", by)
        self._request_stop(0)
        return "Stopping cleanly, as Ctrl-C would: the order in flight finishes, then the bot exits."

    def halt(self, by: str) -> str:
        """HARD STOP of every venue this run trades: Kalshi's kill switch, then each other venue's own."""
        others = [self._halt_other(target, by) for target in self._also_halt]
        try:
            done = request_hard_stop(self._ks, self._ks_root, by, self._clock())
        except RemoteHaltError as exc:
            # Still stop trading: a clean shutdown is the next safest thing.
            self._request_stop(EXIT_HARD_STOP)
            return " ".join([f"HALT could not lock the Kalshi kill switch ({exc}); the bot is shutting down instead.",
                             *others])
        self._request_stop(self._ks.exit_code)
        if not done:
            return " ".join(["Already in HARD STOP on Kalshi.", *others])
        return " ".join(["HARD STOP on Kalshi: orders refused, cancel of all open orders requested, kill_switch.lock "
                         "written. Reset only at the terminal: python main.py --reset-killswitch.", *others])

    def _halt_other(self, target: HaltTarget, by: str) -> str:
        # Before Kalshi's: the Kalshi stop ends the run, and this venue must be locked before it does.
        try:
            done = request_hard_stop(target.kill_switch, target.root, by, self._clock())
        except RemoteHaltError as exc:
            log.error("remote halt of %s failed: %s", target.venue, exc)
            return f"{target.venue}: could not lock its kill switch ({exc}); it stops with the bot."
        if not done:
            return f"{target.venue}: already in HARD STOP."
        return f"{target.venue} HARD STOP: its own lock written, cancel of its open orders requested."

