"""The backtest: the daemon's decision path over recorded or generated prices, deterministic and consistent."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import shutil
from collections.abc import Coroutine
from dataclasses import replace
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

import src.research.backtest as backtest_module
from src.config import Settings, load_settings
from src.data.price_files import PriceFileError, write_price_csv
from src.data.price_generator import PriceGenerator
from src.research.backtest import CoroutineWaited, as_epoch, run_backtest, run_now
from src.research.backtest_report import BacktestReport, count_text, render_json, render_text
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
    assert report.ticks == 4320 * 61 and report.first_ts == 1_677_628_800.0  # a tick a second per bar
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
    # One-minute bars are a tick a second now: no poll sees a stale feed (it was 45 % of them).
    assert dict(report.reasons).get("feed_stale", 0) == 0
    check_labelled(report, out, lag_s=20)


LABEL_20 = "SYNTHETIC BOOK: profit reflects the assumed Kalshi lag sim.lag_s = 20 s, not Kalshi."


def check_labelled(report: BacktestReport, out: Path, lag_s: float) -> None:
    """Every output of a synthetic-book run says that its profit is the lag it assumed."""
    label = f"SYNTHETIC BOOK: profit reflects the assumed Kalshi lag sim.lag_s = {lag_s:g} s, not Kalshi."
    assert report.book_label == label
    text = (out / "report.txt").read_text()
    assert text.splitlines()[0] == label and render_text(report) == text
    results = text.splitlines().index("RESULTS")
    assert text.splitlines()[results + 1].strip() == label  # right above the profit figures
    assert json.loads((out / "report.json").read_text())["book_label"] == label
    rows = list(csv.DictReader(io.StringIO((out / "trades.csv").read_text())))
    assert len(rows) == report.summary.trades > 0 and all(row["book"] == label for row in rows)
    trades = json.loads((out / "trades.json").read_text())
    assert len(trades) == len(rows) and all(t["book"] == label for t in trades)


def test_counts_print_as_plain_integers(settings: Settings, tmp_path: Path) -> None:
    assert count_text(Decimal("1E+1")) == "10" and count_text(Decimal("20.00")) == "20"
    assert count_text(Decimal("2.50")) == "2.5"
    report = run_backtest(settings, generated_file(settings, tmp_path, hours=6), progress=False)
    assert report.trades
    ten = replace(report, trades=(replace(report.trades[0], count=Decimal("10").normalize()),))
    row = render_text(ten).splitlines()[-1]
    assert " 10 " in row and "E+" not in row


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
    # Replay time: the trade settled at its market's close; the stop came when that was booked, just after.
    assert 0 <= stops[0].ts - report.trades[0].settled_ts < 60
    assert report.last_ts is not None and report.last_ts < prices[-1][0]  # the run ended at the stop
    assert (out / "kill_switch.lock").is_file() and (out / "KILL_SWITCH_EVENT.log").is_file()
    # The evidence names the run for what it was: a backtest, not --sim.
    logged = [json.loads(line) for line in (out / "KILL_SWITCH_EVENT.log").read_text().splitlines()]
    assert [e["figures"]["mode"] for e in logged] == ["backtest"]
    assert json.loads((out / "kill_switch.lock").read_text())["figures"]["mode"] == "backtest"
    assert not (settings.root / "kill_switch.lock").exists() and not (REPO / "kill_switch.lock").exists()
    # The next run into the same directory is not blocked by the old lock.
    again = run_backtest(settings, path, out_dir=out, progress=False)
    assert again.halted is None


# -- controls: the synthetic book's profit is its assumed lag, nothing else ----------------------------------
#
# On the real sample prices, with the maker pricing from the volatility the strategy measures
# (sim.maker_volatility: measured) and no quote noise, the only difference between the book and
# the strategy's own fair value is what the run is told to assume. These catch a change that
# manufactures profit (a book that lags when it should not, a fill better than the book, ...).


def with_sim(settings: Settings, **sim: Any) -> Settings:
    update = {"noise": Decimal("0"), "maker_volatility": "measured", **sim}
    app = settings.app.model_copy(update={"sim": settings.app.sim.model_copy(update=update)})
    return Settings(app=app, user=settings.user, secrets=settings.secrets, root=settings.root)


@pytest.fixture(scope="module")
def control_runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, BacktestReport]:
    """The sample replayed at lags 0, 5 and 30 s, and with the strategy seeing BTC 30 s ahead (lag 0)."""
    root = tmp_path_factory.mktemp("controls")
    for name in ("config.yaml", "USER_CONFIG.json"):
        shutil.copy(REPO / name, root / name)
    base = load_settings(root=root)
    return {
        "lag0": run_backtest(with_sim(base, lag_s=0), SAMPLE_FILE, progress=False),
        "lag5": run_backtest(with_sim(base, lag_s=5), SAMPLE_FILE, progress=False),
        "lag30": run_backtest(with_sim(base, lag_s=30), SAMPLE_FILE, progress=False),
        "leak30": run_backtest(with_sim(base, lag_s=0), SAMPLE_FILE, progress=False, future_leak_s=30),
    }


def test_control_zero_lag_zero_noise_does_not_profit(control_runs: dict[str, BacktestReport]) -> None:
    # The book is the strategy's own fair value plus the spread: there is no edge to take, only
    # the spread and the fee to pay.
    report = control_runs["lag0"]
    check_totals(report)
    assert report.summary.net_pnl <= 0
    reasons = dict(report.reasons)
    # Not vacuous: the strategy did see fast moves and priced the book against them.
    assert reasons["price_not_below_fair"] > 100
    assert report.book_label.endswith("sim.lag_s = 0 s, not Kalshi.")


def test_control_future_leak_wins(control_runs: dict[str, BacktestReport]) -> None:
    # Seeing BTC 30 s ahead of the book (and of the settlement) is a real edge: a backtest that
    # cannot turn it into profit is broken.
    report = control_runs["leak30"]
    check_totals(report)
    s = report.summary
    assert s.trades >= 5 and s.net_pnl > 0 and s.wins > s.losses
    assert dict(report.parameters)["future_leak_s"].startswith("30 (CONTROL")
    assert "future_leak_s" not in dict(control_runs["lag0"].parameters)


def test_control_profit_shrinks_with_the_assumed_lag(control_runs: dict[str, BacktestReport]) -> None:
    # Each step divides the lag by six: with ~10 trades in three days, finer steps (10 s vs 20 s)
    # are inside the noise of the outcomes (bench/bench_backtest.py prints the whole sweep).
    pnl = [control_runs[k].summary.net_pnl for k in ("lag30", "lag5", "lag0")]
    assert pnl[0] > pnl[1] > pnl[2]
    assert control_runs["lag30"].summary.trades >= control_runs["lag5"].summary.trades > 0


def test_a_backwards_range_is_one_line_and_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A user mistake: one line on stderr, exit code 2, no traceback in logs/errors."""
    import main
    from tests.fakes.fault_project import make_project

    root = make_project(tmp_path)
    code = main.main(["--backtest", str(SAMPLE_FILE), "--from", "2023-03-02", "--to", "2023-03-01"], root=root)
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and err == ["error: --to must be after --from"]
    errors_log = root / "logs" / "errors" / "errors.log"
    assert not errors_log.exists() or "Traceback" not in errors_log.read_text()


@pytest.mark.usefixtures("daemon_env")
def test_latency_without_a_recording_is_worded_for_what_was_given(project_dir: Path, capsys) -> None:
    import main

    folder, prices = project_dir / "not_a_recording", project_dir / "prices.csv"
    folder.mkdir()
    prices.write_text("")
    for path in (folder, prices, project_dir / "missing"):
        assert main.main(["--backtest", str(path), "--latency-ms", "0"], root=project_dir) == 2
    err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert err == [
        f"error: --latency-ms needs a recording folder: {folder} is a folder but neither a recording nor a"
        " --download-history folder",
        f"error: --latency-ms needs a recording folder: {prices} is a price file, which replays on the synthetic"
        " book without order latencies",
        f"error: --latency-ms needs a recording folder: no such file or folder {project_dir / 'missing'}",
    ]
