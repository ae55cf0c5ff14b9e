"""bench.run_all's table and JSON assembly on canned benchmark results (no benchmark is run, nothing is timed)."""

from __future__ import annotations

import ast
import io
import json
import sys
import types
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from bench import run_all
from bench.run_all import (
    BENCHMARKS,
    EXTRACTORS,
    Figure,
    Outcome,
    Target,
    build_report,
    cpu_model,
    figures_for,
    format_value,
    main,
    render_table,
    run_one,
)

BENCH_DIR = Path(run_all.__file__).resolve().parent
FLOOR = {"calls": 1000, "median_ns": 100.0, "p99_ns": 200.0}

# Results in the shapes each bench module's run() returns (numbers made up).
CANNED: dict[str, dict[str, Any]] = {
    "feed": {
        "parse_and_window": {"feed_ticks_per_s": 600_000, "bare_orjson_loads_per_s": 1_500_000},
    },
    "kalshi_ws": {
        "book_freshness": {"btc_trades_per_s": 200.0, "median_ms": 0.2, "p99_ms": 0.4},
        "tick_to_order": {"p50_ms": 2.0, "p99_ms": 6.0},
        "bare_sign_post": {"p50_ms": 1.0, "p99_ms": 3.0},
    },
    "signal": {
        "signal": {"calls": 10, "median_ns": 9_000, "p99_ns": 15_000},
        "no_signal_move": {"calls": 10, "median_ns": 2_000, "p99_ns": 4_000},
        "no_signal_no_lag": {"calls": 10, "median_ns": 8_000, "p99_ns": 30_000},
        "size_position": {"calls": 10, "median_ns": 50_000, "p99_ns": 90_000},
    },
    "kill_switch": {"median_ns": 8_000.0, "p99_ns": 25_000.0},
    "order_roundtrip": {
        "kalshi_client": {"p50_ms": 1.2, "p99_ms": 1.8},
        "bare_aiohttp_sign_loop": {"p50_ms": 1.0, "p99_ms": 1.5},
        "kalshi_client_by_idle": {"after_idle": {"p50_ms": 1.6}, "back_to_back": {"p99_ms": 1.4}},
        "bare_by_idle": {"after_idle": {"p50_ms": 1.5}, "back_to_back": {"p99_ms": 1.3}},
        "rsa_pss_sign_ms": 0.3,
        "rsa_pss_sign_after_idle_ms": 0.5,
    },
    "sdk_compare": {
        "orderbook": {"ours": {"req_per_s": 2000.0, "client_cpu_us_per_req": 400.0},
                      "sdk": {"req_per_s": 800.0, "client_cpu_us_per_req": 900.0}},
        "markets": {"ours": {"req_per_s": 1200.0, "client_cpu_us_per_req": 600.0},
                    "sdk": {"req_per_s": 800.0, "client_cpu_us_per_req": 750.0}},
        "ours_throttled_orderbook": {"req_per_s": 9.9, "limit_req_per_s": 10},
    },
    "backtest": {
        "shared_3_days_1m_bars": {"ticks": 12_960, "ticks_per_cpu_s": 350_000, "fresh_process_wall_s": 2.5,
                                  "target_s": 5.0},
        "generated_1_tick_per_s": {"ticks": 1_000_000, "tick_interval_s": 1.0, "ticks_per_cpu_s": 250_000,
                                   "parse_only_ticks_per_cpu_s": 1_000_000},
        "generated_10_ticks_per_s": {"ticks": 1_000_000, "tick_interval_s": 0.1, "ticks_per_cpu_s": 400_000,
                                     "parse_only_ticks_per_cpu_s": 800_000},
    },
    "dashboard": {"trades": 100_000, "first_render_s": 1.5, "first_render_empty_db_s": 0.75},
    "rss": {"simulated_hours": 24, "rss_mb": 60.0, "rss_at_start_mb": 40.0},
    "recording": {
        "replay": {"btc_trades_per_s": 10, "day_replay_s_estimate": 8.0, "target_day_s": 60.0,
                   "replay_events_per_s": 400_000, "bare_loop_events_per_s": 3_000_000, "day_size_mb_record_only": 6.5},
        "tick_path": {"tick_path_ns_with_recorder": 3_200, "tick_path_ns_without_recorder": 3_000,
                      "target_overhead": 0.05},
        "ws_path": {"ws_delta_ns_with_recorder": 6_600, "ws_delta_ns_without_recorder": 6_000,
                    "target_overhead": 0.05},
        "writer": {"paper_like_150_rows_us_per_trade": 10.0},
    },
    "history": {
        "download": {"rows_per_cpu_s": 20_000, "production_rows_per_s_at_5_req_s": 4_000},
        "tape_backtest": {"ticks_per_s": 500_000, "latency_ticks_per_s": 2_500_000},
    },
}


def canned_runner(results: Mapping[str, Any]) -> run_all.Runner:
    def runner(name: str, quick: bool) -> Mapping[str, Any]:
        value = results[name]
        if isinstance(value, BaseException):
            raise value
        return value

    return runner


def by_name(figures: list[Figure], start: str) -> Figure:
    found = [f for f in figures if f.name.startswith(start)]
    assert len(found) == 1, [f.name for f in figures]
    return found[0]


def all_figures(results: Mapping[str, Any]) -> list[Figure]:
    figures: list[Figure] = []
    for name in BENCHMARKS:
        figures += figures_for(run_one(name, False, canned_runner(results)), FLOOR)
    return figures


# -- figures -------------------------------------------------------------------------------------


def test_every_benchmark_has_an_extractor() -> None:
    assert set(EXTRACTORS) == set(BENCHMARKS)


def test_canned_results_give_every_figure_with_ratio_and_verdict() -> None:
    figures = all_figures(CANNED)
    assert not [f for f in figures if f.error]
    parse = by_name(figures, "feed parse")
    assert (parse.value, parse.reference, parse.ratio, parse.met) == (600_000, 1_500_000, 0.4, True)
    fresh = by_name(figures, "book freshness, delta -> decision, median (BTC feed 200 trades/s)")
    assert fresh.value == 0.2 and fresh.met is None
    tick = by_name(figures, "tick to order on the wire, p99")
    assert tick.ratio == pytest.approx(2.0) and tick.met is False  # 6 ms > 5 ms
    median = by_name(figures, "generate_signal median")
    assert "signal" in median.name and median.value == 9_000 and median.reference == 100 and median.met is True
    p99 = by_name(figures, "generate_signal p99")
    assert "no_signal_no_lag" in p99.name and p99.value == 30_000 and p99.met is None  # no target on p99
    assert by_name(figures, "check_order_allowed p99").met is False  # 25 µs > 20 µs
    assert by_name(figures, "order round trip p99").met is True
    idle = by_name(figures, "first order after an idle wait")
    assert (idle.value, idle.reference, idle.met) == (1.6, 1.5, None)
    assert by_name(figures, "orders sent back to back").value == 1.4
    assert by_name(figures, "RSA-PSS signature after 50 ms idle").ratio == pytest.approx(0.5 / 0.3)
    book = by_name(figures, "read throughput, GET orderbook (ours, limiter off)")
    assert book.ratio == pytest.approx(2.5) and book.met is True
    assert by_name(figures, "read throughput, GET markets").met is False  # 1.5x < 2x
    assert by_name(figures, "read throughput, GET orderbook (ours, real").ratio == pytest.approx(0.99)
    assert by_name(figures, "client CPU per request, GET orderbook").ratio == pytest.approx(400 / 900)
    shared = by_name(figures, "backtest over tests/data (12,960 ticks)")
    assert shared.met is None and shared.ratio is None  # no target (too few ticks), no reference measured
    assert by_name(figures, "backtest over tests/data, fresh process").met is True
    slow = by_name(figures, "backtest, generated 1,000,000 ticks (1/s)")
    assert slow.ratio == pytest.approx(0.25) and slow.met is False
    assert by_name(figures, "backtest, generated 1,000,000 ticks (10/s)").met is True
    dash = by_name(figures, "dashboard first render")
    assert dash.ratio == pytest.approx(2.0) and dash.met is True
    rss = by_name(figures, "daemon RSS after 24")
    assert rss.ratio == pytest.approx(1.5) and rss.met is True
    assert by_name(figures, "recorded day replay").met is True
    tick = by_name(figures, "tick path with the recorder")
    assert tick.ratio == pytest.approx(3200 / 3000) and tick.met is False  # +6.7% > +5%
    assert by_name(figures, "recorder writer thread").value == pytest.approx(10_000)
    ws = by_name(figures, "Kalshi websocket delta with the recorder")
    assert ws.ratio == pytest.approx(1.1) and ws.met is False  # +10% > +5%
    assert by_name(figures, "history download against the fake").value == 20_000
    assert by_name(figures, "history download at Kalshi's").value == 4_000
    tape = by_name(figures, "TAPE backtest")
    assert tape.ratio == pytest.approx(0.2) and tape.met is None


def test_target_operators_and_text() -> None:
    assert Target("<", 3.0, "s").met(3.0, None) is False
    assert Target("<=", 20_000, "ns").met(20_000, None) is True
    assert Target(">=", 2.0, on_ratio=True).met(5.0, 1.99) is False
    assert Target(">=", 2.0, on_ratio=True).met(None, None) is None
    assert Target("<=", 10_000, "ns").text() == "<= 10.00 µs"
    assert Target(">=", 0.8, on_ratio=True).text() == "ratio >= 0.8"
    with pytest.raises(ValueError, match="operator"):
        Target("==", 1.0).met(1.0, None)


def test_format_value_units() -> None:
    assert format_value(850, "ns") == "850 ns"
    assert format_value(12_345, "ns") == "12.35 µs"
    assert format_value(1_234_567, "ticks/s") == "1,234,567 ticks/s"
    assert format_value(9.87, "req/s") == "9.9 req/s"
    assert format_value(1.5, "ms") == "1.500 ms"
    assert format_value(None, "s") == "-"


def test_result_missing_a_figure_is_an_error_row() -> None:
    outcome = run_one("dashboard", False, canned_runner({"dashboard": {"trades": 100_000}}))
    [figure] = figures_for(outcome, FLOOR)
    assert figure.error and "first_render_s" in figure.error


def test_skipped_shared_data_is_an_error_row() -> None:
    skipped = {**CANNED["backtest"], "shared_3_days_1m_bars": {"skipped": "missing tests/data/x.csv"}}
    [figure] = figures_for(run_one("backtest", False, canned_runner({"backtest": skipped})), FLOOR)
    assert "skipped" in figure.error and "x.csv" in figure.error


def test_extractor_crash_and_sys_exit_are_error_rows() -> None:
    zero = {**CANNED["backtest"], "generated_1_tick_per_s": {**CANNED["backtest"]["generated_1_tick_per_s"],
                                                             "tick_interval_s": 0}}
    [figure] = figures_for(run_one("backtest", False, canned_runner({"backtest": zero})), FLOOR)
    assert figure.error.startswith("cannot read the result: ZeroDivisionError")
    assert run_one("feed", False, canned_runner({"feed": SystemExit(1)})).error == "SystemExit: 1"


def test_non_numeric_figure_is_an_error_row() -> None:
    bad = {**CANNED["kill_switch"], "p99_ns": "fast"}
    [figure] = figures_for(run_one("kill_switch", False, canned_runner({"kill_switch": bad})), FLOOR)
    assert "not a number" in figure.error


def test_missing_module_and_crash_are_reported_not_raised() -> None:
    missing = ModuleNotFoundError("No module named 'bench.bench_rss'", name="bench.bench_rss")
    outcome = run_one("rss", False, canned_runner({"rss": missing}))
    assert outcome.result is None and outcome.error == "bench/bench_rss.py is missing"
    dep = ModuleNotFoundError("No module named 'kalshi_python_async'", name="kalshi_python_async")
    dep_outcome = run_one("sdk_compare", False, canned_runner({"sdk_compare": dep}))
    assert "cannot import kalshi_python_async" in dep_outcome.error
    crash = run_one("feed", False, canned_runner({"feed": RuntimeError("server died")}))
    assert crash.error == "RuntimeError: server died" and "Traceback" in crash.traceback


# -- table and JSON ------------------------------------------------------------------------------


def test_table_has_every_row_and_lists_errors() -> None:
    results = {**CANNED, "backtest": RuntimeError("boom")}
    figures = all_figures(results)
    table = render_table(figures)
    lines = table.splitlines()
    assert lines[0].split() == ["figure", "value", "reference", "ratio", "target", "met?"]
    assert "ERROR backtest: RuntimeError: boom" in table
    dash_line = next(line for line in lines if line.startswith("dashboard first render"))
    assert "1.50 s" in dash_line and "0.75 s (same, empty database)" in dash_line and "2.00x" in dash_line
    assert dash_line.rstrip().endswith("yes")
    assert next(line for line in lines if line.startswith("check_order_allowed p99")).rstrip().endswith("NO")
    assert len(lines) == 2 + len(figures) + 2  # header, rule, rows, blank, one error line


def test_report_json_round_trips() -> None:
    outcomes = [run_one(n, True, canned_runner({**CANNED, "rss": RuntimeError("no /proc")})) for n in BENCHMARKS]
    figures = [f for o in outcomes for f in figures_for(o, FLOOR)]
    report = build_report(outcomes, figures, machine={"cpu_model": "x"}, floor=FLOOR, quick=True,
                          started_utc="2026-01-01T00:00:00+00:00", finished_utc="2026-01-01T00:01:00+00:00")
    data = json.loads(json.dumps(report))
    assert data["command"] == "python -m bench.run_all --quick"
    assert data["benchmarks"]["rss"]["ok"] is False and data["benchmarks"]["rss"]["error"] == "RuntimeError: no /proc"
    assert data["benchmarks"]["feed"]["ok"] is True and data["benchmarks"]["feed"]["result"] == CANNED["feed"]
    row = next(r for r in data["figures"] if r["figure"].startswith("feed parse"))
    assert row == {"benchmark": "feed", "figure": "feed parse + window", "unit": "ticks/s", "value": 600000.0,
                   "reference": 1500000.0, "reference_name": "bare orjson.loads loop", "ratio": 0.4,
                   "target": ">= 500,000 ticks/s", "met": True, "error": None}


# -- the command ---------------------------------------------------------------------------------


def run_main(tmp_path: Path, results: Mapping[str, Any], *extra: str) -> tuple[int, str, dict[str, Any]]:
    out_file = tmp_path / "results.json"
    stdout = io.StringIO()
    code = main(["--quick", "--out", str(out_file), *extra], runner=canned_runner(results), out_stream=stdout,
                progress=io.StringIO())
    return code, stdout.getvalue(), json.loads(out_file.read_text(encoding="utf-8"))


def test_missed_targets_exit_zero_and_json_has_the_machine(tmp_path: Path) -> None:
    code, printed, data = run_main(tmp_path, CANNED)
    assert code == 0  # misses are reported, not failures
    assert " NO" in printed and "ERROR" not in printed
    machine = data["machine"]
    for key in ("platform", "cpu_model", "cores", "python", "date_utc"):
        assert machine[key], key
    assert data["quick"] is True and set(data["benchmarks"]) == set(BENCHMARKS)
    assert data["call_floor"]["median_ns"] > 0


def test_an_errored_benchmark_exits_nonzero_and_the_rest_still_run(tmp_path: Path) -> None:
    missing = ModuleNotFoundError("No module named 'bench.bench_backtest'", name="bench.bench_backtest")
    code, printed, data = run_main(tmp_path, {**CANNED, "backtest": missing})
    assert code == 1
    assert "ERROR backtest: bench/bench_backtest.py is missing" in printed
    assert data["benchmarks"]["rss"]["ok"] is True  # the one after it ran
    assert [r["error"] for r in data["figures"] if r["benchmark"] == "backtest"] == [
        "bench/bench_backtest.py is missing"]


def test_only_runs_the_named_benchmarks(tmp_path: Path) -> None:
    code, printed, data = run_main(tmp_path, {"dashboard": CANNED["dashboard"]}, "--only", "dashboard")
    assert code == 0 and list(data["benchmarks"]) == ["dashboard"]
    assert "dashboard first render" in printed


def test_unknown_only_name_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["--only", "nope"])
    assert exc.value.code == 2
    assert "invalid choice" in capsys.readouterr().err


def test_default_runner_imports_the_module_and_calls_run(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[bool] = []
    fake = types.ModuleType("bench.bench_dashboard")

    def run(quick: bool = False) -> dict[str, Any]:
        calls.append(quick)
        return CANNED["dashboard"]

    fake.run = run  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "bench.bench_dashboard", fake)
    outcome = run_one("dashboard", True)
    assert calls == [True] and outcome.result == CANNED["dashboard"]
    not_a_dict = types.ModuleType("bench.bench_rss")
    not_a_dict.run = lambda quick=False: 42  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "bench.bench_rss", not_a_dict)
    assert run_one("rss", True).error == "TypeError: run() returned int, not a dict"


def test_every_bench_module_present_defines_run_with_quick() -> None:
    for name in BENCHMARKS:
        path = BENCH_DIR / f"bench_{name}.py"
        if not path.exists():
            continue  # reported as an ERROR row by the runner (see above)
        tree = ast.parse(path.read_text(encoding="utf-8"))
        runs = [n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "run"]
        assert len(runs) == 1, f"{path.name} has no top-level run()"
        args = runs[0].args
        assert [a.arg for a in args.args] == ["quick"] and len(args.defaults) == 1, path.name


def test_cpu_model_reads_proc_cpuinfo(tmp_path: Path) -> None:
    info = tmp_path / "cpuinfo"
    info.write_text("processor\t: 0\nmodel name\t: Test CPU @ 3.00GHz\nflags\t: fpu\n", encoding="utf-8")
    assert cpu_model(info) == "Test CPU @ 3.00GHz"
    assert cpu_model(tmp_path / "absent")  # falls back to platform.processor() or "unknown"


def test_outcome_without_extractor_is_an_error() -> None:
    [figure] = figures_for(Outcome("mystery", 0.0, result={"x": 1}), FLOOR)
    assert "no figures defined" in figure.error
