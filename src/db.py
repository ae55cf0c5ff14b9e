"""SQLite persistence for one mode's trading records: read and write only, no business logic."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from src.model.file_locations import db_path_for as db_path_for  # re-exported: the helper callers know here
from src.model.file_locations import polymarket_db_path as polymarket_db_path
from src.model.models import Fill, OrderIntent, Side, TradeRow, fill_totals

# Forward-only migrations. Each runs once, inside a transaction that also bumps user_version,
# so a crash mid-migration leaves the previous version intact and a re-run is harmless.
MIGRATIONS: tuple[str, ...] = (
    # 1: the design's four tables plus what the executors need.
    """
    CREATE TABLE IF NOT EXISTS orders (
        id INTEGER PRIMARY KEY,
        client_order_id TEXT NOT NULL UNIQUE,
        venue_order_id TEXT,
        ticker TEXT NOT NULL,
        side TEXT NOT NULL CHECK (side IN ('yes', 'no')),
        count TEXT NOT NULL,
        limit_price TEXT NOT NULL,
        status TEXT NOT NULL,
        filled_count TEXT NOT NULL DEFAULT '0',
        avg_price TEXT,
        fees TEXT NOT NULL DEFAULT '0',
        strategy TEXT NOT NULL DEFAULT '',
        fair_prob REAL,
        edge TEXT,
        error TEXT,
        created_ts REAL NOT NULL,
        updated_ts REAL NOT NULL
    );
    CREATE INDEX IF NOT EXISTS orders_status ON orders(status);
    CREATE TABLE IF NOT EXISTS fills (
        id INTEGER PRIMARY KEY,
        order_id INTEGER NOT NULL REFERENCES orders(id),
        fill_id TEXT NOT NULL,
        ticker TEXT NOT NULL,
        side TEXT NOT NULL,
        count TEXT NOT NULL,
        price TEXT NOT NULL,
        fee TEXT NOT NULL,
        ts REAL NOT NULL,
        UNIQUE (order_id, fill_id)
    );
    CREATE TABLE IF NOT EXISTS trades (
        id INTEGER PRIMARY KEY,
        order_id INTEGER NOT NULL UNIQUE REFERENCES orders(id),
        ticker TEXT NOT NULL,
        side TEXT NOT NULL CHECK (side IN ('yes', 'no')),
        count TEXT NOT NULL,
        avg_price TEXT NOT NULL,
        cost TEXT NOT NULL,
        fees TEXT NOT NULL,
        strategy TEXT NOT NULL DEFAULT '',
        opened_ts REAL NOT NULL,
        status TEXT NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'settled')),
        result TEXT,
        payout TEXT,
        pnl TEXT,
        settled_ts REAL
    );
    CREATE INDEX IF NOT EXISTS trades_status ON trades(status);
    CREATE INDEX IF NOT EXISTS trades_settled ON trades(settled_ts);
    CREATE INDEX IF NOT EXISTS trades_opened ON trades(opened_ts);
    CREATE VIEW IF NOT EXISTS positions AS
        SELECT ticker, side, COUNT(*) AS trades, GROUP_CONCAT(count) AS counts,
               GROUP_CONCAT(cost) AS costs, GROUP_CONCAT(fees) AS fees, MIN(opened_ts) AS opened_ts
        FROM trades WHERE status = 'open' GROUP BY ticker, side;
    CREATE TABLE IF NOT EXISTS daily_pnl (
        day TEXT PRIMARY KEY,
        realized_pnl TEXT NOT NULL,
        fees TEXT NOT NULL,
        trades INTEGER NOT NULL,
        wins INTEGER NOT NULL,
        losses INTEGER NOT NULL,
        updated_ts REAL NOT NULL
    );
    CREATE TABLE IF NOT EXISTS bankroll_history (
        id INTEGER PRIMARY KEY,
        ts REAL NOT NULL,
        bankroll TEXT NOT NULL,
        reason TEXT NOT NULL
    );
    CREATE TABLE IF NOT EXISTS kill_switch_events (
        id INTEGER PRIMARY KEY,
        ts REAL NOT NULL,
        kind TEXT NOT NULL,
        reason TEXT NOT NULL,
        detail TEXT NOT NULL DEFAULT '{}'
    );
    CREATE INDEX IF NOT EXISTS kse_ts ON kill_switch_events(ts);
    CREATE TABLE IF NOT EXISTS auth_events (
        id INTEGER PRIMARY KEY,
        ts REAL NOT NULL,
        ok INTEGER NOT NULL,
        code TEXT NOT NULL DEFAULT ''
    );
    CREATE TABLE IF NOT EXISTS health (
        key TEXT PRIMARY KEY,
        value TEXT NOT NULL,
        ts REAL NOT NULL
    );
    CREATE TABLE IF NOT EXISTS errors (
        id INTEGER PRIMARY KEY,
        ts REAL NOT NULL,
        source TEXT NOT NULL,
        message TEXT NOT NULL
    );
    CREATE INDEX IF NOT EXISTS errors_ts ON errors(ts);
    """,
    # 2: notifications sent (or not) to the owner's phone, for the dashboard. No URLs, no secrets.
    """
    CREATE TABLE IF NOT EXISTS notifications (
        id INTEGER PRIMARY KEY,
        ts REAL NOT NULL,
        kind TEXT NOT NULL,
        level TEXT NOT NULL,
        title TEXT NOT NULL,
        service TEXT NOT NULL DEFAULT '',
        status TEXT NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        error TEXT NOT NULL DEFAULT ''
    );
    CREATE INDEX IF NOT EXISTS notifications_ts ON notifications(ts);
    """,
)

SCHEMA_VERSION = len(MIGRATIONS)

# Keys the daemon writes to the `health` table (value TEXT, ts REAL) for the dashboard and --report.
HEALTH_KEYS: dict[str, str] = {
    "mode": "paper | live | sim",
    "started_ts": "epoch seconds the daemon started",
    "heartbeat_ts": "epoch seconds of the last status update, by the daemon's clock (the simulator's runs ahead)",
    "heartbeat_wall_ts": "epoch seconds of the last status update, by the wall clock: is the process alive?",
    "pid": "the daemon's process id, with heartbeat_wall_ts: the dashboard checks the process is still there",
    "feed_source": "binance | binance_us | coinbase | replay | generator",
    "btc_price": "last BTC price, USD",
    "feed_last_tick_ts": "epoch seconds of the last feed tick (by the daemon's clock)",
    "feed_stale": "'1' when the feed is stale",
    "kalshi_last_call_ts": "epoch seconds of the last successful venue call",
    "market_ticker": "current KXBTC15M market ticker",
    "market_close_ts": "its close time, epoch seconds",
    "floor_strike": "its strike, USD",
    "why_not_trading": "reason code of the latest no-signal, or 'trading'",
    "kill_state": "active | cooling | rate_paused | daily_halted | halted | hard_stopped",
    "kill_reason": "reason code for the current kill switch state",
    "kill_since_ts": "epoch seconds the current kill switch state began",
    "bankroll": "current bankroll, dollars (Decimal string)",
    "starting_bankroll": "starting bankroll, dollars (USER_CONFIG.json, written at start)",
    "dashboard_refresh_s": "config.yaml's dashboard.refresh_s, written at start (the dashboard reads no config)",
    "risk_limits": "config.yaml's risk section as a JSON object, written at start (the dashboard names the limits)",
    "sim_lag_s": "--sim only: config.yaml's sim.lag_s, written at start (the dashboard labels the synthetic book)",
}


def _d(value: Any) -> Decimal:
    return Decimal(str(value)) if value is not None else Decimal(0)


def _settled_query(columns: str, since_ts: float | None, until_ts: float | None) -> tuple[str, list[float]]:
    """SELECT `columns` of the settled trades with settled_ts in [since_ts, until_ts), in settlement order."""
    sql = f"SELECT {columns} FROM trades WHERE status = 'settled'"
    args: list[float] = []
    if since_ts is not None:
        sql += " AND settled_ts >= ?"
        args.append(since_ts)
    if until_ts is not None:
        sql += " AND settled_ts < ?"
        args.append(until_ts)
    return sql + " ORDER BY settled_ts, id", args


def _s(value: Decimal) -> str:
    if not isinstance(value, Decimal):
        raise TypeError(f"money must be Decimal, got {type(value).__name__}")
    return str(value)


@dataclass(frozen=True, slots=True)
class OrderRow:
    id: int
    client_order_id: str
    venue_order_id: str | None
    ticker: str
    side: Side
    count: Decimal
    limit_price: Decimal
    status: str
    filled_count: Decimal
    avg_price: Decimal | None
    fees: Decimal
    strategy: str
    error: str | None
    created_ts: float
    updated_ts: float


@dataclass(frozen=True, slots=True)
class KillEventRow:
    id: int
    ts: float
    kind: str
    reason: str
    detail: dict[str, Any]


@dataclass(frozen=True, slots=True)
class AuthEventRow:
    ts: float
    ok: bool
    code: str


def _order_row(r: sqlite3.Row) -> OrderRow:
    return OrderRow(
        id=r["id"],
        client_order_id=r["client_order_id"],
        venue_order_id=r["venue_order_id"],
        ticker=r["ticker"],
        side=Side(r["side"]),
        count=_d(r["count"]),
        limit_price=_d(r["limit_price"]),
        status=r["status"],
        filled_count=_d(r["filled_count"]),
        avg_price=_d(r["avg_price"]) if r["avg_price"] is not None else None,
        fees=_d(r["fees"]),
        strategy=r["strategy"],
        error=r["error"],
        created_ts=r["created_ts"],
        updated_ts=r["updated_ts"],
    )


def _trade_row(r: sqlite3.Row) -> TradeRow:
    return TradeRow(
        id=r["id"],
        order_id=r["order_id"],
        ticker=r["ticker"],
        side=Side(r["side"]),
        count=_d(r["count"]),
        avg_price=_d(r["avg_price"]),
        cost=_d(r["cost"]),
        fees=_d(r["fees"]),
        strategy=r["strategy"],
        opened_ts=r["opened_ts"],
        status=r["status"],
        result=r["result"],
        payout=_d(r["payout"]) if r["payout"] is not None else None,
        pnl=_d(r["pnl"]) if r["pnl"] is not None else None,
        settled_ts=r["settled_ts"],
    )


class Database:
    """One SQLite file in WAL mode; every write is a transaction."""

    def __init__(self, path: Path, *, busy_timeout_ms: int = 5000, durable: bool = True) -> None:
        """durable=False (synchronous=OFF) is for throwaway files only, e.g. a backtest's database:
        a crash of the machine may then lose or corrupt it, in exchange for no fsync per checkpoint."""
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        # isolation_level=None: we issue BEGIN/COMMIT ourselves so every write is explicit.
        self._conn = sqlite3.connect(str(path), isolation_level=None, timeout=busy_timeout_ms / 1000)
        self._conn.row_factory = sqlite3.Row
        self._conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
        self._conn.execute("PRAGMA journal_mode = WAL")
        self._conn.execute("PRAGMA foreign_keys = ON")
        self._conn.execute(f"PRAGMA synchronous = {'NORMAL' if durable else 'OFF'}")
        self.migrate()

    # -- schema -------------------------------------------------------------------------------

    def migrate(self) -> int:
        """Apply pending migrations; safe to call any number of times."""
        current = self.schema_version()
        if current > SCHEMA_VERSION:
            raise RuntimeError(
                f"{self.path}: schema version {current} is newer than this code ({SCHEMA_VERSION}); "
                "update the bot instead of running an old copy against a new database"
            )
        for version in range(current + 1, SCHEMA_VERSION + 1):
            with self.transaction() as conn:
                for statement in _split_sql(MIGRATIONS[version - 1]):
                    conn.execute(statement)
                conn.execute(f"PRAGMA user_version = {version}")
        return self.schema_version()

    def schema_version(self) -> int:
        return int(self._conn.execute("PRAGMA user_version").fetchone()[0])

    def journal_mode(self) -> str:
        return str(self._conn.execute("PRAGMA journal_mode").fetchone()[0])

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        # IMMEDIATE takes the write lock up front so two writers fail fast on busy_timeout
        # rather than deadlocking on a lock upgrade.
        self._conn.execute("BEGIN IMMEDIATE")
        try:
            yield self._conn
        except BaseException:
            self._conn.execute("ROLLBACK")
            raise
        else:
            self._conn.execute("COMMIT")

    def close(self) -> None:
        self._conn.close()

    def checkpoint(self) -> None:
        self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    # -- orders -------------------------------------------------------------------------------

    def insert_order_intent(self, intent: OrderIntent, ts: float, status: str = "intent") -> int:
        with self.transaction() as conn:
            cur = conn.execute(
                "INSERT INTO orders (client_order_id, ticker, side, count, limit_price, status, strategy,"
                " fair_prob, edge, created_ts, updated_ts) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                (
                    intent.client_order_id,
                    intent.ticker,
                    intent.side.value,
                    _s(intent.count),
                    _s(intent.limit_price),
                    status,
                    intent.strategy,
                    intent.fair_prob,
                    _s(intent.edge),
                    ts,
                    ts,
                ),
            )
            return int(cur.lastrowid or 0)

    def update_order(
        self,
        client_order_id: str,
        ts: float,
        *,
        status: str,
        venue_order_id: str | None = None,
        filled_count: Decimal | None = None,
        avg_price: Decimal | None = None,
        fees: Decimal | None = None,
        error: str | None = None,
    ) -> None:
        with self.transaction() as conn:
            self._update_order(conn, client_order_id, ts, status, venue_order_id, filled_count,
                               avg_price, fees, error)

    @staticmethod
    def _update_order(
        conn: sqlite3.Connection,
        client_order_id: str,
        ts: float,
        status: str,
        venue_order_id: str | None,
        filled_count: Decimal | None,
        avg_price: Decimal | None,
        fees: Decimal | None,
        error: str | None,
    ) -> None:
        cur = conn.execute(
            "UPDATE orders SET status = ?, updated_ts = ?,"
            " venue_order_id = COALESCE(?, venue_order_id),"
            " filled_count = COALESCE(?, filled_count),"
            " avg_price = COALESCE(?, avg_price),"
            " fees = COALESCE(?, fees),"
            " error = COALESCE(?, error)"
            " WHERE client_order_id = ?",
            (
                status,
                ts,
                venue_order_id,
                _s(filled_count) if filled_count is not None else None,
                _s(avg_price) if avg_price is not None else None,
                _s(fees) if fees is not None else None,
                error,
                client_order_id,
            ),
        )
        if cur.rowcount != 1:
            raise KeyError(f"no order with client_order_id {client_order_id!r}")

    def record_execution(
        self,
        client_order_id: str,
        ts: float,
        *,
        status: str,
        venue_order_id: str | None,
        fills: list[Fill],
    ) -> int | None:
        """Store an order's outcome, its fills and (if anything filled) its trade, atomically.

        Returns the trade id, or None when nothing filled.
        """
        filled, cost, fees = fill_totals(fills)
        avg = (cost / filled) if filled else None
        with self.transaction() as conn:
            self._update_order(conn, client_order_id, ts, status, venue_order_id, filled, avg, fees, None)
            row = conn.execute(
                "SELECT id, strategy FROM orders WHERE client_order_id = ?", (client_order_id,)
            ).fetchone()
            for i, f in enumerate(fills):
                conn.execute(
                    "INSERT OR IGNORE INTO fills (order_id, fill_id, ticker, side, count, price, fee, ts)"
                    " VALUES (?,?,?,?,?,?,?,?)",
                    (row["id"], f.fill_id or str(i), f.ticker, f.side.value, _s(f.count), _s(f.price),
                     _s(f.fee), f.ts),
                )
            if not filled:
                return None
            first = fills[0]
            conn.execute(
                "INSERT INTO trades (order_id, ticker, side, count, avg_price, cost, fees, strategy,"
                " opened_ts) VALUES (?,?,?,?,?,?,?,?,?)"
                " ON CONFLICT(order_id) DO UPDATE SET count=excluded.count, avg_price=excluded.avg_price,"
                " cost=excluded.cost, fees=excluded.fees",
                (row["id"], first.ticker, first.side.value, _s(filled), _s(avg or Decimal(0)), _s(cost),
                 _s(fees), row["strategy"], ts),
            )
            trade = conn.execute("SELECT id FROM trades WHERE order_id = ?", (row["id"],)).fetchone()
            return int(trade["id"])

    def order_by_client_id(self, client_order_id: str) -> OrderRow | None:
        r = self._conn.execute("SELECT * FROM orders WHERE client_order_id = ?", (client_order_id,)).fetchone()
        return _order_row(r) if r else None

    def order_by_venue_id(self, venue_order_id: str) -> OrderRow | None:
        r = self._conn.execute(
            "SELECT * FROM orders WHERE venue_order_id = ? ORDER BY id LIMIT 1", (venue_order_id,)
        ).fetchone()
        return _order_row(r) if r else None

    def orders_with_status(self, *statuses: str) -> list[OrderRow]:
        marks = ",".join("?" * len(statuses))
        rows = self._conn.execute(
            f"SELECT * FROM orders WHERE status IN ({marks}) ORDER BY id", statuses
        ).fetchall()
        return [_order_row(r) for r in rows]

    def fills_for_order(self, client_order_id: str) -> list[Fill]:
        rows = self._conn.execute(
            "SELECT f.*, o.client_order_id FROM fills f JOIN orders o ON o.id = f.order_id"
            " WHERE o.client_order_id = ? ORDER BY f.id",
            (client_order_id,),
        ).fetchall()
        return [
            Fill(order_id=client_order_id, ticker=r["ticker"], side=Side(r["side"]), count=_d(r["count"]),
                 price=_d(r["price"]), fee=_d(r["fee"]), ts=r["ts"], fill_id=r["fill_id"])
            for r in rows
        ]

    # -- trades -------------------------------------------------------------------------------

    def open_trades(self, ticker: str | None = None) -> list[TradeRow]:
        if ticker is None:
            rows = self._conn.execute("SELECT * FROM trades WHERE status = 'open' ORDER BY id").fetchall()
        else:
            rows = self._conn.execute(
                "SELECT * FROM trades WHERE status = 'open' AND ticker = ? ORDER BY id", (ticker,)
            ).fetchall()
        return [_trade_row(r) for r in rows]

    def settle_trade(
        self,
        trade_id: int,
        ts: float,
        *,
        result: str,
        payout: Decimal,
        pnl: Decimal,
        day: str,
        bankroll_after: Decimal,
    ) -> bool:
        """Mark a trade settled and book it into daily_pnl and bankroll_history in one transaction.

        Returns False (and changes nothing) when the trade was already settled, so settling twice
        can never double-count.
        """
        with self.transaction() as conn:
            cur = conn.execute(
                "UPDATE trades SET status='settled', result=?, payout=?, pnl=?, settled_ts=?"
                " WHERE id = ? AND status = 'open'",
                (result, _s(payout), _s(pnl), ts, trade_id),
            )
            if cur.rowcount != 1:
                return False
            fees = _d(conn.execute("SELECT fees FROM trades WHERE id = ?", (trade_id,)).fetchone()[0])
            prev = conn.execute("SELECT * FROM daily_pnl WHERE day = ?", (day,)).fetchone()
            realized = (_d(prev["realized_pnl"]) if prev else Decimal(0)) + pnl
            fee_total = (_d(prev["fees"]) if prev else Decimal(0)) + fees
            n = (prev["trades"] if prev else 0) + 1
            wins = (prev["wins"] if prev else 0) + (1 if pnl > 0 else 0)
            losses = (prev["losses"] if prev else 0) + (1 if pnl < 0 else 0)
            conn.execute(
                "INSERT INTO daily_pnl (day, realized_pnl, fees, trades, wins, losses, updated_ts)"
                " VALUES (?,?,?,?,?,?,?) ON CONFLICT(day) DO UPDATE SET realized_pnl=excluded.realized_pnl,"
                " fees=excluded.fees, trades=excluded.trades, wins=excluded.wins, losses=excluded.losses,"
                " updated_ts=excluded.updated_ts",
                (day, _s(realized), _s(fee_total), n, wins, losses, ts),
            )
            conn.execute(
                "INSERT INTO bankroll_history (ts, bankroll, reason) VALUES (?,?,?)",
                (ts, _s(bankroll_after), f"settled trade {trade_id}"),
            )
            return True

    def settled_trades(self, since_ts: float | None = None, until_ts: float | None = None) -> list[TradeRow]:
        sql, args = _settled_query("*", since_ts, until_ts)
        return [_trade_row(r) for r in self._conn.execute(sql, args).fetchall()]

    def trades_opened_since(self, since_ts: float) -> list[TradeRow]:
        rows = self._conn.execute(
            "SELECT * FROM trades WHERE opened_ts >= ? ORDER BY opened_ts, id", (since_ts,)
        ).fetchall()
        return [_trade_row(r) for r in rows]

    def recent_settled_pnls(self, limit: int) -> list[Decimal]:
        """The newest `limit` settled P&Ls, newest first (for the consecutive-loss count)."""
        rows = self._conn.execute(
            "SELECT pnl FROM trades WHERE status = 'settled' ORDER BY settled_ts DESC, id DESC LIMIT ?",
            (limit,),
        ).fetchall()
        return [_d(r["pnl"]) for r in rows]

    def recent_settled_trades(self, limit: int) -> list[TradeRow]:
        """The newest `limit` settled trades, newest first (the kill switch rebuilds its loss streak)."""
        rows = self._conn.execute(
            "SELECT * FROM trades WHERE status = 'settled' ORDER BY settled_ts DESC, id DESC LIMIT ?", (limit,)
        ).fetchall()
        return [_trade_row(r) for r in rows]

    def order_times_since(self, since_ts: float, exclude_statuses: tuple[str, ...] = ()) -> list[tuple[float, str]]:
        """(created_ts, client_order_id) of orders created at or after `since_ts`, oldest first."""
        sql = "SELECT created_ts, client_order_id FROM orders WHERE created_ts >= ?"
        args: list[Any] = [since_ts]
        if exclude_statuses:
            sql += f" AND status NOT IN ({','.join('?' * len(exclude_statuses))})"
            args.extend(exclude_statuses)
        rows = self._conn.execute(sql + " ORDER BY created_ts, id", args).fetchall()
        return [(float(r["created_ts"]), str(r["client_order_id"])) for r in rows]

    def realized_pnl(self, since_ts: float | None = None, until_ts: float | None = None) -> Decimal:
        # Only the pnl column: this runs once per settled trade, and whole rows cost 10x more.
        sql, args = _settled_query("pnl", since_ts, until_ts)
        return sum((_d(pnl) for (pnl,) in self._conn.execute(sql, args)), Decimal(0))

    def all_trades(self) -> list[TradeRow]:
        return [_trade_row(r) for r in self._conn.execute("SELECT * FROM trades ORDER BY id").fetchall()]

    # -- bankroll, risk and health records ------------------------------------------------------

    def record_bankroll(self, ts: float, bankroll: Decimal, reason: str) -> None:
        with self.transaction() as conn:
            conn.execute(
                "INSERT INTO bankroll_history (ts, bankroll, reason) VALUES (?,?,?)", (ts, _s(bankroll), reason)
            )

    def record_kill_event(self, ts: float, kind: str, reason: str, detail: dict[str, Any] | None = None) -> None:
        with self.transaction() as conn:
            conn.execute(
                "INSERT INTO kill_switch_events (ts, kind, reason, detail) VALUES (?,?,?,?)",
                (ts, kind, reason, json.dumps(detail or {}, default=str, sort_keys=True)),
            )

    def kill_events(self, since_ts: float | None = None) -> list[KillEventRow]:
        sql = "SELECT * FROM kill_switch_events"
        args: tuple[float, ...] = ()
        if since_ts is not None:
            sql += " WHERE ts >= ?"
            args = (since_ts,)
        rows = self._conn.execute(sql + " ORDER BY ts, id", args).fetchall()
        return [KillEventRow(r["id"], r["ts"], r["kind"], r["reason"], json.loads(r["detail"])) for r in rows]

    def latest_kill_event(self, *kinds: str) -> KillEventRow | None:
        """The newest kill_switch_events row whose kind is one of `kinds`, or None."""
        if not kinds:
            raise ValueError("latest_kill_event needs at least one kind")
        r = self._conn.execute(
            f"SELECT * FROM kill_switch_events WHERE kind IN ({','.join('?' * len(kinds))})"
            " ORDER BY ts DESC, id DESC LIMIT 1",
            kinds,
        ).fetchone()
        return KillEventRow(r["id"], r["ts"], r["kind"], r["reason"], json.loads(r["detail"])) if r else None

    def recent_auth_events(self, limit: int) -> list[AuthEventRow]:
        """The newest `limit` auth events, newest first."""
        rows = self._conn.execute("SELECT * FROM auth_events ORDER BY id DESC LIMIT ?", (limit,)).fetchall()
        return [AuthEventRow(r["ts"], bool(r["ok"]), r["code"]) for r in rows]

    def record_auth_event(self, ts: float, ok: bool, code: str = "") -> None:
        with self.transaction() as conn:
            conn.execute("INSERT INTO auth_events (ts, ok, code) VALUES (?,?,?)", (ts, 1 if ok else 0, code))

    def consecutive_auth_failures(self) -> int:
        """Failures since the last success, newest first."""
        rows = self._conn.execute("SELECT ok FROM auth_events ORDER BY id DESC LIMIT 1000").fetchall()
        count = 0
        for r in rows:
            if r["ok"]:
                break
            count += 1
        return count

    def set_health(self, values: dict[str, str], ts: float) -> None:
        with self.transaction() as conn:
            conn.executemany(
                "INSERT INTO health (key, value, ts) VALUES (?,?,?)"
                " ON CONFLICT(key) DO UPDATE SET value=excluded.value, ts=excluded.ts",
                [(k, v, ts) for k, v in values.items()],
            )

    def health(self) -> dict[str, tuple[str, float]]:
        return {r["key"]: (r["value"], r["ts"]) for r in self._conn.execute("SELECT * FROM health")}

    def record_error(self, ts: float, source: str, message: str) -> None:
        with self.transaction() as conn:
            conn.execute("INSERT INTO errors (ts, source, message) VALUES (?,?,?)", (ts, source, message[:500]))

    def latest_record_ts(self) -> float | None:
        """The newest time any record carries, by the clock of the process that wrote it; None when empty.

        In sim mode that is the simulated time the last run reached, where a new run resumes.
        """
        sources = (
            "SELECT MAX(updated_ts) AS t FROM orders", "SELECT MAX(opened_ts) FROM trades",
            "SELECT MAX(settled_ts) FROM trades", "SELECT MAX(ts) FROM bankroll_history",
            "SELECT MAX(ts) FROM kill_switch_events", "SELECT MAX(ts) FROM auth_events",
            "SELECT MAX(ts) FROM errors", "SELECT MAX(ts) FROM health",
        )
        row = self._conn.execute(f"SELECT MAX(t) FROM ({' UNION ALL '.join(sources)})").fetchone()
        return None if row[0] is None else float(row[0])

    def record_notification(
        self, ts: float, kind: str, level: str, title: str, status: str, attempts: int, error: str = "",
        *, service: str = "",
    ) -> None:
        """One notification's outcome at one service (scheme://host only): status is sent | failed | dropped."""
        with self.transaction() as conn:
            conn.execute(
                "INSERT INTO notifications (ts, kind, level, title, service, status, attempts, error)"
                " VALUES (?,?,?,?,?,?,?,?)",
                (ts, kind, level, title[:200], service[:100], status, attempts, error[:300]),
            )

    def errors_since(self, since_ts: float) -> int:
        return int(self._conn.execute("SELECT COUNT(*) FROM errors WHERE ts >= ?", (since_ts,)).fetchone()[0])


# Created by PolymarketDatabase only, outside MIGRATIONS, so Kalshi's files keep their schema untouched.
POLYMARKET_TOKENS_SQL = """
    CREATE TABLE IF NOT EXISTS poly_tokens (
        token_id TEXT PRIMARY KEY,
        condition_id TEXT NOT NULL,
        outcome TEXT NOT NULL DEFAULT '',
        title TEXT NOT NULL DEFAULT '',
        ts REAL NOT NULL
    )
"""


class PolymarketDatabase(Database):
    """The Polymarket paper file: the shared schema plus which market (condition id) each traded token is in.

    Trades are keyed by the outcome token id (their `ticker`); settling one needs the token's
    condition id, which `GET /markets/{condition_id}` is asked with.
    """

    def __init__(self, path: Path, *, busy_timeout_ms: int = 5000) -> None:
        super().__init__(path, busy_timeout_ms=busy_timeout_ms)
        with self.transaction() as conn:
            conn.execute(POLYMARKET_TOKENS_SQL)

    def record_token_market(self, token_id: str, condition_id: str, ts: float, *, outcome: str = "",
                            title: str = "") -> None:
        if not token_id or not condition_id:
            raise ValueError("record_token_market needs a token id and a condition id")
        with self.transaction() as conn:
            conn.execute(
                "INSERT INTO poly_tokens (token_id, condition_id, outcome, title, ts) VALUES (?,?,?,?,?)"
                " ON CONFLICT(token_id) DO UPDATE SET condition_id=excluded.condition_id,"
                " outcome=excluded.outcome, title=excluded.title, ts=excluded.ts",
                (token_id, condition_id, outcome, title[:200], ts),
            )

    def condition_for_token(self, token_id: str) -> str | None:
        r = self._conn.execute("SELECT condition_id FROM poly_tokens WHERE token_id = ?", (token_id,)).fetchone()
        return str(r["condition_id"]) if r else None


def _split_sql(script: str) -> list[str]:
    """Split a migration into whole statements, each ending at a ';' SQLite itself calls complete.

    sqlite3.complete_statement knows string literals, comments and CREATE TRIGGER ... BEGIN ...
    END, so a ';' inside any of them never cuts a statement in two.
    """
    statements: list[str] = []
    start = 0
    for i, char in enumerate(script):
        if char == ";" and sqlite3.complete_statement(script[start : i + 1]):
            statement = _without_leading_comments(script[start : i + 1])
            if statement != ";":
                statements.append(statement)
            start = i + 1
    rest = _without_leading_comments(script[start:])
    if rest:
        raise ValueError(f"migration ends inside a statement: {rest[:80]!r}")
    return statements


def _without_leading_comments(text: str) -> str:
    """The text without blank lines and whole-line `--` comments before it (a comment after a ';' lands here)."""
    lines = text.strip().splitlines()
    while lines and (not lines[0].strip() or lines[0].strip().startswith("--")):
        lines.pop(0)
    return "\n".join(lines).strip()
