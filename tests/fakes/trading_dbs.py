"""Fixture databases of a running, a halted or a new bot, built with the real writer (src/db.Database)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from src.db import Database, db_path_for
from src.model.models import Fill, Mode, OrderIntent, Side
from src.reporting.dashboard_queries import utc_day_bounds

REPO = Path(__file__).resolve().parent.parent.parent
DASHBOARD = REPO / "src" / "dashboard.py"


def make_root(base: Path) -> Path:
    """A project folder with no config.yaml or USER_CONFIG.json: the dashboard reads only the database."""
    root = base / "proj"
    (root / "data").mkdir(parents=True, exist_ok=True)
    return root


@dataclass(frozen=True)
class Built:
    root: Path
    path: Path
    now: float
    day: str


_seq = iter(range(1, 10**9))


def add_trade(
    db: Database,
    *,
    ts: float,
    pnl: str | None,
    count: str = "10",
    price: str = "0.4500",
    fee: str = "0.18",
    side: Side = Side.YES,
    ticker: str = "KXBTC15M-26MAY091200-00",
    settle_after_s: float = 900.0,
    bankroll_after: Decimal | None = None,
) -> int:
    """One order, its fill and its trade; settled with `pnl` unless pnl is None."""
    n = next(_seq)
    coid = f"test-{n}"
    db.insert_order_intent(
        OrderIntent(ticker=ticker, side=side, count=Decimal(count), limit_price=Decimal(price), client_order_id=coid),
        ts,
    )
    fill = Fill(order_id=coid, ticker=ticker, side=side, count=Decimal(count), price=Decimal(price),
                fee=Decimal(fee), ts=ts, fill_id=f"f{n}")
    trade_id = db.record_execution(coid, ts, status="filled", venue_order_id=None, fills=[fill])
    assert trade_id is not None
    if pnl is not None:
        settled = ts + settle_after_s
        day = utc_day_bounds(settled)[0]
        won = Decimal(pnl) > 0
        db.settle_trade(trade_id, settled, result=side.value if won else side.other.value,
                        payout=Decimal(count) if won else Decimal(0), pnl=Decimal(pnl), day=day,
                        bankroll_after=bankroll_after or Decimal(0))
    return trade_id


NORMAL_OLD_PNLS = ("2.3700", "-1.9400", "0.8800")
NORMAL_TODAY_PNLS = ("1.2350", "-0.4150")
NORMAL_BANKROLL = Decimal("100.00") + sum(Decimal(p) for p in NORMAL_OLD_PNLS + NORMAL_TODAY_PNLS)  # 102.13


def build_normal(base: Path, mode: Mode = Mode.PAPER) -> Built:
    """A running bot: heartbeat now, kill switch active, 5 settled trades (2 today) and 1 open."""
    root = make_root(base)
    path = db_path_for(root, mode)
    now = time.time()
    day, day_start, _ = utc_day_bounds(now)
    db = Database(path)
    bankroll = Decimal("100.00")
    db.record_bankroll(now - 3 * 86400, bankroll, "start")
    for i, pnl in enumerate(NORMAL_OLD_PNLS):
        bankroll += Decimal(pnl)
        add_trade(db, ts=now - 2 * 86400 + i * 1000, pnl=pnl, bankroll_after=bankroll)
    for i, pnl in enumerate(NORMAL_TODAY_PNLS):
        bankroll += Decimal(pnl)
        # Settled inside today's UTC day whatever the hour the test runs.
        settled = day_start + (now - day_start) * (i + 1) / 3
        add_trade(db, ts=settled - 900, pnl=pnl, bankroll_after=bankroll, side=Side.NO)
    add_trade(db, ts=now - 120, pnl=None, count="7", price="0.3800", fee="0.17",
              ticker="KXBTC15M-26MAY091215-15")
    db.record_error(now - 600, "kalshi", "HTTP 503 from GET /markets (retried)")
    db.record_error(now - 7200, "feed", "websocket closed, reconnecting")
    db.record_kill_event(now - 5000, "cooling", "consecutive_losses", {"losses": 5})
    db.record_kill_event(now - 3600, "reset", "cooling_elapsed")
    db.set_health(
        {
            "mode": mode.value,
            "started_ts": str(now - 3600),
            "heartbeat_ts": str(now - 2),
            "feed_source": "binance",
            "btc_price": "97123.45",
            "feed_last_tick_ts": str(now - 1),
            "feed_stale": "0",
            "kalshi_last_call_ts": str(now - 3),
            "market_ticker": "KXBTC15M-26MAY091215-15",
            "market_close_ts": str(now + 400),
            "floor_strike": "97000.00",
            "why_not_trading": "edge_below_min",
            "kill_state": "active",
            "kill_reason": "",
            "kill_since_ts": str(now - 3600),
            "bankroll": str(bankroll),
            "starting_bankroll": "100.00",
        },
        now - 2,
    )
    db.close()
    return Built(root, path, now, day)


def build_halted(base: Path) -> Built:
    """A live bot that hit the hard stop and then stopped reporting."""
    root = make_root(base)
    path = db_path_for(root, Mode.LIVE)
    now = time.time()
    db = Database(path)
    bankroll = Decimal("100.00")
    db.record_bankroll(now - 86400, bankroll, "start")
    for i in range(6):
        bankroll += Decimal("-5.20")
        add_trade(db, ts=now - 80000 + i * 1000, pnl="-5.20", bankroll_after=bankroll)
    for i in range(3):
        db.record_error(now - 300 - i, "kalshi", "401 INCORRECT_API_KEY_SIGNATURE")
    db.record_kill_event(now - 7200, "hard_stop", "total_loss", {"loss_pct": "0.312"})
    db.set_health(
        {
            "mode": "live",
            "heartbeat_ts": str(now - 600),
            "kill_state": "hard_stopped",
            "kill_reason": "total_loss",
            "kill_since_ts": str(now - 7200),
            "why_not_trading": "kill_switch",
            "starting_bankroll": "100.00",
        },
        now - 600,
    )
    db.close()
    return Built(root, path, now, utc_day_bounds(now)[0])


def build_empty(base: Path, mode: Mode = Mode.SIM) -> Built:
    root = make_root(base)
    path = db_path_for(root, mode)
    Database(path).close()
    now = time.time()
    return Built(root, path, now, utc_day_bounds(now)[0])
