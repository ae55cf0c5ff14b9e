"""The dashboard beside a bot that is writing: no lock errors on either side, and not one byte changed by reading."""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from src.db import Database, db_path_for
from src.model.models import Fill, Mode, OrderIntent, Side
from src.reporting.dashboard_queries import connect_readonly, read_snapshot
from tests.fakes.trading_dbs import DASHBOARD, REPO, build_normal, make_root

WRITE_SECONDS = 3.0
STARTING = Decimal("100.00")


def writer_main(path: str, stop_file: str, ready_file: str, max_seconds: float) -> None:
    """Run in a child process: trade, settle, report health and checkpoint as fast as it can.

    Prints one JSON line: iterations done and every exception met (there should be none).
    """
    db = Database(Path(path))
    bankroll = STARTING
    errors: list[str] = []
    open_trade: int | None = None
    i = 0
    deadline = time.monotonic() + max_seconds
    while time.monotonic() < deadline and not os.path.exists(stop_file):
        i += 1
        now = time.time()
        try:
            coid = f"w-{os.getpid()}-{i}"
            intent = OrderIntent(ticker="KXBTC15M-W", side=Side.YES, count=Decimal("3"),
                                 limit_price=Decimal("0.4700"), client_order_id=coid)
            db.insert_order_intent(intent, now)
            fill = Fill(order_id=coid, ticker="KXBTC15M-W", side=Side.YES, count=Decimal("3"),
                        price=Decimal("0.4700"), fee=Decimal("0.05"), ts=now, fill_id="1")
            new_trade = db.record_execution(coid, now, status="filled", venue_order_id=None, fills=[fill])
            if open_trade is not None:
                pnl = Decimal("1.54") if i % 3 else Decimal("-1.46")
                bankroll += pnl
                db.settle_trade(open_trade, now, result="yes" if pnl > 0 else "no",
                                payout=Decimal("3") if pnl > 0 else Decimal(0), pnl=pnl,
                                day=time.strftime("%Y-%m-%d", time.gmtime(now)), bankroll_after=bankroll)
            open_trade = new_trade
            db.set_health({"heartbeat_ts": str(now), "bankroll": str(bankroll), "starting_bankroll": str(STARTING),
                           "kill_state": "active", "why_not_trading": "trading"}, now)
            if i % 10 == 0:
                db.record_error(now, "writer", f"iteration {i}")
            if i % 40 == 0:
                db.checkpoint()
            if i == 2:
                Path(ready_file).touch()
        except Exception as exc:  # noqa: BLE001 - every failure is reported to the test
            errors.append(f"{type(exc).__name__}: {exc}")
    db.checkpoint()
    db.close()
    print(json.dumps({"iterations": i, "errors": errors}))


def _digest(path: Path) -> tuple[str, str]:
    """Hashes of the database file and its WAL (a missing WAL counts as empty)."""
    wal = path.with_name(path.name + "-wal")
    return (
        hashlib.sha256(path.read_bytes()).hexdigest(),
        hashlib.sha256(wal.read_bytes() if wal.exists() else b"").hexdigest(),
    )


def _app(root: Path, monkeypatch: pytest.MonkeyPatch) -> AppTest:
    monkeypatch.setenv("POLYBOT_ROOT", str(root))
    monkeypatch.setattr("sys.argv", ["dashboard.py", "--mode", "paper"])
    return AppTest.from_file(str(DASHBOARD), default_timeout=60)


def test_dashboard_reads_while_the_bot_writes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = make_root(tmp_path)
    path = db_path_for(root, Mode.PAPER)
    Database(path).close()
    stop, ready = tmp_path / "stop", tmp_path / "ready"
    writer = subprocess.Popen(  # noqa: S603
        [sys.executable, "-c",
         "import sys; from tests.test_dashboard_concurrency import writer_main; "
         "writer_main(sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4]))",
         str(path), str(stop), str(ready), str(WRITE_SECONDS + 60)],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )
    renders = snapshots = 0
    last_settled = -1
    try:
        started = time.monotonic()
        while not ready.exists():  # the child imports for a few seconds before it writes
            assert writer.poll() is None, "the writer process died before writing"
            assert time.monotonic() - started < 60, "the writer never started writing"
            time.sleep(0.05)
        at = _app(root, monkeypatch)
        deadline = time.monotonic() + WRITE_SECONDS
        while time.monotonic() < deadline:
            at.run()
            renders += 1
            assert not at.exception, [e.value for e in at.exception]
            assert not at.error, [e.value for e in at.error]
            for _ in range(5):
                conn = connect_readonly(path)
                try:
                    snap = read_snapshot(conn, mode=Mode.PAPER, wall_now=time.time())
                finally:
                    conn.close()
                snapshots += 1
                # One read transaction: the settled trades and the bankroll history agree exactly.
                assert snap.record.settled >= last_settled
                last_settled = snap.record.settled
                if snap.bankroll_points:
                    assert snap.bankroll_points[-1].value == STARTING + snap.bankroll.realised
                assert snap.bankroll.computed == STARTING + snap.bankroll.realised
    finally:
        stop.touch()
        out, err = writer.communicate(timeout=60)
    assert writer.returncode == 0, err.decode()[-2000:]
    report = json.loads(out.decode().strip().splitlines()[-1])
    assert report["errors"] == [], report["errors"][:3]
    assert report["iterations"] > 20, report
    assert renders >= 3 and snapshots >= 15
    assert last_settled > 0  # the dashboard really saw the writer's work
    print(f"writer iterations {report['iterations']}, dashboard renders {renders}, snapshots {snapshots}")

    check = sqlite3.connect(path)
    assert check.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    settled = check.execute("SELECT COUNT(*) FROM trades WHERE status = 'settled'").fetchone()[0]
    check.close()
    assert settled == report["iterations"] - 1


def test_reading_changes_no_byte_with_wal_content(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    built = build_normal(tmp_path)
    # Reopen as the bot would and keep the connection: fresh commits stay in the WAL, uncheckpointed.
    bot = Database(built.path)
    bot.record_error(time.time(), "bot", "still running")
    bot.set_health({"heartbeat_ts": str(time.time())}, time.time())
    wal = built.path.with_name(built.path.name + "-wal")
    assert wal.stat().st_size > 0
    before = _digest(built.path)
    mtimes = (built.path.stat().st_mtime_ns, wal.stat().st_mtime_ns)
    try:
        at = _app(built.root, monkeypatch)
        for _ in range(8):
            at.run()
            assert not at.exception and not at.error
            assert [m.value for m in at.metric if m.label == "Bankroll"] == ["$102.13"]
        for _ in range(40):
            conn = connect_readonly(built.path)
            read_snapshot(conn, mode=Mode.PAPER, wall_now=time.time())
            conn.close()
        assert _digest(built.path) == before
        assert (built.path.stat().st_mtime_ns, wal.stat().st_mtime_ns) == mtimes
        # The bot can still write afterwards: the reader left no lock behind.
        bot.record_error(time.time(), "bot", "after the dashboard")
    finally:
        bot.close()


def test_reading_a_closed_database_changes_no_byte(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    built = build_normal(tmp_path)  # the writer closed: everything checkpointed into the main file
    wal = built.path.with_name(built.path.name + "-wal")
    assert not wal.exists() or wal.stat().st_size == 0
    before = _digest(built.path)
    mtime = built.path.stat().st_mtime_ns
    at = _app(built.root, monkeypatch)
    for _ in range(8):
        at.run()
        assert not at.exception and not at.error
    assert _digest(built.path) == before
    assert built.path.stat().st_mtime_ns == mtime
    # SQLite's reader may create an empty -wal/-shm pair next to the file; it never puts data in the WAL.
    assert not wal.exists() or wal.stat().st_size == 0
