"""WhaleCopyStrategy: a qualified whale's fresh buy becomes a Signal; every refusal carries its reason code."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from src.config import WhaleConfig
from src.data.whale_tracker import INACTIVE, QUALIFIED, TradeRow, Whale, WhaleTrade
from src.model.models import BookLevel, Market, NoSignal, OrderBook, Side, Signal
from src.risk.sizing import intent_from_signal
from src.strategies.base import BOOK_EMPTY, BOOK_MISMATCH, DISABLED, EDGE_TOO_SMALL, MARKET_CLOSED, PRICE_TOO_HIGH
from src.strategies.whale_copy import (
    LOW_LIQUIDITY,
    PRICE_OUT_OF_BAND,
    TOO_LATE,
    WHALE_NOT_QUALIFIED,
    WHALE_SELL,
    WhaleCopyStrategy,
    ask_liquidity_usd,
    polymarket_fee_per_share,
)

TOKEN = "987654321"
NOW = 1_780_000_000.0
CFG = WhaleConfig(
    min_price=Decimal("0.05"),
    max_price=Decimal("0.95"),
    min_liquidity_usd=Decimal("100"),
    max_delay_s=120,
    assumed_edge=Decimal("0.03"),
)
WHALE = Whale("0x" + "a1" * 20, "bigfish", 3, Decimal("250000"), Decimal("1e6"), 80, NOW - 60, QUALIFIED)


def d(x: str) -> Decimal:
    return Decimal(x)


def book(asks: list[tuple[str, str]], bids: list[tuple[str, str]] = (), ticker: str = TOKEN) -> OrderBook:
    """A Polymarket token book in the shared OrderBook shape: token asks are NO bids at 1 - price."""
    no_bids = sorted((BookLevel(1 - d(p), d(c)) for p, c in asks), key=lambda lv: lv.price)
    yes_bids = sorted((BookLevel(d(p), d(c)) for p, c in bids), key=lambda lv: lv.price)
    return OrderBook(ticker, tuple(yes_bids), tuple(no_bids))


def market(status: str = "open", ticker: str = TOKEN) -> Market:
    t = datetime(2026, 12, 31, tzinfo=UTC)
    return Market(ticker, "0x" + "cd" * 32, status, t, t, None)


def whale_trade(price: str = "0.42", side: str = "BUY", ts: float = NOW - 30, whale: Whale = WHALE) -> WhaleTrade:
    row = TradeRow(
        whale.wallet, "0x" + "11" * 32, TOKEN, "0x" + "cd" * 32, side, "Yes", 0, d("500"), d(price), ts, "Will it?"
    )
    return WhaleTrade(whale, row)


GOOD_BOOK = book([("0.41", "200"), ("0.42", "300"), ("0.50", "1000")], [("0.39", "100")])


def test_fresh_qualified_buy_becomes_a_signal():
    strategy = WhaleCopyStrategy(CFG)
    result = strategy.evaluate(whale_trade(), market(), GOOD_BOOK, NOW)
    assert isinstance(result, Signal)
    assert result.ticker == TOKEN and result.side is Side.YES
    assert result.limit_price == d("0.42")
    assert result.fair_prob == pytest.approx(0.45)
    assert result.edge == (d("0.03") / d("0.42")).quantize(d("0.000001"), rounding="ROUND_DOWN")
    assert result.confidence == pytest.approx(0.75)  # 30 s of a 120 s budget used
    assert result.strategy == "whale_copy" and result.created_at == NOW
    assert "bigfish" in result.reason and "Yes" in result.reason


def test_signal_goes_through_the_shared_sizing():
    signal = WhaleCopyStrategy(CFG).evaluate(whale_trade(), market(), GOOD_BOOK, NOW)
    assert isinstance(signal, Signal)
    intent = intent_from_signal(signal, Decimal("100"))
    assert intent is not None and intent.count >= 1
    assert intent.max_cost <= Decimal("5.00")
    assert intent.strategy == "whale_copy"


def test_whale_price_is_rounded_down_to_the_cent():
    result = WhaleCopyStrategy(CFG).evaluate(whale_trade("0.4275"), market(), GOOD_BOOK, NOW)
    assert isinstance(result, Signal) and result.limit_price == d("0.42")


REFUSALS = [
    ("disabled", lambda: (WhaleCopyStrategy(CFG, enabled=False), whale_trade(), market(), GOOD_BOOK, NOW), DISABLED),
    (
        "not qualified",
        lambda: (WhaleCopyStrategy(CFG), whale_trade(whale=replace(WHALE, reason=INACTIVE)), market(), GOOD_BOOK, NOW),
        WHALE_NOT_QUALIFIED,
    ),
    ("sell", lambda: (WhaleCopyStrategy(CFG), whale_trade(side="SELL"), market(), GOOD_BOOK, NOW), WHALE_SELL),
    (
        "book for another token",
        lambda: (WhaleCopyStrategy(CFG), whale_trade(), market(), book([("0.40", "999")], ticker="1"), NOW),
        BOOK_MISMATCH,
    ),
    (
        "market for another token",
        lambda: (WhaleCopyStrategy(CFG), whale_trade(), market(ticker="1"), GOOD_BOOK, NOW),
        BOOK_MISMATCH,
    ),
    ("closed", lambda: (WhaleCopyStrategy(CFG), whale_trade(), market("closed"), GOOD_BOOK, NOW), MARKET_CLOSED),
    (
        "too late",
        lambda: (WhaleCopyStrategy(CFG), whale_trade(ts=NOW - 121), market(), GOOD_BOOK, NOW),
        TOO_LATE,
    ),
    (
        "below band",
        lambda: (WhaleCopyStrategy(CFG), whale_trade("0.04"), market(), book([("0.03", "99999")]), NOW),
        PRICE_OUT_OF_BAND,
    ),
    (
        "above band",
        lambda: (WhaleCopyStrategy(CFG), whale_trade("0.96"), market(), book([("0.90", "99999")]), NOW),
        PRICE_OUT_OF_BAND,
    ),
    (
        "band edge lost by cent rounding",
        lambda: (
            WhaleCopyStrategy(replace_cfg(min_price=d("0.055"))),
            whale_trade("0.058"),
            market(),
            book([("0.04", "99999")]),
            NOW,
        ),
        PRICE_OUT_OF_BAND,
    ),
    ("no asks", lambda: (WhaleCopyStrategy(CFG), whale_trade(), market(), book([], [("0.40", "9")]), NOW), BOOK_EMPTY),
    (
        "ask moved up",
        lambda: (WhaleCopyStrategy(CFG), whale_trade(), market(), book([("0.43", "99999")]), NOW),
        PRICE_TOO_HIGH,
    ),
    (
        "thin book",
        lambda: (WhaleCopyStrategy(CFG), whale_trade(), market(), book([("0.41", "100"), ("0.42", "100")]), NOW),
        LOW_LIQUIDITY,
    ),
    (
        "fee eats the edge",
        lambda: (WhaleCopyStrategy(CFG, taker_fee_rate=d("0.25")), whale_trade(), market(), GOOD_BOOK, NOW),
        EDGE_TOO_SMALL,
    ),
]


@pytest.mark.parametrize(("name", "setup", "code"), REFUSALS, ids=[r[0] for r in REFUSALS])
def test_each_refusal_has_its_reason_code(name, setup, code):
    strategy, trade, mkt, bk, now = setup()
    result = strategy.evaluate(trade, mkt, bk, now)
    assert isinstance(result, NoSignal), name
    assert result.code == code
    assert result.code in strategy.REASON_CODES
    assert strategy.generate_signal(trade, mkt, bk, now) is None
    assert strategy.last_no_signal == result


def test_delay_exactly_at_the_limit_is_still_copied():
    result = WhaleCopyStrategy(CFG).evaluate(whale_trade(ts=NOW - 120), market(), GOOD_BOOK, NOW)
    assert isinstance(result, Signal) and result.confidence == 0.0


def test_liquidity_counts_only_asks_at_or_under_the_limit():
    bk = book([("0.41", "200"), ("0.42", "300"), ("0.43", "1000")])
    assert ask_liquidity_usd(bk, d("0.42")) == d("0.41") * 200 + d("0.42") * 300
    assert ask_liquidity_usd(bk, d("0.40")) == 0


def test_fee_formula():
    assert polymarket_fee_per_share(d("0.5"), d("0.02")) == d("0.005")
    assert polymarket_fee_per_share(d("0.5"), d("0")) == 0


def test_fair_probability_is_capped():
    cfg = replace_cfg(assumed_edge=Decimal("0.5"))
    result = WhaleCopyStrategy(cfg).evaluate(whale_trade("0.90"), market(), book([("0.90", "99999")]), NOW)
    assert isinstance(result, Signal) and result.fair_prob == pytest.approx(0.99)


def replace_cfg(**changes) -> WhaleConfig:
    return CFG.model_copy(update=changes)


def test_bad_construction():
    with pytest.raises(ValueError):
        WhaleCopyStrategy(replace_cfg(min_price=Decimal("0.9"), max_price=Decimal("0.1")))
    with pytest.raises(ValueError):
        WhaleCopyStrategy(CFG, taker_fee_rate=Decimal("-0.1"))
