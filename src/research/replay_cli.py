"""The --backtest RECORDING and --edge-report commands: argument checks, then replay and print."""

from __future__ import annotations

import argparse
from pathlib import Path

from src.config import ConfigError, Settings
from src.model.exit_codes import EXIT_OK
from src.recording.reader import RecordingError, load_recording
from src.research.recorded_replay import DEFAULT_LATENCIES_MS, prepare, run_sweep
from src.research.replay_report import render_replay


def parse_latencies(text: str | None) -> tuple[float, ...]:
    """"0,50,100" -> (0.0, 50.0, 100.0); a one-line ConfigError for anything else."""
    if text is None:
        return tuple(float(x) for x in DEFAULT_LATENCIES_MS)
    values = []
    for part in text.split(","):
        try:
            value = float(part.strip())
        except ValueError:
            raise ConfigError(f"--latency-ms: {part.strip()!r} is not a number of milliseconds") from None
        if not 0 <= value <= 600_000:
            raise ConfigError(f"--latency-ms: {part.strip()} must be between 0 and 600000")
        values.append(value)
    if not values:
        raise ConfigError("--latency-ms: give at least one latency, e.g. 0,50,100")
    return tuple(values)


def _span(args: argparse.Namespace) -> tuple[float | None, float | None]:
    from src.research.backtest import as_epoch

    try:
        return as_epoch(args.start, "--from"), as_epoch(args.end, "--to")
    except ValueError as exc:
        raise ConfigError(str(exc)) from None


def cmd_replay(args: argparse.Namespace, settings: Settings) -> int:
    if args.json or args.out is not None:
        raise ConfigError("--json/--out are not available for a recording yet; run without them for the text table")
    latencies = parse_latencies(args.latency_ms)
    start, end = _span(args)
    try:
        rec = load_recording(Path(args.backtest), start, end)
    except RecordingError as exc:
        raise ConfigError(f"--backtest: {exc}") from None
    prep = prepare(rec, settings.app.feed.source)
    results = run_sweep(settings, prep, latencies)
    print(render_replay(prep, results, str(args.backtest)))
    return EXIT_OK


def cmd_edge_report(args: argparse.Namespace, settings: Settings, root: Path) -> int:
    from src.journal.log_setup import setup_logging
    from src.research.edge_render import render_edge_report
    from src.research.edge_report import build_edge_report
    from src.research.edge_store import save_edge_report

    setup_logging(root, "WARNING")
    latencies = parse_latencies(args.latency_ms)
    start, end = _span(args)
    try:
        rec = load_recording(Path(args.edge_report), start, end)
    except RecordingError as exc:
        raise ConfigError(f"--edge-report: {exc}") from None
    report = build_edge_report(settings, rec, latencies, where=str(args.edge_report))
    print(render_edge_report(report))
    saved = save_edge_report(root, report)
    print(f"\n(saved for the dashboard's Edge page: {saved})")
    return EXIT_OK
