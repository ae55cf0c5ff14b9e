"""Draw the dashboard's Polymarket view: mode, kill switch, bankroll, positions, trades, whales, skip reasons.

Every figure comes from src/reporting/dashboard_queries.py, which opens each Polymarket database
with SQLite's read-only mode; this module only lays them out.
"""

from __future__ import annotations

import sqlite3
import time
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pandas as pd
import streamlit as st

from src.model.file_locations import us_mode_name
from src.model.models import Mode, TradeRow, usd
from src.model.report_modes import RESET_COMMAND, polymarket_reset_command, us_reset_command
from src.reporting.dashboard_queries import (
    DashboardDataError,
    NoDatabase,
    PolymarketView,
    connect_readonly,
    polymarket_paths,
    read_polymarket_view,
)

RESET: dict[str, str] = {  # the health `mode` each daemon writes -> its kill switch's reset command
    us_mode_name(Mode.LIVE): us_reset_command(Mode.LIVE),
    us_mode_name(Mode.PAPER): us_reset_command(Mode.PAPER),
    "polymarket_paper": polymarket_reset_command(),
}
UNMATCHED_PREFIX = "no_us_"


def _ts(ts: float | None) -> str:
    return "-" if ts is None else datetime.fromtimestamp(ts, tz=UTC).strftime("%Y-%m-%d %H:%M:%S")


def _money(value: Decimal | None) -> str:
    """usd() (so a loss reads -$1.50, as everywhere else), with "-" for a figure not reported."""
    return "-" if value is None else usd(value)


def _trades(trades: tuple[TradeRow, ...]) -> pd.DataFrame:
    return pd.DataFrame([{
        "opened (UTC)": _ts(t.opened_ts), "market": t.ticker, "side": t.side.upper(),
        "contracts": format(t.count.normalize(), "f"), "avg price": str(t.avg_price), "cost": _money(t.cost),
        "fees": _money(t.fees), "status": t.status, "result": t.result or "",
        "P&L": _money(t.pnl) if t.pnl is not None else "",
    } for t in trades])  # fmt: skip


def render_view(view: PolymarketView) -> None:
    live = (view.mode or "").endswith("_live")
    heading = f"{view.name}: {'REAL MONEY' if live else 'simulated fills, no real money'}"
    (st.error if live else st.info)(heading)
    c1, c2, c3, c4 = st.columns(4)
    c1.metric("Bankroll", _money(view.bankroll))
    c2.metric("Open positions", str(view.open_positions.count))
    c3.metric("Kill switch", (view.kill.state or "not reported").upper())
    c4.metric("Errors (last hour)", str(view.errors_last_hour))
    age = "never" if view.heartbeat_age_s is None else f"{view.heartbeat_age_s:.0f} s ago"
    st.caption(f"Mode `{view.mode or '?'}` · last heartbeat {age} · `{view.path}` (read-only)")
    if view.kill.state not in (None, "active"):
        reset = RESET.get(view.mode or "", RESET_COMMAND)
        st.warning(f"Kill switch {view.kill.state} ({view.kill.reason or 'no reason recorded'}). "
                   f"Reset after finding the cause: `{reset}`")
    if view.open_positions.shown:
        st.markdown("**Open positions**")
        st.dataframe(_trades(view.open_positions.shown), hide_index=True)
    st.markdown("**Last trades**")
    if view.last_trades:
        st.dataframe(_trades(view.last_trades), hide_index=True)
    else:
        st.caption("No trades yet.")
    st.markdown("**Whale activity** (every whale trade seen, and what became of it)")
    if view.whale_activity:
        st.dataframe(pd.DataFrame([{
            "time (UTC)": _ts(w.ts), "whale": w.whale, "market": w.title, "outcome": w.outcome,
            "whale paid": w.whale_price, "US market": w.us_market or "(none)", "result": w.code, "why": w.detail,
        } for w in view.whale_activity]), hide_index=True)  # fmt: skip
    else:
        st.caption("No whale trade seen yet (the first poll of each whale only records what is already there).")
    if view.reasons:
        st.markdown("**Skip reasons** (counts over the whole journal; `no_us_*` = no matching Polymarket US market)")
        unmatched = sum(n for code, n in view.reasons if code.startswith(UNMATCHED_PREFIX))
        st.dataframe(pd.DataFrame([{"reason": code, "count": n} for code, n in view.reasons]), hide_index=True)
        st.caption(f"Unmatched on Polymarket US: {unmatched}")


def render_polymarket(root: Path) -> None:
    """The Polymarket section: one block per Polymarket database present (live first)."""
    st.subheader("Polymarket")
    paths = polymarket_paths(root)
    if not paths:
        st.caption("No Polymarket data (platforms.polymarket.enabled is false, or it has not run yet).")
        return
    now = time.time()
    for name, path in paths:
        try:
            conn = connect_readonly(path)
        except NoDatabase:
            continue
        try:
            view = read_polymarket_view(name, conn, path, now)
        except (DashboardDataError, sqlite3.Error) as exc:
            st.error(f"Cannot show {name}: {exc}")
            continue
        finally:
            conn.close()
        render_view(view)
