"""Benchmark of the dashboard's first render over a database of 100,000 trades, against an empty database.

The fixture is a paper-mode database in a temp project root: the schema comes from src/db.Database
(its migrations), the rows are bulk-inserted with executemany in the shapes Database writes
(Decimal strings for money): 100k orders, fills and trades (one per 15-minute window, ~2.9 years,
the last three still open), one bankroll_history row per settlement, daily_pnl per UTC day, the
health keys of a running bot, a few kill switch events and errors.

Each render runs `AppTest.from_file("src/dashboard.py").run()` in a FRESH Python process (with
POLYBOT_ROOT pointing at the fixture root), so the timed first render includes what a person's
first page load pays: running the script, its imports (pandas, altair), the SQLite reads and
building every element. The reference is the same first render on an empty database of the same
schema, in its own fresh process. A second render in the same process (a new browser session on
a warm server) is reported too.
"""

from __future__ import annotations

import json
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
if __package__ in (None, ""):
    # Run as `python bench/bench_dashboard.py`: make the repository root importable.
    sys.path.insert(0, str(REPO_ROOT))

from src.db import Database, db_path_for  # noqa: E402
from src.model.kxbtc15m import WINDOW_S, market_ticker, window_open  # noqa: E402
from src.model.models import Mode  # noqa: E402

TARGET_S = 3.0
TRADES = 100_000
OPEN_TRADES = 3
STARTING = Decimal("100.00")
DASHBOARD = REPO_ROOT / "src" / "dashboard.py"
RENDER_TIMEOUT_S = 120.0


# ---------------------------------------------------------------------------------------- fixture


def make_root(base: Path) -> Path:
    """A project root as the dashboard expects it: data/, config.yaml, USER_CONFIG.json."""
    root = base / "proj"
    (root / "data").mkdir(parents=True, exist_ok=True)
    (root / "config.yaml").write_text("dashboard:\n  refresh_s: 5\n", encoding="utf-8")
    (root / "USER_CONFIG.json").write_text(json.dumps({"owner": "bench", "starting_bankroll_usd": str(STARTING)}))
    return root


def _pnl(i: int) -> Decimal:
    # Three wins then two losses: a slightly winning record with the kill switch never involved.
    return Decimal("1.10") if i % 5 < 3 else Decimal("-1.50")


def build_database(path: Path, trades: int, now: float) -> dict[str, Any]:
    """Create the schema with Database, then bulk-insert `trades` trades ending now; returns a summary."""
    Database(path).close()
    first_open = window_open(now) - (trades - 1) * WINDOW_S
    orders, fills, trade_rows, bankroll_rows = [], [], [], [(first_open - 60, str(STARTING), "start")]
    daily: dict[str, list[Any]] = {}
    bankroll = STARTING
    count, price, fee = Decimal("5"), Decimal("0.4500"), Decimal("0.09")
    cost = count * price
    for i in range(trades):
        opened = first_open + i * WINDOW_S + 30.0
        close = first_open + (i + 1) * WINDOW_S
        ticker = market_ticker(close)
        side = "yes" if i % 2 == 0 else "no"
        order_id = i + 1
        orders.append((order_id, f"bench-{order_id}", f"venue-{order_id}", ticker, side, str(count), str(price),
                       "filled", str(count), str(price), str(fee), "btc_lag", 0.61, "0.12", opened, opened))
        fills.append((order_id, f"fill-{order_id}", ticker, side, str(count), str(price), str(fee), opened))
        if i >= trades - OPEN_TRADES:
            trade_rows.append((order_id, ticker, side, str(count), str(price), str(cost), str(fee), "btc_lag",
                               opened, "open", None, None, None, None))
            continue
        pnl = _pnl(i)
        won = pnl > 0
        bankroll += pnl
        settled = close + 5.0
        trade_rows.append((order_id, ticker, side, str(count), str(price), str(cost), str(fee), "btc_lag", opened,
                           "settled", side if won else ("no" if side == "yes" else "yes"),
                           str(count if won else Decimal(0)), str(pnl), settled))
        bankroll_rows.append((settled, str(bankroll), f"settled trade {order_id}"))
        day = time.strftime("%Y-%m-%d", time.gmtime(settled))
        entry = daily.setdefault(day, [Decimal(0), Decimal(0), 0, 0, 0, settled])
        entry[0] += pnl
        entry[1] += fee
        entry[2] += 1
        entry[3 if won else 4] += 1
        entry[5] = settled
    health = {
        "mode": "paper", "started_ts": str(now - 3600), "heartbeat_ts": str(now - 1), "feed_source": "binance",
        "btc_price": "97123.45", "feed_last_tick_ts": str(now - 1), "feed_stale": "0",
        "kalshi_last_call_ts": str(now - 2), "market_ticker": market_ticker(window_open(now) + WINDOW_S),
        "market_close_ts": str(window_open(now) + WINDOW_S), "floor_strike": "97000.00",
        "why_not_trading": "position_open", "kill_state": "active", "kill_reason": "ok",
        "kill_since_ts": str(now - 3600), "bankroll": str(bankroll), "starting_bankroll": str(STARTING),
    }
    conn = sqlite3.connect(str(path), isolation_level=None)
    try:
        conn.execute("BEGIN")
        conn.executemany(
            "INSERT INTO orders (id, client_order_id, venue_order_id, ticker, side, count, limit_price, status,"
            " filled_count, avg_price, fees, strategy, fair_prob, edge, created_ts, updated_ts)"
            " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)", orders)
        conn.executemany(
            "INSERT INTO fills (order_id, fill_id, ticker, side, count, price, fee, ts) VALUES (?,?,?,?,?,?,?,?)",
            fills)
        conn.executemany(
            "INSERT INTO trades (order_id, ticker, side, count, avg_price, cost, fees, strategy, opened_ts, status,"
            " result, payout, pnl, settled_ts) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)", trade_rows)
        conn.executemany("INSERT INTO bankroll_history (ts, bankroll, reason) VALUES (?,?,?)", bankroll_rows)
        conn.executemany(
            "INSERT INTO daily_pnl (day, realized_pnl, fees, trades, wins, losses, updated_ts) VALUES (?,?,?,?,?,?,?)",
            [(day, str(e[0]), str(e[1]), e[2], e[3], e[4], e[5]) for day, e in daily.items()])
        conn.executemany("INSERT INTO health (key, value, ts) VALUES (?,?,?)",
                         [(k, v, now - 1) for k, v in health.items()])
        conn.executemany("INSERT INTO kill_switch_events (ts, kind, reason, detail) VALUES (?,?,?,?)", [
            (now - 90_000, "cooling", "consecutive_losses", '{"losses": 5}'),
            (now - 82_800, "reset", "cooling_elapsed", "{}"),
        ])
        conn.executemany("INSERT INTO errors (ts, source, message) VALUES (?,?,?)", [
            (now - 600, "kalshi", "HTTP 503 from GET /markets (retried)"),
            (now - 7200, "feed", "websocket closed, reconnecting"),
        ])
        conn.execute("COMMIT")
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        conn.close()
    return {"trades": trades, "open_trades": OPEN_TRADES, "days": len(daily), "bankroll": str(bankroll),
            "bytes": path.stat().st_size}


# ---------------------------------------------------------------------------------------- rendering


def render_in_this_process(root: str) -> dict[str, Any]:
    """Child-process body: time a first and a second AppTest render of the dashboard over `root`."""
    from streamlit.testing.v1 import AppTest

    os.environ["POLYBOT_ROOT"] = root
    sys.argv = ["dashboard.py", "--mode", "paper"]
    times = []
    for _ in range(2):
        start = time.perf_counter()
        at = AppTest.from_file(str(DASHBOARD), default_timeout=RENDER_TIMEOUT_S)
        at.run()
        times.append(time.perf_counter() - start)
        problems = [str(e.value) for e in at.exception] + [str(e.value) for e in at.error]
        if problems:
            raise RuntimeError(f"the dashboard rendered an error: {problems[0][:200]}")
    return {"first_s": times[0], "second_s": times[1], "subheaders": [s.value for s in at.subheader],
            "dataframes": len(at.dataframe)}


def render_fresh(root: Path) -> dict[str, Any]:
    """One fresh Python process renders the dashboard twice; returns its timings (and what it drew)."""
    code = ("import json, sys; from bench.bench_dashboard import render_in_this_process; "
            "print(json.dumps(render_in_this_process(sys.argv[1])))")
    proc = subprocess.run([sys.executable, "-c", code, str(root)], cwd=REPO_ROOT, capture_output=True, text=True,
                          timeout=RENDER_TIMEOUT_S * 3)
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        raise RuntimeError(f"dashboard render process failed (exit {proc.returncode}): {last}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def run(quick: bool = False) -> dict[str, Any]:
    """First-render seconds with 100k trades vs an empty database (median of fresh processes)."""
    repeats = 1 if quick else 3
    with tempfile.TemporaryDirectory(prefix="bench-dashboard-") as tmp:
        full_root, empty_root = make_root(Path(tmp) / "full"), make_root(Path(tmp) / "empty")
        started = time.perf_counter()
        fixture = build_database(db_path_for(full_root, Mode.PAPER), TRADES, time.time())
        fixture["build_s"] = round(time.perf_counter() - started, 3)
        Database(db_path_for(empty_root, Mode.PAPER)).close()
        full, empty = [], []
        for _ in range(repeats):  # interleaved: both see the same machine load
            empty.append(render_fresh(empty_root))
            full.append(render_fresh(full_root))
    if "Last 10 trades" not in full[0]["subheaders"] or full[0]["dataframes"] < 2:
        raise RuntimeError(f"the 100k-trade render is missing its tables: {full[0]['subheaders']}")
    first = statistics.median(r["first_s"] for r in full)
    reference = statistics.median(r["first_s"] for r in empty)
    return {
        "trades": TRADES,
        "fixture": fixture,
        "repeats": repeats,
        "first_render_s": round(first, 3),
        "first_render_empty_db_s": round(reference, 3),
        "ratio_vs_empty": round(first / reference, 3),
        "second_render_s": round(statistics.median(r["second_s"] for r in full), 3),
        "second_render_empty_db_s": round(statistics.median(r["second_s"] for r in empty), 3),
        "all_first_render_s": [round(r["first_s"], 3) for r in full],
        "target_s": TARGET_S,
        "meets_target": first < TARGET_S,
    }


if __name__ == "__main__":
    print(json.dumps(run(quick="--quick" in sys.argv[1:]), indent=2))
