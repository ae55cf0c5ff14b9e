"""The --record-only daemon: real Kalshi markets and books and the BTC feed into the recorder, no trading.

With kalshi.ws.enabled (the default) and Kalshi keys in .env, the Kalshi websocket is recorded too
(book snapshots and deltas with seq, public trades, BRTI, lifecycle): its handshake is signed even for
public channels, so without keys only the REST polls are recorded, and the start line says so.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from src.config import Settings, load_settings
from src.model.exit_codes import EXIT_ERROR, EXIT_OK, EXIT_USAGE
from src.model.models import Clock, Mode, Sleep
from src.recording.record_only import run_record_only
from src.recording.session import open_recording, recording_root

log = logging.getLogger("polybot.record")


def cmd_record_only(args: argparse.Namespace, root: Path) -> int:
    from src.journal.log_setup import setup_logging

    settings = load_settings(config_path=args.config, root=root)
    setup_logging(root, settings.app.logging.level)
    return asyncio.run(record(settings, root))


async def record(
    settings: Settings,
    root: Path,
    *,
    kalshi_connector_factory: Callable[[], Any] | None = None,
    feed_connect: Callable[..., Any] | None = None,
    stop: asyncio.Event | None = None,
    kalshi_ws_connect: Callable[..., Any] | None = None,
    clock: Clock = time.time,
    sleep: Sleep = asyncio.sleep,
) -> int:
    """Record until Ctrl-C (or `stop`); the transports are injectable as in main.build_and_run, and so
    are the clock and the sleep of every timed loop here (tests move time by hand instead of waiting)."""
    from src.auth.kalshi_auth import KalshiAuthError
    from src.data.feeds import make_feed
    from src.platforms.kalshi import KalshiClient, KalshiError, load_auth

    app = settings.app
    overrides: dict[str, Any] = {}
    if kalshi_connector_factory is not None:
        overrides["connector_factory"] = kalshi_connector_factory
    # Market data is public: the REST client needs no keys (DECISIONS.md §6) and loads none.
    client = KalshiClient.from_settings(settings, with_auth=False, **overrides)
    signer = None
    if app.kalshi.ws.enabled:
        try:
            signer = load_auth(settings)  # only the websocket handshake is signed
        except KalshiAuthError as exc:
            await client.close()
            print(f"error: Kalshi websocket: {exc}", file=sys.stderr)
            return EXIT_USAGE  # a half-filled .env or an unusable key file is the user's to fix
    stop = stop or asyncio.Event()
    folder = recording_root(root, Mode.PAPER)
    session = open_recording(app.recording, folder, client, clock, sleep,
                             meta={"mode": "record-only", "feed": app.feed.source,
                                   "series": app.kalshi.series_ticker, "market_data_env": app.kalshi.market_data_env})
    try:
        feed = make_feed(app.feed, clock, connect=feed_connect)
        session.tap_feed(feed)
        books = None
        if signer is not None:
            from src.data.kalshi_ws import KalshiWs, ws_settings

            url, timing = ws_settings(app.kalshi, live=False)
            books = KalshiWs(url=url, signer=signer, clock=clock, series=app.kalshi.series_ticker,
                             connect=kalshi_ws_connect, timing=timing)
            session.tap_books(books)
        how = ("websocket books, prints, BRTI and lifecycle + REST polls" if books is not None else
               "REST polls only" + (" (the websocket needs Kalshi keys in .env)" if app.kalshi.ws.enabled else ""))
        print(f"RECORD ONLY | {app.feed.source} BTC trades and Kalshi {app.kalshi.series_ticker} "
              f"({app.kalshi.market_data_env}) markets and books, {how} -> {folder} (Ctrl-C to stop)", flush=True)
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                loop.add_signal_handler(sig, stop.set)
            except (NotImplementedError, RuntimeError):
                pass

        async def status() -> None:
            while True:
                await sleep(app.execution.status_interval_s)
                rec = session.recorder
                print(f"[RECORD] {rec.written_rows:,} rows in {rec.parts} parts, {rec.written_bytes / 1e6:.1f} MB, "
                      f"{rec.queued} queued, {rec.dropped} dropped", flush=True)

        await run_record_only(feed, session.poll, session.watcher, clock,
                              poll_interval_s=app.kalshi.poll_interval_s, stop=stop, sleep=sleep, status=status,
                              books=books)
    except KalshiError as exc:
        print(f"error: Kalshi: {exc}", file=sys.stderr)
        return EXIT_ERROR
    finally:
        session.close()
        await client.close()
    return EXIT_OK
