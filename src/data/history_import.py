"""Imports history files into a download directory: Kalshi API JSON/JSONL (trades, markets) and BTC price files.

Kalshi files hold what the API returns, saved by any tool: a page object ({"trades": [...]} or
{"markets": [...]}, cursor and all), a JSON array of trade or market objects, or JSON lines (one
object or one page per line). Trades go to trades/<TICKER>.jsonl of the UTC day their market
closes (read from the KXBTC15M ticker), merged with what is there by trade_id; markets go to that
day's markets.jsonl, merged by ticker. BTC files are anything src/data/price_files.py reads
(Binance public-data CSV/ZIP: trades, aggTrades, klines; generic CSVs); their ticks are split by
UTC day into prices/<source>/<day>.csv. Every write is a whole file (history_store), so importing the
same file twice changes nothing.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from src.data.history_store import HistoryStore, read_jsonl, write_atomic, write_jsonl
from src.data.kalshi_history import HistoryDataError, parse_settled_market, parse_trade
from src.data.price_files import PriceFileError, open_ticks
from src.model.kxbtc15m import close_from_event_ticker
from src.net.public_http import decode_json

IMPORTED_BTC_SOURCE = "imported"


class HistoryImportError(ValueError):
    """A file that cannot be imported: one line naming it and why."""


@dataclass
class ImportStats:
    trades: int = 0
    markets: int = 0
    btc_ticks: int = 0
    files: int = 0

    def summary(self) -> str:
        return f"{self.files} file(s): {self.trades} trades, {self.markets} markets, {self.btc_ticks} BTC ticks"


def _utc_day(ts: float) -> date:
    return datetime.fromtimestamp(ts, tz=UTC).date()


def _objects(path: Path) -> Iterator[Mapping[str, Any]]:
    """Every JSON object of a .json or .jsonl file, with pages and arrays opened up."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise HistoryImportError(f"{path}: cannot read ({exc})") from None
    try:
        payloads = [decode_json(text.encode())]  # one JSON document (a page, an array, an object)
    except ValueError:
        try:
            payloads = [decode_json(line.encode()) for line in text.splitlines() if line.strip()]
        except ValueError:
            raise HistoryImportError(f"{path}: not JSON or JSON lines") from None
    for payload in payloads:
        if isinstance(payload, list):
            yield from (p for p in payload if isinstance(p, Mapping))
        elif isinstance(payload, Mapping):
            if isinstance(payload.get("trades"), list) or isinstance(payload.get("markets"), list):
                yield from (p for p in payload.get("trades") or payload.get("markets") or [] if isinstance(p, Mapping))
            elif isinstance(payload.get("market"), Mapping):
                yield payload["market"]
            else:
                yield payload


def _kind(row: Mapping[str, Any]) -> str:
    if "trade_id" in row:
        return "trade"
    if "close_time" in row and "ticker" in row:
        return "market"
    return ""


def import_kalshi_file(store: HistoryStore, path: Path, stats: ImportStats) -> None:
    trades: dict[str, dict[str, Mapping[str, Any]]] = defaultdict(dict)
    markets: dict[date, dict[str, Mapping[str, Any]]] = defaultdict(dict)
    for row in _objects(path):
        kind = _kind(row)
        try:
            if kind == "trade":
                trade = parse_trade(row)
                trades[trade.ticker][trade.trade_id] = row
            elif kind == "market":
                market = parse_settled_market(row)
                markets[_utc_day(market.close_time.timestamp())][market.ticker] = row
            else:
                raise HistoryImportError(f"{path}: an object that is neither a Kalshi trade nor a market")
        except HistoryDataError as exc:
            raise HistoryImportError(f"{path}: {exc}") from None
    for ticker, rows in trades.items():
        try:
            day = _utc_day(close_from_event_ticker(ticker))
        except ValueError:
            raise HistoryImportError(f"{path}: {ticker!r} is not a KXBTC15M market ticker") from None
        target = store.trades_path(day, ticker)
        merged = {r["trade_id"]: r for r in read_jsonl(target)} if target.is_file() else {}
        merged.update(rows)
        ordered = sorted(merged.values(), key=lambda r: (parse_trade(r).ts, str(r["trade_id"])))
        write_jsonl(target, ordered)
        stats.trades += len(rows)
    for day, rows in markets.items():
        target = store.markets_path(day)
        merged_m = {r["ticker"]: r for r in read_jsonl(target)} if target.is_file() else {}
        merged_m.update(rows)
        write_jsonl(target, sorted(merged_m.values(), key=lambda r: str(r["close_time"])))
        stats.markets += len(rows)


def import_btc_file(store: HistoryStore, path: Path, stats: ImportStats, source: str = IMPORTED_BTC_SOURCE) -> None:
    try:
        stream = open_ticks(path)
        by_day: dict[date, list[tuple[float, float, int]]] = defaultdict(list)
        for tick in stream.ticks:
            by_day[_utc_day(tick[0])].append(tick)
    except PriceFileError as exc:
        raise HistoryImportError(str(exc)) from None
    for day, ticks in by_day.items():
        target = store.btc_path(source, day)
        # Merged with what an earlier import wrote, one tick per (time, id): importing twice adds nothing.
        merged = {(t[0], t[2]): t for t in (open_ticks(target).ticks if target.is_file() else ())}
        merged.update({(t[0], t[2]): t for t in ticks})
        ordered = [merged[k] for k in sorted(merged)]
        write_atomic(target, "timestamp,price,trade_id\n" + "".join(f"{ts!r},{px!r},{i}\n" for ts, px, i in ordered))
        stats.btc_ticks += len(ticks)


def import_files(root: Path, files: list[Path]) -> ImportStats:
    """Import each file (Kalshi .json/.jsonl, anything else as a BTC price file) into the directory `root`."""
    store = HistoryStore(root)
    stats = ImportStats()
    for path in files:
        if not path.is_file():
            raise HistoryImportError(f"{path}: no such file")
        if path.suffix.lower() in (".json", ".jsonl", ".ndjson"):
            import_kalshi_file(store, path, stats)
        else:
            import_btc_file(store, path, stats)
        stats.files += 1
    return stats


__all__ = [
    "IMPORTED_BTC_SOURCE",
    "HistoryImportError",
    "ImportStats",
    "import_btc_file",
    "import_files",
    "import_kalshi_file",
]
