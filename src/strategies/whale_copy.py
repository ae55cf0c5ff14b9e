"""Decide whether to copy a qualified Polymarket whale's new trade: a Signal to buy the same token, or a coded refusal.

The copy buys the outcome token the whale bought, paying at most what the whale paid (rounded down
to the cent, a price every Polymarket tick size except 0.1 accepts). On the international CLOB an
outcome token is its own binary claim paying $1, so the Signal's ticker is the token id and its
side YES ("buy this token"). On Polymarket US the trade arrives mapped to the US market (ticker =
its slug) and the side of it that backs the whale's outcome (`WhaleTrade.side`, YES = long, NO =
short); the same rules then apply to that side's asks. Which outcome it is travels in the reason.

Refusals, in the order they are checked (each a reason code):
  disabled, whale_not_qualified, whale_sell (we copy entries, not exits), book_mismatch,
  market_closed, too_late (trade older than max_delay_s), price_out_of_band (whale's price
  outside [min_price, max_price]), book_empty, price_too_high (the best ask has moved above the
  whale's price), low_liquidity (less than min_liquidity_usd on the ask side at or under our
  limit), edge_too_small (the assumed edge does not survive the taker fee).

Copying has no probability model of its own, yet sizing's Kelly needs one: a qualified whale is
credited with `assumed_edge` of probability over its own fill price (config, default 0.03), so
fair = whale price + assumed_edge. Polymarket's taker fee per share is fee_rate x p x (1 - p);
pass the market's rate as `taker_fee_rate` (0 by default).
"""

from __future__ import annotations

from decimal import ROUND_DOWN, Decimal
from typing import ClassVar

from src.config import WhaleConfig
from src.data.whale_tracker import WhaleTrade
from src.model.models import CENT, ONE, ZERO, Market, NoSignal, OrderBook, Side, Signal
from src.strategies.base import (
    BOOK_EMPTY,
    BOOK_MISMATCH,
    COMMON_REASON_CODES,
    DISABLED,
    EDGE_TOO_SMALL,
    MARKET_CLOSED,
    PRICE_TOO_HIGH,
    Strategy,
)

WHALE_NOT_QUALIFIED = "whale_not_qualified"
WHALE_SELL = "whale_sell"
TOO_LATE = "too_late"
PRICE_OUT_OF_BAND = "price_out_of_band"
LOW_LIQUIDITY = "low_liquidity"

OPEN_STATUSES = frozenset({"open", "active"})
_MAX_FAIR = Decimal("0.99")


def polymarket_fee_per_share(price: Decimal, fee_rate: Decimal) -> Decimal:
    """Polymarket taker fee for one share at `price`: fee_rate x p x (1 - p)."""
    return fee_rate * price * (ONE - price)


def ask_liquidity_usd(book: OrderBook, limit: Decimal, side: Side = Side.YES) -> Decimal:
    """Dollars of `side` on offer at or under `limit`."""
    return sum((lvl.price * lvl.count for lvl in book.asks(side) if lvl.price <= limit), ZERO)


class WhaleCopyStrategy(Strategy[WhaleTrade]):
    """Copy a qualified whale's buy, if it is fresh, in band, still available and liquid enough."""

    name: ClassVar[str] = "whale_copy"
    REASON_CODES: ClassVar[frozenset[str]] = COMMON_REASON_CODES | {
        WHALE_NOT_QUALIFIED,
        WHALE_SELL,
        TOO_LATE,
        PRICE_OUT_OF_BAND,
        LOW_LIQUIDITY,
    }

    def __init__(self, config: WhaleConfig, enabled: bool = True, taker_fee_rate: Decimal = ZERO) -> None:
        super().__init__()
        if config.min_price > config.max_price:
            raise ValueError(f"whale.min_price {config.min_price} is above whale.max_price {config.max_price}")
        if not ZERO <= taker_fee_rate < ONE:
            raise ValueError(f"taker_fee_rate must be in [0, 1), got {taker_fee_rate}")
        self._cfg = config
        self._enabled = enabled
        self._fee_rate = taker_fee_rate

    def evaluate(self, feed: WhaleTrade, market: Market, book: OrderBook, now: float) -> Signal | NoSignal:
        whale, trade = feed.whale, feed.trade
        cfg = self._cfg
        if not self._enabled:
            return self.no_signal(DISABLED, "platforms.polymarket.enabled is false")
        if not whale.qualified:
            return self.no_signal(WHALE_NOT_QUALIFIED, f"{whale.wallet}: {whale.reason}")
        if trade.side != "BUY":
            return self.no_signal(WHALE_SELL, f"whale {trade.side} {trade.token_id}")
        if book.ticker != trade.token_id or market.ticker != trade.token_id:
            return self.no_signal(BOOK_MISMATCH, f"trade {trade.token_id}, market {market.ticker}, book {book.ticker}")
        if market.status not in OPEN_STATUSES:
            return self.no_signal(MARKET_CLOSED, f"market status {market.status!r}")
        delay = now - trade.timestamp
        if delay > cfg.max_delay_s:
            return self.no_signal(TOO_LATE, f"trade is {delay:.0f}s old (max {cfg.max_delay_s:.0f}s)")
        limit = trade.price.quantize(CENT, rounding=ROUND_DOWN)
        if not cfg.min_price <= trade.price <= cfg.max_price or limit < cfg.min_price:
            band = f"[{cfg.min_price}, {cfg.max_price}]"
            return self.no_signal(PRICE_OUT_OF_BAND, f"whale paid {trade.price}, band {band}")
        side = feed.side
        best_ask = book.best_ask(side)
        if best_ask is None:
            return self.no_signal(BOOK_EMPTY, f"no asks for {side.value.upper()}")
        if best_ask > limit:
            return self.no_signal(PRICE_TOO_HIGH, f"best ask {best_ask} above the whale's {limit}")
        liquidity = ask_liquidity_usd(book, limit, side)
        if liquidity < cfg.min_liquidity_usd:
            detail = f"${liquidity:.2f} on offer at <= {limit} (min {cfg.min_liquidity_usd})"
            return self.no_signal(LOW_LIQUIDITY, detail)
        fair = min(trade.price + cfg.assumed_edge, _MAX_FAIR)
        edge = (fair - limit - polymarket_fee_per_share(limit, self._fee_rate)) / limit
        if edge <= 0:
            return self.no_signal(EDGE_TOO_SMALL, f"edge {edge:.4f} after fees")
        label = whale.name or whale.wallet[:10]
        return Signal(
            ticker=trade.token_id,
            side=side,
            fair_prob=float(fair),
            limit_price=limit,
            edge=edge.quantize(Decimal("0.000001"), rounding=ROUND_DOWN),
            # Fresher copies are worth more: confidence falls linearly over the allowed delay.
            confidence=max(0.0, min(1.0, 1.0 - max(delay, 0.0) / cfg.max_delay_s)),
            reason=f"copy {label} #{whale.rank}: {trade.outcome or 'token'} @ {trade.price} ({trade.title[:40]})",
            created_at=now,
            strategy=self.name,
        )
