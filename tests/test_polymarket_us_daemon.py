"""Polymarket US whale copying end to end: international whales, mapped to US markets, paper and live, against fakes."""

from __future__ import annotations

import asyncio
import io
from collections.abc import AsyncIterator, Callable
from decimal import Decimal
from pathlib import Path

import pytest

from src.app.poly_us_daemon import confirm_live, run_polymarket, run_polymarket_us
from src.config import AppConfig, Secrets, Settings, UserConfig
from src.db import Database, PolymarketDatabase, db_path_for
from src.model.exit_codes import EXIT_LIVE_REFUSED, EXIT_OK, EXIT_USAGE
from src.model.file_locations import us_db_path, us_risk_root
from src.model.models import Mode, Side
from tests.fakes.polymarket_data_server import FakeDataApi, leaderboard_row, trade_row
from tests.fakes.polymarket_server import DATA_HOST, connector_factory
from tests.fakes.polymarket_us_server import (
    API_HOST,
    GATEWAY_HOST,
    FakePolymarketUS,
    UsBook,
    moneyline_market,
)

T0 = 1_780_000_000
WHALE = "0x" + "a1" * 20
WHALE2 = "0x" + "b2" * 20
EVENT = "nfl-lac-ten-2026-12-07"
US_SLUG = f"aec-{EVENT}"  # LAC_TEN, the market conftest's us_fake lists
EVENT2 = "nfl-car-gb-2026-12-07"
US_SLUG2 = f"aec-{EVENT2}"


def tx(n: int) -> str:
    return "0x" + f"{n:064x}"


def intl_trade(wallet: str, n: int, ts: int, *, event: str, outcome: str, price: float, slug: str | None = None,
               side: str = "BUY") -> dict:  # fmt: skip
    row = trade_row(wallet, tx(n), ts, side=side, asset=str(10**70 + n), price=price, outcome=outcome,
                    condition="0x" + f"{n:064x}")  # fmt: skip
    row.update(slug=slug or event, eventSlug=event, title=f"{event} {outcome}")
    return row


def settings(root: Path, key: tuple[str, str] | None, *, venue: str = "us") -> Settings:
    app = AppConfig.model_validate({"platforms": {"polymarket": {
        "enabled": True, "venue": venue, "reads_per_s": 100, "max_attempts": 2, "request_timeout_s": 3,
        "whale": {"min_pnl_usd": "10000", "min_trades": 3, "max_inactive_days": 7, "poll_interval_s": 5,
                  "min_liquidity_usd": "10", "max_delay_s": 120, "assumed_edge": "0.10"},
    }}})  # fmt: skip
    secrets = {"POLYMARKET_KEY_ID": key[0], "POLYMARKET_SECRET_KEY": key[1]} if key else {}
    return Settings(app, UserConfig(starting_bankroll_usd=Decimal("100")), Secrets(secrets), root)


@pytest.fixture
def us(us_fake: FakePolymarketUS) -> FakePolymarketUS:
    us_fake.markets[US_SLUG2] = moneyline_market(US_SLUG2, ("Panthers", "Carolina Panthers", "car"),
                                                 ("Packers", "Green Bay Packers", "gb"))  # fmt: skip
    for slug in (US_SLUG, US_SLUG2):
        us_fake.books[slug] = UsBook(bids=[(Decimal("0.40"), Decimal("120")), (Decimal("0.38"), Decimal("50"))],
                                     offers=[(Decimal("0.42"), Decimal("75")), (Decimal("0.45"), Decimal("300"))])
    us_fake.commission_rate = Decimal("0.02")
    return us_fake


@pytest.fixture
async def data_api(us_tls) -> AsyncIterator[FakeDataApi]:
    server = FakeDataApi(us_tls)
    server.leaderboard = [leaderboard_row(WHALE, 50_000, 1), leaderboard_row(WHALE2, 40_000, 2)]
    for wallet, base in ((WHALE, 100), (WHALE2, 200)):
        for i in range(3):
            server.add_trade(intl_trade(wallet, base + i, T0 - 1000 * (i + 1), event="old-event", outcome="Yes",
                                        price=0.5))  # fmt: skip
    await server.start()
    yield server
    await server.stop()


class Script:
    """The loop's pause: advances the clock, runs the next step, stops after the last."""

    def __init__(self, clock, stop: asyncio.Event, steps: list[Callable[[], None]]) -> None:
        self.clock, self.stop, self.steps = clock, stop, list(steps)

    async def __call__(self, seconds: float) -> None:
        self.clock.advance(seconds)
        if self.steps:
            self.steps.pop(0)()
        else:
            self.stop.set()


async def run(root, cfg, us_tls, us, data_api, clock, steps, out, *, mode=Mode.PAPER, confirmed=False) -> int:
    stop = asyncio.Event()
    return await run_polymarket_us(
        cfg, root, stop=stop, mode=mode, clock=clock,
        us_connector_factory=connector_factory(us_tls, {API_HOST: us.port, GATEWAY_HOST: us.port}),
        data_connector_factory=connector_factory(us_tls, {DATA_HOST: data_api.port}),
        out=out.append, sleep=Script(clock, stop, steps), live_confirmed=confirmed,
    )  # fmt: skip


def rows(db: Database, sql: str) -> list[tuple]:
    return [tuple(r) for r in db._conn.execute(sql).fetchall()]


async def test_paper_copies_mapped_buys_on_the_real_us_book_and_skips_the_unmatched(tmp_path, us_tls, us, data_api,
                                                                                    clock, us_key):  # fmt: skip
    clock.now = float(T0)
    out: list[str] = []

    def whales_trade() -> None:
        now = int(clock())
        data_api.add_trade(intl_trade(WHALE, 1, now - 2, event=EVENT, outcome="Chargers", price=0.43))
        data_api.add_trade(intl_trade(WHALE2, 2, now - 1, event=EVENT2, outcome="Packers", price=0.61))
        data_api.add_trade(intl_trade(WHALE, 3, now - 1, event=EVENT, outcome="Titans", price=0.55,
                                      slug=f"{EVENT}-spread-home-2pt5"))  # fmt: skip
        data_api.add_trade(intl_trade(WHALE2, 4, now, event="nba-bos-lal-2026-12-07", outcome="Celtics", price=0.5))

    def games_end() -> None:
        us.markets[US_SLUG]["market"]["closed"] = True
        us.markets[US_SLUG2]["market"]["closed"] = True
        us.settlements[US_SLUG] = Decimal("1")   # Chargers (long) won
        us.settlements[US_SLUG2] = Decimal("1")  # Panthers (long) won: the Packers copy (short) lost
        clock.advance(60)

    code = await run(tmp_path, settings(tmp_path, us_key), us_tls, us, data_api, clock, [whales_trade, games_end], out)
    assert code == EXIT_OK
    db = PolymarketDatabase(us_db_path(tmp_path, Mode.PAPER))
    try:
        orders = {o.ticker: o for o in db.orders_with_status("executed", "canceled")}
        long, short = orders[US_SLUG], orders[US_SLUG2]
        assert (long.side, long.limit_price, long.avg_price) == (Side.YES, Decimal("0.43"), Decimal("0.42"))
        # Packers are the SHORT side of the Panthers market: NO costs 1 - best YES bid = 0.60.
        assert (short.side, short.limit_price, short.avg_price) == (Side.NO, Decimal("0.61"), Decimal("0.60"))
        settled = {t.ticker: t for t in db.settled_trades()}
        assert settled[US_SLUG].result == "yes" and settled[US_SLUG].pnl > 0
        assert settled[US_SLUG2].result == "yes" and settled[US_SLUG2].pnl < 0
        activity = rows(db, "SELECT intl_slug, outcome, us_slug, us_side, code FROM whale_activity ORDER BY id")
        assert activity == [
            (EVENT, "Chargers", US_SLUG, "yes", "copied"),
            (f"{EVENT}-spread-home-2pt5", "Titans", "", "", "no_us_mapping"),  # oldest first, then by wallet
            (EVENT2, "Packers", US_SLUG2, "no", "copied"),
            ("nba-bos-lal-2026-12-07", "Celtics", "", "", "no_us_market"),
        ]
        assert db.health()["mode"][0] == "polymarket_us_paper"
    finally:
        db.close()
    assert us.created == [] and us.hits("/v1/orders") == []  # paper: no order endpoint, ever
    assert us.auth_failures == []
    assert any("[POLY US PAPER] COPIED" in line for line in out)
    assert not db_path_for(tmp_path, Mode.PAPER).exists()  # Kalshi's paper file untouched
    assert us_risk_root(tmp_path, Mode.PAPER).is_dir()


async def test_paper_needs_no_key_but_live_does(tmp_path, us_tls, us, data_api, clock, capsys):
    clock.now = float(T0)
    assert await run(tmp_path, settings(tmp_path, None), us_tls, us, data_api, clock, [], []) == EXIT_OK
    code = await run(tmp_path, settings(tmp_path, None), us_tls, us, data_api, clock, [], [], mode=Mode.LIVE,
                     confirmed=True)  # fmt: skip
    assert code == EXIT_USAGE
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "POLYMARKET_KEY_ID" in err[0]


async def test_live_trades_a_mapped_whale_buy_once_after_confirmation(tmp_path, us_tls, us, data_api, clock, us_key):
    clock.now = float(T0)
    out: list[str] = []

    def whale_buys() -> None:
        data_api.add_trade(intl_trade(WHALE, 1, int(clock()) - 2, event=EVENT, outcome="Titans", price=0.62))

    cfg = settings(tmp_path, us_key)
    code = await run(tmp_path, cfg, us_tls, us, data_api, clock, [whale_buys], out, mode=Mode.LIVE, confirmed=True)
    assert code == EXIT_OK
    assert len(us.created) == 1
    body = us.created[0]
    assert (body["marketSlug"], body["intent"], body["price"]) == (US_SLUG, "ORDER_INTENT_BUY_SHORT",
                                                                    {"value": "0.38", "currency": "USD"})
    db = PolymarketDatabase(us_db_path(tmp_path, Mode.LIVE))
    try:
        (order,) = db.orders_with_status("executed")
        assert order.side is Side.NO and order.avg_price == Decimal("0.60") and order.fees > 0
        assert us.positions[US_SLUG] == -order.filled_count
        assert db.health()["mode"][0] == "polymarket_us_live"
    finally:
        db.close()
    assert any("reconciliation ok" in line for line in out)
    assert any("[POLY US LIVE] COPIED" in line for line in out)
    # A second run sees the same whale trade as history: nothing is sent again.
    assert await run(tmp_path, cfg, us_tls, us, data_api, clock, [], [], mode=Mode.LIVE, confirmed=True) == EXIT_OK
    assert len(us.created) == 1


async def test_live_without_confirmation_and_international_live_are_refused(tmp_path, us_key, clock, capsys):
    stop = asyncio.Event()
    assert await run_polymarket_us(settings(tmp_path, us_key), tmp_path, stop=stop, mode=Mode.LIVE,
                                   clock=clock) == EXIT_LIVE_REFUSED  # fmt: skip
    assert await run_polymarket(settings(tmp_path, us_key, venue="international"), tmp_path, stop=stop,
                                mode=Mode.LIVE, clock=clock) == EXIT_LIVE_REFUSED  # fmt: skip
    assert not (tmp_path / "data").exists()


def test_the_typed_confirmation_names_polymarket_us() -> None:
    out = io.StringIO()
    assert confirm_live(True, lambda _prompt: "LIVE", out) is None
    assert "P O L Y M A R K E T   U S" in out.getvalue()
    assert "not the word LIVE" in (confirm_live(True, lambda _p: "yes", io.StringIO()) or "")
    assert "no terminal" in (confirm_live(False, lambda _p: "LIVE", io.StringIO()) or "")

    def eof(_prompt: str) -> str:
        raise EOFError

    assert "no Polymarket US confirmation" in (confirm_live(True, eof, io.StringIO()) or "")

    def interrupted(_prompt: str) -> str:
        raise KeyboardInterrupt

    assert "no Polymarket US confirmation" in (confirm_live(True, interrupted, io.StringIO()) or "")
    # The typed word may carry the terminal's newline and spaces, but nothing else.
    assert confirm_live(True, lambda _p: "  LIVE\n", io.StringIO()) is None
    assert confirm_live(True, lambda _p: "live", io.StringIO()) is not None
    # Without a terminal nobody is asked and no banner is printed.
    asked: list[str] = []
    silent = io.StringIO()
    assert confirm_live(False, lambda p: asked.append(p) or "LIVE", silent) is not None
    assert asked == [] and silent.getvalue() == ""


@pytest.mark.parametrize(("venue", "env_extra", "code", "words"), [
    ("international", "", EXIT_LIVE_REFUSED, "international venue is paper-only"),
    ("us", "", EXIT_USAGE, "POLYMARKET_KEY_ID"),
    ("us", "POLYMARKET_KEY_ID=4f1e2d3c-5b6a-4798-8a9b-0c1d2e3f4a5b\nPOLYMARKET_SECRET_KEY=bm90IGEga2V5\n",
     EXIT_USAGE, "POLYMARKET_SECRET_KEY decodes to"),
])  # fmt: skip
def test_main_live_refuses_in_one_line_before_any_network(tmp_path, monkeypatch, capsys, daemon_env, venue,
                                                          env_extra, code, words) -> None:  # fmt: skip
    import main
    from tests.fakes.fault_project import make_project

    root = make_project(tmp_path, config={"platforms": {"polymarket": {"enabled": True, "venue": venue}}},
                        env_text="KALSHI_API_KEY_ID=k\nKALSHI_PRIVATE_KEY_PATH=/nonexistent.pem\n"
                                 f"LIVE_TRADING=true\n{env_extra}")  # fmt: skip
    monkeypatch.setattr("sys.stdin.isatty", lambda: True)
    assert main.main(["--live"], root=root) == code
    err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(err) == 1 and words in err[0], err
    assert "bm90IGEga2V5" not in err[0]
    assert not us_db_path(root, Mode.LIVE).exists()


async def test_live_lost_answer_is_resolved_by_the_loop_and_never_resent(tmp_path, us_tls, us, data_api, clock, us_key):
    clock.now = float(T0)
    us.order_faults = ["drop"]  # applied at the venue, then the connection is cut

    def whale_buys() -> None:
        data_api.add_trade(intl_trade(WHALE, 1, int(clock()) - 2, event=EVENT, outcome="Chargers", price=0.43))

    steps = [whale_buys] + [lambda: None] * 14  # 70 s of passes: past the next settlement pass
    code = await run(tmp_path, settings(tmp_path, us_key), us_tls, us, data_api, clock, steps, [], mode=Mode.LIVE,
                     confirmed=True)  # fmt: skip
    assert code == EXIT_OK
    assert len(us.created) == 1 and len(us.hits("/v1/orders")) == 1
    db = PolymarketDatabase(us_db_path(tmp_path, Mode.LIVE))
    try:
        (order,) = db.orders_with_status("executed")
        assert order.filled_count == us.positions[US_SLUG] and order.avg_price == Decimal("0.42")
        assert rows(db, "SELECT code FROM whale_activity") == [("order_pending",)]
    finally:
        db.close()


def resting_order(order_id: str, now: float) -> dict:
    from tests.fakes.polymarket_us_server import amount, iso

    return {"id": order_id, "marketSlug": US_SLUG, "side": "ORDER_SIDE_BUY", "type": "ORDER_TYPE_LIMIT",
            "price": amount("0.10"), "quantity": 5, "cumQuantity": 0, "leavesQuantity": 5,
            "tif": "TIME_IN_FORCE_GOOD_TILL_CANCEL", "intent": "ORDER_INTENT_BUY_LONG", "state": "ORDER_STATE_NEW",
            "avgPx": None, "commissionNotionalTotalCollected": amount("0"), "createTime": iso(now),
            "insertTime": iso(now)}  # fmt: skip


@pytest.mark.parametrize("misses", [1, 100])
async def test_live_hard_stop_cancel_all_is_checked_retried_and_reported(tmp_path, us_tls, us, data_api, clock, us_key,
                                                                        capsys, misses) -> None:  # fmt: skip
    """A HARD STOP (a lock from /halt) while an order rests; the venue's cancel-all answers "done" but
    cancels nothing. Before: one bare cancel whose result nobody read. Now: a read of the open orders
    checks it, each failed round is said on the console and in the lock and BLOCKERS.md, and it is
    retried until none rests or the rounds run out (then: cancel by hand)."""
    from src.risk.lockfile import read_lock, write_lock

    clock.now = float(T0)
    us.cancel_all_misses = misses
    ks_root = us_risk_root(tmp_path, Mode.LIVE)

    def halt_while_an_order_rests() -> None:
        us.orders["ord-rest-1"] = resting_order("ord-rest-1", clock())
        write_lock(ks_root, {"version": 1, "reason": "remote_halt", "message": "HARD STOP requested remotely",
                             "figures": {"mode": "live"}})  # fmt: skip
        data_api.add_trade(intl_trade(WHALE, 1, int(clock()) - 2, event=EVENT, outcome="Titans", price=0.62))

    code = await run(tmp_path, settings(tmp_path, us_key), us_tls, us, data_api, clock, [halt_while_an_order_rests], [],
                     mode=Mode.LIVE, confirmed=True)  # fmt: skip
    assert code == 3 and us.created == []  # the order was refused by the stop
    err = capsys.readouterr().err
    lock = read_lock(ks_root)
    assert lock is not None and lock.data is not None and lock.data["reason"] == "remote_halt"
    entry = lock.data["cancel_all"]
    assert "1 order(s) STILL REST on Polymarket US: ord-rest-1" in err
    if misses == 1:
        assert len(us.hits("/v1/orders/open/cancel")) == 2
        assert entry["ok"] is True and entry["round"] == 2
        assert us.orders["ord-rest-1"]["state"] == "ORDER_STATE_CANCELED"
        assert not (ks_root / "BLOCKERS.md").exists()
    else:
        assert len(us.hits("/v1/orders/open/cancel")) == 8
        assert entry["ok"] is False and entry["round"] == 8 and "ord-rest-1" in entry["detail"]
        assert "CANCEL THEM BY HAND on the Polymarket US app" in err
        assert "CANCEL THEM BY HAND" in (ks_root / "BLOCKERS.md").read_text()


@pytest.mark.parametrize(("argv", "venue", "mode", "reset"), [
    (["--live"], "us", Mode.LIVE, "--mode polymarket-us-live"),
    ([], "us", Mode.PAPER, "--mode polymarket-us-paper"),
    ([], "international", Mode.PAPER, "--mode polymarket"),
])  # fmt: skip
def test_main_refuses_at_step_1_on_a_polymarket_lock_before_anyone_types_live(tmp_path, monkeypatch, capsys,
                                                                               daemon_env, argv, venue, mode,
                                                                               reset) -> None:  # fmt: skip
    """Before: only Kalshi's lock was checked at step 1; the owner typed LIVE twice, then Polymarket US
    found its own lock and returned 3 while Kalshi kept trading. Now the run refuses up front, exit 3."""
    import main
    from src.app.poly_daemon import polymarket_risk_root
    from src.risk.lockfile import write_lock
    from tests.fakes.fault_project import make_project

    root = make_project(tmp_path, config={"platforms": {"polymarket": {"enabled": True, "venue": venue}}},
                        env_text="KALSHI_API_KEY_ID=k\nKALSHI_PRIVATE_KEY_PATH=/nonexistent.pem\nLIVE_TRADING=true\n")
    where = us_risk_root(root, mode) if venue == "us" else polymarket_risk_root(root)
    write_lock(where, {"version": 1, "reason": "remote_halt", "message": "HARD STOP requested remotely"})
    monkeypatch.setattr("sys.stdin.isatty", lambda: True)

    def no_typing(_prompt: str = "") -> str:
        raise AssertionError("asked to type before the lock was checked")

    monkeypatch.setattr("builtins.input", no_typing)
    assert main.main(argv, root=root) == 3
    err = capsys.readouterr().err
    assert "REFUSING TO START: the kill switch is locked (remote_halt" in err and str(where) in err
    assert f"python main.py --reset-killswitch {reset}\n" in err
    assert not db_path_for(root, mode).exists() and not us_db_path(root, mode).exists()
