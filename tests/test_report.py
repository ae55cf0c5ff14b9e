"""--report figures on a fixture database, checked by hand."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from src.db import Database
from src.model.models import Fill, OrderIntent, Side
from src.reporting.report import build_day_report, day_bounds, max_drawdown
from src.reporting.report_render import render_json, render_text

DAY = date(2026, 4, 27)
START, END = day_bounds(DAY)


def _trade(db: Database, cid: str, *, count: str, price: str, fee: str, opened: float, settle: tuple | None) -> None:
    db.insert_order_intent(OrderIntent("KXBTC15M-26APR271445-45", Side.YES, Decimal(count), Decimal(price), cid),
                           opened)
    fill = Fill(cid, "KXBTC15M-26APR271445-45", Side.YES, Decimal(count), Decimal(price), Decimal(fee), opened)
    trade_id = db.record_execution(cid, opened, status="executed", venue_order_id=cid, fills=[fill])
    if settle is not None:
        won, ts = settle
        cost = Decimal(count) * Decimal(price)
        payout = Decimal(count) if won else Decimal(0)
        db.settle_trade(trade_id, ts, result="yes" if won else "no", payout=payout,
                        pnl=payout - cost - Decimal(fee), day="x", bankroll_after=Decimal(0))


def test_day_report_matches_hand_computation(tmp_path: Path) -> None:
    db = Database(tmp_path / "paper.db")
    # Yesterday: a win of 10 x (1 - 0.40) - 0.17 = +5.83 -> today's bankroll starts at 105.83.
    _trade(db, "a", count="10", price="0.40", fee="0.17", opened=START - 3600, settle=(True, START - 1800))
    # Today: win +2.88 (4 x 0.25 = 1.00 cost, 0.12 fee, payout 4), loss -3.15 (5 x 0.60 + 0.15), loss -1.04.
    _trade(db, "b", count="4", price="0.25", fee="0.12", opened=START + 100, settle=(True, START + 900))
    _trade(db, "c", count="5", price="0.60", fee="0.15", opened=START + 1000, settle=(False, START + 1800))
    _trade(db, "d", count="2", price="0.50", fee="0.04", opened=START + 2000, settle=(False, START + 2700))
    # Today, still open.
    _trade(db, "e", count="3", price="0.30", fee="0.07", opened=START + 3000, settle=None)
    # Tomorrow: must not appear.
    _trade(db, "f", count="1", price="0.50", fee="0.02", opened=END + 10, settle=(True, END + 100))
    db.record_kill_event(START + 2800, "cooling", "consecutive_losses")
    db.record_kill_event(END + 1, "reset", "next day")

    r = build_day_report(db, "paper", DAY, Decimal("100.00"))
    assert len(r.settled) == 3 and len(r.opened_still_open) == 1
    assert (r.wins, r.losses) == (1, 2)
    assert r.win_rate == Decimal(1) / Decimal(3)
    assert r.net_pnl == Decimal("2.88") - Decimal("3.15") - Decimal("1.04") == Decimal("-1.31")
    assert r.fees == Decimal("0.31")
    assert r.gross_pnl == Decimal("-1.00")
    assert r.bankroll_start == Decimal("105.83") and r.bankroll_end == Decimal("104.52")
    # Path 105.83 -> 108.71 (peak) -> 105.56 -> 104.52: drawdown 4.19 of 108.71.
    assert r.max_drawdown == Decimal("4.19")
    assert r.max_drawdown_pct == Decimal("4.19") / Decimal("108.71")
    assert [e.kind for e in r.kill_events] == ["cooling"]

    text = render_text(r)
    assert "Net P&L" in text and "-$1.31" in text and "$104.52" in text and "33.3%" in text
    body = json.loads(render_json(r))
    assert body["net_pnl"] == "-1.31" and body["wins"] == 1 and len(body["settled"]) == 3


def test_empty_day(tmp_path: Path) -> None:
    r = build_day_report(Database(tmp_path / "x.db"), "sim", DAY, Decimal("100"))
    assert r.win_rate is None and r.net_pnl == 0 and r.bankroll_end == Decimal("100")
    assert "n/a" in render_text(r)


def test_max_drawdown_pure() -> None:
    assert max_drawdown(Decimal(100), []) == (Decimal(0), Decimal(0))
    dd, pct = max_drawdown(Decimal(100), [Decimal(-10), Decimal(20), Decimal(-30), Decimal(5)])
    assert dd == Decimal(30) and pct == Decimal(30) / Decimal(110)


@pytest.mark.parametrize(("mode", "flag", "venue"), [
    ("polymarket-us-paper", "--paper", "us"),
    ("polymarket-us-live", "--live", "us"),
    ("polymarket", "--paper", "international"),
    ("sim", "--sim", None),
])  # fmt: skip
def test_report_without_a_database_says_which_real_run_writes_it(tmp_path, capsys, mode, flag, venue) -> None:
    """The hint names a flag and config that exist: there is no `polymarket-us-paper` run mode to run."""
    import main
    from src.config import AppConfig
    from src.model.exit_codes import EXIT_USAGE
    from src.model.file_locations import db_path_for, polymarket_db_path, us_db_path
    from src.model.models import Mode
    from src.model.report_modes import POLYMARKET_US
    from tests.fakes.fault_project import make_project

    root = make_project(tmp_path)
    assert main.main(["--report", "--mode", mode], root=root) == EXIT_USAGE
    err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(err) == 1 and f"run `python main.py {flag}`" in err[0], err
    expected = (us_db_path(root, POLYMARKET_US[mode]) if mode in POLYMARKET_US
                else polymarket_db_path(root) if mode == "polymarket" else db_path_for(root, Mode(mode)))
    assert f"({expected})" in err[0]  # the file the daemon of that mode writes
    assert f"{mode} mode" not in err[0]
    assert vars(main.parse_args([flag]))[flag.removeprefix("--")] is True  # a real run flag
    if venue is not None:
        assert f"platforms.polymarket.enabled: true and venue: {venue} in config.yaml" in err[0]
        cfg = AppConfig.model_validate({"platforms": {"polymarket": {"enabled": True, "venue": venue}}})
        assert cfg.platforms.polymarket.venue == venue  # the keys the hint names are real config keys
    else:
        assert "polymarket" not in err[0]
