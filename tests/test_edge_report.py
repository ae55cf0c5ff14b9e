"""--edge-report on a SYNTHETIC recording whose Kalshi book follows BTC 7 s late, its statistics and the Edge page."""

from __future__ import annotations

import math
import random
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from src.config import load_settings
from src.model.models import BookLevel, Market, OrderBook
from src.recording.reader import load_recording
from src.recording.writer import Recorder
from src.reporting.dashboard_queries import edge_db_path as dashboard_edge_path
from src.reporting.dashboard_queries import read_latest_edge
from src.research.edge_report import build_edge_report, headline
from src.research.edge_stats import brier, lagged_correlations, peak_lag, reliability, run_lengths
from src.research.edge_store import edge_db_path
from tests.fakes.fault_daemon import restored_logging
from tests.fakes.fault_project import make_project

REPO = Path(__file__).resolve().parents[1]
DASHBOARD = REPO / "src" / "dashboard.py"
OPEN = datetime(2026, 12, 7, 10, 0, tzinfo=UTC).timestamp()
LAG_S = 7


def _lagging_recording(folder: Path, windows: int = 2, seed: int = 3, websocket: bool = False) -> Path:
    """SYNTHETIC (made up here, not Kalshi): BTC a random walk, one trade a second; each second the book's
    mid is the market's probability as BTC stood LAG_S seconds earlier, one cent either side."""
    rng = random.Random(seed)
    rec = Recorder(folder, meta={"mode": "test-synthetic"})
    price = 97000.0
    history: list[float] = []
    for w in range(windows):
        start = OPEN + w * 900
        strike = Decimal(f"{price:.2f}")
        market = Market(ticker=f"KXBTC15M-TEST-{w:02d}", event_ticker=f"KXBTC15M-TEST{w:02d}", status="active",
                        open_time=datetime.fromtimestamp(start, tz=UTC),
                        close_time=datetime.fromtimestamp(start + 900, tz=UTC), floor_strike=strike)
        rec.market(start + 0.1, market, "poll")
        for s in range(900):
            price *= math.exp(rng.gauss(0.0, 0.0004))
            history.append(price)
            t = start + s
            rec.btc_trade(t + 0.2, t + 0.1, "binance", len(history), price)
            seen = history[max(0, len(history) - 1 - LAG_S)]
            left = 900 - s
            z = math.log(seen / float(strike)) / (0.0004 * math.sqrt(left))
            mid = min(0.97, max(0.03, 0.5 * (1 + math.erf(z / math.sqrt(2)))))
            mid_c = Decimal(f"{mid:.2f}")
            book = OrderBook(market.ticker, (BookLevel(mid_c - Decimal("0.01"), Decimal("50")),),
                             (BookLevel(Decimal("1") - mid_c - Decimal("0.01"), Decimal("50")),))
            rec.book_snapshot(t + 0.6, book, "poll")
            if websocket:  # what the Kalshi websocket adds: BRTI a little above the feed, and a print a second
                rec.brti(t + 0.3, t + 0.25, Decimal(f"{price * 1.0002:.2f}"), Decimal(f"{price:.2f}"))
                side = "yes" if s % 2 else "no"
                rec.kalshi_trade(t + 0.7, t + 0.65, market.ticker, f"{w}-{s}", side,
                                 mid_c + (Decimal("0.01") if side == "yes" else Decimal("-0.01")), Decimal("2"))
        result = "yes" if price >= float(strike) else "no"
        from dataclasses import replace

        rec.market(start + 905, replace(market, status="settled", result=result), "watch")
    rec.flush()
    return folder


def test_statistics_helpers() -> None:
    x = np.sin(np.arange(200) / 3.0)
    y = np.concatenate([np.zeros(4), x[:-4]])  # y follows x four steps late
    corr = lagged_correlations(x, y, 10)
    assert peak_lag(corr) == 4 and corr[4] == pytest.approx(1.0)
    assert run_lengths(np.array([1, 1, 0, 1, 1, 1, 1]), np.array([0, 0, 0, 0, 1, 1, 1])) == [2, 1, 3]
    assert brier(np.array([1.0, 0.0]), np.array([1.0, 1.0])) == 0.5
    bins = reliability(np.array([0.05, 0.05, 0.95]), np.array([0.0, 1.0, 1.0]))
    assert [(b.n, b.observed) for b in bins] == [(2, 0.5), (1, 1.0)]


def test_edge_report_finds_the_lag_and_scores_the_forecasts(tmp_path: Path) -> None:
    settings = load_settings(root=REPO)
    rec = load_recording(_lagging_recording(tmp_path / "rec"))
    report = build_edge_report(settings, rec, (0.0, 1000.0), where="synthetic")
    assert report.peak_lag_btc == LAG_S
    assert report.markets == 2 and report.settled_markets == 2
    assert report.calibration_points > 1000 and report.brier_model is not None and report.brier_market is not None
    assert report.reliability_model and report.reliability_market
    assert report.mispricing_runs > 0 and report.persistence_median_s is not None
    assert [s.latency_ms for s in report.sweep] == [0.0, 1000.0]
    assert report.headline.startswith("On this recording the strategy")
    assert "assumed latency of 250 ms" in report.headline and not report.synthetic  # no --sim session in it


def test_a_websocket_recording_adds_the_brti_lead_lag_and_the_tape_statistics(tmp_path: Path) -> None:
    settings = load_settings(root=REPO)
    plain = build_edge_report(settings, load_recording(_lagging_recording(tmp_path / "plain", windows=1)), (0.0,),
                              where="synthetic")
    assert plain.lead_lag_brti == [] and plain.tape is None and "no Kalshi public trades" in plain.tape_text
    rec = load_recording(_lagging_recording(tmp_path / "ws", windows=2, websocket=True))
    report = build_edge_report(settings, rec, (0.0,), where="synthetic")
    assert report.peak_lag_brti == LAG_S and report.peak_lag_btc == LAG_S
    assert report.tape is not None and report.tape["windows"] == 2
    assert report.tape["trades_per_window"]["median"] == 900.0
    assert report.tape["spread_cents"]["median"] == pytest.approx(2.0)  # yes prints a cent above mid, no below
    assert report.tape_text.startswith("Tape statistics (Kalshi public trades")
    from src.research.edge_render import render_edge_report

    text = render_edge_report(report)
    assert "BRTI: peak at 7 s" in text and "trades per window" in text
    from src.research.edge_store import save_edge_report

    save_edge_report(tmp_path, report)  # strict JSON: undefined statistics are saved as null
    saved = read_latest_edge(tmp_path)
    assert saved is not None and saved.report["tape"]["windows"] == 2


def test_headline_words() -> None:
    from src.research.edge_report import SweepRow

    rows = [SweepRow(0, 3, 3, "30", "1.20", 0.66, "4.00"), SweepRow(250, 3, 3, "30", "-0.60", 0.33, "-2.00")]
    assert headline(rows, 240.0) == ("On this recording the strategy loses 2.00¢ per contract at your measured "
                                     "latency (240 ms), replayed at 250 ms: P&L $-0.60 over 3 trade(s) after fees.")
    assert "makes 4.00¢" in headline(rows, 0.0)
    assert "no evidence either way" in headline([SweepRow(0, 0, 0, "0", "0", None, None)], 0.0)


def test_cli_prints_plain_words_first_and_the_dashboard_reads_the_saved_report(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, daemon_env: None) -> None:
    import main

    root = make_project(tmp_path)
    rec = _lagging_recording(tmp_path / "rec", windows=1)
    assert dashboard_edge_path(root) == edge_db_path(root)  # writer and dashboard agree on the file
    monkeypatch.setenv("POLYBOT_ROOT", str(root))
    monkeypatch.setattr("sys.argv", ["dashboard.py"])
    at = AppTest.from_file(str(DASHBOARD), default_timeout=60)
    at.run()
    at.sidebar.radio[0].set_value("Edge").run()
    assert not at.exception and any("No edge report yet" in i.value for i in at.info)
    with restored_logging():
        assert main.main(["--edge-report", str(rec), "--latency-ms", "0,100"], root=root) == 0
    out = capsys.readouterr().out
    assert out.startswith("On this recording the strategy") and "Lead-lag" in out and "Brier" in out
    view = read_latest_edge(root)
    assert view is not None and view.report["peak_lag_btc"] == LAG_S
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert any(s.value.startswith("On this recording") for s in at.subheader)
    assert len(list(at.get("vega_lite_chart"))) == 3  # lead-lag, calibration, latency sweep
    assert main.main(["--edge-report", str(tmp_path / "missing")], root=root) == 2
