"""Turn what happens in the bot into notifications at their configured level, without ever blocking or raising."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal
from pathlib import Path

from src.journal.log_setup import redact
from src.model.models import Order
from src.notify import messages
from src.notify.events import Kind, Notification, level_rank
from src.notify.lock_reason import named_by_lock
from src.risk.kill_switch import RESET_COMMAND, KillSwitchEvent

log = logging.getLogger("polybot.notify")

Put = Callable[[Notification], None]
# The auth halt has its own level; every other kill switch event shares "kill_switch".
_AUTH_KINDS = frozenset({"auth_halt", "auth_resume"})


class Notifier:
    """Every method returns at once: it formats, filters by level and queues (Outbox.put)."""

    def __init__(self, levels: Mapping[str, str], min_level: str, put: Put, clock: Callable[[], float], *,
                 venue: str = messages.KALSHI, reset_command: str = RESET_COMMAND,
                 lock_root: Path | None = None) -> None:
        for kind in Kind:
            if kind.value not in levels:
                raise ValueError(f"no notification level configured for {kind.value}")
            level_rank(levels[kind.value])
        self._levels = dict(levels)
        self._min_level = min_level
        self._min_rank = level_rank(min_level)
        self._put = put
        self._clock = clock
        self._last_mismatch: frozenset[str] = frozenset()
        self.venue = venue  # named in every trading message: Kalshi and Polymarket US may both run
        self._reset_command = reset_command
        # Where this venue's kill_switch.lock lives: a lock-present HARD STOP is named by the lock's reason.
        self.lock_root = lock_root

    def for_venue(self, venue: str, reset_command: str, lock_root: Path) -> Notifier:
        """The same levels and queue, for another venue's loop (its own kill switch, lock and reset command)."""
        return Notifier(self._levels, self._min_level, self._put, self._clock, venue=venue,
                        reset_command=reset_command, lock_root=lock_root)

    def wants(self, kind: Kind) -> bool:
        rank = level_rank(self._levels[kind.value])
        return rank > 0 and rank >= self._min_rank

    def emit(self, kind: Kind, title: str, body: str) -> None:
        """Queue one notification if its level is on; a failure here is logged, never raised."""
        try:
            if not self.wants(kind):
                return
            # Whatever a message quotes (an error text, a detail) passes the log redaction first.
            self._put(Notification(kind, self._levels[kind.value], redact(title, uuids=False),
                                   redact(body, uuids=False), self._clock()))
        except Exception as exc:  # noqa: BLE001 - telling the owner must never break trading
            log.error("could not queue a %s notification (%s)", kind.value, type(exc).__name__)

    def _emit_text(self, kind: Kind, make: Callable[[], messages.Text]) -> None:
        try:
            title, body = make()
        except Exception as exc:  # noqa: BLE001 - a formatting bug must not reach the caller
            log.error("could not word a %s notification (%s)", kind.value, type(exc).__name__)
            return
        self.emit(kind, title, body)

    # -- events -------------------------------------------------------------------------------

    def started(self, mode: str, bankroll: Decimal, kill_state: str, *, venue: str | None = None) -> None:
        """venue None: the bot itself started; a venue name: that venue's loop beside it."""
        self._emit_text(Kind.START_STOP, lambda: messages.started(mode, bankroll, kill_state, venue))

    def stopped(self, mode: str, bankroll: Decimal, exit_code: int, why: str, *, venue: str | None = None) -> None:
        self._emit_text(Kind.START_STOP, lambda: messages.stopped(mode, bankroll, exit_code, why, venue))

    def order_filled(self, order: Order, edge: Decimal | None = None) -> None:
        """Told once per order, by whatever recorded its final venue outcome (see the executors' on_filled)."""
        if order.filled_count > 0:
            self._emit_text(Kind.ORDER_FILLED, lambda: messages.order_filled(order, self.venue, edge))

    def settled(self, trade: messages.SettledLike) -> None:
        self._emit_text(Kind.SETTLEMENT, lambda: messages.settled(trade, self.venue))

    def kill_switch(self, event: KillSwitchEvent) -> None:
        kind = Kind.AUTH_HALT if event.kind in _AUTH_KINDS else Kind.KILL_SWITCH

        def word() -> messages.Text:
            named = named_by_lock(event, self.lock_root) if self.lock_root is not None else event
            return messages.kill_switch(named, self.venue, self._reset_command)

        self._emit_text(kind, word)

    def outage(self, what: str, down_for_s: float, since_ts: float) -> None:
        self._emit_text(Kind.OUTAGE, lambda: messages.outage(what, down_for_s, since_ts))

    def recovered(self, what: str, down_for_s: float) -> None:
        self._emit_text(Kind.OUTAGE, lambda: messages.recovered(what, down_for_s))

    def reconciliation(self, items: Sequence[messages.DiscrepancyLike]) -> None:
        """Told once per distinct set of mismatches (the resync repeats every few seconds)."""
        keys = frozenset(f"{d.code}|{d.ticker}|{d.detail}" for d in items)
        if keys == self._last_mismatch:
            return
        self._last_mismatch = keys
        if items:
            self._emit_text(Kind.RECONCILIATION, lambda: messages.reconciliation(items, self.venue))

    def summary(self, weekly: bool, figures: messages.PeriodFigures, all_time_pnl: Decimal) -> None:
        kind = Kind.WEEKLY_SUMMARY if weekly else Kind.DAILY_SUMMARY
        self._emit_text(kind, lambda: messages.summary("Weekly" if weekly else "Daily", figures, all_time_pnl))

    def remote_command(self, command: str, chat_id: int, outcome: str) -> None:
        self._emit_text(Kind.REMOTE_COMMAND, lambda: messages.remote_command(command, chat_id, outcome))
