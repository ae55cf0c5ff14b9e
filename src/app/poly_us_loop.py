"""The whale-copy loop for Polymarket US: map each international whale buy to its US market and side, then copy it.

Whales are found and watched on the international public Data API (WhaleTracker, reading only).
Each new whale trade is mapped (src/platforms/polymarket_us_map.py) before anything else:
- a sell is skipped (`whale_sell`: we copy entries, not exits);
- an unmatched market is skipped with its own code (no_us_mapping / no_us_market /
  no_us_outcome), counted like every other outcome;
- a failed US look-up is `fetch_failed` (an error, not "unmatched");
- a matched trade continues as the same whale trade with the US slug as market and token and
  the mapped side (YES = long, NO = short), through the unchanged WhaleCopyLoop.handle: one
  entry per whale trade by its client_order_id, none while a position in that market is open,
  the US book fetched fresh, strategy, sizing, kill switch, executor.
Every whale trade seen, whatever became of it, is written to the `whale_activity` table.

Live: an order whose outcome is unknown is `order_pending` (not "no fill"), and `resolve` (the
live executor's look-up of pending orders) runs before each settlement pass, so a lost answer is
resolved from the venue even when no new whale trade comes to trigger it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import Any

from src.app.whale_loop import FETCH_FAILED, NO_FILL, CopyOutcome, WhaleCopyLoop
from src.data.whale_tracker import WhaleTrade
from src.journal.whale_journal import WhaleActivity, record_whale_activity
from src.model.file_locations import us_mode_name
from src.model.models import Mode
from src.platforms.polymarket_us_map import UsMarketMapper, UsTarget, UsUnmatched
from src.strategies.whale_copy import WHALE_SELL

ORDER_PENDING = "order_pending"


class UsWhaleCopyLoop(WhaleCopyLoop):
    """WhaleCopyLoop with the international -> US mapping in front of each trade."""

    def __init__(self, *, mapper: UsMarketMapper, live: bool = False,
                 resolve: Callable[[], Awaitable[Any]] | None = None, **kwargs: Any) -> None:  # fmt: skip
        super().__init__(**kwargs)
        self.mapper = mapper
        self._resolve = resolve
        self.label = "POLY US LIVE" if live else "POLY US PAPER"
        self.mode_name = us_mode_name(Mode.LIVE if live else Mode.PAPER)

    async def handle(self, whale_trade: WhaleTrade) -> CopyOutcome:
        trade = whale_trade.trade
        target: UsTarget | UsUnmatched | None = None
        if trade.side != "BUY":
            outcome = self._outcome(trade.key, WHALE_SELL, f"whale {trade.side} {trade.slug}")
        else:
            try:
                target = await self.mapper.map(trade.slug, trade.event_slug, trade.outcome)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - this trade is skipped; the loop goes on
                self._error("us_mapping", exc)
                outcome = self._outcome(trade.key, FETCH_FAILED, f"{type(exc).__name__}: {exc}")
            else:
                if isinstance(target, UsUnmatched):
                    outcome = self._outcome(trade.key, target.code, target.detail)
                else:
                    mapped = WhaleTrade(whale_trade.whale,
                                        replace(trade, token_id=target.slug, condition_id=target.slug),
                                        side=target.side)  # fmt: skip
                    outcome = await super().handle(mapped)
                    if outcome.code == NO_FILL and outcome.order is not None and outcome.order.status == "pending":
                        self.counts[NO_FILL] -= 1  # not "no fill": the venue has not said yet
                        outcome = self._outcome(outcome.key, ORDER_PENDING, "outcome unknown: resolving from the venue",
                                                outcome.order)  # fmt: skip
        self._journal(whale_trade, target, outcome)
        return outcome

    async def _settle_if_due(self) -> None:
        if self._resolve is not None and self.clock() >= self._next_settle:
            try:
                await self._resolve()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - retried on the next pass
                self._error("us_reconcile", exc)
        await super()._settle_if_due()

    def _journal(self, whale_trade: WhaleTrade, target: UsTarget | UsUnmatched | None, outcome: CopyOutcome) -> None:
        trade, whale = whale_trade.trade, whale_trade.whale
        matched = target if isinstance(target, UsTarget) else None
        try:
            record_whale_activity(self.db, WhaleActivity(
                ts=self.clock(), whale=whale.name or whale.wallet[:10], wallet=whale.wallet, title=trade.title,
                intl_slug=trade.slug, outcome=trade.outcome, whale_price=trade.price, whale_size=trade.size,
                us_slug=matched.slug if matched else "", us_side=matched.side.value if matched else "",
                code=outcome.code, detail=outcome.detail,
            ))  # fmt: skip
        except Exception as exc:  # noqa: BLE001 - the activity table is informational
            self._error("whale_activity", exc)
