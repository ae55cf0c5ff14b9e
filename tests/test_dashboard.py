"""Dashboard tests: every panel through Streamlit's AppTest on empty, normal and halted databases."""

from __future__ import annotations

import os
import re
import sqlite3
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from src.dashboard import (
    BANNERS,
    RESET_COMMAND,
    cli_mode,
    fmt_age,
    fmt_count,
    fmt_money,
    fmt_pct,
    fmt_price,
)
from src.db import Database, db_path_for
from src.model.models import Mode
from src.reporting.dashboard_queries import (
    DashboardDataError,
    NoDatabase,
    PageSettings,
    connect_readonly,
    most_recent_mode,
    read_bankroll_points,
    read_page_settings,
    read_snapshot,
    utc_day_bounds,
)
from tests.fakes.trading_dbs import (
    DASHBOARD,
    NORMAL_BANKROLL,
    REPO,
    Built,
    add_trade,
    build_empty,
    build_halted,
    build_normal,
    make_root,
)

APP_TIMEOUT_S = 60


# -- AppTest helpers -----------------------------------------------------------------------------


def run_app(root: Path, monkeypatch: pytest.MonkeyPatch, argv: list[str] | None = None) -> AppTest:
    monkeypatch.setenv("POLYBOT_ROOT", str(root))
    monkeypatch.setattr("sys.argv", ["dashboard.py", *(argv or [])])
    at = AppTest.from_file(str(DASHBOARD), default_timeout=APP_TIMEOUT_S)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def banner(at: AppTest) -> str:
    found = [m.value for m in at.markdown if "polybot-banner" in m.value]
    assert len(found) == 1
    return found[0]


def metric(at: AppTest, label_start: str) -> str:
    found = [m.value for m in at.metric if m.label.startswith(label_start)]
    assert len(found) == 1, [m.label for m in at.metric]
    return found[0]


def metric_label(at: AppTest, label_start: str) -> str:
    return next(m.label for m in at.metric if m.label.startswith(label_start))


def captions(at: AppTest) -> str:
    return "\n".join(c.value for c in at.caption)


def markdowns(at: AppTest) -> list[str]:
    return [m.value for m in at.markdown]


def subheaders(at: AppTest) -> list[str]:
    return [s.value for s in at.subheader]


def charts(at: AppTest) -> list[object]:
    return list(at.get("vega_lite_chart"))


def tip_lines(at: AppTest) -> list[str]:
    assert "Tips" in [h.value for h in at.sidebar.subheader]
    return [c.value for c in at.sidebar.caption if c.value.startswith("• ")]


# -- panels on the three fixture databases ---------------------------------------------------------


def test_normal_database_shows_every_panel(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    built = build_normal(tmp_path)
    at = run_app(built.root, monkeypatch)

    assert 'data-mode="paper"' in banner(at) and "PAPER MODE" in banner(at)
    assert "SYNTHETIC BOOK" not in banner(at)  # real Kalshi books
    assert BANNERS[Mode.PAPER][0] in banner(at)
    assert at.sidebar.selectbox[0].value == "paper"

    (ok,) = at.success
    assert "Kill switch: ACTIVE" in ok.value
    assert not at.error

    assert NORMAL_BANKROLL == Decimal("102.13")
    assert metric(at, "Bankroll") == "$102.13"
    assert "Stage 2 ($100–$250)" in captions(at)
    assert "start $100.00 + realised +$2.13" in captions(at)

    shown_day = re.search(r"\((\d{4}-\d{2}-\d{2}) UTC\)", metric_label(at, "Today's P&L")).group(1)
    today_expected = "+$0.82" if shown_day == built.day else "$0.00"  # the UTC day may roll mid-test
    assert metric(at, "Today's P&L") == today_expected
    if shown_day == built.day:
        assert "2 settled today: 1 won, 1 lost" in captions(at)

    assert metric(at, "Win rate") == "60.0%"
    assert "3 won, 2 lost of 5 settled" in captions(at)
    assert metric(at, "Open positions") == "1"
    assert "$2.66 at stake" in captions(at)

    assert re.fullmatch(r"\d{1,2} s ago", metric(at, "Heartbeat"))
    assert re.fullmatch(r"\d{1,2} s ago", metric(at, "Last feed tick"))
    assert re.fullmatch(r"\d{1,2} s ago", metric(at, "Last Kalshi call"))
    assert metric(at, "Errors, last hour") == "1"
    assert "**Why not trading:** `edge_below_min`" in markdowns(at)
    assert "BTC: 97123.45" in captions(at) and "market: KXBTC15M-26MAY091215-15" in captions(at)
    assert not at.warning  # heartbeat fresh, feed not stale

    assert {"Kill switch", "System health", "Bankroll over time", "P&L per trade", "Open positions",
            "Last 10 trades"} <= set(subheaders(at))
    line, bars = charts(at)
    assert '"line"' in line.proto.spec and '"bar"' in bars.proto.spec

    frames = [d.value for d in at.dataframe]
    events, open_positions, last_trades = frames[0], frames[-2], frames[-1]
    assert list(events["kind"]) == ["reset", "cooling"]  # newest first
    (kill_events,) = [e for e in at.expander if e.label == "Latest kill switch events (2)"]
    assert not kill_events.proto.expanded  # folded away while trading is allowed
    assert list(open_positions["contracts"]) == ["7"] and list(open_positions["cost"]) == ["$2.66"]
    assert list(open_positions["avg price"]) == ["$0.38"]
    assert len(last_trades) == 6
    assert list(last_trades["P&L"]) == ["", "-$0.42", "+$1.24", "+$0.88", "-$1.94", "+$2.37"]
    assert list(last_trades["status"])[0] == "open"

    for state in ("active", "cooling", "rate_paused", "daily_halted", "halted", "hard_stopped"):
        assert any(tip.startswith(f"• **{state}**:") for tip in tip_lines(at)), state
    assert any(RESET_COMMAND in tip for tip in tip_lines(at))
    assert "(read-only)" in captions(at)


def test_halted_database_shows_hard_stop_and_how_to_reset(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    built = build_halted(tmp_path)
    at = run_app(built.root, monkeypatch)

    assert 'data-mode="live"' in banner(at) and "LIVE MODE" in banner(at) and "REAL MONEY" in banner(at)
    assert BANNERS[Mode.LIVE][0] in banner(at)
    (err,) = at.error
    assert "Kill switch: HARD_STOPPED" in err.value
    assert "`total_loss`" in err.value
    assert RESET_COMMAND in err.value
    assert "2 h 0 min ago" in err.value
    assert not at.success

    # No `bankroll` health key: starting bankroll + realised P&L from the trades table.
    assert metric(at, "Bankroll") == "$68.80"
    assert "Stage 1 ($0–$100)" in captions(at)
    assert metric(at, "Win rate") == "0.0%"
    assert metric(at, "Open positions") == "0"
    assert metric(at, "Errors, last hour") == "3"
    assert metric(at, "Heartbeat") == "10 min ago"
    assert "**Why not trading:** `kill_switch`" in markdowns(at)
    assert any("probably not running" in w.value for w in at.warning)

    (kill_events,) = [e for e in at.expander if e.label.startswith("Latest kill switch events")]
    assert kill_events.proto.expanded  # open by default while trading is stopped
    events = kill_events.dataframe[0].value
    assert list(events["kind"]) == ["hard_stop"] and list(events["detail"]) == ["loss_pct=0.312"]
    (errors,) = [e for e in at.expander if e.label.startswith("Latest errors")]
    assert "INCORRECT_API_KEY_SIGNATURE" in errors.dataframe[0].value["message"].iloc[0]
    assert "No open positions." in [i.value for i in at.info]


def test_empty_database_renders_every_panel_with_empty_states(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    built = build_empty(tmp_path, Mode.SIM)
    at = run_app(built.root, monkeypatch)

    assert 'data-mode="sim"' in banner(at) and "SIM MODE" in banner(at)
    assert BANNERS[Mode.SIM][0] in banner(at)
    # --sim trades against the synthetic book: the banner says so even before a daemon wrote its lag.
    assert "SYNTHETIC BOOK: profit reflects the assumed Kalshi lag sim.lag_s (not recorded), not Kalshi." in banner(at)
    infos = [i.value for i in at.info]
    assert any("Kill switch: not reported yet" in i for i in infos)
    for text in ("No bankroll history yet.", "No settled trades yet.", "No open positions.", "No trades yet."):
        assert text in infos
    # Nothing reported yet: the page reads no config file, so the bankroll is unknown.
    assert metric(at, "Bankroll") == "n/a"
    assert "Stage unknown" in captions(at)
    assert metric(at, "Today's P&L") == "$0.00"
    assert metric(at, "Win rate") == "n/a"
    assert metric(at, "Open positions") == "0"
    assert metric(at, "Heartbeat") == "never"
    assert metric(at, "Last feed tick") == "never"
    assert metric(at, "Errors, last hour") == "0"
    assert "**Why not trading:** not reported yet" in markdowns(at)
    assert not charts(at) and not at.dataframe and not at.error
    assert tip_lines(at)


def test_missing_database_is_a_friendly_message(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = make_root(tmp_path)
    at = run_app(root, monkeypatch, ["--mode", "live"])
    assert 'data-mode="live"' in banner(at)
    (info,) = at.info
    assert "No data yet for live mode" in info.value
    assert "python main.py --live" in info.value
    assert not at.error and not at.metric
    assert tip_lines(at)
    assert not (root / "data" / "live.db").exists()  # looking never creates a database


def test_unreadable_money_is_one_line_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    built = build_normal(tmp_path)
    conn = sqlite3.connect(built.path)
    conn.execute("UPDATE trades SET pnl = 'lots' WHERE id = 1")
    conn.commit()
    conn.close()
    at = run_app(built.root, monkeypatch)
    (err,) = at.error
    assert "trades.pnl: 'lots' is not a decimal number" in err.value
    assert "\n" not in err.value.strip()


def test_garbage_health_values_do_not_break_the_page(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    built = build_normal(tmp_path, Mode.SIM)
    db = Database(built.path)
    db.set_health({"heartbeat_ts": "1e300", "feed_last_tick_ts": "soon", "kalshi_last_call_ts": "nan",
                   "kill_since_ts": "inf", "kill_state": "mystery_state", "market_close_ts": "-1e300"}, built.now)
    db.record_bankroll(1e300, Decimal("1.00"), "garbage time")
    db.close()
    at = run_app(built.root, monkeypatch)
    assert metric(at, "Last feed tick") == "never"
    assert metric(at, "Last Kalshi call") == "never"
    assert "(simulator clock)" not in captions(at)  # an impossible heartbeat is not used as the clock
    (err,) = at.error
    assert "Kill switch: MYSTERY_STATE" in err.value and RESET_COMMAND in err.value
    assert "invalid time" in captions(at)


# -- mode choice and refresh ---------------------------------------------------------------------


def test_default_mode_is_the_most_recently_written(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    paper = build_normal(tmp_path / "a", Mode.PAPER)
    root = paper.root
    sim_path = db_path_for(root, Mode.SIM)
    Database(sim_path).close()
    old = time.time() - 1000
    for p in root.glob("data/paper.db*"):
        os.utime(p, (old, old))
    assert most_recent_mode(root) is Mode.SIM
    at = run_app(root, monkeypatch)
    assert 'data-mode="sim"' in banner(at)

    at.sidebar.selectbox[0].set_value("paper").run()
    assert not at.exception
    assert 'data-mode="paper"' in banner(at)
    assert metric(at, "Bankroll") == "$102.13"

    # Looking at paper (which left an empty -wal behind) does not make it the most recently written.
    assert most_recent_mode(root) is Mode.SIM
    newer = time.time() + 10
    os.utime(db_path_for(root, Mode.PAPER), (newer, newer))
    assert most_recent_mode(root) is Mode.PAPER

    # A commit in WAL mode touches only the -wal file; that counts as a write.
    db = Database(sim_path)
    db.record_error(time.time(), "t", "x")
    wal = sim_path.with_name("sim.db-wal")
    assert wal.stat().st_size > 0
    newest = time.time() + 20
    os.utime(wal, (newest, newest))
    assert most_recent_mode(root) is Mode.SIM
    db.close()


def test_mode_from_command_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    built = build_normal(tmp_path, Mode.PAPER)
    at = run_app(built.root, monkeypatch, ["--mode", "sim"])
    assert 'data-mode="sim"' in banner(at)
    assert any("No data yet for sim mode" in i.value for i in at.info)

    at = run_app(built.root, monkeypatch, ["--mode", "real"])
    (err,) = at.error
    assert err.value == "unknown --mode 'real': use paper, live or sim"
    assert 'data-mode="paper"' in banner(at)


def test_cli_mode_parsing() -> None:
    assert cli_mode([]) == (None, None)
    assert cli_mode(["--mode", "LIVE"]) == (Mode.LIVE, None)
    assert cli_mode(["--mode=sim", "tests/x.py"]) == (Mode.SIM, None)
    assert cli_mode(["-q", "tests/test_dashboard.py"]) == (None, None)
    assert cli_mode(["--mode", "demo"])[1] == "unknown --mode 'demo': use paper, live or sim"


def test_refresh_interval_comes_from_the_database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    built = build_normal(tmp_path)
    db = Database(built.path)
    db.set_health({"dashboard_refresh_s": "7.0"}, built.now)
    db.close()
    assert read_page_settings(built.path).refresh_s == 7.0
    at = run_app(built.root, monkeypatch)
    assert "refreshes every 7 s" in captions(at)
    assert "Refreshes every 7 s" in "\n".join(c.value for c in at.sidebar.caption)

    for text in ("soon", "0", "601", "nan", ""):
        db = Database(built.path)
        db.set_health({"dashboard_refresh_s": text}, built.now)
        db.close()
        assert read_page_settings(built.path).refresh_s == 5.0, text
    assert read_page_settings(tmp_path / "missing.db") == PageSettings(5.0, None)


def test_the_limits_named_are_the_ones_the_bot_runs_with(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from src.config import RiskConfig

    built = build_normal(tmp_path)
    at = run_app(built.root, monkeypatch)  # no limits written yet: the page speaks in words, not numbers
    assert any("• **cooling**: a losing streak: a pause that ends by itself" in t for t in tip_lines(at))
    risk = RiskConfig(max_consecutive_losses=4, cooling_hours=Decimal("1.5"), max_single_trade_usd=Decimal("3.00"),
                      min_bankroll_usd=Decimal("25.00"))
    db = Database(built.path)
    db.set_health({"risk_limits": risk.model_dump_json()}, built.now)  # as the daemon writes them at start
    db.close()
    lines = tip_lines(run_app(built.root, monkeypatch))
    assert "• **cooling**: 4 losses in a row: a 1.5-hour pause that ends by itself" in lines
    assert any("total loss over 30% or bankroll under $25" in t for t in lines)
    assert any("The $3.00 per-trade cap applies in every stage." in t for t in lines)
    db = Database(built.path)
    db.set_health({"risk_limits": '{"max_consecutive_losses": "many"}'}, built.now)  # unreadable: words again
    db.close()
    assert any("a losing streak" in t for t in tip_lines(run_app(built.root, monkeypatch)))


def test_sim_mode_measures_time_on_the_simulator_clock(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = make_root(tmp_path)
    path = db_path_for(root, Mode.SIM)
    # The simulator ran far ahead of the wall clock; noon of its day, so the trade below is surely "today".
    sim_now = utc_day_bounds(time.time() + 30 * 86400)[1] + 43200
    db = Database(path)
    add_trade(db, ts=sim_now - 1000, pnl="3.10", bankroll_after=Decimal("103.10"))
    db.set_health({"heartbeat_ts": str(sim_now), "feed_last_tick_ts": str(sim_now - 4),
                   "kill_state": "cooling", "kill_reason": "consecutive_losses",
                   "kill_since_ts": str(sim_now - 600),
                   "heartbeat_wall_ts": str(time.time()), "pid": str(os.getpid())}, sim_now)  # running now
    db.close()
    at = run_app(root, monkeypatch)
    assert utc_day_bounds(sim_now)[0] in metric_label(at, "Today's P&L")
    assert metric(at, "Today's P&L") == "+$3.10"
    assert metric(at, "Last feed tick") == "4 s ago"
    assert "(simulator clock)" in captions(at)
    (warn,) = at.warning
    assert "Kill switch: COOLING" in warn.value and "10 min ago" in warn.value


def _dead_pid() -> int:
    """The id of a process that has exited (and been reaped)."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])  # noqa: S603
    child.wait()
    return child.pid


def test_a_stopped_simulator_never_looks_alive(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Its clock ran ahead of the wall clock, so its last heartbeat_ts is in the future; it stopped 10 min ago."""
    root = make_root(tmp_path)
    sim_now = time.time() + 3 * 86400
    db = Database(db_path_for(root, Mode.SIM))
    db.set_health({"heartbeat_ts": str(sim_now), "heartbeat_wall_ts": str(time.time() - 600),
                   "pid": str(_dead_pid()), "kill_state": "active"}, sim_now)
    db.close()
    at = run_app(root, monkeypatch)
    assert metric(at, "Heartbeat") == "10 min ago"
    assert any("is not running" in w.value for w in at.warning), [w.value for w in at.warning]


def test_a_fresh_heartbeat_from_a_dead_process_is_not_alive(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    built = build_normal(tmp_path)
    pid = _dead_pid()
    db = Database(built.path)
    db.set_health({"heartbeat_wall_ts": str(time.time()), "pid": str(pid)}, time.time())
    db.close()
    at = run_app(built.root, monkeypatch)
    assert any(f"process {pid}) is not running" in w.value for w in at.warning), [w.value for w in at.warning]
    db = Database(built.path)
    db.set_health({"pid": str(os.getpid())}, time.time())  # the same figures from a live process: no warning
    db.close()
    assert not run_app(built.root, monkeypatch).warning


def test_a_sim_database_without_a_wall_clock_heartbeat_is_not_called_alive(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Written by a daemon from before heartbeat_wall_ts: its sim heartbeat says nothing about real time."""
    root = make_root(tmp_path)
    sim_now = time.time() + 86400
    db = Database(db_path_for(root, Mode.SIM))
    db.set_health({"heartbeat_ts": str(sim_now), "kill_state": "active"}, sim_now)
    db.close()
    at = run_app(root, monkeypatch)
    assert metric(at, "Heartbeat") == "never"
    assert any("probably not running" in w.value for w in at.warning)


# -- pure pieces ---------------------------------------------------------------------------------


def test_money_formatting_is_decimal_half_up() -> None:
    assert fmt_money(Decimal("1234.565")) == "$1,234.57"
    assert fmt_money(Decimal("0.005")) == "$0.01"
    assert fmt_money(Decimal("-0.005")) == "-$0.01"
    assert fmt_money(Decimal("-0.004")) == "$0.00"
    assert fmt_money(Decimal("2.1"), signed=True) == "+$2.10"
    assert fmt_money(Decimal("0"), signed=True) == "$0.00"
    assert fmt_money(None) == "n/a"
    assert fmt_price(Decimal("0.5600")) == "$0.56"
    assert fmt_price(Decimal("0.5650")) == "$0.565"
    assert fmt_price(Decimal("0.45671")) == "$0.4567"
    assert fmt_price(Decimal("1")) == "$1.00"
    assert fmt_count(Decimal("10.00")) == "10"
    assert fmt_count(Decimal("2.50")) == "2.5"
    assert fmt_pct(Decimal(2) / Decimal(3)) == "66.7%"
    assert fmt_pct(None) == "n/a"
    assert fmt_age(None) == "never"
    assert fmt_age(59.9) == "59 s ago"
    assert fmt_age(3599) == "59 min ago"
    assert fmt_age(7260) == "2 h 1 min ago"
    assert fmt_age(3 * 86400 + 7300) == "3 d 2 h ago"


def test_downsampling_keeps_lows_highs_and_the_latest(tmp_path: Path) -> None:
    path = tmp_path / "d.db"
    Database(path).close()
    conn = sqlite3.connect(path)
    rows = [(1000.0 + i, f"{100 + (i % 50) / 100:.2f}", "t") for i in range(20000)]
    rows[12345] = (1000.0 + 12345, "12.34", "crash")
    rows[777] = (1000.0 + 777, "999.99", "spike")
    rows[-1] = (1000.0 + 19999, "55.55", "latest")
    conn.executemany("INSERT INTO bankroll_history (ts, bankroll, reason) VALUES (?,?,?)", rows)
    conn.commit()
    conn.close()
    ro = connect_readonly(path)
    total, points = read_bankroll_points(ro, 2000)
    ro.close()
    assert total == 20000 and len(points) <= 2000
    values = [p.value for p in points]
    assert Decimal("12.34") in values and Decimal("999.99") in values
    assert points[-1].value == Decimal("55.55") and points[0].ts == 1000.0
    assert [p.ts for p in points] == sorted(p.ts for p in points)


def test_readonly_connection_refuses_writes(tmp_path: Path) -> None:
    built = build_normal(tmp_path)
    conn = connect_readonly(built.path)
    with pytest.raises(sqlite3.OperationalError, match="readonly|read-only|query_only"):
        conn.execute("INSERT INTO errors (ts, source, message) VALUES (1, 'x', 'y')")
    conn.execute("PRAGMA query_only = OFF")  # even with the pragma off, mode=ro still refuses
    with pytest.raises(sqlite3.OperationalError, match="readonly"):
        conn.execute("DELETE FROM trades")
    conn.close()
    with pytest.raises(NoDatabase):
        connect_readonly(tmp_path / "nope.db")
    assert not (tmp_path / "nope.db").exists()


def test_database_without_schema_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "blank.db"
    sqlite3.connect(path).close()
    path.write_bytes(b"")
    conn = connect_readonly(path)
    with pytest.raises(DashboardDataError, match="no tables yet"):
        read_snapshot(conn, mode=Mode.PAPER, wall_now=time.time())
    conn.close()


def test_streamlit_config_is_localhost_only() -> None:
    import tomllib

    cfg = tomllib.loads((REPO / ".streamlit" / "config.toml").read_text())
    assert cfg["server"]["address"] == "127.0.0.1"
    assert cfg["server"]["port"] == 8501
    assert cfg["server"]["headless"] is True
    assert cfg["browser"]["gatherUsageStats"] is False


# -- size ----------------------------------------------------------------------------------------


def build_big(base: Path, n: int = 100_000) -> tuple[Built, Decimal]:
    """100k settled-or-open trades, their orders and bankroll history, written in one transaction."""
    root = make_root(base)
    path = db_path_for(root, Mode.PAPER)
    Database(path).close()  # the real schema
    now = time.time()
    start = now - n * 60
    orders, trades, history = [], [], []
    bankroll = Decimal("100.00")
    realised = Decimal(0)
    for i in range(1, n + 1):
        ts = start + i * 60
        open_ = i > n - 3
        pnl = None if open_ else Decimal((i * 7919) % 1201 - 600) / Decimal(1000)  # -0.600 .. +0.600
        orders.append((i, f"big-{i}", "KXBTC15M-X", "yes", "3", "0.5100", "filled", "3", "0.5100", "0.06",
                       "btc_lag", ts, ts))
        trades.append((i, i, "KXBTC15M-X", "yes", "3", "0.5100", "1.53", "0.06", "btc_lag", ts,
                       "open" if open_ else "settled", None if open_ else "yes",
                       None if open_ else "3", None if pnl is None else str(pnl), None if open_ else ts + 30))
        if pnl is not None:
            realised += pnl
            bankroll += pnl
            history.append((ts + 30, str(bankroll), f"settled trade {i}"))
    conn = sqlite3.connect(path)
    with conn:
        conn.executemany("INSERT INTO orders (id, client_order_id, ticker, side, count, limit_price, status,"
                         " filled_count, avg_price, fees, strategy, created_ts, updated_ts)"
                         " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)", orders)
        conn.executemany("INSERT INTO trades (id, order_id, ticker, side, count, avg_price, cost, fees, strategy,"
                         " opened_ts, status, result, payout, pnl, settled_ts) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                         trades)
        conn.executemany("INSERT INTO bankroll_history (ts, bankroll, reason) VALUES (?,?,?)", history)
        conn.execute("INSERT INTO health (key, value, ts) VALUES ('heartbeat_ts', ?, ?)", (str(now), now))
        conn.execute("INSERT INTO health (key, value, ts) VALUES ('starting_bankroll', '100.00', ?)", (now,))
    conn.close()
    return Built(root, path, now, utc_day_bounds(now)[0]), realised


def test_100k_trades_first_render_under_3s(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    built, realised = build_big(tmp_path)
    monkeypatch.setenv("POLYBOT_ROOT", str(built.root))
    monkeypatch.setattr("sys.argv", ["dashboard.py"])
    at = AppTest.from_file(str(DASHBOARD), default_timeout=APP_TIMEOUT_S)
    started = time.perf_counter()
    at.run()
    elapsed = time.perf_counter() - started
    assert not at.exception, [e.value for e in at.exception]
    assert elapsed < 3.0, f"first render took {elapsed:.2f} s"
    print(f"100k trades: first render {elapsed:.2f} s")
    assert metric(at, "Bankroll") == fmt_money(Decimal("100.00") + realised)
    assert metric(at, "Open positions") == "3"
    assert len(at.dataframe[-1].value) == 10
    assert "99,997 records shown as" in captions(at)
    assert "Latest 500 of 99,997 settled trades" in captions(at)


def test_notifications_panel_shows_the_last_ones_and_delivery_failures(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    built = build_normal(tmp_path)
    db = Database(built.path)
    db.record_notification(built.now - 60, "order_filled", "info", "Filled: 4 YES KXBTC15M-X", "sent", 1,
                           service="tgram://api.telegram.org")
    db.record_notification(built.now - 30, "kill_switch", "critical", "HARD STOP (total_loss)", "failed", 4,
                           "no answer within 10 s", service="json://hooks.example.com")
    db.record_notification(built.now - 20, "settlement", "info", "WON $1.20: KXBTC15M-X", "dropped", 0,
                           "queue full (200); 1 dropped so far", service="json://hooks.example.com")
    db.close()
    at = run_app(built.root, monkeypatch)
    assert any("2 notification(s) could not be delivered" in w.value for w in at.warning)
    (panel,) = [e for e in at.expander if e.label.startswith("Latest notifications")]
    frame = panel.dataframe[0].value
    assert list(frame["status"]) == ["dropped", "failed", "sent"]
    assert list(frame["to"])[2] == "tgram://api.telegram.org" and "no answer within 10 s" in list(frame["error"])


def test_the_sim_banner_names_the_lag_its_book_assumed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    built = build_empty(tmp_path, Mode.SIM)
    db = Database(built.path)
    db.set_health({"sim_lag_s": "0.0"}, built.now)  # as main.py writes config.yaml's sim.lag_s at start
    db.close()
    assert read_page_settings(built.path).sim_lag_s == 0.0
    at = run_app(built.root, monkeypatch)
    assert "SYNTHETIC BOOK: profit reflects the assumed Kalshi lag sim.lag_s = 0 s, not Kalshi." in banner(at)
    for text in ("soon", "-1", "601", "nan"):
        db = Database(built.path)
        db.set_health({"sim_lag_s": text}, built.now)
        db.close()
        assert read_page_settings(built.path).sim_lag_s is None, text


def test_the_page_says_book_not_whole_or_stale_from_the_engines_health_row(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    built = build_normal(tmp_path, Mode.PAPER)
    db = Database(built.path)
    db.set_health({"book_state": "not whole", "book_age_s": ""}, built.now)
    db.close()
    at = run_app(built.root, monkeypatch)
    assert any(w.value.startswith("Book not whole") for w in at.warning)
    db = Database(built.path)
    db.set_health({"book_state": "stale", "book_age_s": "2.500"}, built.now)
    db.close()
    at = run_app(built.root, monkeypatch)
    assert any(w.value.startswith("Book stale (2.5 s old)") for w in at.warning)
    db = Database(built.path)
    db.set_health({"book_state": "current", "book_age_s": "0.120"}, built.now)
    db.close()
    at = run_app(built.root, monkeypatch)
    assert not any("Book" in w.value for w in at.warning) and "book 120 ms" in captions(at)
