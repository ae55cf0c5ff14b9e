"""--backtest: pick the backtest a path calls for (TAPE, recorded books or synthetic book) and run it."""

from __future__ import annotations

import argparse
from pathlib import Path

from src.cli.console import fail
from src.cli.flag_dates import parse_when
from src.config import load_settings
from src.model.exit_codes import EXIT_OK, EXIT_USAGE


def latency_refusal(path: Path) -> str:
    """Why `path`, neither a recording nor a downloaded history, takes no --latency-ms, worded for what it is."""
    if path.is_dir():
        return f"{path} is a folder but neither a recording nor a --download-history folder"
    if path.is_file():
        return f"{path} is a price file, which replays on the synthetic book without order latencies"
    return f"no such file or folder {path}"


def cmd_backtest(args: argparse.Namespace, root: Path) -> int:
    from src.research.backtest import run_backtest
    from src.research.backtest_report import render_json as bt_json
    from src.research.backtest_report import render_text as bt_text

    settings = load_settings(config_path=args.config, root=root)
    from src.journal.log_setup import setup_logging

    # Warnings only: the progress bar owns the terminal; details still reach logs/errors/.
    setup_logging(root, "WARNING")
    from src.recording.reader import is_recording
    from src.research.tape_data import is_history_dir

    if is_history_dir(args.backtest):  # a --download-history directory: the TAPE backtest
        from src.research.history_cli import run_tape
        from src.research.replay_cli import parse_latencies

        latencies = None if args.latency_ms is None else tuple(ms / 1000 for ms in parse_latencies(args.latency_ms))
        return run_tape(settings, args.backtest, parse_when(args.start, "--from"), parse_when(args.end, "--to"),
                        as_json=args.json, latencies_s=latencies)
    if is_recording(args.backtest):
        from src.research.tape_recording import recording_has_books

        if not recording_has_books(args.backtest):  # e.g. downloaded days: prints, no books -> TAPE
            from src.research.history_cli import run_tape
            from src.research.replay_cli import parse_latencies

            latencies = None if args.latency_ms is None else tuple(ms / 1000 for ms in parse_latencies(args.latency_ms))
            return run_tape(settings, args.backtest, parse_when(args.start, "--from"), parse_when(args.end, "--to"),
                            as_json=args.json, latencies_s=latencies, recording=True)
        from src.research.replay_cli import cmd_replay

        return cmd_replay(args, settings)
    if args.latency_ms is not None:
        return fail(f"--latency-ms needs a recording folder: {latency_refusal(args.backtest)}", EXIT_USAGE)
    if not args.backtest.is_file():
        return fail(f"--backtest: no such file or recording folder {args.backtest}", EXIT_USAGE)
    start = parse_when(args.start, "--from")
    end = parse_when(args.end, "--to")
    report = run_backtest(settings, args.backtest, start=start, end=end, out_dir=args.out, progress=True)
    print(bt_json(report) if args.json else bt_text(report))
    return EXIT_OK
