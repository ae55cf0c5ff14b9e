"""The whale-copy main loop: each new whale trade -> strategy -> sizing -> kill switch -> executor, then settlement.

One pass (`cycle`), repeated every `poll_interval_s` until stopped:
1. Re-read the leaderboard when due (at start, then every `refresh_whales_s`; a failed read is
   retried on the next pass and the whales already known stay).
2. Poll the tracker. Its first poll of a wallet only records the trades already there, so
   nothing that happened before the start is ever copied.
3. For each new trade, oldest first (`handle`): at most one entry per whale trade, by a
   client_order_id derived from the trade itself, so not even a restart can send it twice; no
   new entry in a token already held (a whale splitting one order over many transactions must
   not multiply our exposure); the market and the token's book are fetched fresh; the
   strategy decides; sizing and the book's depth size it; the kill switch must allow it (the
   executor checks again: it is the last gate); the token's market is recorded for settlement
   BEFORE the order, so a filled position can always be settled.
4. Settle open positions whose market has resolved (every `settle_interval_s`).
5. One status line through `out`, and the health rows of the database.

Every outcome is a reason code (COPIED, NO_FILL or why not), counted in `counts`. Network and
venue errors are logged, counted and written to the database's errors table, never fatal. Two
things do stop the loop: the kill switch asking to exit (hard stop), and a trade log that cannot
be written (trading on without a record would lose data silently), exactly as in src/app/engine.py.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections import Counter, OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Protocol

from src.app.daemon_records import record_error, write_health
from src.data.whale_tracker import PollResult, TradeRow, Whale, WhaleTrade
from src.db import PolymarketDatabase
from src.journal.trade_log import TradeLogError
from src.model.exit_codes import EXIT_ERROR, EXIT_OK
from src.model.interfaces import Executor, Gate, OrderRefused, Settler
from src.model.models import CENT, Clock, Market, NoSignal, Order, OrderBook, OrderIntent, Signal, Sleep, qty
from src.risk.sizing import fit_to_book
from src.strategies.base import Strategy

log = logging.getLogger("polybot.whale_loop")

COPIED = "copied"
NO_FILL = "no_fill"
DUPLICATE = "duplicate"
POSITION_OPEN = "position_open"
NO_MARKET_ID = "no_market_id"
SIZE_ZERO = "size_zero"
NO_DEPTH = "no_depth_at_limit"
FETCH_FAILED = "fetch_failed"
ORDER_FAILED = "order_failed"
KILL_SWITCH = "kill_switch"  # reported as "kill_switch:<reason>"

# (signal, bankroll, client_order_id) -> sized intent, or None for zero contracts.
Size = Callable[[Signal, Decimal, str], OrderIntent | None]
_HANDLED_LIMIT = 20_000


class PolymarketData(Protocol):
    """What the loop reads from the Polymarket client."""

    async def get_market(self, condition_id: str, token_id: str) -> Market: ...

    async def get_orderbook(self, token_id: str) -> OrderBook: ...


class Tracker(Protocol):
    @property
    def whales(self) -> tuple[Whale, ...]: ...

    async def refresh_whales(self) -> list[Whale]: ...

    async def poll(self) -> PollResult: ...


@dataclass(frozen=True, slots=True)
class WhaleLoopTiming:
    poll_interval_s: float = 30.0
    refresh_whales_s: float = 3600.0
    settle_interval_s: float = 60.0


@dataclass(frozen=True, slots=True)
class CopyOutcome:
    """What became of one whale trade: COPIED, NO_FILL or why not, and the order if one went out."""

    key: tuple[str, str, str]
    code: str
    detail: str = ""
    order: Order | None = None


def copy_order_id(trade: TradeRow) -> str:
    """The client_order_id of the copy of `trade`: "pb" + 32 hex digits, the same on every run."""
    digest = hashlib.sha256("|".join(("whale_copy", *trade.key)).encode()).hexdigest()
    return "pb" + digest[:32]


class WhaleCopyLoop:
    """Runs until `stop` is set or the kill switch asks to exit; returns the process exit code."""

    def __init__(
        self,
        *,
        client: PolymarketData,
        tracker: Tracker,
        strategy: Strategy[WhaleTrade],
        size: Size,
        gate: Gate,
        executor: Executor,
        settler: Settler,
        db: PolymarketDatabase,
        clock: Clock,
        timing: WhaleLoopTiming = WhaleLoopTiming(),
        sleep: Sleep | None = None,
        out: Callable[[str], None] = print,
    ) -> None:
        self.client = client
        self.tracker = tracker
        self.strategy = strategy
        self.size = size
        self.gate = gate
        self.executor = executor
        self.settler = settler
        self.db = db
        self.clock = clock
        self.timing = timing
        self._sleep = sleep
        self.out = out
        self.counts: Counter[str] = Counter()
        self.errors = 0
        self.last_code = "starting"
        self._handled: OrderedDict[tuple[str, str, str], None] = OrderedDict()
        self._next_refresh = float("-inf")
        self._next_settle = float("-inf")
        self._fatal: int | None = None
        self._stop: asyncio.Event | None = None

    # -- control --------------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> int:
        self._stop = stop
        while not stop.is_set():
            await self.cycle()
            code = self.exit_code()
            if code is not None:
                return code
            await self._pause(self.timing.poll_interval_s)
        return EXIT_OK

    def exit_code(self) -> int | None:
        """The code to exit with now, or None to go on."""
        if self._fatal is not None:
            return self._fatal
        if self.gate.should_exit:
            return self.gate.exit_code
        return None

    async def _pause(self, seconds: float) -> None:
        if self._sleep is not None:
            await self._sleep(seconds)
            return
        if self._stop is None:
            await asyncio.sleep(seconds)
            return
        try:
            await asyncio.wait_for(self._stop.wait(), timeout=seconds)
        except TimeoutError:
            pass

    # -- one pass -------------------------------------------------------------------------------

    async def cycle(self) -> list[CopyOutcome]:
        """Refresh whales if due, poll, handle every new trade, settle if due, report."""
        outcomes: list[CopyOutcome] = []
        now = self.clock()
        if now >= self._next_refresh:
            try:
                whales = await self.tracker.refresh_whales()
                self._next_refresh = now + self.timing.refresh_whales_s
                qualified = sum(1 for w in whales if w.qualified)
                self.out(f"[POLY PAPER] leaderboard read: {qualified} of {len(whales)} wallets qualify as whales")
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - the known whales stay; retried next pass
                self._error("whale_refresh", exc)
        try:
            polled = await self.tracker.poll()
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - one bad poll must not stop the loop
            self._error("whale_poll", exc)
            polled = PollResult(())
        for whale_trade in polled.trades:
            outcome = await self.handle(whale_trade)
            outcomes.append(outcome)
            if self._fatal is not None or self.gate.should_exit:
                break
        if self._fatal is None:
            await self._settle_if_due()
        self._report(polled)
        return outcomes

    async def handle(self, whale_trade: WhaleTrade) -> CopyOutcome:
        """Decide on one whale trade and, if everything allows it, copy it (at most once)."""
        trade = whale_trade.trade
        key = trade.key
        if key in self._handled:
            return self._outcome(key, DUPLICATE, "already handled")
        self._handled[key] = None
        while len(self._handled) > _HANDLED_LIMIT:
            self._handled.popitem(last=False)
        client_order_id = copy_order_id(trade)
        if self.db.order_by_client_id(client_order_id) is not None:
            return self._outcome(key, DUPLICATE, f"copy {client_order_id} already ordered")
        token = trade.token_id
        if self.db.open_trades(token):
            return self._outcome(key, POSITION_OPEN, f"already holding token {token[:16]}")
        if not trade.condition_id:
            return self._outcome(key, NO_MARKET_ID, "the trade names no market (condition id)")
        try:
            market = await self.client.get_market(trade.condition_id, token)
            book = await self.client.get_orderbook(token)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - this trade is skipped; the loop goes on
            self._error("whale_market", exc)
            return self._outcome(key, FETCH_FAILED, f"{type(exc).__name__}: {exc}")
        now = self.clock()
        decision = self.strategy.evaluate(whale_trade, market, book, now)
        if isinstance(decision, NoSignal):
            return self._outcome(key, decision.code, decision.detail)
        intent = self.size(decision, self.gate.bankroll, client_order_id)
        if intent is None:
            return self._outcome(key, SIZE_ZERO, f"bankroll ${self.gate.bankroll}")
        intent = fit_to_book(intent, book)
        if intent is None:
            return self._outcome(key, NO_DEPTH, f"nothing on offer at <= {decision.limit_price}")
        verdict = self.gate.check_order_allowed(intent)
        if not verdict.allowed:
            return self._outcome(key, f"{KILL_SWITCH}:{verdict.reason}", verdict.detail)
        # Recorded before the order: a fill must never exist without the market needed to settle it.
        self.db.record_token_market(token, trade.condition_id, now, outcome=trade.outcome, title=trade.title)
        return await self._send(key, intent, decision)

    async def _send(self, key: tuple[str, str, str], intent: OrderIntent, signal: Signal) -> CopyOutcome:
        try:
            order = await self.executor.execute(intent)
        except asyncio.CancelledError:
            raise
        except OrderRefused as refused:
            return self._outcome(key, f"{KILL_SWITCH}:{refused.verdict.reason}", refused.verdict.detail)
        except TradeLogError as exc:
            log.error("%s; stopping Polymarket paper trading: fix the disk or permissions, then restart", exc)
            self._record_error("trade_log", str(exc))
            self._fatal = EXIT_ERROR
            return self._outcome(key, ORDER_FAILED, str(exc))
        except Exception as exc:  # noqa: BLE001 - the executor recorded what it knows; keep running
            self._error("whale_order", exc)
            return self._outcome(key, ORDER_FAILED, f"{type(exc).__name__}: {exc}")
        if order.filled_count <= 0:
            self.out(f"  [POLY PAPER] no fill: token {intent.ticker[:16]} moved above {intent.limit_price}")
            return self._outcome(key, NO_FILL, f"nothing filled at <= {intent.limit_price}", order)
        avg = order.avg_fill_price.quantize(Decimal("0.0001")) if order.avg_fill_price is not None else "-"
        self.out(
            f"  [POLY PAPER] COPIED {qty(order.filled_count)} x token {intent.ticker[:16]} @ {avg} "
            f"(fees ${order.fees}) edge {intent.edge}: {signal.reason}"
        )
        return self._outcome(key, COPIED, signal.reason, order)

    async def _settle_if_due(self) -> None:
        now = self.clock()
        if now < self._next_settle:
            return
        self._next_settle = now + self.timing.settle_interval_s
        try:
            report = await self.settler.settle_due()
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - retried on the next settlement pass
            self._error("whale_settlement", exc)
            return
        for message in report.errors:
            self.errors += 1
            self._record_error("whale_settlement", message)
        for t in report.settled:
            self.out(
                f"  [POLY PAPER] SETTLED token {t.ticker[:16]} x{qty(t.count)}: "
                f"{'won' if t.outcome == 'yes' else 'lost'}, P&L ${t.pnl} -> bankroll ${t.bankroll_after}"
            )

    # -- accounting -----------------------------------------------------------------------------

    def _outcome(
        self, key: tuple[str, str, str], code: str, detail: str = "", order: Order | None = None
    ) -> CopyOutcome:
        self.counts[code] += 1
        self.last_code = code
        log.info("whale trade %s %s: %s %s", key[0][:12], key[1][:12], code, detail)
        return CopyOutcome(key, code, detail, order)

    def _error(self, source: str, exc: BaseException) -> None:
        self.errors += 1
        message = f"{type(exc).__name__}: {exc}"
        log.warning("%s failed: %s", source, message)
        self._record_error(source, message)

    def _record_error(self, source: str, message: str) -> None:
        record_error(self.db, self.clock(), source, message)

    def status_line(self, new_trades: int = 0) -> str:
        state = str(self.gate.status().state)
        return (
            f"[POLY PAPER] whales {len(self.tracker.whales)} | new trades {new_trades} | "
            f"copied {self.counts[COPIED]} | open {len(self.db.open_trades())} | "
            f"bankroll ${self.gate.bankroll.quantize(CENT)} | kill switch {state} | "
            f"errors {self.errors} | last {self.last_code}"
        )

    def _report(self, polled: PollResult) -> None:
        now = self.clock()
        if polled.failed_wallets:
            self.errors += len(polled.failed_wallets)
        self.out(self.status_line(len(polled.trades)))
        status = self.gate.status()
        values = {
            "mode": "polymarket_paper",
            "heartbeat_ts": repr(now),
            "why_not_trading": self.last_code,
            "kill_state": str(status.state),
            "kill_reason": status.reason,
            "bankroll": str(self.gate.bankroll),
        }
        write_health(self.db, values, now)

