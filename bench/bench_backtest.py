"""Benchmark of the backtest, end to end: ticks per CPU second over recorded and generated prices.

Targets (issue 8): the three days of one-minute Binance.US bars in tests/data in at most
5 s in total, and at least 300,000 ticks/s over a generated one-million-tick file.

What is timed: run_backtest() as `python main.py --backtest FILE` calls it -- parsing the file,
the rolling window, the simulated exchange, a decision (Engine.decide: strategy, sizing, kill
switch) after every tick and every one-second market poll, paper fills, settlement, the
database and the report. Rates are per CPU second of this process (time.process_time), best
of N runs, so time other processes steal on a shared machine is not charged to the code. The
three-day figure is also measured as wall time of a fresh interpreter (imports included).

Generated files use the built-in generator at two densities: one tick per second (the
simulator's default: every tick also meets a market poll, the costliest case) and ten ticks per
second (like real BTCUSDT trade files, several trades between polls).

`lag_sweep` is not a speed figure: it replays the three days against the synthetic book at
several assumed lags (sim.lag_s, noise 0, the maker using the volatility the strategy measures)
and once with the strategy seeing BTC 30 s ahead, and prints P&L, trades and wins for each, so
the control tests' coarse lag steps (tests/test_backtest.py) can be read against the whole curve.

`where_time_goes` times each per-tick stage alone, in microseconds, to show what bounds the
end-to-end rate (feed_screen_values + strategy_precheck is what a decision the strategy's
pre-check refuses costs instead of feed_snapshot + strategy_generate_signal).
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    # Run as `python bench/bench_backtest.py`: make the repository root importable.
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from src.config import Settings, load_settings  # noqa: E402
from src.data.price_files import iter_ticks, load_ticks, write_price_csv  # noqa: E402
from src.data.price_generator import PriceGenerator  # noqa: E402
from src.research.backtest import Backtest, run_backtest  # noqa: E402
from src.sim.components import replay_source  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
SHARED_FILE = REPO / "tests" / "data" / "binanceus_BTCUSDT_1m_2023-03-01_03.csv"
TARGET_SHARED_S = 5.0
TARGET_TICKS_PER_S = 300_000
GEN_START = 1_767_225_600.0


def _cpu() -> float:
    return time.process_time()


def _settings() -> Settings:
    return load_settings(root=REPO)


def _best(fn: Any, runs: int) -> tuple[float, Any]:
    best = float("inf")
    result = None
    for _ in range(runs):
        start = _cpu()
        result = fn()
        best = min(best, _cpu() - start)
    return best, result


def bench_shared(settings: Settings, runs: int) -> dict[str, Any]:
    """The three days of one-minute bars: in-process CPU time, and a fresh interpreter's wall time."""
    if not SHARED_FILE.is_file():
        return {"skipped": f"missing {SHARED_FILE}"}
    cpu, report = _best(lambda: run_backtest(settings, SHARED_FILE, progress=False), runs)
    code = (
        "from pathlib import Path; from src.config import load_settings; "
        "from src.research.backtest import run_backtest; "
        f"run_backtest(load_settings(root=Path({str(REPO)!r})), Path({str(SHARED_FILE)!r}), progress=False)"
    )
    wall_start = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], cwd=REPO, check=True, capture_output=True)
    wall = time.perf_counter() - wall_start
    return {
        "file": SHARED_FILE.name,
        "ticks": report.ticks,
        "decisions": report.decisions,
        "trades": report.summary.trades,
        "cpu_s": round(cpu, 3),
        "ticks_per_cpu_s": round(report.ticks / cpu),
        "fresh_process_wall_s": round(wall, 3),
        "target_s": TARGET_SHARED_S,
        "meets_target": wall <= TARGET_SHARED_S,
    }


def bench_generated(settings: Settings, n: int, tick_interval_s: float, runs: int, work: Path) -> dict[str, Any]:
    path = work / f"generated_{n}_{tick_interval_s:g}s.csv"
    sim = settings.app.sim.model_copy(update={"tick_interval_s": tick_interval_s})
    write_price_csv(path, PriceGenerator(sim).ticks(GEN_START, count=n))
    parse_cpu, _ = _best(lambda: sum(1 for _ in iter_ticks(path)), 1)
    cpu, report = _best(lambda: run_backtest(settings, path, progress=False), runs)
    rate = report.ticks / cpu
    return {
        "ticks": report.ticks,
        "tick_interval_s": tick_interval_s,
        "simulated_days": round(n * tick_interval_s / 86400, 2),
        "decisions": report.decisions,
        "trades": report.summary.trades,
        "cpu_s": round(cpu, 3),
        "ticks_per_cpu_s": round(rate),
        "parse_only_ticks_per_cpu_s": round(n / parse_cpu),
        "target_ticks_per_s": TARGET_TICKS_PER_S,
        "meets_target": rate >= TARGET_TICKS_PER_S,
    }


def lag_sweep(settings: Settings, lags: tuple[float, ...], leak_s: float) -> dict[str, Any]:
    """P&L of the three days at each assumed lag (and with a future leak at lag 0)."""
    if not SHARED_FILE.is_file():
        return {"skipped": f"missing {SHARED_FILE}"}
    out: dict[str, Any] = {}
    runs = [(f"lag_{lag:g}s", lag, 0.0) for lag in lags] + [(f"lag_0s_future_leak_{leak_s:g}s", 0.0, leak_s)]
    for name, lag, leak in runs:
        sim = settings.app.sim.model_copy(update={"lag_s": lag, "noise": Decimal("0"), "maker_volatility": "measured"})
        varied = Settings(app=settings.app.model_copy(update={"sim": sim}), user=settings.user,
                          secrets=settings.secrets, root=settings.root)
        report = run_backtest(varied, SHARED_FILE, progress=False, future_leak_s=leak)
        s = report.summary
        out[name] = {"net_pnl": str(s.net_pnl), "trades": s.trades, "wins": s.wins, "losses": s.losses}
    return out


def where_time_goes(settings: Settings, work: Path, n: int) -> dict[str, float]:
    """Microseconds per call of each per-tick stage, measured alone on generated 1-tick/s data."""
    path = work / "stages.csv"
    write_price_csv(path, PriceGenerator(settings.app.sim).ticks(GEN_START, count=n))
    ticks = load_ticks(path)
    out: dict[str, float] = {}
    start = _cpu()
    for _ in iter_ticks(path):
        pass
    out["parse_file"] = (_cpu() - start) / n * 1e6
    with tempfile.TemporaryDirectory(dir=work) as run_dir:
        bt = Backtest(settings, replay_source(path, 10.0), Path(run_dir))
        bt.clock.advance_to(ticks[0][0])
        engine = bt._wire()
        window_push = bt.feed.window.push
        on_price = bt.exchange.on_price
        start = _cpu()
        for ts, price, trade_id in ticks:
            window_push(trade_id, ts, price, ts)
        out["window_push"] = (_cpu() - start) / n * 1e6
        start = _cpu()
        for ts, price, _ in ticks:
            on_price(ts, price)
        out["exchange_on_price"] = (_cpu() - start) / n * 1e6
        last = ticks[-1][0]
        bt.clock.advance_to(last)
        bt._refresh_view(engine, last)
        reps = 50_000
        start = _cpu()
        for k in range(reps):
            bt._refresh_view(engine, last + k * 1e-7)  # same second: the quote cache hits
        out["market_poll_same_second"] = (_cpu() - start) / reps * 1e6
        start = _cpu()
        for _ in range(reps):
            bt.feed.snapshot()
        out["feed_snapshot"] = (_cpu() - start) / reps * 1e6
        start = _cpu()
        for _ in range(reps):
            bt.feed.screen_values()
        out["feed_screen_values"] = (_cpu() - start) / reps * 1e6
        snap = bt.feed.snapshot()
        view = engine.view
        assert view is not None
        strategy = engine.strategy
        start = _cpu()
        for _ in range(reps):
            strategy.generate_signal(snap, view.market, view.book, last)
        out["strategy_generate_signal"] = (_cpu() - start) / reps * 1e6
        out["strategy_last_reason"] = strategy.last_no_signal.code if strategy.last_no_signal else "signal"  # type: ignore[assignment]
        raw = bt.feed.screen_values()
        start = _cpu()
        for _ in range(reps):
            strategy.precheck(*raw, view.market, view.book, last)  # type: ignore[attr-defined]
        out["strategy_precheck"] = (_cpu() - start) / reps * 1e6
        start = _cpu()
        for _ in range(reps):
            engine.decide()
        out["engine_decide_total"] = (_cpu() - start) / reps * 1e6
        bt.close()
    return {k: (round(v, 3) if isinstance(v, float) else v) for k, v in out.items()}


def run(quick: bool = False) -> dict[str, Any]:
    settings = _settings()
    runs = 1 if quick else 2
    n = 200_000 if quick else 1_000_000
    with tempfile.TemporaryDirectory(prefix="bench-backtest-") as tmp:
        work = Path(tmp)
        return {
            "shared_3_days_1m_bars": bench_shared(settings, runs),
            "generated_1_tick_per_s": bench_generated(settings, n, 1.0, runs, work),
            "generated_10_ticks_per_s": bench_generated(settings, n, 0.1, runs, work),
            "where_time_goes_us": where_time_goes(settings, work, 100_000 if quick else 200_000),
            "lag_sweep": lag_sweep(settings, (0, 5, 30) if quick else (0, 2, 5, 10, 20, 30, 60), 30.0),
        }


if __name__ == "__main__":
    print(json.dumps(run(quick="--quick" in sys.argv), indent=2))
