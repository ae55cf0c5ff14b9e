"""Polymarket whale-copy paper trading end to end, against local fake CLOB and Data API servers (real host names)."""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import AsyncIterator, Callable
from decimal import Decimal
from pathlib import Path

import pytest
from eth_account import Account

import src.app.poly_components as factory
import src.app.poly_daemon as daemon
from src.app.poly_daemon import polymarket_risk_root, run_polymarket_paper
from src.app.whale_loop import copy_order_id
from src.config import AppConfig, Secrets, Settings, UserConfig
from src.data.whale_tracker import parse_trades
from src.db import Database, PolymarketDatabase, db_path_for, polymarket_db_path
from src.execution.settlement import utc_day
from src.model.exit_codes import EXIT_HARD_STOP, EXIT_OK, EXIT_USAGE
from src.model.models import Fill, Mode, OrderIntent, Side
from src.risk.lockfile import write_lock
from tests.fakes.polymarket_data_server import FakeDataApi, leaderboard_row, trade_row
from tests.fakes.polymarket_server import CLOB_HOST, DATA_HOST, FakeClob, connector_factory, market_row

T0 = 1_780_000_000
TOKEN = str(7 * 10**76 + 1_321_045)
TOKEN2 = str(7 * 10**76 + 2_000_001)
OTHER = str(7 * 10**76 + 99)
CONDITION = "0x" + "dd" * 32
CONDITION2 = "0x" + "cc" * 32
WHALE = "0x" + "a1" * 20
WHALE2 = "0x" + "b2" * 20
SMALL = "0x" + "c3" * 20  # on the leaderboard, PnL too low to qualify


def tx(n: int) -> str:
    return "0x" + f"{n:064x}"


def settings(root: Path, *, enabled: bool = True, risk: dict | None = None, secrets: dict | None = None) -> Settings:
    app = AppConfig.model_validate(
        {
            "risk": risk or {},
            "platforms": {
                "polymarket": {
                    "enabled": enabled,
                    "reads_per_s": 100,
                    "max_attempts": 1,
                    "request_timeout_s": 3,
                    "whale": {
                        "min_pnl_usd": "10000",
                        "min_trades": 3,
                        "max_inactive_days": 7,
                        "poll_interval_s": 5,
                        "min_liquidity_usd": "10",
                        "max_delay_s": 120,
                        "assumed_edge": "0.10",
                    },
                }
            },
        }
    )
    keys = {"POLY_PRIVATE_KEY": "0x" + bytes(Account.create().key).hex()} if secrets is None else secrets
    return Settings(app, UserConfig(starting_bankroll_usd=Decimal("100")), Secrets(keys), root)


def book(token: str, condition: str) -> dict:
    return {
        "market": condition,
        "asset_id": token,
        "timestamp": str(T0 * 1000),
        "hash": "abc",
        "bids": [{"price": "0.38", "size": "50"}, {"price": "0.40", "size": "120"}],
        "asks": [{"price": "0.45", "size": "300"}, {"price": "0.42", "size": "75"}],
        "min_order_size": "5",
        "tick_size": "0.01",
        "neg_risk": False,
        "last_trade_price": "0.41",
    }


def market(condition: str, token: str, *, closed: bool = False, winner: str | None = None) -> dict:
    return market_row(condition, token, OTHER, closed=closed, winner=winner)


@pytest.fixture
async def clob(tls) -> AsyncIterator[FakeClob]:
    server = FakeClob(tls)
    server.books[TOKEN] = book(TOKEN, CONDITION)
    server.books[TOKEN2] = book(TOKEN2, CONDITION2)
    server.markets[CONDITION] = market(CONDITION, TOKEN)
    server.markets[CONDITION2] = market(CONDITION2, TOKEN2)
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
async def data_api(tls) -> AsyncIterator[FakeDataApi]:
    server = FakeDataApi(tls)
    server.leaderboard = [leaderboard_row(WHALE, 50_000, 1), leaderboard_row(WHALE2, 40_000, 2),
                          leaderboard_row(SMALL, 500, 3)]
    for wallet, base in ((WHALE, 100), (WHALE2, 200), (SMALL, 300)):
        for i in range(3):  # enough history to qualify, all older than the start
            server.add_trade(trade_row(wallet, tx(base + i), T0 - 1000 * (i + 1), asset=TOKEN, condition=CONDITION))
    await server.start()
    yield server
    await server.stop()


class Script:
    """The loop's pause between passes: advances the clock, runs the next scripted step, stops after the last."""

    def __init__(self, clock, stop: asyncio.Event, steps: list[Callable[[], None]]) -> None:
        self.clock = clock
        self.stop = stop
        self.steps = list(steps)
        self.pauses: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.pauses.append(seconds)
        self.clock.advance(seconds)
        if self.steps:
            self.steps.pop(0)()
        else:
            self.stop.set()


async def run(root, cfg, tls, clob, data_api, clock, steps, out: list[str]) -> int:
    stop = asyncio.Event()
    return await run_polymarket_paper(
        cfg, root, stop=stop, clock=clock,
        clob_connector_factory=connector_factory(tls, {CLOB_HOST: clob.port}),
        data_connector_factory=connector_factory(tls, {DATA_HOST: data_api.port}),
        out=out.append, sleep=Script(clock, stop, steps),
    )


def poly_db(root: Path) -> PolymarketDatabase:
    return PolymarketDatabase(polymarket_db_path(root))


def trade_log_lines(directory: Path) -> list[dict]:
    return [json.loads(line) for p in sorted(directory.glob("*.jsonl")) for line in p.read_text().splitlines()]


def file_digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def kalshi_paper_db(tmp_path: Path) -> Path:
    """Kalshi's paper database with one open trade: it must come out byte for byte the same."""
    path = db_path_for(tmp_path, Mode.PAPER)
    db = Database(path)
    intent = OrderIntent("KXBTC15M-26APR271445-45", Side.YES, Decimal("3"), Decimal("0.50"), "pb" + "9" * 32)
    db.insert_order_intent(intent, T0 - 50, status="executed")
    db.checkpoint()
    db.close()
    return path


# ------------------------------------------------------------------ the happy path


async def test_new_whale_trade_is_copied_on_paper_then_settled(tmp_path, tls, clob, data_api, clock,
                                                               kalshi_paper_db):
    clock.now = float(T0)
    kalshi_before = file_digest(kalshi_paper_db)
    out: list[str] = []

    def whale_buys() -> None:
        data_api.add_trade(trade_row(WHALE, tx(1), int(clock()) - 2, asset=TOKEN, condition=CONDITION, price=0.43))

    def market_resolves() -> None:
        clob.markets[CONDITION] = market(CONDITION, TOKEN, closed=True, winner=TOKEN)
        clock.advance(60)

    code = await run(tmp_path, settings(tmp_path), tls, clob, data_api, clock, [whale_buys, market_resolves], out)
    assert code == EXIT_OK

    db = poly_db(tmp_path)
    try:
        orders = db.orders_with_status("executed")
        assert len(orders) == 1
        order = orders[0]
        # The whale paid 0.43; the book offers 75 at 0.42. Kelly with fair 0.53 on a $100 bankroll stakes
        # $3.63 -> 8 shares at the 0.43 limit (fees included); they fill at 0.42, fee ceil(0.07*8*.42*.58).
        assert (order.ticker, order.side, order.count, order.limit_price) == (TOKEN, Side.YES, Decimal("8"),
                                                                              Decimal("0.43"))
        assert order.strategy == "whale_copy" and order.client_order_id.startswith("pb")
        assert order.filled_count == Decimal("8") and order.avg_price == Decimal("0.42")
        assert order.fees == Decimal("0.14")
        assert db.condition_for_token(TOKEN) == CONDITION
        settled = db.settled_trades()
        assert len(settled) == 1 and db.open_trades() == []
        assert settled[0].result == "yes" and settled[0].pnl == Decimal("4.50")  # 8 - 3.36 - 0.14
        # The kill switch's bankroll (written to health each pass) moved by the settled P&L.
        assert db.health()["bankroll"][0] == "104.50"
        assert db.health()["mode"][0] == "polymarket_paper"
    finally:
        db.close()

    events = [line["event"] for line in trade_log_lines(tmp_path / "logs" / "trades" / "polymarket")]
    assert events == ["order_submitted", "fill", "order_result", "settlement"]
    assert any("COPIED 8 x token" in line for line in out)
    assert any("SETTLED token" in line and "P&L $4.50" in line for line in out)
    assert clob.hits("/order", "POST") == [] and clob.posted == []  # no order endpoint, ever

    # Isolation: Kalshi's paper file, root lock and trade log are untouched.
    assert file_digest(kalshi_paper_db) == kalshi_before
    assert not (tmp_path / "kill_switch.lock").exists()
    assert list((tmp_path / "logs" / "trades").glob("*.jsonl")) == []
    assert (polymarket_risk_root(tmp_path)).is_dir()


async def test_first_poll_only_marks_existing_trades(tmp_path, tls, clob, data_api, clock):
    clock.now = float(T0)
    # A trade fresh enough to copy, already there at start: the baseline swallows it.
    data_api.add_trade(trade_row(WHALE, tx(7), T0 - 5, asset=TOKEN, condition=CONDITION, price=0.43))
    out: list[str] = []
    assert await run(tmp_path, settings(tmp_path), tls, clob, data_api, clock, [], out) == EXIT_OK
    db = poly_db(tmp_path)
    try:
        assert db.all_trades() == [] and db.orders_with_status("executed", "canceled", "failed", "pending") == []
    finally:
        db.close()
    assert clob.hits("/book") == [] and clob.hits(f"/markets/{CONDITION}") == []
    assert any("2 of 3 wallets qualify" in line for line in out)
    assert any("new trades 0" in line for line in out)


async def test_trade_refused_by_a_filter_makes_no_order(tmp_path, tls, clob, data_api, clock):
    clock.now = float(T0)
    out: list[str] = []

    def whale_trades() -> None:
        data_api.add_trade(trade_row(WHALE, tx(1), int(clock()) - 2, asset=TOKEN, condition=CONDITION,
                                     price=0.97))  # outside the [0.05, 0.95] band
        data_api.add_trade(trade_row(WHALE2, tx(2), int(clock()) - 1, asset=TOKEN, condition=CONDITION,
                                     side="SELL"))  # exits are not copied

    assert await run(tmp_path, settings(tmp_path), tls, clob, data_api, clock, [whale_trades], out) == EXIT_OK
    db = poly_db(tmp_path)
    try:
        assert db.all_trades() == [] and db.order_by_client_id("x") is None
        assert db.orders_with_status("executed", "canceled", "failed", "pending") == []
    finally:
        db.close()
    assert any("new trades 2" in line and "last whale_sell" in line for line in out)
    assert not (tmp_path / "logs" / "trades" / "polymarket").exists()


async def test_kill_switch_refusing_stops_orders(tmp_path, tls, clob, data_api, clock):
    clock.now = float(T0)
    out: list[str] = []

    def two_whales_buy() -> None:
        data_api.add_trade(trade_row(WHALE, tx(1), int(clock()) - 3, asset=TOKEN, condition=CONDITION, price=0.43))
        data_api.add_trade(trade_row(WHALE2, tx(2), int(clock()) - 2, asset=TOKEN2, condition=CONDITION2,
                                     price=0.43))

    cfg = settings(tmp_path, risk={"max_trades_per_hour": 1})
    assert await run(tmp_path, cfg, tls, clob, data_api, clock, [two_whales_buy], out) == EXIT_OK
    db = poly_db(tmp_path)
    try:
        tickers = [o.ticker for o in db.orders_with_status("executed", "canceled", "failed", "pending")]
        assert tickers == [TOKEN]  # the second copy was refused before any order was written
    finally:
        db.close()
    assert any("last kill_switch:rate_limit" in line for line in out)


async def test_one_copy_per_whale_trade_and_per_token(tmp_path, tls, clob, data_api, clock):
    clock.now = float(T0)
    out: list[str] = []
    already = parse_trades([trade_row(WHALE2, tx(9), T0, asset=TOKEN2, condition=CONDITION2, price=0.43)])[0]
    db = poly_db(tmp_path)
    # A copy ordered by an earlier run (its client_order_id is derived from the whale trade).
    db.insert_order_intent(OrderIntent(TOKEN2, Side.YES, Decimal("1"), Decimal("0.43"), copy_order_id(already)),
                           T0 - 100, status="failed")
    db.close()

    def trades() -> None:
        now = int(clock())
        # Two whales buying in the same transaction (both makers against one taker): one trade, one copy.
        data_api.add_trade(trade_row(WHALE, tx(1), now - 3, asset=TOKEN, condition=CONDITION, price=0.43))
        data_api.add_trade(trade_row(WHALE2, tx(1), now - 3, asset=TOKEN, condition=CONDITION, price=0.43))

    def more() -> None:
        now = int(clock())
        data_api.add_trade(trade_row(WHALE, tx(3), now - 1, asset=TOKEN, condition=CONDITION, price=0.43))  # held
        data_api.add_trade(trade_row(WHALE2, tx(9), now, asset=TOKEN2, condition=CONDITION2, price=0.43))

    assert await run(tmp_path, settings(tmp_path), tls, clob, data_api, clock, [trades, more], out) == EXIT_OK
    db = poly_db(tmp_path)
    try:
        executed = db.orders_with_status("executed")
        assert [o.ticker for o in executed] == [TOKEN] and len(db.all_trades()) == 1
    finally:
        db.close()
    statuses = [line for line in out if line.startswith("[POLY PAPER] whales")]
    assert "last duplicate" in statuses[1]  # the second whale's report of tx 1
    assert "last duplicate" in statuses[2]  # tx 9 was copied by the earlier run
    assert len(clob.hits("/book")) == 2  # the copy's own fetch + the paper executor's fresh book; no more


async def test_errors_are_counted_never_fatal(tmp_path, tls, clob, data_api, clock):
    clock.now = float(T0)
    out: list[str] = []

    def whale_buys_unknown_market() -> None:
        data_api.add_trade(trade_row(WHALE, tx(1), int(clock()) - 2, asset=TOKEN, condition="0x" + "ee" * 32,
                                     price=0.43))  # the fake CLOB answers 404 for this market

    def whale_buys() -> None:
        data_api.add_trade(trade_row(WHALE, tx(2), int(clock()) - 2, asset=TOKEN, condition=CONDITION, price=0.43))

    code = await run(tmp_path, settings(tmp_path), tls, clob, data_api, clock, [whale_buys_unknown_market, whale_buys],
                     out)
    assert code == EXIT_OK
    db = poly_db(tmp_path)
    try:
        assert [o.ticker for o in db.orders_with_status("executed")] == [TOKEN]  # the next trade still copied
        assert db.errors_since(0) == 1
    finally:
        db.close()
    assert any("errors 1 | last fetch_failed" in line for line in out)


# ------------------------------------------------------------------ start-up


async def test_disabled_constructs_nothing_and_returns_zero(tmp_path, monkeypatch, clock):
    def forbidden(*_a, **_k):
        raise AssertionError("constructed while disabled")

    for name in ("PolymarketClient", "WhaleTracker", "WhaleCopyStrategy"):
        monkeypatch.setattr(factory, name, forbidden)
    for name in ("PolymarketDatabase", "KillSwitch", "PaperExecutor", "PolySettler", "WhaleCopyLoop", "TradeLog"):
        monkeypatch.setattr(daemon, name, forbidden)
    stop = asyncio.Event()  # never set: a disabled run must return at once anyway
    code = await asyncio.wait_for(run_polymarket_paper(settings(tmp_path, enabled=False), tmp_path, stop=stop,
                                                       clock=clock, out=forbidden), timeout=5)
    assert code == EXIT_OK
    assert not (tmp_path / "data").exists() and not (tmp_path / "logs").exists()


async def test_missing_key_is_one_clean_line(tmp_path, clock, capsys):
    stop = asyncio.Event()
    code = await run_polymarket_paper(settings(tmp_path, secrets={}), tmp_path, stop=stop, clock=clock)
    assert code == EXIT_USAGE
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "POLY_PRIVATE_KEY is missing" in err[0]
    assert not polymarket_db_path(tmp_path).exists()


async def test_polymarket_lock_refuses_to_start_without_any_request(tmp_path, tls, clob, data_api, clock, capsys):
    write_lock(polymarket_risk_root(tmp_path), {"reason": "total_loss", "at": "then", "message": "test"})
    out: list[str] = []
    code = await run(tmp_path, settings(tmp_path), tls, clob, data_api, clock, [], out)
    assert code == EXIT_HARD_STOP
    assert clob.requests == [] and data_api.requests == []
    assert "REFUSING TO START" in capsys.readouterr().err



async def test_polymarket_hard_stop_locks_only_its_own_kill_switch(tmp_path, tls, clock, clob, data_api, capsys):
    clock.now = float(T0)
    db = poly_db(tmp_path)
    # An old $29 loss (three days ago): with the copy's loss the total passes 30% of the $100 bankroll.
    old = OrderIntent(TOKEN2, Side.YES, Decimal("50"), Decimal("0.58"), "pb" + "8" * 32, strategy="whale_copy")
    db.insert_order_intent(old, T0 - 3 * 86_400, status="pending")
    fill = Fill("paper-x", TOKEN2, Side.YES, Decimal("50"), Decimal("0.58"), Decimal("0"), T0 - 3 * 86_400, "f")
    trade_id = db.record_execution(old.client_order_id, T0 - 3 * 86_400, status="executed", venue_order_id="paper-x",
                                   fills=[fill])
    db.settle_trade(trade_id, T0 - 3 * 86_400 + 60, result="no", payout=Decimal("0"), pnl=Decimal("-29"),
                    day=utc_day(T0 - 3 * 86_400 + 60), bankroll_after=Decimal("71"))
    db.close()
    out: list[str] = []

    def whale_buys() -> None:
        data_api.add_trade(trade_row(WHALE, tx(1), int(clock()) - 2, asset=TOKEN, condition=CONDITION, price=0.43))

    def market_resolves_against_us() -> None:
        clob.markets[CONDITION] = market(CONDITION, TOKEN, closed=True, winner=OTHER)
        clock.advance(60)

    code = await run(tmp_path, settings(tmp_path), tls, clob, data_api, clock, [whale_buys, market_resolves_against_us],
                     out)
    assert code == EXIT_HARD_STOP
    assert (polymarket_risk_root(tmp_path) / "kill_switch.lock").exists()
    assert (polymarket_risk_root(tmp_path) / "KILL_SWITCH_EVENT.log").exists()
    assert not (tmp_path / "kill_switch.lock").exists() and not (tmp_path / "KILL_SWITCH_EVENT.log").exists()
    assert "HARD STOP (total_loss)" in capsys.readouterr().err
    db = poly_db(tmp_path)
    try:
        # The $71 bankroll sizes the copy at 5 shares (Kelly $2.58), filled at 0.42: -29 - (2.10 + 0.09).
        assert db.realized_pnl() == Decimal("-31.19")
    finally:
        db.close()


async def test_production_pause_ends_as_soon_as_stop_is_set(tmp_path, tls, clob, data_api, clock):
    clock.now = float(T0)
    stop = asyncio.Event()
    out: list[str] = []

    def record(line: str) -> None:
        out.append(line)
        if line.startswith("[POLY PAPER] whales"):
            stop.set()  # during the first pass: the 5 s pause must not be waited out

    loop = asyncio.get_running_loop()
    started = loop.time()
    code = await run_polymarket_paper(
        settings(tmp_path), tmp_path, stop=stop, clock=clock,
        clob_connector_factory=connector_factory(tls, {CLOB_HOST: clob.port}),
        data_connector_factory=connector_factory(tls, {DATA_HOST: data_api.port}), out=record,
    )
    assert code == EXIT_OK and loop.time() - started < 3
    assert sum(line.startswith("[POLY PAPER] whales") for line in out) == 1
