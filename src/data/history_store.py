"""On-disk layout of downloaded history: one whole file per day, kind and market, so a file that exists is done.

    <root>/kalshi/<YYYY-MM-DD>/markets.jsonl          settled market rows, as Kalshi's API returns them
    <root>/kalshi/<YYYY-MM-DD>/trades/<TICKER>.jsonl  every public trade of the market, oldest first
    <root>/kalshi/<YYYY-MM-DD>/candles/<TICKER>.jsonl its 1-minute candlesticks
    <root>/kalshi/<YYYY-MM-DD>/COMPLETE               the day's market list and every market are in
    <root>/kalshi/<YYYY-MM-DD>/EXPORTED               the day is also written as a recording day
    <root>/recording/<YYYY-MM-DD>/...                 that recording (src/research/history_recording.py)
    <root>/prices/<source>/<YYYY-MM-DD>.csv           BTC prices in a layout src/data/price_files.py reads

Every file is written to a temporary name, flushed and renamed into place: an interrupted download
leaves either the whole file or none, so a rerun skips what exists and fetches the rest, never
appending twice. The day of a market is the UTC day of its close time.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator, Mapping
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import msgspec

DAY_S = 86_400
# Not "btc": that is a recording stream name, and a recording reader would take the directory for a day.
PRICES = "prices"


class HistoryStoreError(ValueError):
    """A history directory is missing or holds a file that cannot be read (one line: which and why)."""


def day_start(day: date) -> float:
    return datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp()


def days(first: date, last: date) -> list[date]:
    """Every day from first to last, both included."""
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


# Floats were decoded as Decimal; written back as the same JSON number text (never through float).
_ENCODE = msgspec.json.Encoder(decimal_format="number").encode
_DECODE = msgspec.json.Decoder(float_hook=Decimal).decode


def _dumps(row: Mapping[str, Any]) -> str:
    return _ENCODE(row).decode()


def write_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".part")
    with open(tmp, "w", encoding="utf-8", newline="") as out:
        out.write(text)
        out.flush()
        os.fsync(out.fileno())
    os.replace(tmp, path)


def write_jsonl(path: Path, rows: Iterable[Mapping[str, Any]]) -> int:
    lines = [_dumps(r) + "\n" for r in rows]
    write_atomic(path, "".join(lines))
    return len(lines)


def read_jsonl(path: Path) -> Iterator[dict[str, Any]]:
    """Rows of a JSON-lines file (floats as Decimal); a bad line is a HistoryStoreError naming it."""
    try:
        with open(path, encoding="utf-8") as fh:
            for line_no, line in enumerate(fh, start=1):
                if not line.strip():
                    continue
                try:
                    row = _DECODE(line)
                except msgspec.DecodeError:
                    raise HistoryStoreError(f"{path}:{line_no}: not JSON") from None
                if not isinstance(row, dict):
                    raise HistoryStoreError(f"{path}:{line_no}: not a JSON object")
                yield row
    except OSError as exc:
        raise HistoryStoreError(f"{path}: {exc.strerror or exc}") from None


class HistoryStore:
    """Paths and whole-file writes of one history directory."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def day_dir(self, day: date) -> Path:
        return self.root / "kalshi" / day.isoformat()

    def markets_path(self, day: date) -> Path:
        return self.day_dir(day) / "markets.jsonl"

    def trades_path(self, day: date, ticker: str) -> Path:
        return self.day_dir(day) / "trades" / f"{ticker}.jsonl"

    def candles_path(self, day: date, ticker: str) -> Path:
        return self.day_dir(day) / "candles" / f"{ticker}.jsonl"

    def complete_path(self, day: date) -> Path:
        return self.day_dir(day) / "COMPLETE"

    def exported_path(self, day: date) -> Path:
        return self.day_dir(day) / "EXPORTED"

    def btc_path(self, source: str, day: date) -> Path:
        return self.root / PRICES / source / f"{day.isoformat()}.csv"

    def is_complete(self, day: date) -> bool:
        return self.complete_path(day).is_file()

    def market_done(self, day: date, ticker: str) -> bool:
        return self.trades_path(day, ticker).is_file() and self.candles_path(day, ticker).is_file()

    def mark_complete(self, day: date, markets: int) -> None:
        write_atomic(self.complete_path(day), json.dumps({"markets": markets}) + "\n")

    def write_btc(self, source: str, day: date, header: str | None, rows: list[list[str]]) -> int:
        text = "" if header is None else header + "\n"
        write_atomic(self.btc_path(source, day), text + "".join(",".join(r) + "\n" for r in rows))
        return len(rows)

    def kalshi_days(self) -> list[date]:
        base = self.root / "kalshi"
        if not base.is_dir():
            return []
        found = []
        for entry in sorted(base.iterdir()):
            try:
                found.append(date.fromisoformat(entry.name))
            except ValueError:
                continue
        return found

    def btc_files(self, source: str | None = None) -> list[Path]:
        base = self.root / PRICES
        if not base.is_dir():
            return []
        sources = [base / source] if source else sorted(p for p in base.iterdir() if p.is_dir())
        return sorted(f for s in sources if s.is_dir() for f in s.glob("*.csv"))


__all__ = [
    "DAY_S",
    "PRICES",
    "HistoryStore",
    "HistoryStoreError",
    "day_start",
    "days",
    "read_jsonl",
    "write_atomic",
    "write_jsonl",
]
