"""Loads a downloaded history range for the TAPE backtest: settled markets, their prints and candles, BTC files."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, TypeVar

from src.data.history_store import PRICES, HistoryStore, HistoryStoreError, read_jsonl
from src.data.kalshi_history import HistoryDataError, parse_candle, parse_settled_market, parse_trade
from src.model.models import Market
from src.model.tape import Candle, TapeTrade

T = TypeVar("T")


@dataclass
class TapeData:
    """Everything the TAPE backtest reads, in memory except the BTC prices (streamed from their files)."""

    markets: list[Market]  # settled, by close time
    trades: dict[str, list[TapeTrade]] = field(default_factory=dict)
    candles: dict[str, list[Candle]] = field(default_factory=dict)
    btc_files: list[Path] = field(default_factory=list)
    btc_source: str = ""
    btc_ticks: list[tuple[float, float, int]] | None = None  # in memory (from a recording) instead of files

    @property
    def close_ts(self) -> dict[str, float]:
        return {m.ticker: m.close_time.timestamp() for m in self.markets}


def is_history_dir(path: Path) -> bool:
    root = Path(path)
    return (root / "kalshi").is_dir() or any((root / PRICES).glob("*/*.csv"))


def load_tape(root: Path, start: float | None = None, end: float | None = None) -> TapeData:
    """The markets of `root` closing in [start, end), with their prints and candles, and the BTC day files."""
    store = HistoryStore(root)
    days = store.kalshi_days()
    if not days:
        raise HistoryStoreError(f"{root}: no downloaded days (run --download-history first)")
    lo = -float("inf") if start is None else start
    hi = float("inf") if end is None else end
    data = TapeData(markets=[])
    for day in days:
        if not store.markets_path(day).is_file():
            continue
        for row in read_jsonl(store.markets_path(day)):
            try:
                market = parse_settled_market(row)
            except HistoryDataError as exc:
                raise HistoryStoreError(f"{store.markets_path(day)}: {exc}") from None
            close = market.close_time.timestamp()
            # A market counts once its prints are in (imported ones may come without candles).
            if not lo <= close < hi or not store.trades_path(day, market.ticker).is_file():
                continue
            data.markets.append(market)
            data.trades[market.ticker] = _rows(store.trades_path(day, market.ticker), parse_trade)
            candles = store.candles_path(day, market.ticker)
            data.candles[market.ticker] = (
                _rows(candles, lambda r, t=market.ticker: parse_candle(r, t)) if candles.is_file() else []
            )
    data.markets.sort(key=lambda m: (m.close_time, m.ticker))
    prices = store.root / PRICES
    sources = sorted(p.name for p in prices.iterdir() if p.is_dir()) if prices.is_dir() else []
    if sources:
        data.btc_source = sources[0]
        data.btc_files = [f for f in store.btc_files(sources[0]) if _day_overlaps(f.stem, lo, hi)]
    return data


def _rows(path: Path, parse: Callable[[dict[str, Any]], T]) -> list[T]:
    try:
        return [parse(row) for row in read_jsonl(path)]
    except HistoryDataError as exc:
        raise HistoryStoreError(f"{path}: {exc}") from None


def _day_overlaps(name: str, lo: float, hi: float) -> bool:
    try:
        day = date.fromisoformat(name)
    except ValueError:
        return False
    begin = datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp()
    return begin + 86_400 > lo and begin < hi


__all__ = ["TapeData", "is_history_dir", "load_tape"]
