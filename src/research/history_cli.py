"""Runs the history commands from parsed flags: --download-history (days, clients, summary) and the TAPE backtest."""

from __future__ import annotations

import asyncio
import importlib.util
import sys
from collections.abc import Sequence
from datetime import date
from pathlib import Path
from typing import TextIO

from src.cli.console import fail
from src.cli.flag_dates import parse_day
from src.config import ConfigError, Settings
from src.data.btc_history import SOURCES, BtcHistoryClient
from src.data.history_store import HistoryStore
from src.data.kalshi_history import KALSHI_HISTORY_HOSTS, HistoryDataError, KalshiHistoryClient
from src.model.exit_codes import EXIT_ERROR, EXIT_OK, EXIT_USAGE
from src.net.http_session import ConnectorFactory
from src.net.public_http import PublicHttp, PublicHttpError

DEFAULT_DIR = Path("data") / "history"


def required_day(text: str | None, flag: str) -> date:
    """--download-history's --from or --to: a YYYY-MM-DD day (UTC), which it cannot go without."""
    day = parse_day(text or None, flag)
    if day is None:
        raise ConfigError(f"--download-history needs {flag} YYYY-MM-DD")
    return day


def run_download(
    settings: Settings,
    start: str | None,
    end: str | None,
    out_dir: Path,
    *,
    connector_factory: ConnectorFactory | None = None,
    progress: TextIO | None = None,
    out: TextIO | None = None,
) -> int:
    """--download-history; `progress` (the bar, e.g. sys.stderr) and `out` (the summary) default to none and stdout."""
    out = out or sys.stdout
    first, last = required_day(start, "--from"), required_day(end, "--to")
    if last < first:
        raise ConfigError(f"--to {last} is before --from {first}")
    source = settings.app.feed.source
    store = HistoryStore(out_dir)

    async def go() -> int:
        from src.research.history_download import download_history

        kalshi_http = PublicHttp(KALSHI_HISTORY_HOSTS, connector_factory=connector_factory)
        btc_http = PublicHttp(SOURCES[source].hosts, connector_factory=connector_factory)
        export = None
        recording = out_dir / "recording"
        if importlib.util.find_spec("src.recording") is not None:  # the recorder of issue 20
            from src.research.history_recording import export_day

            def export(day: date) -> int:
                return export_day(store, day, recording, source)

        async with kalshi_http, btc_http:
            kalshi = KalshiHistoryClient(kalshi_http, series=settings.app.kalshi.series_ticker)
            btc = BtcHistoryClient(source, btc_http)
            stats = await download_history(store, first, last, kalshi, btc, progress=progress, export=export)
        print(f"history: {stats.summary()}", file=out)
        if export is not None:
            print(f"history: {stats.days_exported} day(s) written as a recording in {recording}", file=out)
        print(f"history: BTC from {source} ({SOURCES[source].resolution}); files in {out_dir}", file=out)
        return EXIT_ERROR if stats.failed else EXIT_OK

    try:
        return asyncio.run(go())
    except (PublicHttpError, HistoryDataError) as exc:
        return fail(f"download stopped: {exc} (rerun the same command to resume)", EXIT_ERROR)


def run_tape(
    settings: Settings, root: Path, start: float | None, end: float | None, *, as_json: bool = False,
    latencies_s: Sequence[float] | None = None, out: TextIO | None = None, recording: bool = False,
) -> int:
    """The TAPE backtest of a downloaded directory (or, with `recording`, of a recording folder: its
    prints and BTC trades, e.g. a downloaded day written as a recording, which has no books to
    replay), markets closing in [start, end), printed."""
    from src.data.history_store import HistoryStoreError
    from src.research.tape_backtest import DEFAULT_LATENCIES, run_tape_backtest
    from src.research.tape_data import load_tape
    from src.research.tape_report import render_json, render_text

    out = out or sys.stdout
    try:
        if recording:
            from src.research.tape_recording import load_tape_from_recording

            data = load_tape_from_recording(root, start, end)
        else:
            data = load_tape(root, start, end)
    except (HistoryStoreError, ValueError) as exc:  # RecordingError is a ValueError
        return fail(str(exc), EXIT_USAGE)
    if not data.markets:
        return fail(f"{root}: no downloaded settled markets in the requested range", EXIT_USAGE)
    report = run_tape_backtest(settings, data, DEFAULT_LATENCIES if latencies_s is None else latencies_s)
    print(render_json(report) if as_json else render_text(report), file=out)
    return EXIT_OK


def run_import(files: list[Path], out_dir: Path, *, out: TextIO | None = None) -> int:
    """--import-history: add the files to the history directory; a bad file is one line and exit 2."""
    out = out or sys.stdout
    from src.data.history_import import HistoryImportError, import_files

    try:
        stats = import_files(out_dir, files)
    except HistoryImportError as exc:
        return fail(str(exc), EXIT_USAGE)
    print(f"imported {stats.summary()} into {out_dir}", file=out)
    return EXIT_OK


__all__ = ["DEFAULT_DIR", "required_day", "run_download", "run_import", "run_tape"]
