"""The backtest: the daemon's decision path over recorded or generated prices, deterministic and consistent."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Coroutine
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

import src.research.backtest as backtest_module
from src.config import Settings, load_settings
from src.data.price_files import PriceFileError, write_price_csv
from src.data.price_generator import PriceGenerator
from src.research.backtest import CoroutineWaited, as_epoch, run_backtest, run_now
from src.research.backtest_report import BacktestReport, render_json, render_text
from src.strategies.base import Strategy
from src.strategies.btc_lag import BtcLagStrategy
from tests.conftest import REPO, SAMPLE_DATA

SAMPLE_FILE = SAMPLE_DATA / "binanceus_BTCUSDT_1m_2023-03-01_03.csv"
GEN_START = 1_767_225_600.0  # 2026-01-01 00:00 UTC


@pytest.fixture
def settings(project_dir: Path) -> Settings:
    return load_settings(root=project_dir)


def with_risk(settings: Settings, **risk: Any) -> Settings:
    app = settings.app.model_copy(update={"risk": settings.app.risk.model_copy(update=risk)})
    return Settings(app=app, user=settings.user, secrets=settings.secrets, root=settings.root)


def generated_file(settings: Settings, tmp_path: Path, hours: float) -> Path:
    path = tmp_path / f"gen_{hours}h.csv"
    ticks = PriceGenerator(settings.app.sim).ticks(GEN_START, end_ts=GEN_START + hours * 3600)
    write_price_csv(path, ticks)
    return path


def check_totals(report: BacktestReport) -> None:
    """Every total in the report agrees with the trades it lists."""
    s = report.summary
    settled = [t for t in report.trades if t.status == "settled"]
    total_pnl = sum((t.pnl for t in settled if t.pnl is not None), Decimal(0))
    assert total_pnl == s.net_pnl == report.ending_bankroll - report.starting_bankroll
    assert s.fees == sum((t.fees for t in settled), Decimal(0))
    assert s.gross_pnl == sum((t.payout - t.cost for t in settled if t.payout is not None), Decimal(0))
    assert s.settled == len(settled) and s.trades == len(report.trades)
    assert s.wins == sum(1 for t in settled if t.pnl is not None and t.pnl > 0)
    assert s.losses == sum(1 for t in settled if t.pnl is not None and t.pnl < 0)
    assert sum(n for _, n in report.reasons) == report.decisions
    assert report.windows_traded == len({t.ticker for t in report.trades})
    assert sum(w.trades for w in report.windows) == len(report.trades)
    assert report.signals >= len(report.trades)
    assert sum(w.pnl for w in report.windows) == total_pnl
    for t in report.trades:
        assert t.count > 0 and Decimal("0.01") <= t.avg_price <= Decimal("0.99") and t.fees > 0
        if t.status == "settled":
            assert t.pnl == t.payout - t.cost - t.fees
            assert t.result in ("yes", "no")


# -- the helpers -------------------------------------------------------------------------------------


def test_run_now_runs_a_coroutine_that_never_waits() -> None:
    async def add(a: int, b: int) -> int:
        return a + b

    assert run_now(add(2, 3)) == 5


def test_run_now_refuses_a_coroutine_that_waits() -> None:
    async def waits() -> None:
        await asyncio.sleep(0)  # suspends once: the backtest must never see that

    coro: Coroutine[Any, Any, None] = waits()
    with pytest.raises(CoroutineWaited):
        run_now(coro)


def test_as_epoch() -> None:
    assert as_epoch(None, "--from") is None
    assert as_epoch(1.5, "--from") == 1.5
    assert as_epoch("2026-01-01", "--from") == GEN_START
    with pytest.raises(ValueError, match="--to: not a time"):
        as_epoch("soon", "--to")


# -- the recorded Binance.US data --------------------------------------------------------------------


def test_backtest_over_the_sample_binanceus_data(settings: Settings, tmp_path: Path) -> None:
    out = tmp_path / "out"
    report = run_backtest(settings, SAMPLE_FILE, out_dir=out, progress=False)
    check_totals(report)
    assert report.ticks == 17_280 and report.first_ts == 1_677_628_800.0
    assert report.windows_seen == 288 and report.windows_with_strike == 287  # the first has no minute before it
    # The default thresholds do trade on these three days (see the module docstring of backtest.py).
    assert report.summary.trades > 0 and report.summary.open == 0
    assert report.halted is None
    # The files it promises, and nothing in the project's own data directory.
    assert {p.name for p in out.iterdir()} >= {"report.txt", "report.json", "trades.csv", "trades.json",
                                               "backtest.db", "logs"}
    assert json.loads((out / "report.json").read_text())["summary"]["trades"] == report.summary.trades
    assert (out / "trades.csv").read_text().count("\n") == report.summary.trades + 1
    assert not (REPO / "data" / "backtest.db").exists()
    assert not (settings.root / "data" / "sim.db").exists()
    text = render_text(report)
    assert "binanceus_BTCUSDT_1m_2023-03-01_03.csv" in text and "P&L net of fees" in text


# -- determinism ------------------------------------------------------------------------------------------


def test_same_file_and_seed_give_the_same_report_byte_for_byte(settings: Settings, tmp_path: Path) -> None:
    path = generated_file(settings, tmp_path, hours=12)
    first = run_backtest(settings, path, out_dir=tmp_path / "a", progress=False)
    second = run_backtest(settings, path, out_dir=tmp_path / "b", progress=False)
    assert first.summary.trades > 0  # a comparison of two empty reports would prove little
    check_totals(first)
    assert render_json(first) == render_json(second)
    assert render_text(first) == render_text(second)
    for name in ("report.json", "report.txt", "trades.csv", "trades.json"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    # A rerun into the same directory starts clean (no leftover database or kill switch lock).
    third = run_backtest(settings, path, out_dir=tmp_path / "a", progress=False)
    assert render_json(third) == render_json(first)


def never_held(monkeypatch: pytest.MonkeyPatch) -> None:
    """Turn off the backtest's HELD shortcut: every decision then asks Engine.decide, every poll fetches a book."""
    monkeypatch.setattr(
        backtest_module.Backtest, "_held", property(lambda self: None, lambda self, value: None), raising=False
    )


def test_the_fast_paths_change_nothing(settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Three shortcuts keep the backtest fast: the engine screens most decisions with the strategy's
    # pre-check on the window's raw values (no FeedSnapshot), settlement passes are skipped while
    # every open market is still trading, and while a market is entered its decisions are counted
    # as position_open without asking the engine or fetching books. Without them, the same run
    # gives the same report.
    strict = with_risk(settings, max_consecutive_losses=2, max_trades_per_hour=2)
    path = generated_file(settings, tmp_path, hours=10)
    fast = run_backtest(strict, path, out_dir=tmp_path / "fast", progress=False)
    assert fast.summary.trades > 0 and any(code.startswith("kill_switch:") for code, _ in fast.reasons)
    screened = {"move_too_small", "too_little_time", "price_too_high"}
    assert screened | {"position_open"} <= {code for code, _ in fast.reasons}

    never_held(monkeypatch)
    monkeypatch.setattr(BtcLagStrategy, "precheck", Strategy.precheck)  # no screen: a snapshot every time

    def no_close(ticker: str) -> float:
        raise ValueError(ticker)

    monkeypatch.setattr(backtest_module, "close_from_event_ticker", no_close)  # every settlement pass runs
    slow = run_backtest(strict, path, out_dir=tmp_path / "slow", progress=False)
    assert render_json(slow).replace("slow", "fast") == render_json(fast)
    for name in ("report.json", "report.txt", "trades.csv", "trades.json"):
        assert (tmp_path / "slow" / name).read_bytes() == (tmp_path / "fast" / name).read_bytes()


def test_the_held_shortcut_changes_nothing_between_polls(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Ten ticks a second: most decisions come after ticks between polls, where the shortcut counts
    # position_open without a call; a cooling makes the kill switch refuse some of them too.
    strict = with_risk(settings, max_consecutive_losses=2, max_trades_per_hour=2)
    sim = settings.app.sim.model_copy(update={"tick_interval_s": 0.1})
    path = tmp_path / "dense.csv"
    write_price_csv(path, PriceGenerator(sim).ticks(GEN_START, end_ts=GEN_START + 3 * 3600))
    fast = run_backtest(strict, path, out_dir=tmp_path / "fast", progress=False)
    reasons = dict(fast.reasons)
    assert fast.summary.trades > 0 and reasons["position_open"] > fast.ticks // 4
    never_held(monkeypatch)
    slow = run_backtest(strict, path, out_dir=tmp_path / "slow", progress=False)
    assert render_json(slow).replace("slow", "fast") == render_json(fast)
    for name in ("report.json", "trades.csv"):
        assert (tmp_path / "slow" / name).read_bytes() == (tmp_path / "fast" / name).read_bytes()


def test_another_seed_gives_another_market(settings: Settings, tmp_path: Path) -> None:
    path = generated_file(settings, tmp_path, hours=3)
    a = run_backtest(settings, path, progress=False, seed=1)
    b = run_backtest(settings, path, progress=False, seed=2)
    assert a.seed == 1 and b.seed == 2
    assert render_json(a) != render_json(b)


def test_without_a_file_the_generator_runs(settings: Settings) -> None:
    report = run_backtest(settings, None, start=GEN_START, end=GEN_START + 2 * 3600, progress=False)
    assert report.source.startswith("generator(seed=7")
    assert report.ticks == 7200 and report.first_ts == GEN_START
    check_totals(report)


# -- time bounds, progress, errors --------------------------------------------------------------------------


def test_from_and_to_bound_the_replay(settings: Settings, tmp_path: Path) -> None:
    path = generated_file(settings, tmp_path, hours=2)
    report = run_backtest(settings, path, start="2026-01-01T00:30:00Z", end=GEN_START + 3600, progress=False)
    assert report.first_ts == GEN_START + 1800 and report.last_ts == GEN_START + 3599
    assert report.ticks == 1800


def test_an_empty_range_gives_an_empty_report(settings: Settings, tmp_path: Path) -> None:
    path = generated_file(settings, tmp_path, hours=1)
    report = run_backtest(settings, path, start=GEN_START + 10 * 3600, progress=False)
    assert report.ticks == 0 and report.summary.trades == 0 and report.first_ts is None
    assert "0 ticks" in render_text(report)


def test_bad_arguments_are_one_line_errors(settings: Settings, tmp_path: Path) -> None:
    with pytest.raises(PriceFileError, match="nope.csv: file not found"):
        run_backtest(settings, tmp_path / "nope.csv", progress=False)
    with pytest.raises(ValueError, match="--to must be after --from"):
        run_backtest(settings, None, start=GEN_START, end=GEN_START, progress=False)
    (tmp_path / "afile").write_text("x")
    with pytest.raises(ValueError, match="--out: .*afile exists and is not a directory"):
        run_backtest(settings, None, end=GEN_START + 60, out_dir=tmp_path / "afile", progress=False)


def test_progress_goes_to_stderr_only(settings: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = generated_file(settings, tmp_path, hours=1)
    run_backtest(settings, path, progress=True)
    captured = capsys.readouterr()
    assert captured.out == "" and "backtest" in captured.err and "3,600 ticks" in captured.err
    assert "100.0%" in captured.err  # the share of the file read


# -- the kill switch runs on replay time -------------------------------------------------------------------


def test_kill_switch_cooling_and_hourly_limit_use_replay_time(settings: Settings, tmp_path: Path) -> None:
    strict = with_risk(settings, max_consecutive_losses=1, max_trades_per_hour=1)
    path = generated_file(settings, tmp_path, hours=24)
    report = run_backtest(strict, path, progress=False)
    check_totals(report)
    kinds = {e.kind for e in report.kill_events}
    assert "cooling_start" in kinds
    assert report.first_ts is not None and report.last_ts is not None
    for event in report.kill_events:  # replay time (January 2026), not the wall clock
        assert report.first_ts <= event.ts <= report.last_ts + 3600
    cooling = [e.ts for e in report.kill_events if e.kind == "cooling_start"]
    for start in cooling:  # no trade opens during a two-hour cooling in replay time
        assert not [t for t in report.trades if start <= t.opened_ts < start + 2 * 3600]
    opened = sorted(t.opened_ts for t in report.trades)
    assert all(b - a >= 3600 for a, b in zip(opened, opened[1:], strict=False))  # at most one per hour
    assert any(code.startswith("kill_switch:") for code, _ in report.reasons)


def test_a_hard_stop_ends_trading_and_stays_in_the_run_directory(settings: Settings, tmp_path: Path) -> None:
    # Starting with $20.50, the first loss takes the bankroll under the $20 floor: a hard stop.
    user = settings.user.model_copy(update={"starting_bankroll_usd": Decimal("20.50")})
    poor = Settings(app=settings.app, user=user, secrets=settings.secrets, root=settings.root)
    open_ts = GEN_START + 900
    prices: list[tuple[float, float]] = []
    for second in range(int(GEN_START) + 600, int(open_ts) + 3 * 900):
        t = second - open_ts
        if t < 100:
            price = 100_000.0  # the strike of the window opening at open_ts
        elif t < 130:
            price = 100_600.0  # +0.6 % in a second: the lagging book still prices 100,000 -> buy YES
        elif t < 900:
            price = 99_000.0  # ...and BTC falls back: YES loses
        elif 900 + 400 <= t < 900 + 430:
            price = 99_700.0  # the same set-up in the next window: would trade if not stopped
        else:
            price = 99_000.0
        prices.append((float(second), price))
    path = tmp_path / "loss.csv"
    write_price_csv(path, iter([(ts, p, i + 1) for i, (ts, p) in enumerate(prices)]))
    out = tmp_path / "out"
    report = run_backtest(poor, path, out_dir=out, progress=False)
    check_totals(report)
    assert len(report.trades) == 1 and report.trades[0].side == "yes"
    assert report.trades[0].pnl is not None and report.trades[0].pnl < 0
    assert report.halted is not None and report.halted.startswith("kill switch hard_stopped (bankroll_floor)")
    stops = [e for e in report.kill_events if e.kind == "hard_stop"]
    assert [e.reason for e in stops] == ["bankroll_floor"]
    assert stops[0].ts == report.trades[0].settled_ts  # replay time
    assert report.last_ts is not None and report.last_ts < prices[-1][0]  # the run ended at the stop
    assert (out / "kill_switch.lock").is_file() and (out / "KILL_SWITCH_EVENT.log").is_file()
    assert not (settings.root / "kill_switch.lock").exists() and not (REPO / "kill_switch.lock").exists()
    # The next run into the same directory is not blocked by the old lock.
    again = run_backtest(settings, path, out_dir=out, progress=False)
    assert again.halted is None
