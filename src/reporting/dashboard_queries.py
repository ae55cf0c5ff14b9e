"""Read-only queries that gather one mode's database into a snapshot for the dashboard."""

from __future__ import annotations

import json
import math
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from src.model.file_locations import db_path_for, edge_db_path, polymarket_db_path, us_db_path
from src.model.models import Mode, Side, TradeRow, bankroll_from
from src.model.stages import stage_of

LAST_TRADES = 10
OPEN_TRADES_SHOWN = 50
KILL_EVENTS_SHOWN = 5
RECENT_ERRORS_SHOWN = 5
PNL_BARS = 500
CHART_POINTS = 2000
ERROR_WINDOW_S = 3600.0
MAX_TS = 32_503_680_000.0  # year 3000: a later 'time' is garbage, not a clock

DEFAULT_REFRESH_S = 5.0  # when the daemon has not written config.yaml's dashboard.refresh_s yet


class DashboardDataError(Exception):
    """The database holds something the dashboard cannot read (shown as one line, never a traceback)."""


class NoDatabase(DashboardDataError):
    """This mode has no database file yet: the bot has never run in it."""

    def __init__(self, path: Path) -> None:
        super().__init__(f"{path} does not exist")
        self.path = path


@dataclass(frozen=True, slots=True)
class RiskLimits:
    """config.yaml's risk section as the daemon wrote it at start (health key risk_limits)."""

    max_single_trade_usd: Decimal
    daily_loss_pct: Decimal
    max_consecutive_losses: int
    cooling_hours: Decimal
    max_trades_per_hour: int
    max_auth_failures: int
    total_loss_pct: Decimal
    min_bankroll_usd: Decimal


@dataclass(frozen=True, slots=True)
class PageSettings:
    """What the page needs from the bot's configuration, read from the database (never from config files)."""

    refresh_s: float
    limits: RiskLimits | None  # None until a daemon has written them
    sim_lag_s: float | None = None  # --sim: the lag its synthetic book assumed (None until written)


@dataclass(frozen=True, slots=True)
class HealthValue:
    """One row of the daemon's `health` table."""

    value: str
    ts: float


@dataclass(frozen=True, slots=True)
class KillEvent:
    ts: float
    kind: str
    reason: str
    detail: str


@dataclass(frozen=True, slots=True)
class KillStatus:
    """The kill switch as the daemon last reported it; state None means it has not reported."""

    state: str | None
    reason: str
    since_ts: float | None
    events: tuple[KillEvent, ...]  # newest first


@dataclass(frozen=True, slots=True)
class BankrollView:
    """Bankroll as the daemon reports it, else starting bankroll + realised P&L (DECISIONS §5)."""

    value: Decimal | None
    source: str  # "daemon" | "computed" | "unknown"
    starting: Decimal | None
    realised: Decimal
    computed: Decimal | None
    stage: int | None


@dataclass(frozen=True, slots=True)
class DayPnl:
    day: str  # YYYY-MM-DD, UTC
    pnl: Decimal
    trades: int
    wins: int
    losses: int


@dataclass(frozen=True, slots=True)
class WinRate:
    settled: int
    wins: int
    losses: int

    @property
    def rate(self) -> Decimal | None:
        return Decimal(self.wins) / Decimal(self.settled) if self.settled else None


@dataclass(frozen=True, slots=True)
class OpenPositions:
    count: int
    cost: Decimal  # total cost of every open trade, not only the ones shown
    fees: Decimal
    shown: tuple[TradeRow, ...]  # newest first, at most OPEN_TRADES_SHOWN


@dataclass(frozen=True, slots=True)
class ErrorLine:
    ts: float
    source: str
    message: str


@dataclass(frozen=True, slots=True)
class NotificationLine:
    ts: float
    kind: str
    level: str
    title: str
    service: str  # scheme://host, never the URL
    status: str  # sent | failed | dropped
    attempts: int
    error: str


@dataclass(frozen=True, slots=True)
class NotificationsView:
    """The last notifications and how many could not be delivered in the last day."""

    recent: tuple[NotificationLine, ...] = ()  # newest first
    failed_last_day: int = 0


@dataclass(frozen=True, slots=True)
class SystemHealth:
    """Ages are seconds before the snapshot's reference time; None when never reported.

    The heartbeat's age is the exception: it is measured on the wall clock (heartbeat_wall_ts
    against the reader's own time), because the simulator's clock runs ahead of real time and a
    stopped simulator must never look alive.
    """

    heartbeat_age_s: float | None
    pid: int | None  # the daemon's process id, when it reported one
    feed_tick_age_s: float | None
    kalshi_call_age_s: float | None
    errors_last_hour: int
    recent_errors: tuple[ErrorLine, ...]  # newest first
    why_not_trading: str | None
    feed_stale: bool | None
    feed_source: str | None
    btc_price: str | None
    market_ticker: str | None
    market_close_ts: float | None
    started_ts: float | None
    # The current market's websocket book as the engine last judged it: "current", "stale",
    # "not whole" (seq gap, no snapshot yet, websocket down), or None without live books.
    book_state: str | None = None
    book_age_s: float | None = None


@dataclass(frozen=True, slots=True)
class ChartPoint:
    ts: float
    value: Decimal


@dataclass(frozen=True, slots=True)
class PnlBar:
    trade_id: int
    ts: float
    pnl: Decimal


@dataclass(frozen=True, slots=True)
class Snapshot:
    """Everything the dashboard shows, read in one read transaction so the panels agree."""

    schema_version: int
    now: float  # reference time for ages and "today": wall clock, or the simulator's clock in sim mode
    simulated_clock: bool
    health: dict[str, HealthValue]
    kill: KillStatus
    bankroll: BankrollView
    today: DayPnl
    record: WinRate
    open_positions: OpenPositions
    last_trades: tuple[TradeRow, ...]  # newest first
    system: SystemHealth
    limits: RiskLimits | None
    bankroll_points: tuple[ChartPoint, ...]  # oldest first, at most CHART_POINTS
    bankroll_history_rows: int
    pnl_bars: tuple[PnlBar, ...]  # oldest first, at most PNL_BARS
    notifications: NotificationsView = NotificationsView()


# -- files ---------------------------------------------------------------------------------------


def database_path(root: Path, mode: Mode) -> Path:
    return db_path_for(root, mode)


def last_write_time(path: Path) -> float | None:
    """Newest mtime of the database and its WAL (in WAL mode commits touch only the -wal file).

    An empty WAL is ignored: a read-only reader creates one when it opens a checkpointed database,
    and looking at a mode must not make it the 'most recently written' one.
    """
    times: list[float] = []
    for p in (path, path.with_name(path.name + "-wal")):
        try:
            info = p.stat()
        except FileNotFoundError:
            continue
        if p == path or info.st_size > 0:
            times.append(info.st_mtime)
    return max(times) if times else None


def most_recent_mode(root: Path) -> Mode | None:
    """The mode whose database was written most recently, or None when no mode has one."""
    best: tuple[float, Mode] | None = None
    for mode in Mode:
        written = last_write_time(database_path(root, mode))
        if written is not None and (best is None or written > best[0]):
            best = (written, mode)
    return best[1] if best else None


def connect_readonly(path: Path, *, busy_timeout_ms: int = 5000) -> sqlite3.Connection:
    """Open `path` so that SQLite itself refuses every write (mode=ro) and query_only is on."""
    if not path.is_file():
        raise NoDatabase(path)
    uri = path.resolve().as_uri() + "?mode=ro"
    conn = sqlite3.connect(uri, uri=True, timeout=busy_timeout_ms / 1000, isolation_level=None)
    conn.row_factory = sqlite3.Row
    conn.execute("PRAGMA query_only = ON")
    conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
    return conn


# -- pure helpers --------------------------------------------------------------------------------


def utc_day_bounds(ts: float) -> tuple[str, float, float]:
    """The UTC day containing `ts`: its name and [start, end) in epoch seconds."""
    start = datetime.fromtimestamp(ts, UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return start.strftime("%Y-%m-%d"), start.timestamp(), (start + timedelta(days=1)).timestamp()


def _money(value: object, where: str) -> Decimal:
    try:
        result = Decimal(str(value))
    except InvalidOperation:
        raise DashboardDataError(f"{where}: {value!r} is not a decimal number") from None
    if not result.is_finite():
        raise DashboardDataError(f"{where}: {value!r} is not a finite number")
    return result


def _opt_money(value: object, where: str) -> Decimal | None:
    return None if value is None else _money(value, where)


def _health_float(health: dict[str, HealthValue], key: str) -> float | None:
    item = health.get(key)
    if item is None:
        return None
    try:
        value = float(item.value)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def _health_str(health: dict[str, HealthValue], key: str) -> str | None:
    item = health.get(key)
    return item.value if item is not None and item.value != "" else None


def book_stale_warning(book_state: str | None, book_age_s: float | None) -> str:
    """What the page says when the current market's websocket book may not be traded on ("" when it may)."""
    if book_state == "not whole":
        return ("Book not whole: the websocket book of the current market has a seq gap, awaits its snapshot "
                "or the websocket is down. No decision is made on it (never on a REST poll) until it is whole.")
    if book_state == "stale":
        age = "" if book_age_s is None else f" ({book_age_s:.1f} s old)"
        return (f"Book stale{age}: the current market's websocket book is older than the limit; "
                "no decision until it is current.")
    return ""


def _age(now: float, ts: float | None) -> float | None:
    return None if ts is None else max(0.0, now - ts)


# -- queries -------------------------------------------------------------------------------------


def read_health(conn: sqlite3.Connection) -> dict[str, HealthValue]:
    rows = conn.execute("SELECT key, value, ts FROM health")
    return {r["key"]: HealthValue(r["value"], float(r["ts"])) for r in rows}


def read_page_settings(path: Path) -> PageSettings:
    """config.yaml's dashboard.refresh_s (else 5 s), risk limits and --sim's lag (else None), as the daemon
    wrote them."""
    try:
        conn = connect_readonly(path)
    except (DashboardDataError, sqlite3.Error):
        return PageSettings(DEFAULT_REFRESH_S, None)
    try:
        health = read_health(conn)
    except sqlite3.Error:
        return PageSettings(DEFAULT_REFRESH_S, None)
    finally:
        conn.close()
    value = _health_float(health, "dashboard_refresh_s")
    refresh = value if value is not None and 1 <= value <= 600 else DEFAULT_REFRESH_S
    lag = _health_float(health, "sim_lag_s")
    return PageSettings(refresh, risk_limits(health), lag if lag is not None and 0 <= lag <= 600 else None)


def risk_limits(health: dict[str, HealthValue]) -> RiskLimits | None:
    """The risk_limits row (a JSON object), or None when missing or unreadable: the page then speaks generally."""
    text = _health_str(health, "risk_limits")
    if text is None:
        return None
    try:
        raw = json.loads(text)
        return RiskLimits(
            max_single_trade_usd=_money(raw["max_single_trade_usd"], "risk_limits"),
            daily_loss_pct=_money(raw["daily_loss_pct"], "risk_limits"),
            max_consecutive_losses=int(raw["max_consecutive_losses"]),
            cooling_hours=_money(raw["cooling_hours"], "risk_limits"),
            max_trades_per_hour=int(raw["max_trades_per_hour"]),
            max_auth_failures=int(raw["max_auth_failures"]),
            total_loss_pct=_money(raw["total_loss_pct"], "risk_limits"),
            min_bankroll_usd=_money(raw["min_bankroll_usd"], "risk_limits"),
        )
    except (ValueError, TypeError, KeyError, DashboardDataError):
        return None


def reference_now(mode: Mode, health: dict[str, HealthValue], wall_now: float) -> tuple[float, bool]:
    """Which 'now' ages and 'today' are measured from.

    The simulator runs its own clock (faster than real time), so in sim mode the daemon's last
    heartbeat is 'now'; paper and live run on the wall clock.
    """
    if mode is Mode.SIM:
        heartbeat = _health_float(health, "heartbeat_ts")
        if heartbeat is not None and 0 < heartbeat < MAX_TS:
            return heartbeat, True
    return wall_now, False


def read_kill_status(conn: sqlite3.Connection, health: dict[str, HealthValue]) -> KillStatus:
    rows = conn.execute(
        "SELECT ts, kind, reason, detail FROM kill_switch_events ORDER BY ts DESC, id DESC LIMIT ?",
        (KILL_EVENTS_SHOWN,),
    ).fetchall()
    events = tuple(KillEvent(float(r["ts"]), r["kind"], r["reason"], _compact_json(r["detail"])) for r in rows)
    return KillStatus(
        state=_health_str(health, "kill_state"),
        reason=_health_str(health, "kill_reason") or "",
        since_ts=_health_float(health, "kill_since_ts"),
        events=events,
    )


def _compact_json(text: str) -> str:
    try:
        value = json.loads(text)
    except (TypeError, ValueError):
        return str(text)
    if value in ({}, [], None, ""):
        return ""
    if isinstance(value, dict):
        return ", ".join(f"{k}={v}" for k, v in value.items())
    return json.dumps(value, default=str)


def _tally(rows: Iterable[tuple[str | None]]) -> tuple[Decimal, int, int, int]:
    """(exact P&L total, trades, wins, losses) of rows holding one trades.pnl each."""
    total = Decimal(0)
    trades = wins = losses = 0
    for (pnl_text,) in rows:
        pnl = _money(pnl_text if pnl_text is not None else "0", "trades.pnl")
        total += pnl
        trades += 1
        if pnl > 0:
            wins += 1
        elif pnl < 0:
            losses += 1
    return total, trades, wins, losses


def read_settled_totals(conn: sqlite3.Connection) -> tuple[Decimal, WinRate]:
    """Realised P&L of every settled trade (exact Decimal sum) and the win/loss record."""
    cur = conn.cursor()
    cur.row_factory = None  # plain tuples: this loop is the one that sees every settled trade
    total, settled, wins, losses = _tally(cur.execute("SELECT pnl FROM trades WHERE status = 'settled'"))
    return total, WinRate(settled=settled, wins=wins, losses=losses)


def read_day_pnl(conn: sqlite3.Connection, now: float) -> DayPnl:
    day, start, end = utc_day_bounds(now)
    # `+status` keeps SQLite off the status index so it uses trades_settled (a few rows, not all).
    total, trades, wins, losses = _tally(conn.execute(
        "SELECT pnl FROM trades WHERE +status = 'settled' AND settled_ts >= ? AND settled_ts < ?", (start, end)
    ))
    return DayPnl(day=day, pnl=total, trades=trades, wins=wins, losses=losses)


def _trade_line(r: sqlite3.Row) -> TradeRow:
    where = f"trade {r['id']}"
    try:
        side = Side(r["side"])
    except ValueError:
        raise DashboardDataError(f"{where}: side {r['side']!r} is neither yes nor no") from None
    return TradeRow(
        id=int(r["id"]),
        order_id=int(r["order_id"]),
        ticker=r["ticker"],
        side=side,
        count=_money(r["count"], where),
        avg_price=_money(r["avg_price"], where),
        cost=_money(r["cost"], where),
        fees=_money(r["fees"], where),
        strategy=r["strategy"],
        opened_ts=float(r["opened_ts"]),
        status=r["status"],
        result=r["result"],
        payout=_opt_money(r["payout"], where),
        pnl=_opt_money(r["pnl"], where),
        settled_ts=None if r["settled_ts"] is None else float(r["settled_ts"]),
    )


_TRADE_COLUMNS = (
    "id, order_id, ticker, side, count, avg_price, cost, fees, strategy, opened_ts, status, result, payout, pnl,"
    " settled_ts"
)


def read_open_positions(conn: sqlite3.Connection) -> OpenPositions:
    count = 0
    cost = fees = Decimal(0)
    for r in conn.execute("SELECT id, cost, fees FROM trades WHERE status = 'open'"):
        count += 1
        cost += _money(r["cost"], f"trade {r['id']}")
        fees += _money(r["fees"], f"trade {r['id']}")
    shown = conn.execute(
        f"SELECT {_TRADE_COLUMNS} FROM trades WHERE status = 'open' ORDER BY opened_ts DESC, id DESC LIMIT ?",
        (OPEN_TRADES_SHOWN,),
    ).fetchall()
    return OpenPositions(count=count, cost=cost, fees=fees, shown=tuple(_trade_line(r) for r in shown))


def read_last_trades(conn: sqlite3.Connection, limit: int = LAST_TRADES) -> tuple[TradeRow, ...]:
    rows = conn.execute(f"SELECT {_TRADE_COLUMNS} FROM trades ORDER BY id DESC LIMIT ?", (limit,)).fetchall()
    return tuple(_trade_line(r) for r in rows)


def heartbeat_wall_age(health: dict[str, HealthValue], wall_now: float, simulated: bool) -> float | None:
    """Real seconds since the daemon's last status update, or None when that is unknown.

    A daemon from before heartbeat_wall_ts existed wrote only heartbeat_ts: that is wall time
    in paper and live, but simulated time in sim, which says nothing about real time.
    """
    wall = _health_float(health, "heartbeat_wall_ts")
    if wall is None and not simulated:
        wall = _health_float(health, "heartbeat_ts")
    return _age(wall_now, wall)


def _health_pid(health: dict[str, HealthValue]) -> int | None:
    text = _health_str(health, "pid")
    return int(text) if text is not None and text.isdigit() and int(text) > 0 else None


def read_system_health(
    conn: sqlite3.Connection, health: dict[str, HealthValue], now: float, wall_age_s: float | None
) -> SystemHealth:
    errors = int(conn.execute("SELECT COUNT(*) FROM errors WHERE ts >= ?", (now - ERROR_WINDOW_S,)).fetchone()[0])
    recent = conn.execute(
        "SELECT ts, source, message FROM errors ORDER BY ts DESC, id DESC LIMIT ?", (RECENT_ERRORS_SHOWN,)
    ).fetchall()
    stale = _health_str(health, "feed_stale")
    return SystemHealth(
        heartbeat_age_s=wall_age_s,
        pid=_health_pid(health),
        feed_tick_age_s=_age(now, _health_float(health, "feed_last_tick_ts")),
        kalshi_call_age_s=_age(now, _health_float(health, "kalshi_last_call_ts")),
        errors_last_hour=errors,
        recent_errors=tuple(ErrorLine(float(r["ts"]), r["source"], r["message"]) for r in recent),
        why_not_trading=_health_str(health, "why_not_trading"),
        feed_stale=None if stale is None else stale == "1",
        feed_source=_health_str(health, "feed_source"),
        btc_price=_health_str(health, "btc_price"),
        market_ticker=_health_str(health, "market_ticker"),
        market_close_ts=_health_float(health, "market_close_ts"),
        started_ts=_health_float(health, "started_ts"),
        book_state=_health_str(health, "book_state") or None,
        book_age_s=_health_float(health, "book_age_s"),
    )


NOTIFICATIONS_SHOWN = 10
NOT_DELIVERED = ("failed", "dropped")


def read_notifications(conn: sqlite3.Connection, now: float) -> NotificationsView:
    """Empty for a database written before notifications existed (schema version 1)."""
    if schema_version(conn) < 2:
        return NotificationsView()
    rows = conn.execute(
        "SELECT ts, kind, level, title, service, status, attempts, error FROM notifications"
        " ORDER BY ts DESC, id DESC LIMIT ?",
        (NOTIFICATIONS_SHOWN,),
    ).fetchall()
    failed = int(conn.execute(
        f"SELECT COUNT(*) FROM notifications WHERE ts >= ? AND status IN ({','.join('?' * len(NOT_DELIVERED))})",
        (now - 86400, *NOT_DELIVERED),
    ).fetchone()[0])
    return NotificationsView(
        recent=tuple(
            NotificationLine(float(r["ts"]), r["kind"], r["level"], r["title"], r["service"], r["status"],
                             int(r["attempts"]), r["error"])
            for r in rows
        ),
        failed_last_day=failed,
    )


def read_bankroll_points(
    conn: sqlite3.Connection, max_points: int = CHART_POINTS
) -> tuple[int, tuple[ChartPoint, ...]]:
    """Bankroll history, downsampled to at most `max_points` while keeping every bucket's low and high.

    Keeping the extremes (not every n-th row) means a drawdown never disappears from the chart.
    Returns (rows in the table, points oldest first).
    """
    if max_points < 4:
        raise ValueError("max_points must be at least 4")
    n, lo, hi = conn.execute("SELECT COUNT(*), MIN(id), MAX(id) FROM bankroll_history").fetchone()
    if not n:
        return 0, ()
    if n <= max_points:
        rows = conn.execute("SELECT id, ts, bankroll FROM bankroll_history").fetchall()
    else:
        buckets = (max_points - 2) // 2
        span = hi - lo + 1
        # SQLite returns the bare columns of the row that holds the single MIN()/MAX() of each group.
        bucket_sql = (
            "SELECT id, ts, bankroll, {fn}(CAST(bankroll AS REAL)) FROM bankroll_history GROUP BY (id - ?) * ? / ?"
        )
        rows = []
        for fn in ("MIN", "MAX"):
            rows += conn.execute(bucket_sql.format(fn=fn), (lo, buckets, span)).fetchall()
        rows += conn.execute(
            "SELECT id, ts, bankroll FROM bankroll_history WHERE id IN (?, ?)", (lo, hi)
        ).fetchall()
    unique = {int(r[0]): r for r in rows}
    points = sorted(
        (
            (float(r[1]), rid, _money(r[2], f"bankroll_history {rid}"))
            for rid, r in unique.items()
        ),
    )
    return int(n), tuple(ChartPoint(ts, value) for ts, _, value in points)


def read_pnl_bars(conn: sqlite3.Connection, limit: int = PNL_BARS) -> tuple[PnlBar, ...]:
    rows = conn.execute(
        "SELECT id, settled_ts, pnl FROM trades WHERE +status = 'settled' AND settled_ts IS NOT NULL"
        " ORDER BY settled_ts DESC, id DESC LIMIT ?",
        (limit,),
    ).fetchall()
    bars = [PnlBar(int(r[0]), float(r[1] or 0.0), _money(r[2] or "0", f"trade {r[0]}")) for r in rows]
    bars.reverse()
    return tuple(bars)


def bankroll_view(health: dict[str, HealthValue], realised: Decimal) -> BankrollView:
    starting = _health_decimal(health, "starting_bankroll")  # the daemon writes it at start
    computed = bankroll_from(starting, realised) if starting is not None else None
    reported = _health_decimal(health, "bankroll")
    if reported is not None:
        value, source = reported, "daemon"
    elif computed is not None:
        value, source = computed, "computed"
    else:
        value, source = None, "unknown"
    return BankrollView(
        value=value,
        source=source,
        starting=starting,
        realised=realised,
        computed=computed,
        stage=stage_of(value).number if value is not None else None,
    )


def _health_decimal(health: dict[str, HealthValue], key: str) -> Decimal | None:
    text = _health_str(health, key)
    return None if text is None else _money(text, f"health.{key}")


def schema_version(conn: sqlite3.Connection) -> int:
    return int(conn.execute("PRAGMA user_version").fetchone()[0])


def read_snapshot(
    conn: sqlite3.Connection,
    *,
    mode: Mode,
    wall_now: float,
) -> Snapshot:
    """Read every panel's data inside one read transaction (a consistent view while the bot writes)."""
    version = schema_version(conn)
    if version == 0:
        raise DashboardDataError("the database has no tables yet: the bot is still creating it")
    conn.execute("BEGIN")
    try:
        health = read_health(conn)
        now, simulated = reference_now(mode, health, wall_now)
        realised, record = read_settled_totals(conn)
        history_rows, points = read_bankroll_points(conn)
        return Snapshot(
            schema_version=version,
            now=now,
            simulated_clock=simulated,
            health=health,
            kill=read_kill_status(conn, health),
            bankroll=bankroll_view(health, realised),
            today=read_day_pnl(conn, now),
            record=record,
            open_positions=read_open_positions(conn),
            last_trades=read_last_trades(conn),
            system=read_system_health(conn, health, now, heartbeat_wall_age(health, wall_now, simulated)),
            limits=risk_limits(health),
            bankroll_points=points,
            bankroll_history_rows=history_rows,
            pnl_bars=read_pnl_bars(conn),
            notifications=read_notifications(conn, now),
        )
    except sqlite3.OperationalError as exc:
        if "no such table" in str(exc) or "no such column" in str(exc):
            raise DashboardDataError(f"unexpected database layout ({exc}); is the dashboard older than the bot?")\
                from None
        raise
    finally:
        conn.execute("ROLLBACK")


# -- Polymarket view ------------------------------------------------------------------------------
# Polymarket runs beside Kalshi in its own files (src/model/file_locations.py): one per venue and
# mode, each with its own kill switch and bankroll. Read here the same read-only way.
WHALE_ACTIVITY_SHOWN = 20


@dataclass(frozen=True, slots=True)
class WhaleActivityLine:
    ts: float
    whale: str
    title: str
    outcome: str
    whale_price: str
    us_market: str  # "slug YES|NO", or "" when unmatched
    code: str
    detail: str


@dataclass(frozen=True, slots=True)
class PolymarketView:
    """One Polymarket database: mode, kill switch, bankroll, positions, trades, whale activity, skip reasons."""

    name: str
    path: Path
    mode: str | None  # the daemon's health `mode`, e.g. polymarket_us_live
    heartbeat_age_s: float | None
    kill: KillStatus
    bankroll: Decimal | None
    open_positions: OpenPositions
    last_trades: tuple[TradeRow, ...]
    whale_activity: tuple[WhaleActivityLine, ...]  # newest first
    reasons: tuple[tuple[str, int], ...]  # reason code -> count over the journal, most frequent first
    errors_last_hour: int


def polymarket_files(root: Path) -> tuple[tuple[str, Path], ...]:
    """Every Polymarket database the daemons may write, by the name the dashboard shows, live first."""
    return (
        ("Polymarket US · live", us_db_path(root, Mode.LIVE)),
        ("Polymarket US · paper", us_db_path(root, Mode.PAPER)),
        ("Polymarket international · paper", polymarket_db_path(root)),
    )


def polymarket_paths(root: Path) -> list[tuple[str, Path]]:
    """The Polymarket databases that exist, live first."""
    return [(name, path) for name, path in polymarket_files(root) if path.is_file()]


def _has_table(conn: sqlite3.Connection, name: str) -> bool:
    return conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (name,)).fetchone() is not None


def read_whale_activity(conn: sqlite3.Connection, limit: int = WHALE_ACTIVITY_SHOWN) -> tuple[WhaleActivityLine, ...]:
    if not _has_table(conn, "whale_activity"):
        return ()
    rows = conn.execute(
        "SELECT ts, whale, title, outcome, whale_price, us_slug, us_side, code, detail FROM whale_activity"
        " ORDER BY ts DESC, id DESC LIMIT ?", (limit,),
    ).fetchall()  # fmt: skip
    return tuple(WhaleActivityLine(float(r["ts"]), r["whale"], r["title"], r["outcome"], r["whale_price"],
                                   f"{r['us_slug']} {r['us_side'].upper()}" if r["us_slug"] else "", r["code"],
                                   r["detail"]) for r in rows)  # fmt: skip


def read_reason_counts(conn: sqlite3.Connection) -> tuple[tuple[str, int], ...]:
    if not _has_table(conn, "whale_activity"):
        return ()
    rows = conn.execute("SELECT code, COUNT(*) AS n FROM whale_activity GROUP BY code ORDER BY n DESC, code")
    return tuple((r["code"], int(r["n"])) for r in rows)


def read_polymarket_view(name: str, conn: sqlite3.Connection, path: Path, wall_now: float) -> PolymarketView:
    """One Polymarket database, inside one read transaction."""
    if schema_version(conn) == 0:
        raise DashboardDataError("the database has no tables yet: the bot is still creating it")
    conn.execute("BEGIN")
    try:
        health = read_health(conn)
        errors = int(conn.execute("SELECT COUNT(*) FROM errors WHERE ts >= ?",
                                  (wall_now - ERROR_WINDOW_S,)).fetchone()[0])  # fmt: skip
        return PolymarketView(
            name=name, path=path, mode=_health_str(health, "mode"),
            heartbeat_age_s=_age(wall_now, _health_float(health, "heartbeat_ts")),
            kill=read_kill_status(conn, health), bankroll=_health_decimal(health, "bankroll"),
            open_positions=read_open_positions(conn), last_trades=read_last_trades(conn),
            whale_activity=read_whale_activity(conn), reasons=read_reason_counts(conn), errors_last_hour=errors,
        )  # fmt: skip
    except sqlite3.OperationalError as exc:
        if "no such table" in str(exc) or "no such column" in str(exc):
            raise DashboardDataError(f"unexpected database layout ({exc})") from None
        raise
    finally:
        conn.execute("ROLLBACK")


# -- the Edge page: the latest --edge-report, saved by src/research/edge_store.py ------------------


@dataclass(frozen=True, slots=True)
class EdgeView:
    """The newest saved edge report: when, on which recording, and its figures (JSON values)."""

    created_ts: float
    recording: str
    report: dict[str, Any]


def read_latest_edge(root: Path) -> EdgeView | None:
    """The latest edge report, read-only; None when no report has been saved yet."""
    try:
        conn = connect_readonly(edge_db_path(root))
    except NoDatabase:
        return None
    try:
        row = conn.execute(
            "SELECT created_ts, recording, payload FROM edge_reports ORDER BY id DESC LIMIT 1"
        ).fetchone()
    except sqlite3.OperationalError as exc:
        if "no such table" in str(exc):
            return None
        raise
    finally:
        conn.close()
    if row is None:
        return None
    try:
        report = json.loads(row["payload"])
    except ValueError as exc:
        raise DashboardDataError(f"the saved edge report is not valid JSON ({exc})") from None
    if not isinstance(report, dict):
        raise DashboardDataError("the saved edge report is not a JSON object")
    return EdgeView(float(row["created_ts"]), str(row["recording"]), report)
