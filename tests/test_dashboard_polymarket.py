"""The dashboard's Polymarket view: read-only, one block per Polymarket database, whale activity and skip reasons."""

from __future__ import annotations

import hashlib
import sqlite3
from decimal import Decimal
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from src.db import PolymarketDatabase, polymarket_db_path
from src.journal.whale_journal import WhaleActivity, ensure_whale_activity, record_whale_activity
from src.model.file_locations import us_db_path, us_mode_name
from src.model.models import Fill, Mode, OrderIntent, Side, TradeRow
from src.reporting.dashboard_queries import (
    connect_readonly,
    polymarket_files,
    polymarket_paths,
    read_polymarket_view,
)

DASHBOARD = Path(__file__).resolve().parent.parent / "src" / "dashboard.py"
T0 = 1_780_000_000.0
SLUG = "aec-nfl-lac-ten-2026-12-07"


def build_us_db(root: Path, mode: Mode) -> Path:
    path = us_db_path(root, mode)
    db = PolymarketDatabase(path)
    try:
        ensure_whale_activity(db)
        intent = OrderIntent(SLUG, Side.NO, Decimal("8"), Decimal("0.61"), "pb" + "1" * 32, strategy="whale_copy")
        db.insert_order_intent(intent, T0, status="pending")
        db.record_execution(intent.client_order_id, T0 + 1, status="executed", venue_order_id="ord-1",
                            fills=[Fill("ord-1", SLUG, Side.NO, Decimal("8"), Decimal("0.60"), Decimal("0.04"), T0)])
        for i, (code, us_slug) in enumerate([("copied", SLUG), ("no_us_market", ""), ("no_us_market", ""),
                                             ("price_too_high", SLUG)]):  # fmt: skip
            record_whale_activity(db, WhaleActivity(
                ts=T0 + i, whale="whale1", wallet="0x" + "a1" * 20, title=f"market {i}", intl_slug="nfl-x",
                outcome="Titans", whale_price=Decimal("0.61"), whale_size=Decimal("100"), us_slug=us_slug,
                us_side="no" if us_slug else "", code=code, detail=f"detail {i}",
            ))  # fmt: skip
        db.set_health({"mode": f"polymarket_us_{mode.value}", "heartbeat_ts": repr(T0), "bankroll": "99.16",
                       "kill_state": "active", "kill_reason": ""}, T0)  # fmt: skip
        db.checkpoint()
    finally:
        db.close()
    return path


def test_the_query_reads_every_panel_without_writing(tmp_path: Path) -> None:
    path = build_us_db(tmp_path, Mode.LIVE)
    before = hashlib.sha256(path.read_bytes()).hexdigest()
    assert [p for _, p in polymarket_paths(tmp_path)] == [path]
    conn = connect_readonly(path)
    try:
        view = read_polymarket_view("Polymarket US · live", conn, path, T0 + 10)
        with pytest.raises(sqlite3.OperationalError):
            conn.execute("DELETE FROM whale_activity")
    finally:
        conn.close()
    assert hashlib.sha256(path.read_bytes()).hexdigest() == before
    assert view.mode == "polymarket_us_live" and view.bankroll == Decimal("99.16")
    assert view.kill.state == "active" and view.heartbeat_age_s == 10
    assert view.open_positions.count == 1 and view.open_positions.shown[0].side == "no"
    assert [t.ticker for t in view.last_trades] == [SLUG]
    assert [w.code for w in view.whale_activity] == ["price_too_high", "no_us_market", "no_us_market", "copied"]
    assert view.whale_activity[-1].us_market == f"{SLUG} NO"
    assert view.reasons == (("no_us_market", 2), ("copied", 1), ("price_too_high", 1))


def test_the_file_names_are_the_daemons(tmp_path: Path) -> None:
    files = dict(polymarket_files(tmp_path))
    assert files["Polymarket US · live"] == us_db_path(tmp_path, Mode.LIVE) == tmp_path / "data/polymarket_us_live.db"
    assert files["Polymarket US · paper"] == us_db_path(tmp_path, Mode.PAPER)
    assert files["Polymarket international · paper"] == polymarket_db_path(tmp_path)
    assert us_mode_name(Mode.PAPER) == us_db_path(tmp_path, Mode.PAPER).stem == "polymarket_us_paper"


def test_the_page_shows_the_polymarket_view(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    build_us_db(tmp_path, Mode.PAPER)
    monkeypatch.setenv("POLYBOT_ROOT", str(tmp_path))
    monkeypatch.setattr("sys.argv", ["dashboard.py"])
    at = AppTest.from_file(str(DASHBOARD), default_timeout=30)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert "Polymarket" in [s.value for s in at.subheader]
    assert any("Polymarket US · paper" in i.value for i in at.info)
    assert [m.value for m in at.metric if m.label == "Bankroll"][-1] == "$99.16"
    text = " ".join(c.value for c in at.caption)
    assert "Unmatched on Polymarket US: 2" in text and "polymarket_us_paper" in text
    frames = [df.value for df in at.dataframe]
    assert any("US market" in f.columns and "no_us_market" in set(f["result"]) for f in frames)


def test_money_reads_as_everywhere_else_a_loss_with_the_sign_before_the_dollar() -> None:
    from src.reporting.dashboard_polymarket import _money, _trades

    loss = TradeRow(id=1, order_id=1, ticker=SLUG, side=Side.NO, count=Decimal("8"), avg_price=Decimal("0.60"),
                    cost=Decimal("4.8"), fees=Decimal("0.04"), strategy="whale_copy", opened_ts=T0, status="settled",
                    result="yes", payout=Decimal("0"), pnl=Decimal("-4.84"), settled_ts=T0 + 60)  # fmt: skip
    row = _trades((loss,)).iloc[0]
    assert (row["cost"], row["fees"], row["P&L"]) == ("$4.80", "$0.04", "-$4.84")
    assert _money(Decimal("-1.5")) == "-$1.50" and _money(Decimal("99.155")) == "$99.16" and _money(None) == "-"
