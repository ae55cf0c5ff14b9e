"""The exchange-side backstop: one Kalshi order group for every live order; a triggered group is a HARD STOP.

At start-up the daemon creates one order group whose contracts limit (per rolling 15 s, enforced
by Kalshi) is just above the largest burst the kill switch allows, and attaches every live order
to it. A bug in our own code that sends more than that then still meets a limit at the exchange,
which cancels the group's orders and refuses new ones.

The largest burst (src/model/order_group_limit.py): one maximum-size order at the cheapest price a
contract can have, plus one contract so a legitimate order never meets the limit.

A trigger is learnt from the venue's own word: an order refused with an error naming the order
group (LiveExecutor reports it), or an `order_group_updates` message with event "triggered" from
a websocket source (`note_event`). Either writes kill_switch.lock (reason order_group_triggered)
and asks the kill switch to re-evaluate: its lock rule turns that into a HARD STOP, which cancels
every resting order and stops the daemon until a person resets it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Protocol

from src.model.models import Clock, utc_from_ts
from src.model.order_group_limit import order_group_contracts_limit
from src.risk.limits import HARD_MAX_TRADE_USD
from src.risk.lockfile import LockWriteError, read_lock, write_lock

log = logging.getLogger("polybot.order_group")

TRIGGERED_REASON = "order_group_triggered"


class OrderGroupVenue(Protocol):
    """What the guard needs from the Kalshi client."""

    async def create_order_group(self, contracts_limit: int) -> str: ...

    def use_order_group(self, order_group_id: str | None) -> None: ...


def burst_contracts_limit(max_trade_usd: Decimal) -> int:
    """The group's contracts limit for this cap (never above the code's HARD_MAX_TRADE_USD)."""
    return order_group_contracts_limit(min(max_trade_usd, HARD_MAX_TRADE_USD))


class OrderGroupGuard:
    """Creates the group, attaches it to the client, and turns a trigger into a HARD STOP."""

    def __init__(
        self,
        venue: OrderGroupVenue,
        lock_root: Path,
        clock: Clock,
        contracts_limit: int,
        on_hard_stop: Callable[[], object],
    ) -> None:
        self._venue = venue
        self._root = lock_root
        self._clock = clock
        self.contracts_limit = contracts_limit
        self._on_hard_stop = on_hard_stop
        self.order_group_id: str | None = None
        self.triggered_detail = ""

    async def start(self) -> str:
        """Create the group and attach every order from now on; raises when the venue refuses."""
        group_id = await self._venue.create_order_group(self.contracts_limit)
        self._venue.use_order_group(group_id)
        self.order_group_id = group_id
        log.info("order group %s created: at most %d contracts per 15 s", group_id, self.contracts_limit)
        return group_id

    @property
    def triggered(self) -> bool:
        return bool(self.triggered_detail)

    def note_event(self, order_group_id: str, event_type: str) -> None:
        """An `order_group_updates` message (websocket): "triggered" for our group is a HARD STOP."""
        if order_group_id == self.order_group_id and event_type == "triggered":
            self.on_triggered(f"order group {order_group_id} triggered (venue message)")

    def on_triggered(self, detail: str) -> None:
        """The exchange-side limit fired: persist a HARD STOP and make the kill switch act on it."""
        if self.triggered:
            return
        self.triggered_detail = detail
        now = self._clock()
        message = (f"Kalshi's order group {self.order_group_id} hit its limit of {self.contracts_limit} contracts "
                   f"per 15 s: {detail}. Our own limits should have stopped far earlier: find out why before "
                   "resetting.")
        log.critical("%s", message)
        if read_lock(self._root) is None:
            try:
                write_lock(self._root, {"version": 1, "reason": TRIGGERED_REASON, "message": message, "ts": now,
                                        "at": utc_from_ts(now).isoformat(), "order_group_id": self.order_group_id,
                                        "figures": {"mode": "live"}, "reset": "python main.py --reset-killswitch"})
            except (LockWriteError, OSError) as exc:
                log.error("could not write the lock for the triggered order group: %s", exc)
        self._on_hard_stop()
