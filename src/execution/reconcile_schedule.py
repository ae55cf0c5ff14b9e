"""When reconciliation runs again: after every reconnect, on a timer while anything is open, until it agrees.

ReconcileSchedule.tick() is called from the daemon's settlement loop (every few seconds). It runs
Reconciler.run() when
- the last run found a disagreement (new orders stay refused until the venue and the database
  agree again; `halt_reason` names the disagreement for the status line and the dashboard),
- a reconnect was reported since the last run (`note_reconnect`: the REST client after a lost
  connection answers again; `follow`: the websocket's reconnect counter grew), or
- `interval_s` (60 s) passed since the last run while any position or pending order exists.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from src.db import Database
from src.execution.reconcile import ReconcileReport
from src.model.models import Clock

log = logging.getLogger("polybot.reconcile")

DEFAULT_INTERVAL_S = 60.0


class ReconcileSchedule:
    """Decides when to run a reconciliation and remembers why trading is halted for it."""

    def __init__(
        self,
        run: Callable[[], Awaitable[ReconcileReport]],
        db: Database,
        clock: Clock,
        *,
        interval_s: float = DEFAULT_INTERVAL_S,
        on_report: Callable[[ReconcileReport], None] | None = None,
    ) -> None:
        if not interval_s > 0:
            raise ValueError(f"interval_s must be positive, got {interval_s}")
        self._run = run
        self._db = db
        self._clock = clock
        self._interval = interval_s
        self._last: ReconcileReport | None = None
        self._last_ts: float | None = None
        self._reconnected = False
        self._on_report = on_report  # e.g. the notifier, told of every run's result
        self._counters: list[list[Any]] = []  # [reconnect counter, the count last seen]

    def note_reconnect(self) -> None:
        """A connection to the venue was lost and is back: what happened meanwhile must be checked."""
        self._reconnected = True

    def follow(self, reconnect_count: Callable[[], int]) -> None:
        """Also take a growing reconnect counter (e.g. the websocket's) as reconnects."""
        self._counters.append([reconnect_count, reconnect_count()])

    def _count_reconnects(self) -> None:
        for counter in self._counters:
            seen = counter[0]()
            if seen != counter[1]:
                counter[1] = seen
                self._reconnected = True

    @property
    def reconciled(self) -> bool:
        return self._last is not None and self._last.reconciled

    @property
    def halt_reason(self) -> str:
        """Why new orders are refused ("" when they are not): the disagreement's codes."""
        if self._last is None:
            return "reconcile:not_run"
        if self._last.reconciled:
            return ""
        codes = sorted({d.code for d in self._last.discrepancies})
        return "reconcile:" + ",".join(codes)

    def due(self) -> bool:
        self._count_reconnects()
        if self._last is None or not self._last.reconciled or self._reconnected:
            return True
        last_ts = self._last_ts if self._last_ts is not None else 0.0
        if self._clock() - last_ts < self._interval:
            return False
        return bool(self._db.open_trades() or self._db.orders_with_status("pending"))

    async def tick(self) -> ReconcileReport | None:
        """Run a reconciliation if one is due; returns its report, or None when none was due."""
        if not self.due():
            return None
        return await self.run_now()

    async def run_now(self) -> ReconcileReport:
        why = "reconnect" if self._reconnected else "timer" if self.reconciled else "disagreement"
        self._reconnected = False
        report = await self._run()
        self._last, self._last_ts = report, self._clock()
        if self._on_report is not None:
            self._on_report(report)
        if not report.reconciled:
            log.error("reconciliation (%s): new orders halted: %s", why, self.halt_reason)
        return report
