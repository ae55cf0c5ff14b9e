"""SQLite layer: schema, re-runnable migrations, one file per mode, money as TEXT, atomic writes."""

from __future__ import annotations

import sqlite3
from decimal import Decimal
from pathlib import Path

import pytest

from src.db import SCHEMA_VERSION, Database, db_path_for
from src.model.models import Fill, Mode, OrderIntent, Side


def _intent(cid: str = "pb1", count: str = "3", price: str = "0.41") -> OrderIntent:
    return OrderIntent("KXBTC15M-26APR271445-45", Side.YES, Decimal(count), Decimal(price), cid, edge=Decimal("0.1"))


def test_schema_created_in_wal_with_version(tmp_path: Path) -> None:
    db = Database(tmp_path / "x.db")
    assert db.schema_version() == SCHEMA_VERSION
    assert db.journal_mode() == "wal"
    tables = {r[0] for r in db._conn.execute("SELECT name FROM sqlite_master WHERE type IN ('table','view')")}
    assert {"trades", "daily_pnl", "bankroll_history", "kill_switch_events", "orders", "positions"} <= tables
    assert db._conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1


def test_durable_by_default_and_not_when_asked(tmp_path: Path) -> None:
    # synchronous: 1 = NORMAL (the default for every mode's database), 0 = OFF (a throwaway file).
    assert Database(tmp_path / "x.db")._conn.execute("PRAGMA synchronous").fetchone()[0] == 1
    fast = Database(tmp_path / "y.db", durable=False)
    assert fast._conn.execute("PRAGMA synchronous").fetchone()[0] == 0
    assert fast.journal_mode() == "wal" and fast.schema_version() == SCHEMA_VERSION


def test_migrations_rerun_safely(tmp_path: Path) -> None:
    path = tmp_path / "x.db"
    db = Database(path)
    db.insert_order_intent(_intent(), 1.0)
    db.close()
    again = Database(path)
    assert again.migrate() == SCHEMA_VERSION
    assert again.order_by_client_id("pb1") is not None


def test_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "x.db"
    Database(path).close()
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.close()
    with pytest.raises(RuntimeError, match="newer"):
        Database(path)


def test_one_file_per_mode(tmp_path: Path) -> None:
    paths = {db_path_for(tmp_path, m) for m in Mode}
    assert paths == {tmp_path / "data" / f"{m}.db" for m in ("paper", "live", "sim")}
    paper = Database(db_path_for(tmp_path, Mode.PAPER))
    sim = Database(db_path_for(tmp_path, Mode.SIM))
    paper.insert_order_intent(_intent(), 1.0)
    assert sim.order_by_client_id("pb1") is None


def test_money_is_stored_as_text(tmp_path: Path) -> None:
    db = Database(tmp_path / "x.db")
    db.insert_order_intent(_intent(price="0.5600"), 1.0)
    row = db._conn.execute("SELECT typeof(limit_price), limit_price FROM orders").fetchone()
    assert tuple(row) == ("text", "0.5600")
    with pytest.raises(TypeError):
        db.record_bankroll(1.0, 100.5, "float money")  # type: ignore[arg-type]


def test_execution_settlement_and_daily_pnl(tmp_path: Path) -> None:
    db = Database(tmp_path / "x.db")
    db.insert_order_intent(_intent(), 10.0)
    fills = [
        Fill("o1", "T", Side.YES, Decimal("2"), Decimal("0.40"), Decimal("0.02"), 11.0, "f1"),
        Fill("o1", "T", Side.YES, Decimal("1"), Decimal("0.41"), Decimal("0.01"), 11.0, "f2"),
    ]
    trade_id = db.record_execution("pb1", 11.0, status="executed", venue_order_id="o1", fills=fills)
    assert trade_id is not None
    (trade,) = db.open_trades()
    assert trade.count == Decimal("3") and trade.cost == Decimal("1.21") and trade.fees == Decimal("0.03")
    assert db.settle_trade(trade_id, 20.0, result="yes", payout=Decimal("3"), pnl=Decimal("1.76"),
                           day="2026-04-27", bankroll_after=Decimal("101.76"))
    assert not db.settle_trade(trade_id, 21.0, result="yes", payout=Decimal("3"), pnl=Decimal("1.76"),
                               day="2026-04-27", bankroll_after=Decimal("101.76"))
    daily = db._conn.execute("SELECT * FROM daily_pnl").fetchall()
    assert len(daily) == 1 and daily[0]["realized_pnl"] == "1.76" and daily[0]["wins"] == 1
    assert db.realized_pnl() == Decimal("1.76")
    assert db.recent_settled_pnls(5) == [Decimal("1.76")]
    assert db.open_trades() == []


def test_failed_transaction_leaves_nothing(tmp_path: Path) -> None:
    db = Database(tmp_path / "x.db")
    db.insert_order_intent(_intent(), 1.0)
    with pytest.raises(sqlite3.IntegrityError):
        db.insert_order_intent(_intent(), 2.0)  # duplicate client_order_id
    with pytest.raises(KeyError):
        db.record_execution("missing", 3.0, status="executed", venue_order_id=None, fills=[])
    assert len(db.orders_with_status("intent")) == 1


def test_auth_events_and_health(tmp_path: Path) -> None:
    db = Database(tmp_path / "x.db")
    db.record_auth_event(1.0, False, "INCORRECT_API_KEY_SIGNATURE")
    db.record_auth_event(2.0, True)
    db.record_auth_event(3.0, False, "header_timestamp_expired")
    db.record_auth_event(4.0, False, "header_timestamp_expired")
    assert db.consecutive_auth_failures() == 2
    db.set_health({"btc_price": "65000.1"}, 5.0)
    assert db.health()["btc_price"] == ("65000.1", 5.0)
    db.record_error(6.0, "feed", "boom")
    assert db.errors_since(5.5) == 1 and db.errors_since(7.0) == 0


# -- migrations are split where SQLite says a statement ends ------------------------------------------

TRIGGER_MIGRATION = """
    CREATE TABLE IF NOT EXISTS audit (id INTEGER PRIMARY KEY, note TEXT NOT NULL);  -- a comment; with a ';'
    CREATE TRIGGER IF NOT EXISTS trades_audit AFTER INSERT ON trades
    BEGIN
        INSERT INTO audit (note) VALUES ('trade ' || NEW.id || '; opened');
        INSERT INTO audit (note) VALUES ('second statement; same trigger');
    END;
"""


def test_a_trigger_is_one_statement() -> None:
    import src.db as db_module

    statements = db_module._split_sql(TRIGGER_MIGRATION)
    assert len(statements) == 2
    assert statements[1].startswith("CREATE TRIGGER") and statements[1].endswith("END;")


def test_a_migration_with_a_trigger_applies(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import src.db as db_module

    monkeypatch.setattr(db_module, "MIGRATIONS", (*db_module.MIGRATIONS, TRIGGER_MIGRATION))
    monkeypatch.setattr(db_module, "SCHEMA_VERSION", len(db_module.MIGRATIONS))
    db = Database(tmp_path / "t.db")
    assert db.schema_version() == db_module.SCHEMA_VERSION
    intent = OrderIntent("KXBTC15M-T", Side.YES, Decimal("2"), Decimal("0.40"), "pb-trigger")
    db.insert_order_intent(intent, 1.0)
    fill = Fill(order_id="pb-trigger", ticker="KXBTC15M-T", side=Side.YES, count=Decimal("2"),
                price=Decimal("0.40"), fee=Decimal("0.04"), ts=2.0, fill_id="f1")
    trade_id = db.record_execution("pb-trigger", 2.0, status="filled", venue_order_id="v1", fills=[fill])
    db.close()
    with sqlite3.connect(tmp_path / "t.db") as conn:
        notes = [r[0] for r in conn.execute("SELECT note FROM audit ORDER BY id")]
    assert notes == [f"trade {trade_id}; opened", "second statement; same trigger"]


def test_a_migration_cut_short_is_refused() -> None:
    import src.db as db_module

    with pytest.raises(ValueError, match="ends inside a statement"):
        db_module._split_sql("CREATE TABLE a (x INTEGER);\nCREATE TABLE b (y INTEGER)")
    assert db_module._split_sql("CREATE TABLE a (x INTEGER);\n-- the end\n") == ["CREATE TABLE a (x INTEGER);"]
