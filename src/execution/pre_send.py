"""The one pre-send sequence every executor runs before an order leaves: the safety order lives only here.

In order, with nothing skipped:
1. the intent is validated (InvalidOrderError);
2. the kill switch is asked; a no writes one `order_refused` trade-log line and raises OrderRefused
   (nothing in the database, nothing sent);
3. a client_order_id already in the database is refused (InvalidOrderError): an id is used once;
4. the executor's own extra gate runs, if it has one (live: earlier orders of unknown outcome are
   looked up first and a new order is refused while one stays unknown). When it ran, the kill
   switch is asked AGAIN: the look-ups may have booked trades it counts, and it must stay the
   last gate before the request;
5. the intent is written to the database as "pending" BEFORE anything is sent;
6. the on-submitted hook runs (the kill switch counts the order toward its hourly limit);
7. one `order_submitted` line goes to the trade log.

Paper and live both import this module and never each other.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from src.db import Database
from src.execution.order_rules import InvalidOrderError, validate_intent
from src.journal.trade_log import TradeLog
from src.model.interfaces import OrderRefused
from src.model.models import Clock, OrderIntent, Verdict

ExtraGate = Callable[[OrderIntent], Awaitable[Verdict | None]]


@dataclass(frozen=True, slots=True)
class PreSend:
    """What the sequence needs from its executor: the same for paper and live but the mode's name."""

    mode: str
    time_in_force: str
    db: Database
    trade_log: TradeLog
    clock: Clock
    kill_switch_check: Callable[[OrderIntent], Verdict]
    on_submitted: Callable[[OrderIntent], None] | None = None

    def refuse(self, intent: OrderIntent, verdict: Verdict) -> None:
        self.trade_log.order_refused(self.clock(), self.mode, intent, verdict)
        raise OrderRefused(verdict)

    async def admit(self, intent: OrderIntent, extra_gate: ExtraGate | None = None) -> float:
        """Steps 1-7 above; returns the time the intent was written. Raises when the order must not go."""
        validate_intent(intent, self.time_in_force)
        verdict = self.kill_switch_check(intent)
        if not verdict.allowed:
            self.refuse(intent, verdict)
        if self.db.order_by_client_id(intent.client_order_id) is not None:
            raise InvalidOrderError(f"client_order_id {intent.client_order_id} was already used")
        if extra_gate is not None:
            refusal = await extra_gate(intent)
            if refusal is not None:
                self.refuse(intent, refusal)
            verdict = self.kill_switch_check(intent)
            if not verdict.allowed:
                self.refuse(intent, verdict)
        submitted_ts = self.clock()
        self.db.insert_order_intent(intent, submitted_ts, status="pending")
        if self.on_submitted is not None:
            self.on_submitted(intent)
        self.trade_log.order_submitted(submitted_ts, self.mode, intent, self.time_in_force)
        return submitted_ts
