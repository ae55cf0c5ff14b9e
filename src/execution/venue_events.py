"""Routes the venue's pushed events (Kalshi websocket) to the parts that act on them at once.

- `order_group_updates`: a "triggered" event of our group goes to OrderGroupGuard.note_event,
  which turns it into a HARD STOP (lock file, kill switch, cancel-all);
- `event_fee_update` for our series: the fee tripwire judges the override at once
  (FeeTripwire.note_override) and re-reads the series' terms in the background (`check()`);
- `market_lifecycle_v2` "determined" / "settled": the settler may try that market now
  (`expedite`) and the daemon runs a settlement pass at once (`settle_soon`) instead of waiting
  for its next timed pass, which stays as the fallback. Booking stays idempotent (db.settle_trade
  refuses a trade already settled), so an event repeated or racing the timer books nothing twice.
Callbacks run on the websocket's reading task: each does only quick, synchronous work and hands
anything slower to a background task.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from src.data import kalshi_ws_messages as m
from src.execution.fee_tripwire import FeeTripwire
from src.execution.order_group import OrderGroupGuard

log = logging.getLogger("polybot.venue_events")

SETTLING_EVENTS = frozenset({"determined", "settled"})


class VenueEventRouter:
    """One instance per daemon; pass its methods to KalshiWs.route_venue_events."""

    def __init__(
        self,
        *,
        expedite: Callable[[str], None] | None = None,
        settle_soon: Callable[[], None] | None = None,
    ) -> None:
        self._expedite = expedite
        self._settle_soon = settle_soon
        self.guard: OrderGroupGuard | None = None  # set once live trading has started
        self.tripwire: FeeTripwire | None = None
        self.settle_wakeups = 0
        self._background: set[asyncio.Task[Any]] = set()

    def attach_live(self, guard: OrderGroupGuard, tripwire: FeeTripwire) -> None:
        self.guard, self.tripwire = guard, tripwire

    def on_order_group(self, update: m.OrderGroupUpdate) -> None:
        if self.guard is not None:
            self.guard.note_event(update.order_group_id, update.event_type)

    def on_fee_update(self, update: m.FeeUpdate) -> None:
        tripwire = self.tripwire
        if tripwire is None:
            return
        tripwire.note_override(update.event_ticker, update.fee_type, update.multiplier)
        task = asyncio.ensure_future(tripwire.check())  # the series' own terms may have changed too
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    def on_lifecycle(self, event: m.LifecycleEvent) -> None:
        if event.event_type not in SETTLING_EVENTS:
            return
        if self._expedite is not None:
            self._expedite(event.ticker)
        if self._settle_soon is not None:
            self.settle_wakeups += 1
            log.info("%s %s: settlement pass now", event.ticker, event.event_type)
            self._settle_soon()
