"""The protocols executors and the main loop program against, so real and simulated venues swap."""

from __future__ import annotations

from decimal import Decimal
from typing import Any, Protocol

from src.model.models import (
    FeedSnapshot,
    Fill,
    Market,
    Order,
    OrderBook,
    OrderIntent,
    Position,
    Settlement,
    Side,
    Verdict,
)


class MarketData(Protocol):
    """Read-only market data: the Kalshi client and the simulated exchange both provide it."""

    async def get_market(self, ticker: str) -> Market: ...

    async def get_current_market(self, now: float) -> Market | None: ...

    async def get_orderbook(self, ticker: str) -> OrderBook: ...


class OrderVenue(Protocol):
    """What live execution needs from a venue (only the real Kalshi client provides it)."""

    async def place_order(
        self,
        ticker: str,
        side: Side,
        count: Decimal,
        price: Decimal,
        client_order_id: str,
        time_in_force: str = "fill_or_kill",
    ) -> Order: ...

    # Every listing is bounded by market and/or time (min_ts, epoch seconds), so its length never
    # grows with the account's age.
    async def get_order_by_client_id(
        self, client_order_id: str, ticker: str | None = None, *, min_ts: int | None = None
    ) -> Order | None: ...

    async def cancel_order(self, order_id: str) -> None: ...

    async def cancel_all_orders(self) -> None: ...

    async def get_orders(
        self, status: str | None = None, ticker: str | None = None, *, min_ts: int | None = None
    ) -> list[Order]: ...

    async def get_fills(
        self, ticker: str | None = None, *, order_id: str | None = None, min_ts: int | None = None
    ) -> list[Fill]: ...

    async def get_positions(self) -> list[Position]: ...

    async def get_settlements(self, *, ticker: str | None = None, min_ts: int | None = None) -> list[Settlement]: ...

    async def get_balance(self) -> Decimal: ...


class PriceFeed(Protocol):
    """A BTC price source: live websocket, or replay. The strategy only ever sees snapshots."""

    source: str

    async def run(self) -> None: ...

    def snapshot(self) -> FeedSnapshot: ...

    def screen_values(self) -> tuple[bool, float, bool, float, float]:
        """(stale, price, gap_in_window, move_pct, volatility) of snapshot(), without building it."""
        ...

    def stop(self) -> None: ...


class LiveBooks(Protocol):
    """Order books a venue stream keeps current (the Kalshi websocket); REST polling is the fallback."""

    async def run(self) -> None: ...

    def stop(self) -> None: ...

    def watch(self, tickers: list[str]) -> None:
        """Keep books for exactly these markets."""
        ...

    def book(self, ticker: str) -> OrderBook | None:
        """The market's book while it is whole (no seq gap since its snapshot), else None."""
        ...

    def book_age(self, ticker: str, now: float) -> float | None:
        """Seconds since the book was last known current; None when it is not whole or the stream is down."""
        ...


class OrderRefused(Exception):
    """An executor refused an order before any order action: the kill switch said no, or (live) an
    earlier order's outcome is still unknown.

    Executors check the kill switch themselves (it is the last gate before any order action), so
    they can never be called around it; `verdict` carries the reason code.
    """

    def __init__(self, verdict: Verdict) -> None:
        self.verdict = verdict
        detail = f" ({verdict.detail})" if verdict.detail else ""
        super().__init__(f"order refused: {verdict.reason}{detail}")


class Executor(Protocol):
    """Turns an approved OrderIntent into an order and records it; paper and live implement it."""

    async def execute(self, intent: OrderIntent) -> Order: ...

    async def cancel_all(self) -> int: ...


class GateStatus(Protocol):
    @property
    def state(self) -> Any: ...

    @property
    def reason(self) -> str: ...


class Gate(Protocol):
    """What a trading loop needs from its kill switch (src/risk/kill_switch.KillSwitch provides it)."""

    def check_order_allowed(self, order: OrderIntent) -> Verdict: ...

    def status(self) -> GateStatus: ...

    @property
    def bankroll(self) -> Decimal: ...

    @property
    def should_exit(self) -> bool: ...

    @property
    def exit_code(self) -> int: ...


class SettleReport(Protocol):
    @property
    def settled(self) -> tuple[Any, ...]: ...

    @property
    def errors(self) -> tuple[str, ...]: ...


class Settler(Protocol):
    """Books the P&L of positions whose markets have resolved."""

    async def settle_due(self) -> SettleReport: ...
