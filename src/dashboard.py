"""Streamlit page that shows one mode's trading database, read-only, on localhost.

Start it with `.venv/bin/streamlit run src/dashboard.py` (add `-- --mode sim` to pick a mode).
It opens the database with SQLite's read-only mode, so it cannot change anything, and it talks
to nothing but that file: the daemon writes what the page needs from config.yaml and
USER_CONFIG.json (refresh interval, starting bankroll) into the database when it starts.
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import sys
import time
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

# `streamlit run src/dashboard.py` puts src/ (not the repo root) on sys.path; the `src.` imports need the root.
_REPO_ROOT = Path(__file__).resolve().parent.parent
if str(_REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(_REPO_ROOT))

import altair as alt  # noqa: E402
import pandas as pd  # noqa: E402
import streamlit as st  # noqa: E402

from src.model.book_label import synthetic_book_label  # noqa: E402
from src.model.models import CENT, Mode, TradeRow  # noqa: E402
from src.model.stages import STAGES, stage_range  # noqa: E402
from src.reporting.dashboard_polymarket import render_polymarket  # noqa: E402
from src.reporting.dashboard_queries import (  # noqa: E402
    CHART_POINTS,
    DashboardDataError,
    EdgeView,
    NoDatabase,
    RiskLimits,
    Snapshot,
    book_stale_warning,
    connect_readonly,
    database_path,
    edge_db_path,
    last_write_time,
    most_recent_mode,
    read_latest_edge,
    read_page_settings,
    read_snapshot,
)

ROOT_ENV = "POLYBOT_ROOT"  # the project folder: the page reads its data/<mode>.db
RESET_COMMAND = "python main.py --reset-killswitch"
HEARTBEAT_LATE_S = 60.0

START_COMMANDS: dict[Mode, str] = {
    Mode.PAPER: "python main.py --paper",
    Mode.LIVE: "python main.py --live",
    Mode.SIM: "python main.py --sim",
}

# (background colour, headline, subtitle): LIVE must be impossible to mistake for anything else.
BANNERS: dict[Mode, tuple[str, str, str]] = {
    Mode.LIVE: ("#c62828", "LIVE", "REAL MONEY: real orders on Kalshi"),
    Mode.PAPER: ("#1565c0", "PAPER", "Real market data, simulated fills: no real money"),
    Mode.SIM: ("#6a1b9a", "SIM", "Offline simulation: simulated market, simulated money"),
}

SOFT_STATES = {"cooling", "rate_paused", "daily_halted"}
HARD_STATES = {"halted", "hard_stopped"}


def kill_state_meanings(limits: RiskLimits | None) -> dict[str, str]:
    """What each kill switch state means, with the limits the bot runs with (as it wrote them), else in words."""
    if limits is None:
        streak, pause, orders = "a losing streak", "a pause", "too many orders"
        daily, auth = "today's loss passed the daily limit", "repeated authentication failures"
        hard = "total loss over its limit or bankroll under the floor"
    else:
        streak = f"{limits.max_consecutive_losses} losses in a row"
        pause = f"a {_plain(limits.cooling_hours)}-hour pause"
        orders = f"more than {limits.max_trades_per_hour} orders"
        daily = f"today's loss passed {_plain(limits.daily_loss_pct * 100)}% of the starting bankroll"
        auth = f"{limits.max_auth_failures} authentication failures in a row"
        hard = (f"total loss over {_plain(limits.total_loss_pct * 100)}% or bankroll under "
                f"${_plain(limits.min_bankroll_usd)}")
    return {
        "active": "trading allowed; every order still passes the kill switch first",
        "cooling": f"{streak}: {pause} that ends by itself",
        "rate_paused": f"{orders} in the last hour: paused until the hourly count drops",
        "daily_halted": f"{daily}: no new trades until the next UTC day",
        "halted": f"{auth} (see BLOCKERS.md): fix the key, key id or clock and restart; "
        "the first successful signed call clears it",
        "hard_stopped": f"{hard}: stopped until you reset it by hand",
    }


def tips(limits: RiskLimits | None) -> tuple[str, ...]:
    cap = "A per-trade cap" if limits is None else f"The ${limits.max_single_trade_usd} per-trade cap"
    return (
        "This page only reads the database: nothing here can place, cancel or change anything.",
        f"A hard stop survives restarts (kill_switch.lock). Reset only once you know why: `{RESET_COMMAND}`.",
        "Today's P&L counts trades settled since 00:00 UTC. Paper, live and sim each have their own "
        "database and bankroll; they never mix.",
        "Stages: " + ", ".join(f"{s.number} from ${s.min_bankroll}" for s in STAGES)
        + f". {cap} applies in every stage.",
        "An old heartbeat means the bot is not running (or is stuck): check its terminal and logs/errors/.",
    )


def _plain(value: Decimal) -> str:
    """2 not 2.00, 15 not 15.00, 0.5 not 0.50."""
    return f"{value.normalize():f}"



# -- formatting (pure) ---------------------------------------------------------------------------


def fmt_money(value: Decimal | None, *, signed: bool = False) -> str:
    """Dollars with 2 decimals from Decimal math (half-up), e.g. -$1,234.57."""
    if value is None:
        return "n/a"
    cents = value.quantize(CENT, rounding=ROUND_HALF_UP)
    sign = "-" if cents < 0 else ("+" if signed and cents > 0 else "")
    return f"{sign}${abs(cents):,.2f}"


def fmt_price(value: Decimal) -> str:
    """Contract price in dollars: at least 2 and at most 4 decimals (Kalshi quotes to 4)."""
    text = f"{value.quantize(Decimal('0.0001'), rounding=ROUND_HALF_UP):f}"
    whole, _, frac = text.partition(".")
    return f"${whole}.{frac.rstrip('0').ljust(2, '0')}"


def fmt_count(value: Decimal) -> str:
    text = f"{value.normalize():f}"
    return text


def fmt_pct(rate: Decimal | None) -> str:
    if rate is None:
        return "n/a"
    return f"{(rate * 100).quantize(Decimal('0.1'), rounding=ROUND_HALF_UP)}%"


def fmt_age(seconds: float | None) -> str:
    if seconds is None:
        return "never"
    s = int(seconds)
    if s < 60:
        return f"{s} s ago"
    if s < 3600:
        return f"{s // 60} min ago"
    if s < 86400:
        return f"{s // 3600} h {(s % 3600) // 60} min ago"
    return f"{s // 86400} d {(s % 86400) // 3600} h ago"


def fmt_ts(ts: float | None) -> str:
    if ts is None:
        return "n/a"
    try:
        return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    except (OverflowError, OSError, ValueError):
        return f"invalid time {ts!r}"


def stage_label(stage: int | None) -> str:
    """'Stage 2 ($100–$250)' from the one stage table (src/model/stages.py)."""
    for s in STAGES:
        if s.number == stage:
            return f"Stage {s.number} ({stage_range(s)})"
    return "Stage unknown"


def banner_html(mode: Mode, note: str = "") -> str:
    colour, headline, subtitle = BANNERS[mode]
    extra = f'<div style="font-size:1.05rem;font-weight:800">{note}</div>' if note else ""
    return (
        f'<div class="polybot-banner" data-mode="{mode.value}" style="background:{colour};color:#fff;'
        'padding:0.6rem 1rem;border-radius:0.6rem;text-align:center;margin-bottom:0.5rem">'
        f'<div style="font-size:2.6rem;font-weight:800;letter-spacing:0.2em;line-height:1.2">{headline} MODE</div>'
        f'<div style="font-size:1.05rem;font-weight:600">{subtitle}</div>{extra}</div>'
    )


def trades_frame(trades: tuple[TradeRow, ...]) -> pd.DataFrame:
    """Money as formatted strings: a float column would round differently from the Decimal figures."""
    return pd.DataFrame(
        [
            {
                "#": t.id,
                "opened (UTC)": fmt_ts(t.opened_ts).removesuffix(" UTC"),
                "ticker": t.ticker,
                "side": t.side.upper(),
                "contracts": fmt_count(t.count),
                "avg price": fmt_price(t.avg_price),
                "cost": fmt_money(t.cost),
                "fees": fmt_money(t.fees),
                "status": t.status,
                "result": t.result or "",
                "P&L": fmt_money(t.pnl, signed=True) if t.pnl is not None else "",
            }
            for t in trades
        ]
    )


# -- inputs --------------------------------------------------------------------------------------


def project_root() -> Path:
    env = os.environ.get(ROOT_ENV)
    return Path(env).expanduser() if env else _REPO_ROOT


def process_running(pid: int) -> bool:
    """Whether a process with this id exists on this machine (the bot and the page run side by side).

    Signal 0 checks without signalling. PermissionError means it exists under another user.
    """
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except (OSError, OverflowError, ValueError):
        return False
    return True


def cli_mode(argv: list[str]) -> tuple[Mode | None, str | None]:
    """`--mode paper|live|sim` after `--` on the streamlit command line; (mode, error message)."""
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--mode")
    args, _ = parser.parse_known_args(argv)
    if args.mode is None:
        return None, None
    try:
        return Mode(args.mode.strip().lower()), None
    except ValueError:
        return None, f"unknown --mode {args.mode!r}: use paper, live or sim"


# -- panels --------------------------------------------------------------------------------------


def render_kill_switch(snap: Snapshot) -> None:
    meanings = kill_state_meanings(snap.limits)
    kill = snap.kill
    state = kill.state
    since = f" since {fmt_ts(kill.since_ts)} ({fmt_age(_age(snap, kill.since_ts))})" if kill.since_ts else ""
    reason = f" Reason: `{kill.reason}`." if kill.reason else ""
    if state is None:
        st.info("**Kill switch: not reported yet.** The bot writes its state here once it is running.")
    elif state == "active":
        st.success(f"**Kill switch: ACTIVE**{since}. {meanings['active'].capitalize()}.")
    elif state in SOFT_STATES:
        st.warning(
            f"**Kill switch: {state.upper()}**{since}.{reason} {meanings[state].capitalize()}. "
            f"Nothing to do: it clears by itself (`{RESET_COMMAND}` is for hard_stopped)."
        )
    else:
        meaning = meanings.get(state, "trading is stopped")
        st.error(
            f"**Kill switch: {state.upper()}**{since}.{reason} {meaning.capitalize()}. "
            f"Reset (after finding the cause): `{RESET_COMMAND}`"
        )
    if kill.events:
        with st.expander(f"Latest kill switch events ({len(kill.events)})", expanded=state not in (None, "active")):
            st.dataframe(
                pd.DataFrame(
                    [
                        {"time (UTC)": fmt_ts(e.ts).removesuffix(" UTC"), "kind": e.kind, "reason": e.reason,
                         "detail": e.detail}
                        for e in kill.events
                    ]
                ),
                hide_index=True,
            )


def _age(snap: Snapshot, ts: float | None) -> float | None:
    return None if ts is None else max(0.0, snap.now - ts)


def render_headline(snap: Snapshot) -> None:
    bank, today, record, open_pos = snap.bankroll, snap.today, snap.record, snap.open_positions
    c1, c2, c3, c4 = st.columns(4)
    with c1:
        st.metric("Bankroll", fmt_money(bank.value), border=True)
        st.caption(f"**{stage_label(bank.stage)}**")
        if bank.starting is not None:
            note = f"start {fmt_money(bank.starting)} + realised {fmt_money(bank.realised, signed=True)}"
            if bank.source == "daemon" and bank.computed is not None and bank.computed != bank.value:
                note += f" = {fmt_money(bank.computed)} (the bot reports {fmt_money(bank.value)})"
            st.caption(note)
    with c2:
        st.metric(f"Today's P&L ({today.day} UTC)", fmt_money(today.pnl, signed=True), border=True)
        st.caption(f"{today.trades} settled today: {today.wins} won, {today.losses} lost")
    with c3:
        st.metric("Win rate", fmt_pct(record.rate), border=True)
        st.caption(f"{record.wins} won, {record.losses} lost of {record.settled} settled")
    with c4:
        st.metric("Open positions", str(open_pos.count), border=True)
        st.caption(f"{fmt_money(open_pos.cost)} at stake, {fmt_money(open_pos.fees)} fees paid")


def render_system_health(snap: Snapshot) -> None:
    sysh = snap.system
    clock_note = " (simulator clock)" if snap.simulated_clock else ""
    c1, c2, c3, c4 = st.columns(4)
    c1.metric("Heartbeat", fmt_age(sysh.heartbeat_age_s))
    feed = fmt_age(sysh.feed_tick_age_s)
    c2.metric("Last feed tick", feed + (" (STALE)" if sysh.feed_stale else ""))
    c3.metric("Last Kalshi call", fmt_age(sysh.kalshi_call_age_s))
    c4.metric("Errors, last hour", str(sysh.errors_last_hour))
    why = sysh.why_not_trading
    st.markdown(f"**Why not trading:** `{why}`" if why else "**Why not trading:** not reported yet")
    details = [
        f"feed: {sysh.feed_source or 'n/a'}",
        f"BTC: {sysh.btc_price or 'n/a'}",
        f"market: {sysh.market_ticker or 'n/a'}",
    ]
    if sysh.market_close_ts is not None:
        details.append(f"closes {fmt_ts(sysh.market_close_ts)}")
    if sysh.book_state == "current" and sysh.book_age_s is not None:
        details.append(f"book {sysh.book_age_s * 1000:.0f} ms")
    if sysh.started_ts is not None:
        details.append(f"bot started {fmt_ts(sysh.started_ts)}")
    st.caption(" · ".join(details) + clock_note)
    # Judged on the wall clock whatever the mode: a stopped simulator must not look alive.
    gone = sysh.pid is not None and not process_running(sysh.pid)
    if gone:
        st.warning(
            f"The bot (process {sysh.pid}) is not running; its last heartbeat was {fmt_age(sysh.heartbeat_age_s)}. "
            "Figures below are as of its last update."
        )
    elif sysh.heartbeat_age_s is None or sysh.heartbeat_age_s > HEARTBEAT_LATE_S:
        st.warning(
            f"The bot's last heartbeat was {fmt_age(sysh.heartbeat_age_s)}: it is probably not running. "
            "Figures below are as of its last update."
        )
    if sysh.feed_stale:
        st.warning("The price feed is stale: no new signals are generated until it recovers.")
    book_warning = book_stale_warning(sysh.book_state, sysh.book_age_s)
    if book_warning:
        st.warning(book_warning)
    if sysh.recent_errors:
        with st.expander(f"Latest errors ({sysh.errors_last_hour} in the last hour)"):
            st.dataframe(
                pd.DataFrame(
                    [{"time (UTC)": fmt_ts(e.ts).removesuffix(" UTC"), "source": e.source, "message": e.message}
                     for e in sysh.recent_errors]
                ),
                hide_index=True,
            )


def render_notifications(snap: Snapshot) -> None:
    """The last notifications sent to the owner's phone, and any that could not be delivered."""
    view = snap.notifications
    if not view.recent:
        return
    if view.failed_last_day:
        st.warning(f"{view.failed_last_day} notification(s) could not be delivered in the last 24 hours.")
    with st.expander(f"Latest notifications ({view.failed_last_day} undelivered in the last day)"):
        st.dataframe(
            pd.DataFrame(
                [{"time (UTC)": fmt_ts(n.ts).removesuffix(" UTC"), "event": n.kind, "level": n.level,
                  "title": n.title, "to": n.service, "status": n.status, "tries": n.attempts, "error": n.error}
                 for n in view.recent]
            ),
            hide_index=True,
        )


def render_charts(snap: Snapshot) -> None:
    left, right = st.columns(2)
    with left:
        st.subheader("Bankroll over time")
        if snap.bankroll_points:
            frame = pd.DataFrame(
                {
                    # errors="coerce": one impossible timestamp becomes a gap, not a crash.
                    "time": pd.to_datetime([p.ts for p in snap.bankroll_points], unit="s", utc=True,
                                           errors="coerce"),
                    # Floats for plotting only; every figure printed on the page comes from Decimal.
                    "bankroll": [float(p.value) for p in snap.bankroll_points],
                }
            )
            chart = (
                alt.Chart(frame)
                .mark_line(interpolate="step-after")
                .encode(
                    x=alt.X("time:T", title=None),
                    y=alt.Y("bankroll:Q", title="bankroll ($)", scale=alt.Scale(zero=False)),
                    tooltip=[alt.Tooltip("time:T", format="%Y-%m-%d %H:%M"), alt.Tooltip("bankroll:Q", format="$.2f")],
                )
            )
            st.altair_chart(chart, width="stretch")
            if snap.bankroll_history_rows > len(snap.bankroll_points):
                st.caption(
                    f"{snap.bankroll_history_rows:,} records shown as {len(snap.bankroll_points):,} points "
                    f"(each stretch keeps its low and high; at most {CHART_POINTS:,})"
                )
        else:
            st.info("No bankroll history yet.")
    with right:
        st.subheader("P&L per trade")
        if snap.pnl_bars:
            frame = pd.DataFrame(
                {
                    "trade": [b.trade_id for b in snap.pnl_bars],
                    "settled": [fmt_ts(b.ts) for b in snap.pnl_bars],
                    "pnl": [float(b.pnl) for b in snap.pnl_bars],
                    "outcome": ["win" if b.pnl > 0 else "loss" if b.pnl < 0 else "flat" for b in snap.pnl_bars],
                }
            )
            chart = (
                alt.Chart(frame)
                .mark_bar()
                .encode(
                    x=alt.X("trade:O", title="trade (settlement order)", axis=alt.Axis(labels=False, ticks=False)),
                    y=alt.Y("pnl:Q", title="P&L ($)"),
                    color=alt.Color(
                        "outcome:N",
                        scale=alt.Scale(domain=["win", "loss", "flat"], range=["#2e7d32", "#c62828", "#9e9e9e"]),
                        legend=None,
                    ),
                    tooltip=["trade:O", "settled:N", alt.Tooltip("pnl:Q", format="$.2f")],
                )
            )
            st.altair_chart(chart, width="stretch")
            if snap.record.settled > len(snap.pnl_bars):
                st.caption(f"Latest {len(snap.pnl_bars):,} of {snap.record.settled:,} settled trades")
        else:
            st.info("No settled trades yet.")


def render_tables(snap: Snapshot) -> None:
    st.subheader("Open positions")
    open_pos = snap.open_positions
    if open_pos.shown:
        st.dataframe(trades_frame(open_pos.shown), hide_index=True)
        if open_pos.count > len(open_pos.shown):
            st.caption(f"Newest {len(open_pos.shown)} of {open_pos.count} open trades")
    else:
        st.info("No open positions.")
    st.subheader("Last 10 trades")
    if snap.last_trades:
        st.dataframe(trades_frame(snap.last_trades), hide_index=True)
    else:
        st.info("No trades yet.")


def render_tips(limits: RiskLimits | None) -> None:
    """Help in the sidebar, visible whatever state the database is in."""
    st.sidebar.subheader("Tips")
    for tip in tips(limits):
        st.sidebar.caption(f"• {tip}")
    st.sidebar.caption("**Kill switch states**")
    for state, meaning in kill_state_meanings(limits).items():
        st.sidebar.caption(f"• **{state}**: {meaning}")


def render_body(mode: Mode, root: Path, refresh_s: float) -> None:
    """One refresh of everything below the banner: open read-only, read, close, draw."""
    started = time.perf_counter()
    path = database_path(root, mode)
    wall_now = time.time()
    try:
        conn = connect_readonly(path)
    except NoDatabase:
        st.info(
            f"No data yet for {mode.value} mode: `{path}` does not exist. "
            f"Start the bot with `{START_COMMANDS[mode]}` and this page fills in by itself."
        )
        return
    try:
        snap = read_snapshot(conn, mode=mode, wall_now=wall_now)
    except DashboardDataError as exc:
        st.error(f"Cannot show {mode.value} mode's data: {exc}")
        return
    except sqlite3.Error as exc:
        st.error(f"Cannot read {path}: {exc}. The page retries every {refresh_s:g} s.")
        return
    finally:
        conn.close()

    render_headline(snap)
    st.subheader("Kill switch")
    render_kill_switch(snap)
    st.subheader("System health")
    render_system_health(snap)
    render_notifications(snap)
    render_charts(snap)
    render_tables(snap)
    written = last_write_time(path)
    st.caption(
        f"Read {fmt_ts(wall_now)} from `{path}` (read-only) in {1000 * (time.perf_counter() - started):.0f} ms; "
        f"database last written {fmt_age(None if written is None else max(0.0, wall_now - written))}; "
        f"refreshes every {refresh_s:g} s."
    )


def _edge_lag_frame(report: dict[str, Any]) -> pd.DataFrame:
    btc = report.get("lead_lag_btc") or []
    brti = report.get("lead_lag_brti") or []
    rows = [{"lag (s)": k, "series": "BTC", "correlation": c} for k, c in enumerate(btc) if c is not None]
    rows += [{"lag (s)": k, "series": "BRTI", "correlation": c} for k, c in enumerate(brti) if c is not None]
    return pd.DataFrame(rows, columns=["lag (s)", "series", "correlation"])


def _edge_reliability_frame(report: dict[str, Any]) -> pd.DataFrame:
    rows = []
    for name, key in (("model", "reliability_model"), ("market mid", "reliability_market")):
        for b in report.get(key) or []:
            rows.append({"forecast": b["mean_forecast"], "observed": b["observed"], "forecaster": name, "n": b["n"]})
    rows += [{"forecast": x, "observed": x, "forecaster": "perfect", "n": 0} for x in (0.0, 1.0)]
    return pd.DataFrame(rows)


def render_edge(root: Path) -> None:
    """The Edge page: the latest `python main.py --edge-report RECORDING`, read-only."""
    try:
        view: EdgeView | None = read_latest_edge(root)
    except (DashboardDataError, sqlite3.Error) as exc:
        st.error(f"Cannot read {edge_db_path(root)}: {exc}")
        return
    if view is None:
        st.info("No edge report yet. Record real data (`python main.py --paper` or `--record-only`), then run "
                "`python main.py --edge-report data/recordings/YYYY-MM-DD`; this page shows the latest one.")
        return
    r = view.report
    st.subheader(str(r.get("headline", "")))
    if r.get("synthetic"):
        st.warning("SYNTHETIC: this recording was made by --sim; its books are simulated, not Kalshi.")
    st.caption(f"Recording `{view.recording}`, {int(r.get('events', 0)):,} events, {r.get('markets', 0)} market(s); "
               f"report made {fmt_ts(view.created_ts)}.")
    cols = st.columns(4)
    peak = r.get("peak_lag_btc")
    cols[0].metric("BTC leads Kalshi by", "-" if peak is None else f"{peak} s")
    median, p90 = r.get("persistence_median_s"), r.get("persistence_p90_s")
    cols[1].metric(f"Mispricing > {r.get('min_gap')} lasts (median)", "-" if median is None else f"{median:.0f} s")
    cols[2].metric("... and p90", "-" if p90 is None else f"{p90:.0f} s")
    bm, bk = r.get("brier_model"), r.get("brier_market")
    brier_text = " / ".join("-" if b is None else f"{b:.3f}" for b in (bm, bk))
    cols[3].metric("Brier: model / market", brier_text)
    st.markdown("**Lead-lag**: correlation of BTC's return in second t with Kalshi's mid change in second t + lag")
    lag = _edge_lag_frame(r)
    if not lag.empty:
        st.altair_chart(alt.Chart(lag).mark_line(point=True).encode(
            x="lag (s):Q", y="correlation:Q", color="series:N"), use_container_width=True)
    st.markdown("**Calibration**: how often YES happened, per forecast bin (the diagonal is perfect)")
    rel = _edge_reliability_frame(r)
    st.altair_chart(alt.Chart(rel).mark_line(point=True).encode(
        x=alt.X("forecast:Q", scale=alt.Scale(domain=[0, 1])), y=alt.Y("observed:Q", scale=alt.Scale(domain=[0, 1])),
        color="forecaster:N"), use_container_width=True)
    st.markdown("**Latency sweep**: the strategy replayed on the recorded books, orders filled at decision + latency")
    sweep = pd.DataFrame(r.get("sweep") or [])
    if not sweep.empty:
        sweep["¢ per contract"] = pd.to_numeric(sweep["cents_per_contract"], errors="coerce")
        st.altair_chart(alt.Chart(sweep).mark_bar().encode(
            x="latency_ms:O", y="¢ per contract:Q"), use_container_width=True)
        st.dataframe(sweep[["latency_ms", "orders", "trades", "contracts", "win_rate", "pnl", "cents_per_contract"]],
                     hide_index=True)


def main() -> None:
    root = project_root()
    wanted, cli_error = cli_mode(sys.argv[1:])
    default = wanted or most_recent_mode(root) or Mode.PAPER
    modes = list(Mode)
    mode_value = st.sidebar.selectbox(
        "Mode",
        [m.value for m in modes],
        index=modes.index(default),
        format_func=str.upper,
        key="mode",
        help="Each mode has its own database. Default: the one written most recently.",
    )
    mode = Mode(mode_value)
    st.set_page_config(page_title=f"polybot · {mode.value.upper()}", layout="wide")
    page = read_page_settings(database_path(root, mode))
    refresh_s = page.refresh_s
    view = st.sidebar.radio("Page", ["Trading", "Edge"], key="page", horizontal=True,
                            help="Edge: the latest --edge-report (what real recorded data says about the strategy)")
    st.sidebar.caption(f"File: `{database_path(root, mode)}`")
    st.sidebar.caption(f"Read-only view. Refreshes every {refresh_s:g} s.")
    render_tips(page.limits)
    # --sim trades against the synthetic book: its profit is the lag it assumed (issue 20).
    note = synthetic_book_label(page.sim_lag_s) if mode is Mode.SIM else ""
    st.markdown(banner_html(mode, note), unsafe_allow_html=True)
    if cli_error:
        st.error(cli_error)
    if view == "Edge":
        render_edge(root)
        return
    st.fragment(render_body, run_every=refresh_s)(mode, root, refresh_s)
    st.fragment(render_polymarket, run_every=refresh_s)(root)  # its own files: never mixed with the mode above


if __name__ == "__main__":
    main()
