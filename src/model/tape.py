"""Values of Kalshi's public tape: one trade print and one per-minute candlestick."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from src.model.models import ONE, Side


@dataclass(frozen=True, slots=True)
class TapeTrade:
    """One public Kalshi trade. Both parties trade at the same price: `yes_price` and 1 - yes_price for NO.

    `taker_side` is the outcome the taker bought (Kalshi's taker_outcome_side): YES means a YES buyer
    lifted a resting YES ask (= a NO bid at 1 - yes_price); NO means a NO buyer hit a resting YES bid.
    """

    trade_id: str
    ticker: str
    ts: float  # created_time, epoch seconds
    yes_price: Decimal
    count: Decimal
    taker_side: Side

    def price(self, side: Side) -> Decimal:
        """The price the `side` buyer paid in this print."""
        return self.yes_price if side is Side.YES else ONE - self.yes_price


@dataclass(frozen=True, slots=True)
class Candle:
    """One Kalshi candlestick (YES-quoted): the period ends at `end_ts`; None where the period had no data."""

    ticker: str
    end_ts: float
    period_s: int
    yes_bid_close: Decimal | None
    yes_ask_close: Decimal | None
    price_close: Decimal | None
    volume: Decimal


__all__ = ["Candle", "TapeTrade"]
