"""Run every benchmark, print its figures beside their references and targets, and write bench/results.json.

Usage (from the repository root):

    .venv/bin/python -m bench.run_all            # the full suite (several minutes; 2 cores are enough)
    .venv/bin/python -m bench.run_all --quick    # a smoke run of every benchmark (about a minute)
    .venv/bin/python -m bench.run_all --only feed signal   # just these (names below)

Each benchmark is the module bench/bench_<name>.py and exposes `run(quick: bool = False) -> dict`.
A module that is missing, fails to import, raises, or returns a result without the expected figures
becomes an ERROR row and the others still run. The exit code is 1 if any benchmark errored and 0
otherwise: a missed target is reported (met? = NO), it is not a failure of the run.

Every figure is printed with its reference measured in the same run and the ratio value/reference.
For the two nanosecond latencies (generate_signal, check_order_allowed) there is no bare-loop
equivalent, so their reference is the timing floor of this machine: the same perf_counter_ns
bracket around an empty Python call, measured here just before the benchmarks.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import platform
import statistics
import subprocess
import sys
import time
import traceback
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUT = REPO_ROOT / "bench" / "results.json"
BENCHMARKS: tuple[str, ...] = (
    "feed", "signal", "kill_switch", "order_roundtrip", "kalshi_ws", "sdk_compare", "backtest", "dashboard", "rss",
    "recording", "history",
)
GENERATE_SIGNAL_PATHS: tuple[str, ...] = ("signal", "no_signal_move", "no_signal_no_lag")

Runner = Callable[[str, bool], Mapping[str, Any]]


class ResultShapeError(Exception):
    """A benchmark's result lacks a figure run_all expects (the module and run_all disagree)."""


# ---------------------------------------------------------------------------------------- figures


@dataclass(frozen=True)
class Target:
    """A goal on the value (or, with on_ratio, on value/reference)."""

    op: str  # ">=", "<=" or "<"
    threshold: float
    unit: str = ""  # how to print the threshold: the figure's unit, or "" for a plain ratio
    on_ratio: bool = False

    def met(self, value: float | None, ratio: float | None) -> bool | None:
        subject = ratio if self.on_ratio else value
        if subject is None:
            return None
        if self.op == ">=":
            return subject >= self.threshold
        if self.op == "<=":
            return subject <= self.threshold
        if self.op == "<":
            return subject < self.threshold
        raise ValueError(f"unknown target operator {self.op!r}")

    def text(self) -> str:
        if self.on_ratio:
            return f"ratio {self.op} {self.threshold:g}"
        return f"{self.op} {format_value(self.threshold, self.unit)}"


@dataclass(frozen=True)
class Figure:
    """One row of the table: a measured value, its reference, and the target if there is one."""

    benchmark: str
    name: str
    unit: str = ""
    value: float | None = None
    reference: float | None = None
    reference_name: str = ""
    target: Target | None = None
    error: str = ""

    @property
    def ratio(self) -> float | None:
        if self.value is None or not self.reference:
            return None
        return self.value / self.reference

    @property
    def met(self) -> bool | None:
        return None if self.target is None or self.error else self.target.met(self.value, self.ratio)

    def as_json(self) -> dict[str, Any]:
        return {
            "benchmark": self.benchmark,
            "figure": self.name,
            "unit": self.unit,
            "value": self.value,
            "reference": self.reference,
            "reference_name": self.reference_name,
            "ratio": None if self.ratio is None else round(self.ratio, 4),
            "target": self.target.text() if self.target else None,
            "met": self.met,
            "error": self.error or None,
        }


def format_value(value: float | None, unit: str) -> str:
    """A number for people: rates with thousands separators, nanoseconds as ns or µs."""
    if value is None:
        return "-"
    if unit == "ns":
        return f"{value / 1000:.2f} µs" if value >= 1000 else f"{value:.0f} ns"
    if unit.endswith("/s"):
        return f"{value:,.1f} {unit}" if value < 100 else f"{value:,.0f} {unit}"
    if unit == "µs":
        return f"{value:,.1f} µs"
    if unit == "ms":
        return f"{value:.3f} ms"
    if unit == "s":
        return f"{value:.2f} s"
    if unit == "MB":
        return f"{value:.1f} MB"
    return f"{value:g} {unit}".strip()


def _get(result: Mapping[str, Any], *path: str) -> Any:
    node: Any = result
    for key in path:
        if not isinstance(node, Mapping) or key not in node:
            raise ResultShapeError(f"result has no {'.'.join(path)!r}")
        node = node[key]
    return node


def _num(result: Mapping[str, Any], *path: str) -> float:
    value = _get(result, *path)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ResultShapeError(f"{'.'.join(path)!r} is not a number: {value!r}")
    return float(value)


# ---------------------------------------------------------------------------------------- extractors
# One per benchmark: its result dict -> its figures. They follow each module's own result keys.


def feed_figures(r: Mapping[str, Any], floor: Mapping[str, float]) -> list[Figure]:
    return [
        Figure("feed", "feed parse + window", "ticks/s", _num(r, "parse_and_window", "feed_ticks_per_s"),
               _num(r, "parse_and_window", "bare_orjson_loads_per_s"), "bare orjson.loads loop",
               Target(">=", 500_000, "ticks/s")),
    ]


def signal_figures(r: Mapping[str, Any], floor: Mapping[str, float]) -> list[Figure]:
    paths = [p for p in GENERATE_SIGNAL_PATHS if p in r]
    if not paths:
        raise ResultShapeError(f"result has none of the generate_signal paths {GENERATE_SIGNAL_PATHS}")
    worst_median = max(paths, key=lambda p: _num(r, p, "median_ns"))
    worst_p99 = max(paths, key=lambda p: _num(r, p, "p99_ns"))
    return [
        Figure("signal", f"generate_signal median (slowest of {len(paths)} paths: {worst_median})", "ns",
               _num(r, worst_median, "median_ns"), floor["median_ns"], "empty call, median",
               Target("<=", 10_000, "ns")),
        Figure("signal", f"generate_signal p99 (slowest of {len(paths)} paths: {worst_p99})", "ns",
               _num(r, worst_p99, "p99_ns"), floor["p99_ns"], "empty call, p99"),
    ]


def kill_switch_figures(r: Mapping[str, Any], floor: Mapping[str, float]) -> list[Figure]:
    return [
        Figure("kill_switch", "check_order_allowed median", "ns", _num(r, "median_ns"),
               floor["median_ns"], "empty call, median"),
        Figure("kill_switch", "check_order_allowed p99", "ns", _num(r, "p99_ns"),
               floor["p99_ns"], "empty call, p99", Target("<=", 20_000, "ns")),
    ]


def order_roundtrip_figures(r: Mapping[str, Any], floor: Mapping[str, float]) -> list[Figure]:
    return [
        Figure("order_roundtrip", "order round trip p50 (signing included)", "ms",
               _num(r, "kalshi_client", "p50_ms"), _num(r, "bare_aiohttp_sign_loop", "p50_ms"),
               "bare aiohttp + sign, p50"),
        Figure("order_roundtrip", "order round trip p99 (signing included)", "ms",
               _num(r, "kalshi_client", "p99_ms"), _num(r, "bare_aiohttp_sign_loop", "p99_ms"),
               "bare aiohttp + sign, p99", Target("<=", 2.0, "ms")),
        # Why p99 and p50 differ: the first order after the rate limiter's ~1 s wait runs slower.
        Figure("order_roundtrip", "first order after an idle wait: round trip p50", "ms",
               _num(r, "kalshi_client_by_idle", "after_idle", "p50_ms"),
               _num(r, "bare_by_idle", "after_idle", "p50_ms"), "bare loop, same orders"),
        Figure("order_roundtrip", "orders sent back to back: round trip p99", "ms",
               _num(r, "kalshi_client_by_idle", "back_to_back", "p99_ms"),
               _num(r, "bare_by_idle", "back_to_back", "p99_ms"), "bare loop, same orders"),
        Figure("order_roundtrip", "RSA-PSS signature after 50 ms idle, median", "ms",
               _num(r, "rsa_pss_sign_after_idle_ms"), _num(r, "rsa_pss_sign_ms"), "back to back, mean"),
    ]


def kalshi_ws_figures(r: Mapping[str, Any], floor: Mapping[str, float]) -> list[Figure]:
    fresh = _get(r, "book_freshness")
    rate = _num(fresh, "btc_trades_per_s")
    return [
        Figure("kalshi_ws", f"book freshness, delta -> decision, median (BTC feed {rate:.0f} trades/s)", "ms",
               _num(fresh, "median_ms")),
        Figure("kalshi_ws", "book freshness, delta -> decision, p99", "ms", _num(fresh, "p99_ms")),
        Figure("kalshi_ws", "tick to order on the wire, p50 (live, loopback)", "ms",
               _num(r, "tick_to_order", "p50_ms"), _num(r, "bare_sign_post", "p50_ms"), "bare sign + POST, p50"),
        Figure("kalshi_ws", "tick to order on the wire, p99 (live, loopback)", "ms",
               _num(r, "tick_to_order", "p99_ms"), _num(r, "bare_sign_post", "p99_ms"), "bare sign + POST, p99",
               Target("<=", 5.0, "ms")),
    ]


def sdk_compare_figures(r: Mapping[str, Any], floor: Mapping[str, float]) -> list[Figure]:
    figures = []
    for endpoint, label in (("orderbook", "GET orderbook"), ("markets", "GET markets")):
        figures.append(Figure(
            "sdk_compare", f"read throughput, {label} (ours, limiter off)", "req/s",
            _num(r, endpoint, "ours", "req_per_s"), _num(r, endpoint, "sdk", "req_per_s"), "official SDK",
            Target(">=", 2.0, on_ratio=True)))
    for endpoint, label in (("orderbook", "GET orderbook"), ("markets", "GET markets")):
        figures.append(Figure(
            "sdk_compare", f"client CPU per request, {label} (ours)", "µs",
            _num(r, endpoint, "ours", "client_cpu_us_per_req"), _num(r, endpoint, "sdk", "client_cpu_us_per_req"),
            "official SDK"))
    figures.append(Figure(
        "sdk_compare", "read throughput, GET orderbook (ours, real 10/s limiter)", "req/s",
        _num(r, "ours_throttled_orderbook", "req_per_s"), _num(r, "ours_throttled_orderbook", "limit_req_per_s"),
        "the code's read limit"))
    return figures


def backtest_figures(r: Mapping[str, Any], floor: Mapping[str, float]) -> list[Figure]:
    shared = _get(r, "shared_3_days_1m_bars")
    if "skipped" in shared:
        raise ResultShapeError(f"the tests/data run was skipped: {shared['skipped']}")
    figures = [
        # 17k ticks are too few for a rate: fixed start-up work dominates, so this file's target is
        # bench_backtest's total wall time (issue 8); the 300k ticks/s goal is for the 1M-tick files.
        # bench_backtest measures no parse-only reference for this file: the ratio stays empty.
        Figure("backtest", f"backtest over tests/data ({int(_num(shared, 'ticks')):,} ticks), per CPU s",
               "ticks/s", _num(shared, "ticks_per_cpu_s")),
        Figure("backtest", "backtest over tests/data, fresh process wall time", "s",
               _num(shared, "fresh_process_wall_s"), target=Target("<=", _num(shared, "target_s"), "s")),
    ]
    for key in ("generated_1_tick_per_s", "generated_10_ticks_per_s"):
        part = _get(r, key)
        figures.append(Figure(
            "backtest",
            f"backtest, generated {int(_num(part, 'ticks')):,} ticks ({1 / _num(part, 'tick_interval_s'):g}/s), "
            "per CPU s",
            "ticks/s", _num(part, "ticks_per_cpu_s"), _num(part, "parse_only_ticks_per_cpu_s"),
            "parsing the same file only", Target(">=", 300_000, "ticks/s")))
    return figures


def dashboard_figures(r: Mapping[str, Any], floor: Mapping[str, float]) -> list[Figure]:
    return [
        Figure("dashboard", f"dashboard first render, {int(_num(r, 'trades')):,} trades", "s",
               _num(r, "first_render_s"), _num(r, "first_render_empty_db_s"), "same, empty database",
               Target("<", 3.0, "s")),
    ]


def rss_figures(r: Mapping[str, Any], floor: Mapping[str, float]) -> list[Figure]:
    return [
        Figure("rss", f"daemon RSS after {_num(r, 'simulated_hours'):g} simulated hours (--sim)", "MB",
               _num(r, "rss_mb"), _num(r, "rss_at_start_mb"), "same process at start-up",
               Target("<", 150.0, "MB")),
    ]


def recording_figures(r: Mapping[str, Any], floor: Mapping[str, float]) -> list[Figure]:
    replay, tick, ws, writer = _get(r, "replay"), _get(r, "tick_path"), _get(r, "ws_path"), _get(r, "writer")
    per_s = _num(replay, "btc_trades_per_s")
    return [
        Figure("recording", f"recorded day replay ({per_s:g} BTC trades/s + 1 book/s), load + replay", "s",
               _num(replay, "day_replay_s_estimate"), target=Target("<", _num(replay, "target_day_s"), "s")),
        Figure("recording", "recorded-book replay, decision after every event", "events/s",
               _num(replay, "replay_events_per_s"), _num(replay, "bare_loop_events_per_s"),
               "the same event loop, deciding nothing"),
        Figure("recording", "recorded day on disk (record-only)", "MB", _num(replay, "day_size_mb_record_only"),
               target=Target("<", 100.0, "MB")),
        Figure("recording", "tick path with the recorder (feed decode + window + decide)", "ns",
               _num(tick, "tick_path_ns_with_recorder"), _num(tick, "tick_path_ns_without_recorder"),
               "same, not recording", Target("<", 1.0 + _num(tick, "target_overhead"), on_ratio=True)),
        Figure("recording", "Kalshi websocket delta with the recorder (parse + seq + book + wake)", "ns",
               _num(ws, "ws_delta_ns_with_recorder"), _num(ws, "ws_delta_ns_without_recorder"),
               "same, not recording", Target("<", 1.0 + _num(ws, "target_overhead"), on_ratio=True)),
        Figure("recording", "recorder writer thread CPU per trade (150-row flush, off the loop)", "ns",
               1000.0 * _num(writer, "paper_like_150_rows_us_per_trade")),
    ]


def history_figures(r: Mapping[str, Any], floor: Mapping[str, float]) -> list[Figure]:
    download, tape = _get(r, "download"), _get(r, "tape_backtest")
    return [
        # Against the local fake: the client's own cost (the real API is bound by its rate limit, shown apart).
        Figure("history", "history download against the fake, client + fake CPU", "rows/s",
               _num(download, "rows_per_cpu_s")),
        Figure("history", "history download at Kalshi's 5 requests/s (rows per request x 5)", "rows/s",
               _num(download, "production_rows_per_s_at_5_req_s")),
        Figure("history", "TAPE backtest, five-latency sweep in one pass, per CPU s", "BTC ticks/s",
               _num(tape, "ticks_per_s"), _num(tape, "latency_ticks_per_s"), "counting each latency's pass"),
    ]


EXTRACTORS: dict[str, Callable[[Mapping[str, Any], Mapping[str, float]], list[Figure]]] = {
    "feed": feed_figures,
    "signal": signal_figures,
    "kill_switch": kill_switch_figures,
    "order_roundtrip": order_roundtrip_figures,
    "kalshi_ws": kalshi_ws_figures,
    "sdk_compare": sdk_compare_figures,
    "backtest": backtest_figures,
    "dashboard": dashboard_figures,
    "rss": rss_figures,
    "recording": recording_figures,
    "history": history_figures,
}


# ---------------------------------------------------------------------------------------- running


@dataclass(frozen=True)
class Outcome:
    """What one benchmark module did: its raw result, or why there is none."""

    name: str
    seconds: float
    result: Mapping[str, Any] | None = None
    error: str = ""
    traceback: str = ""


def import_and_run(name: str, quick: bool) -> Mapping[str, Any]:
    """Import bench.bench_<name> and call its run(quick=...)."""
    module = importlib.import_module(f"bench.bench_{name}")
    run = getattr(module, "run", None)
    if not callable(run):
        raise AttributeError(f"bench/bench_{name}.py has no run() function")
    result = run(quick=quick)
    if not isinstance(result, Mapping):
        raise TypeError(f"run() returned {type(result).__name__}, not a dict")
    return result


def run_one(name: str, quick: bool, runner: Runner = import_and_run) -> Outcome:
    started = time.perf_counter()
    try:
        result = runner(name, quick)
    except ModuleNotFoundError as exc:
        missing = exc.name == f"bench.bench_{name}"
        error = f"bench/bench_{name}.py is missing" if missing else f"cannot import {exc.name}: {exc}"
        return Outcome(name, time.perf_counter() - started, error=error, traceback=traceback.format_exc())
    except (Exception, SystemExit) as exc:  # noqa: BLE001 - one broken benchmark must not stop the others
        return Outcome(name, time.perf_counter() - started, error=f"{type(exc).__name__}: {exc}",
                       traceback=traceback.format_exc())
    return Outcome(name, time.perf_counter() - started, result=result)


def figures_for(outcome: Outcome, floor: Mapping[str, float]) -> list[Figure]:
    """The outcome's table rows: its figures, or one ERROR row."""
    if outcome.result is None:
        return [Figure(outcome.name, outcome.name, error=outcome.error or "no result")]
    extractor = EXTRACTORS.get(outcome.name)
    if extractor is None:
        return [Figure(outcome.name, outcome.name, error="run_all has no figures defined for this benchmark")]
    try:
        return extractor(outcome.result, floor)
    except ResultShapeError as exc:
        return [Figure(outcome.name, outcome.name, error=f"unexpected result shape: {exc}")]
    except Exception as exc:  # noqa: BLE001 - e.g. a zero where a divisor was expected: report, go on
        return [Figure(outcome.name, outcome.name, error=f"cannot read the result: {type(exc).__name__}: {exc}")]


def errored(outcome: Outcome, figures: Sequence[Figure]) -> bool:
    return outcome.result is None or any(f.error for f in figures if f.benchmark == outcome.name)


def measure_call_floor(calls: int = 200_000) -> dict[str, float]:
    """perf_counter_ns around an empty call: the smallest per-call latency this machine can show."""
    clock = time.perf_counter_ns

    def empty() -> None:
        return None

    samples = [0] * calls
    for i in range(calls):
        t0 = clock()
        empty()
        samples[i] = clock() - t0
    samples.sort()
    return {
        "calls": calls,
        "median_ns": float(statistics.median(samples)),
        "p99_ns": float(samples[min(calls - 1, int(calls * 0.99))]),
    }


# ---------------------------------------------------------------------------------------- machine


def cpu_model(cpuinfo: Path = Path("/proc/cpuinfo")) -> str:
    try:
        for line in cpuinfo.read_text(encoding="utf-8", errors="replace").splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name":
                return value.strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def memory_total_mb(meminfo: Path = Path("/proc/meminfo")) -> float | None:
    try:
        for line in meminfo.read_text(encoding="ascii", errors="replace").splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 1024, 1)
    except (OSError, ValueError, IndexError):
        pass
    return None


def git_commit() -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO_ROOT, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    if out.returncode != 0:
        return None
    return out.stdout.strip() or None


def machine_info() -> dict[str, Any]:
    """What the figures were measured on (the numbers mean little without it)."""
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return {
        "platform": platform.platform(),
        "cpu_model": cpu_model(),
        "cores": os.cpu_count(),
        "cores_usable": usable,
        "memory_total_mb": memory_total_mb(),
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()] if hasattr(os, "getloadavg") else None,
        "date_utc": datetime.now(UTC).isoformat(timespec="seconds"),
        "git_commit": git_commit(),
    }


# ---------------------------------------------------------------------------------------- reporting


def met_text(figure: Figure) -> str:
    if figure.error:
        return "ERROR"
    return {True: "yes", False: "NO", None: "-"}[figure.met]


def render_table(figures: Sequence[Figure]) -> str:
    """The figures as an aligned text table; error messages are listed under it."""
    header = ("figure", "value", "reference", "ratio", "target", "met?")
    rows = []
    for f in figures:
        if f.error:
            rows.append((f.name, "ERROR", "-", "-", "-", "ERROR"))
            continue
        reference = "-" if f.reference is None else f"{format_value(f.reference, f.unit)} ({f.reference_name})"
        ratio = "-" if f.ratio is None else f"{f.ratio:,.2f}x"
        rows.append((f.name, format_value(f.value, f.unit), reference, ratio,
                     f.target.text() if f.target else "-", met_text(f)))
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(str(c).ljust(w) for c, w in zip(header, widths, strict=True)).rstrip()]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(str(c).ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    errors = [f for f in figures if f.error]
    if errors:
        lines.append("")
        lines += [f"ERROR {f.benchmark}: {f.error}" for f in errors]
    return "\n".join(lines)


def build_report(
    outcomes: Sequence[Outcome],
    figures: Sequence[Figure],
    *,
    machine: Mapping[str, Any],
    floor: Mapping[str, float],
    quick: bool,
    started_utc: str,
    finished_utc: str,
) -> dict[str, Any]:
    """Everything results.json holds: the machine, the table's rows, and each benchmark's raw result."""
    return {
        "command": "python -m bench.run_all" + (" --quick" if quick else ""),
        "quick": quick,
        "started_utc": started_utc,
        "finished_utc": finished_utc,
        "machine": dict(machine),
        "call_floor": dict(floor),
        "figures": [f.as_json() for f in figures],
        "benchmarks": {
            o.name: {
                "ok": not errored(o, figures),
                "seconds": round(o.seconds, 2),
                "error": o.error or next((f.error for f in figures if f.benchmark == o.name and f.error), None),
                "traceback": o.traceback or None,
                "result": o.result,
            }
            for o in outcomes
        },
    }


def write_report(report: Mapping[str, Any], out: Path) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    # default=str: a module may put a Decimal or a Path in its result; keep it readable, never fail here.
    tmp.write_text(json.dumps(report, indent=2, default=str) + "\n", encoding="utf-8")
    tmp.replace(out)


# ---------------------------------------------------------------------------------------- command line


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.run_all", description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="a smoke run of every benchmark (smaller sizes, one round)")
    p.add_argument("--only", nargs="+", metavar="NAME", choices=BENCHMARKS,
                   help=f"run only these benchmarks: {', '.join(BENCHMARKS)}")
    p.add_argument("--out", type=Path, default=DEFAULT_OUT, help="where to write the JSON results "
                   "(default: bench/results.json)")
    return p.parse_args(argv)


def main(argv: Sequence[str] | None = None, *, runner: Runner = import_and_run,
         out_stream: Any = None, progress: Any = None) -> int:
    args = parse_args(argv)
    out_stream = out_stream or sys.stdout
    progress = progress or sys.stderr
    names = [n for n in BENCHMARKS if not args.only or n in args.only]
    started = datetime.now(UTC).isoformat(timespec="seconds")
    machine = machine_info()
    print(f"machine: {machine['cpu_model']}, {machine['cores']} cores, {machine['python']}, "
          f"load {machine['load_average_at_start']}", file=progress, flush=True)
    floor = measure_call_floor(20_000 if args.quick else 200_000)
    outcomes, figures = [], []
    for i, name in enumerate(names, 1):
        print(f"[{i}/{len(names)}] {name} ...", file=progress, flush=True)
        outcome = run_one(name, args.quick, runner)
        outcomes.append(outcome)
        figures += figures_for(outcome, floor)
        status = "ok" if not errored(outcome, figures) else f"ERROR: {(outcome.error or 'bad result')[:120]}"
        print(f"[{i}/{len(names)}] {name} {status} ({outcome.seconds:.1f} s)", file=progress, flush=True)
    report = build_report(outcomes, figures, machine=machine, floor=floor, quick=args.quick,
                          started_utc=started, finished_utc=datetime.now(UTC).isoformat(timespec="seconds"))
    write_report(report, args.out)
    print(render_table(figures), file=out_stream)
    print(f"\nresults: {args.out}", file=out_stream)
    return 1 if any(errored(o, figures) for o in outcomes) else 0


if __name__ == "__main__":
    sys.exit(main())
