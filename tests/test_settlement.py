"""Settlement: wins, losses, the greater_or_equal tie rule, bankroll, daily P&L, kill switch, idempotence."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from src.db import Database, TradeRow
from src.execution.settlement import (
    Settler,
    market_outcome,
    trade_payout,
    trade_pnl,
    utc_day,
)
from src.journal.trade_log import TradeLog
from src.model.kxbtc15m import market_ticker, window_close
from src.model.models import Fill, Market, OrderIntent, Settlement, Side, TradeResult, new_client_order_id
from src.model.strike_rule import derive_result
from tests.fakes.market_data import FakeMarketData
from tests.fakes.order_doubles import log_lines

D = Decimal
START = D("100.00")


class FakeSettlements:
    def __init__(self, items: list[Settlement] | None = None) -> None:
        self.items = items or []
        self.calls = 0
        self.tickers: list[str | None] = []

    async def get_settlements(self, *, ticker: str | None = None, min_ts: int | None = None) -> list[Settlement]:
        self.calls += 1
        self.tickers.append(ticker)
        return [s for s in self.items if ticker is None or s.ticker == ticker]


def market(ticker: str, close_ts: float, *, status: str = "settled", result: str = "yes",
           floor: str | None = "100000", value: str | None = None) -> Market:
    return Market(
        ticker=ticker, event_ticker=ticker.rsplit("-", 1)[0], status=status,
        open_time=datetime.fromtimestamp(close_ts - 900, tz=UTC), close_time=datetime.fromtimestamp(close_ts, tz=UTC),
        floor_strike=D(floor) if floor is not None else None, result=result,
        expiration_value=D(value) if value is not None else None,
    )


def add_trade(db: Database, ticker: str, side: Side, count: str, price: str, fee: str, ts: float) -> int:
    cid = new_client_order_id()
    db.insert_order_intent(OrderIntent(ticker, side, D(count), D(price), cid), ts, status="pending")
    trade_id = db.record_execution(cid, ts, status="executed", venue_order_id="v-" + cid, fills=[
        Fill(order_id="v-" + cid, ticker=ticker, side=side, count=D(count), price=D(price), fee=D(fee), ts=ts,
             fill_id="f-" + cid)])
    assert trade_id is not None
    return trade_id


@pytest.fixture
def close_ts(clock: Any) -> float:
    return window_close(clock())


@pytest.fixture
def ticker(close_ts: float) -> str:
    return market_ticker(close_ts)


class Harness:
    def __init__(self, db: Database, tlog: TradeLog, clock: Any, settlements: FakeSettlements | None = None,
                 mode: str = "paper") -> None:
        self.md = FakeMarketData()
        self.results: list[TradeResult] = []
        self.settler = Settler(self.md, db, tlog, clock, START, self.results.append, settlements=settlements,
                               mode=mode, retry_after_s=30)


def daily(db: Database) -> dict[str, sqlite3.Row]:
    conn = sqlite3.connect(db.path)
    conn.row_factory = sqlite3.Row
    try:
        return {r["day"]: r for r in conn.execute("SELECT * FROM daily_pnl")}
    finally:
        conn.close()


def bankroll_history(db: Database) -> list[Decimal]:
    conn = sqlite3.connect(db.path)
    try:
        return [D(r[0]) for r in conn.execute("SELECT bankroll FROM bankroll_history ORDER BY id")]
    finally:
        conn.close()


# -- pure rules ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("value", "winner"), [("100000.00", Side.YES), ("100000.01", Side.YES),
                                                ("99999.99", Side.NO)])
def test_greater_or_equal_tie_goes_to_yes(value: str, winner: Side) -> None:
    assert derive_result("greater_or_equal", D(value), D("100000.00")) is winner


def test_other_strike_types() -> None:
    assert derive_result("greater", D("5"), D("5")) is Side.NO
    assert derive_result("greater", D("6"), D("5")) is Side.YES
    assert derive_result("less", D("5"), None, D("5")) is Side.NO
    assert derive_result("less_or_equal", D("5"), None, D("5")) is Side.YES
    assert derive_result("between", D("5"), D("4"), D("5")) is Side.YES
    assert derive_result("between", D("6"), D("4"), D("5")) is Side.NO
    with pytest.raises(ValueError, match="unknown strike_type"):
        derive_result("custom", D("1"), D("1"))
    with pytest.raises(ValueError, match="floor_strike"):
        derive_result("greater_or_equal", D("1"), None)


def test_market_outcome_trusts_the_venue_result_over_derivation() -> None:
    # The venue says NO although value >= strike: the venue's result is what pays.
    m = market("T-1", 1.0, result="no", floor="100", value="100")
    assert market_outcome(m) == "no"
    assert market_outcome(market("T-1", 1.0, result="", floor="100", value="100")) == "yes"
    assert market_outcome(market("T-1", 1.0, status="determined", result="yes")) == "yes"
    assert market_outcome(market("T-1", 1.0, status="closed", result="")) is None
    assert market_outcome(market("T-1", 1.0, status="active", result="")) is None
    assert market_outcome(market("T-1", 1.0, result="")) is None  # final, but nothing to go on


def test_payout_and_pnl() -> None:
    assert trade_payout(Side.YES, D("5"), D("2.75"), "yes") == D("5")
    assert trade_payout(Side.NO, D("5"), D("2.75"), "yes") == 0
    assert trade_payout(Side.NO, D("5"), D("2.75"), "void") == D("2.75")
    assert trade_pnl(D("5"), D("2.75"), D("0.09")) == D("2.16")
    assert utc_day(86400 * 3 - 1) == "1970-01-03" and utc_day(86400 * 3) == "1970-01-04"


# -- booking ------------------------------------------------------------------------------------


async def test_win_books_pnl_bankroll_daily_kill_switch_and_log(
    db: Database, tlog: TradeLog, clock: Any, close_ts: float, ticker: str
) -> None:
    trade_id = add_trade(db, ticker, Side.YES, "5", "0.55", "0.09", clock())
    h = Harness(db, tlog, clock)
    h.md.markets[ticker] = market(ticker, close_ts, result="yes")
    clock.now = close_ts + 60
    report = await h.settler.settle_due()
    (s,) = report.settled
    assert (s.trade_id, s.outcome, s.payout, s.pnl, s.bankroll_after) == (trade_id, "yes", D("5"), D("2.16"),
                                                                         D("102.16"))
    assert db.open_trades() == []
    (t,) = db.settled_trades()
    # Booked a minute after the close; the result was fixed at the close, and that is its time.
    assert (t.result, t.payout, t.pnl, t.settled_ts) == ("yes", D("5"), D("2.16"), close_ts)
    assert h.settler.bankroll() == D("102.16")
    assert bankroll_history(db) == [D("102.16")]
    day = daily(db)[utc_day(close_ts)]
    assert (D(day["realized_pnl"]), D(day["fees"]), day["trades"], day["wins"], day["losses"]) == (
        D("2.16"), D("0.09"), 1, 1, 0)
    assert h.results == [TradeResult(ticker, D("2.16"), close_ts)]
    (line,) = [x for x in log_lines(tlog) if x["event"] == "settlement"]
    assert line["pnl"] == "2.16" and line["outcome"] == "yes" and line["bankroll_after"] == "102.16"


async def test_loss_books_negative_pnl(db: Database, tlog: TradeLog, clock: Any, close_ts: float, ticker: str) -> None:
    add_trade(db, ticker, Side.NO, "4", "0.40", "0.07", clock())
    h = Harness(db, tlog, clock)
    h.md.markets[ticker] = market(ticker, close_ts, result="yes")
    clock.now = close_ts + 60
    (s,) = (await h.settler.settle_due()).settled
    assert s.payout == 0 and s.pnl == D("-1.67")
    assert h.settler.bankroll() == D("98.33")
    assert h.results[0].pnl == D("-1.67")
    day = daily(db)[utc_day(clock())]
    assert (day["wins"], day["losses"]) == (0, 1)


async def test_tie_at_the_strike_pays_yes_when_result_must_be_derived(
    db: Database, tlog: TradeLog, clock: Any, close_ts: float, ticker: str
) -> None:
    add_trade(db, ticker, Side.YES, "2", "0.50", "0.04", clock())
    add_trade(db, ticker, Side.NO, "2", "0.50", "0.04", clock())
    h = Harness(db, tlog, clock)
    h.md.markets[ticker] = market(ticker, close_ts, result="", floor="97250.50", value="97250.50")
    clock.now = close_ts + 60
    report = await h.settler.settle_due()
    assert [(s.side, s.pnl) for s in report.settled] == [(Side.YES, D("0.96")), (Side.NO, D("-1.04"))]
    assert h.settler.bankroll() == START - D("0.08")


async def test_void_market_returns_cost_and_keeps_fees(
    db: Database, tlog: TradeLog, clock: Any, close_ts: float, ticker: str
) -> None:
    add_trade(db, ticker, Side.YES, "3", "0.60", "0.06", clock())
    h = Harness(db, tlog, clock)
    h.md.markets[ticker] = market(ticker, close_ts, result="void")
    clock.now = close_ts + 60
    (s,) = (await h.settler.settle_due()).settled
    assert (s.payout, s.pnl) == (D("1.80"), D("-0.06"))


async def test_bankroll_moves_trade_by_trade(db: Database, tlog: TradeLog, clock: Any, close_ts: float) -> None:
    t1, t2 = market_ticker(close_ts), market_ticker(close_ts + 900)
    add_trade(db, t1, Side.YES, "5", "0.55", "0.09", clock())  # wins +2.16
    add_trade(db, t2, Side.YES, "4", "0.50", "0.07", clock())  # loses -2.07
    h = Harness(db, tlog, clock)
    h.md.markets[t1] = market(t1, close_ts, result="yes")
    h.md.markets[t2] = market(t2, close_ts + 900, result="no")
    clock.now = close_ts + 60
    assert [s.ticker for s in (await h.settler.settle_due()).settled] == [t1]
    assert t2 not in h.md.market_requests  # not closed yet: no request at all
    clock.now = close_ts + 960
    assert [s.ticker for s in (await h.settler.settle_due()).settled] == [t2]
    assert bankroll_history(db) == [D("102.16"), D("100.09")]
    assert h.settler.bankroll() == D("100.09")
    assert [r.pnl for r in h.results] == [D("2.16"), D("-2.07")]


async def test_daily_pnl_uses_the_utc_day_of_settlement(db: Database, tlog: TradeLog, clock: Any) -> None:
    midnight = 86400 * (int(clock()) // 86400 + 1)
    t1, t2 = market_ticker(midnight - 900), market_ticker(midnight)
    add_trade(db, t1, Side.YES, "1", "0.50", "0.02", midnight - 1000)
    add_trade(db, t2, Side.YES, "1", "0.50", "0.02", midnight - 1000)
    h = Harness(db, tlog, clock)
    h.md.markets[t1] = market(t1, midnight - 900, result="yes")
    h.md.markets[t2] = market(t2, midnight, result="no")
    clock.now = midnight - 1
    await h.settler.settle_due()
    clock.now = midnight + 5
    await h.settler.settle_due()
    rows = daily(db)
    assert D(rows[utc_day(midnight - 1)]["realized_pnl"]) == D("0.48")
    assert D(rows[utc_day(midnight + 5)]["realized_pnl"]) == D("-0.52")


# -- retries and idempotence ---------------------------------------------------------------------


async def test_unsettled_market_is_retried_later(
    db: Database, tlog: TradeLog, clock: Any, close_ts: float, ticker: str
) -> None:
    add_trade(db, ticker, Side.YES, "5", "0.55", "0.09", clock())
    h = Harness(db, tlog, clock)
    h.md.markets[ticker] = market(ticker, close_ts, status="closed", result="")
    clock.now = close_ts + 5
    report = await h.settler.settle_due()
    assert report.settled == () and report.waiting == (ticker,) and report.errors == ()
    assert h.md.market_requests == [ticker]
    clock.advance(10)  # inside the retry delay: no new request
    await h.settler.settle_due()
    assert h.md.market_requests == [ticker]
    h.md.markets[ticker] = market(ticker, close_ts, result="yes")
    clock.advance(30)
    (s,) = (await h.settler.settle_due()).settled
    assert s.pnl == D("2.16") and len(h.md.market_requests) == 2
    assert len(h.results) == 1


async def test_network_failure_is_retried_not_an_error(
    db: Database, tlog: TradeLog, clock: Any, close_ts: float, ticker: str
) -> None:
    add_trade(db, ticker, Side.YES, "5", "0.55", "0.09", clock())
    h = Harness(db, tlog, clock)
    h.md.fail = TimeoutError("slow")
    clock.now = close_ts + 5
    report = await h.settler.settle_due()
    assert report.waiting == (ticker,) and report.errors == () and db.open_trades() != []


async def test_final_market_without_a_result_is_reported(
    db: Database, tlog: TradeLog, clock: Any, close_ts: float, ticker: str
) -> None:
    add_trade(db, ticker, Side.YES, "5", "0.55", "0.09", clock())
    h = Harness(db, tlog, clock)
    h.md.markets[ticker] = market(ticker, close_ts, result="scalar")
    clock.now = close_ts + 5
    report = await h.settler.settle_due()
    assert report.settled == () and report.waiting == (ticker,)
    assert len(report.errors) == 1 and "no usable result" in report.errors[0]


async def test_settling_twice_never_double_counts(
    db: Database, tlog: TradeLog, clock: Any, close_ts: float, ticker: str
) -> None:
    add_trade(db, ticker, Side.YES, "5", "0.55", "0.09", clock())
    stale = db.open_trades()

    class StaleDb:
        """A second settler that still sees the trade open (e.g. read before the first one booked it)."""

        def __getattr__(self, name: str) -> Any:
            return getattr(db, name)

        def open_trades(self, ticker: str | None = None) -> list[TradeRow]:
            return stale

    h1 = Harness(db, tlog, clock)
    h2 = Harness(StaleDb(), tlog, clock)  # type: ignore[arg-type]
    for h in (h1, h2):
        h.md.markets[ticker] = market(ticker, close_ts, result="yes")
    clock.now = close_ts + 60
    assert len((await h1.settler.settle_due()).settled) == 1
    assert (await h2.settler.settle_due()).settled == ()
    assert (await h1.settler.settle_due()).settled == ()
    assert h2.results == [] and len(h1.results) == 1
    assert h1.settler.bankroll() == D("102.16")
    assert bankroll_history(db) == [D("102.16")]
    assert daily(db)[utc_day(clock())]["trades"] == 1
    assert len([x for x in log_lines(tlog) if x["event"] == "settlement"]) == 1


# -- live: the venue's settlement is the truth -----------------------------------------------------


async def test_live_waits_for_the_venue_settlement(
    db: Database, tlog: TradeLog, clock: Any, close_ts: float, ticker: str
) -> None:
    add_trade(db, ticker, Side.YES, "5", "0.55", "0.09", clock())
    venue = FakeSettlements()
    h = Harness(db, tlog, clock, venue, mode="live")
    h.md.markets[ticker] = market(ticker, close_ts, result="yes")
    clock.now = close_ts + 60
    report = await h.settler.settle_due()
    assert report.settled == () and report.waiting == (ticker,)
    venue.items.append(Settlement(ticker, "yes", D("5"), clock(), yes_count=D("5"), cost=D("2.75"), fees=D("0.09")))
    clock.advance(31)
    (s,) = (await h.settler.settle_due()).settled
    assert s.pnl == D("2.16")
    assert db.errors_since(0) == 0
    assert not [x for x in log_lines(tlog) if x["event"] == "settlement_mismatch"]


async def test_live_mismatch_is_an_error_and_the_venue_figure_wins(
    db: Database, tlog: TradeLog, clock: Any, close_ts: float, ticker: str
) -> None:
    add_trade(db, ticker, Side.YES, "3", "0.55", "0.05", clock())
    add_trade(db, ticker, Side.YES, "2", "0.55", "0.04", clock())
    # Computed: payout 5 - cost 2.75 - fees 0.09 = 2.16. The venue charged 0.11 in fees: 2.14.
    venue = FakeSettlements([Settlement(ticker, "yes", D("5.00"), clock(), yes_count=D("5"), cost=D("2.75"),
                                        fees=D("0.11"))])
    h = Harness(db, tlog, clock, venue, mode="live")
    h.md.markets[ticker] = market(ticker, close_ts, result="yes")
    clock.now = close_ts + 60
    report = await h.settler.settle_due()
    assert [s.pnl for s in report.settled] == [D("1.30"), D("0.84")]  # 1.30 + (0.86 - 0.02)
    assert sum(s.pnl for s in report.settled) == D("2.14")
    assert h.settler.bankroll() == D("102.14")
    assert db.errors_since(0) == 1
    (mismatch,) = [x for x in log_lines(tlog) if x["event"] == "settlement_mismatch"]
    assert mismatch["computed_pnl"] == "2.16" and mismatch["venue_pnl"] == "2.14"
    assert [r.pnl for r in h.results] == [D("1.30"), D("0.84")]
    for t in db.settled_trades():
        assert t.pnl == t.payout - t.cost - t.fees  # the books still add up trade by trade


# -- against the fake Kalshi server -------------------------------------------------------------------


async def test_live_settlement_from_the_fake_server_matches_the_venue(
    rsa_private_key: Any, db: Database, tlog: TradeLog, clock: Any
) -> None:
    import time

    from src.execution.live import LiveExecutor
    from src.model.models import Verdict
    from tests.fakes.kalshi_server import start_fake_kalshi

    async with start_fake_kalshi(rsa_private_key) as server:
        m = server.fake.add_kxbtc15m_market(time.time(), floor_strike="95000")
        server.fake.set_book(m.ticker, yes=[("0.40", "10")], no=[("0.50", "10"), ("0.55", "3")])
        async with server.client() as client:
            ex = LiveExecutor(client, db, tlog, clock, lambda i: Verdict(True))
            await ex.execute(OrderIntent(m.ticker, Side.YES, D("5"), D("0.50"), new_client_order_id()))
            results: list[TradeResult] = []
            settler = Settler(client, db, tlog, clock, START, results.append, settlements=client, mode="live")
            clock.now = m.close_ts + 30
            assert (await settler.settle_due()).settled == ()  # closed, not settled yet
            server.fake.set_market_status(m.ticker, "closed")
            clock.advance(31)
            assert (await settler.settle_due()).waiting == (m.ticker,)
            server.fake.settle(m.ticker, "yes", expiration_value="95000")
            venue_ts = float(int(server.fake.settlements[-1].ts))  # settled_time has whole seconds
            clock.advance(31)
            (s,) = (await settler.settle_due()).settled
    # 3 @ 0.45 + 2 @ 0.50 = 2.35, fees 0.06 + 0.04: payout 5 - 2.35 - 0.10; booked at the venue's time
    assert s.pnl == D("2.55") and results == [TradeResult(m.ticker, D("2.55"), venue_ts)]
    assert db.errors_since(0) == 0  # computed and venue figures agree
    assert settler.bankroll() == D("102.55")


async def test_live_both_sides_of_one_market_books_the_computed_figures(
    db: Database, tlog: TradeLog, clock: Any, close_ts: float, ticker: str
) -> None:
    add_trade(db, ticker, Side.YES, "3", "0.50", "0.06", clock())
    add_trade(db, ticker, Side.NO, "1", "0.40", "0.02", clock())
    # Kalshi netted 1 pair at once; its settlement covers YES 2 only.
    venue = FakeSettlements([Settlement(ticker, "yes", D("2"), clock(), yes_count=D("2"), cost=D("1.00"),
                                        fees=D("0.08"))])
    h = Harness(db, tlog, clock, venue, mode="live")
    h.md.markets[ticker] = market(ticker, close_ts, result="yes")
    clock.now = close_ts + 60
    report = await h.settler.settle_due()
    assert [s.pnl for s in report.settled] == [D("1.44"), D("-0.42")]
    assert h.settler.bankroll() == START + D("1.02")  # 3 paid out - 1.50 - 0.40 - 0.08 fees
    assert db.errors_since(0) == 0


# -- issue 18: defects 3 and 7 ------------------------------------------------------------------------


class FailingSettlementLog(TradeLog):
    """A trade log whose disk fails exactly when a settlement line is written."""

    def write(self, event: str, **fields: Any) -> Path:
        if event == "settlement":
            from src.journal.trade_log import TradeLogError

            raise TradeLogError("disk full (injected)")
        return super().write(event, **fields)


async def test_a_trade_log_failure_never_hides_a_settled_loss_from_the_kill_switch(
    db: Database, tmp_path: Path, clock: Any, close_ts: float, ticker: str
) -> None:
    """Defect 3: the kill switch is told in the same step as the database commit, before the trade log.

    Before the fix the trade log was written first: its failure skipped the kill switch, and as
    the trade was already settled in the database it was never booked (nor told) again."""
    from src.journal.trade_log import TradeLogError

    add_trade(db, ticker, Side.NO, "4", "0.40", "0.07", clock())
    h = Harness(db, FailingSettlementLog(tmp_path / "trades", clock), clock)
    h.md.markets[ticker] = market(ticker, close_ts, result="yes")
    clock.now = close_ts + 60
    with pytest.raises(TradeLogError):
        await h.settler.settle_due()  # propagates: the engine stops the daemon on it
    assert [r.pnl for r in h.results] == [D("-1.67")]
    assert db.open_trades() == [] and h.settler.bankroll() == START - D("1.67")


async def test_the_settlement_day_is_the_venues_not_when_the_bot_booked_it(
    db: Database, tlog: TradeLog, clock: Any
) -> None:
    """Defect 7: after downtime across midnight, yesterday's loss counts for yesterday, not today."""
    midnight = 86400 * (int(clock()) // 86400 + 1)
    close = midnight - 600  # 23:50 UTC
    t = market_ticker(close)
    add_trade(db, t, Side.YES, "4", "0.50", "0.07", close - 300)
    venue = FakeSettlements([Settlement(t, "no", D("0"), close + 60, yes_count=D("4"), cost=D("2.00"),
                                        fees=D("0.07"))])
    h = Harness(db, tlog, clock, venue, mode="live")
    h.md.markets[t] = market(t, close, result="no")
    clock.now = midnight + 3 * 3600  # the bot was down until 03:00 the next day
    (s,) = (await h.settler.settle_due()).settled
    assert s.pnl == D("-2.07") and s.settled_ts == close + 60
    rows = daily(db)
    assert utc_day(clock()) not in rows and D(rows[utc_day(close)]["realized_pnl"]) == D("-2.07")
    assert h.results == [TradeResult(t, D("-2.07"), close + 60)]
    assert venue.tickers == [t]  # bounded by the market (defect 5), never the account's whole history
