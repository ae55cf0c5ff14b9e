"""--download-history: fetch past KXBTC15M markets, trades, candles and BTC prices day by day, resumably.

Resumable and idempotent by construction (src/data/history_store.py): each market's trades and
candles, each day's BTC file and each day's COMPLETE marker are written whole; a rerun skips
what exists. A finished day (COMPLETE) is not asked for again; an unfinished one has its market
list fetched again (one request) and only its missing markets downloaded. Days that have not
ended an hour ago are skipped: their markets are not all settled yet.

Polite: the clients' token buckets (5 requests/s by default, well under Kalshi's and Binance's
public limits), 429s wait as the server says, and the walk is sequential. A market whose rows are
malformed is reported and skipped (the rest of the day goes on; a rerun tries it again); a server
that keeps failing stops the download with one line, and a rerun resumes where it stopped.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from typing import TextIO

from src.data.btc_history import BtcHistoryClient
from src.data.history_store import DAY_S, HistoryStore, day_start, days, write_jsonl
from src.data.kalshi_history import HistoryDataError, KalshiHistoryClient, parse_settled_market

# A day is fetched once its last market (closing at midnight) has surely settled: Kalshi publishes
# results minutes after the close, and a day marked COMPLETE is never asked for again.
SETTLE_MARGIN_S = 3600.0


@dataclass
class DownloadStats:
    """What one download run did (rows count what was fetched in this run, not what was skipped)."""

    days: int = 0
    days_skipped_complete: int = 0
    days_not_ended: int = 0
    markets: int = 0
    markets_fetched: int = 0
    markets_skipped: int = 0
    trades: int = 0
    candles: int = 0
    btc_rows: int = 0
    btc_days: int = 0
    days_exported: int = 0
    failed: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def rows(self) -> int:
        return self.trades + self.candles + self.btc_rows

    def summary(self) -> str:
        rate = self.rows / self.seconds if self.seconds > 0 else 0.0
        text = (
            f"{self.days} day(s): {self.markets} settled markets ({self.markets_fetched} fetched, "
            f"{self.markets_skipped} already there), {self.trades} trades, {self.candles} candles, "
            f"{self.btc_rows} BTC rows in {self.seconds:.1f}s ({rate:,.0f} rows/s)"
        )
        if self.days_not_ended:
            text += f"; {self.days_not_ended} day(s) not ended yet, skipped"
        if self.failed:
            text += f"; {len(self.failed)} market(s) failed (rerun to retry): {', '.join(self.failed[:5])}"
        return text


class ProgressBar:
    """One line, redrawn in place on a terminal; plain lines (one per day) elsewhere."""

    def __init__(self, out: TextIO | None, total_days: int) -> None:
        self.out = out
        self.total_days = total_days
        self._tty = bool(out is not None and getattr(out, "isatty", lambda: False)())

    def show(self, day_index: int, day: date, done: int, total: int, rows: int, started: float) -> None:
        if self.out is None or not self._tty:
            return
        width = 24
        frac = (day_index + (done / total if total else 1.0)) / max(1, self.total_days)
        filled = int(width * frac)
        elapsed = max(1e-9, time.monotonic() - started)
        self.out.write(
            f"\r[{'#' * filled}{'.' * (width - filled)}] {frac:6.1%} {day} market {done}/{total} "
            f"{rows:,} rows {rows / elapsed:,.0f}/s "
        )
        self.out.flush()

    def day_done(self, day: date, markets: int, note: str) -> None:
        if self.out is None:
            return
        prefix = "\r" if self._tty else ""
        self.out.write(f"{prefix}{day}: {markets} markets {note}".ljust(78) + "\n")
        self.out.flush()


async def download_history(
    store: HistoryStore,
    first: date,
    last: date,
    kalshi: KalshiHistoryClient,
    btc: BtcHistoryClient | None = None,
    *,
    progress: TextIO | None = None,
    now: Callable[[], float] = time.time,
    export: Callable[[date], object] | None = None,
) -> DownloadStats:
    """Download every day from `first` to `last` (both included) into `store`.

    `export(day)` is called once a day is complete and not yet exported (history_recording writes
    it as a recording day); the history files stay the resumable source either way.
    """
    if last < first:
        raise ValueError(f"--to {last} is before --from {first}")
    stats = DownloadStats()
    started = time.monotonic()
    kalshi.plan(day_start(first), day_start(last) + DAY_S)
    bar = ProgressBar(progress, len(days(first, last)))
    for index, day in enumerate(days(first, last)):
        stats.days += 1
        lo = day_start(day)
        hi = lo + DAY_S
        if hi + SETTLE_MARGIN_S > now():
            stats.days_not_ended += 1
            bar.day_done(day, 0, "(not ended yet: skipped)")
            continue
        if btc is not None and not store.btc_path(btc.source.name, day).is_file():
            rows = await btc.rows(lo, hi)
            stats.btc_rows += store.write_btc(btc.source.name, day, btc.source.header, rows)
            stats.btc_days += 1
        if store.is_complete(day):
            stats.days_skipped_complete += 1
            _export(store, day, export, stats)
            bar.day_done(day, 0, "(already complete)")
            continue
        markets = await kalshi.settled_markets(lo, hi)
        write_jsonl(store.markets_path(day), markets)
        stats.markets += len(markets)
        failed_before = len(stats.failed)
        for done, row in enumerate(markets):
            bar.show(index, day, done, len(markets), stats.rows, started)
            market = parse_settled_market(row)
            if store.market_done(day, market.ticker):
                stats.markets_skipped += 1
                continue
            open_ts, close_ts = market.open_time.timestamp(), market.close_time.timestamp()
            try:
                candles = await kalshi.candles(market.ticker, open_ts, close_ts)
                trades = await kalshi.trades(market.ticker, open_ts, close_ts)
            except HistoryDataError as exc:
                stats.failed.append(f"{market.ticker} ({exc})")
                continue
            # Candles first, trades last: the trades file is the market's "done" mark with the candles.
            stats.candles += write_jsonl(store.candles_path(day, market.ticker), candles)
            stats.trades += write_jsonl(store.trades_path(day, market.ticker), trades)
            stats.markets_fetched += 1
        if len(stats.failed) == failed_before:
            store.mark_complete(day, len(markets))
            _export(store, day, export, stats)
            bar.day_done(day, len(markets), "complete")
        else:
            bar.day_done(day, len(markets), f"({len(stats.failed) - failed_before} failed: rerun to retry)")
    stats.seconds = time.monotonic() - started
    return stats


def _export(store: HistoryStore, day: date, export: Callable[[date], object] | None, stats: DownloadStats) -> None:
    if export is not None and not store.exported_path(day).is_file():
        export(day)
        stats.days_exported += 1


__all__ = ["SETTLE_MARGIN_S", "DownloadStats", "ProgressBar", "download_history"]
