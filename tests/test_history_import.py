"""Importing saved Kalshi API JSON/JSONL and Binance public-data files into a history directory."""

from __future__ import annotations

import json
import zipfile
from decimal import Decimal
from pathlib import Path

import pytest

from src.data.history_import import HistoryImportError, import_files
from src.data.history_store import HistoryStore, read_jsonl
from src.research.tape_data import load_tape
from tests.fakes.history_server import FakeHistory

T1 = 1_780_012_800.0


def test_kalshi_pages_arrays_and_jsonl_import_once_each_and_load_as_tape(tmp_path: Path) -> None:
    fake = FakeHistory()
    tickers = fake.add_day(T1, windows=3, trades=6)
    page = tmp_path / "page.json"  # a saved GET /markets/trades page, cursor and all
    page.write_text(json.dumps({"trades": fake.trades[tickers[0]], "cursor": "abc"}, indent=2))
    array = tmp_path / "array.json"
    array.write_text(json.dumps(fake.trades[tickers[1]][:3]))
    lines = tmp_path / "more.jsonl"
    lines.write_text("".join(json.dumps(t) + "\n" for t in fake.trades[tickers[1]]))
    markets = tmp_path / "markets.jsonl"
    markets.write_text(json.dumps({"markets": fake.markets[:2], "cursor": ""}) + "\n")
    root = tmp_path / "h"
    stats = import_files(root, [page, array, lines, markets])
    assert (stats.trades, stats.markets, stats.files) == (6 + 3 + 6, 2, 4)
    again = import_files(root, [page, array, lines, markets])  # idempotent: merged by trade_id / ticker
    assert again.trades == 15
    store = HistoryStore(root)
    day = store.kalshi_days()[0]
    ids = [r["trade_id"] for r in read_jsonl(store.trades_path(day, tickers[1]))]
    assert ids == [t["trade_id"] for t in fake.trades[tickers[1]]]  # each once, oldest first
    data = load_tape(root)
    assert [m.ticker for m in data.markets] == tickers[:2] and data.candles[tickers[0]] == []
    assert data.markets[0].floor_strike == Decimal(str(fake.markets[0]["floor_strike"]))


def test_binance_zip_and_csv_split_by_day_and_merge(tmp_path: Path) -> None:
    rows = [f"{i},65000.{i % 100:02d},0.01,0.1,{int((T1 - 60 + i * 10) * 1000)},true,true" for i in range(20)]
    csv = tmp_path / "BTCUSDT-trades-2026-05-28.csv"
    csv.write_text("\n".join(rows) + "\n")
    zpath = tmp_path / "BTCUSDT-trades.zip"
    with zipfile.ZipFile(zpath, "w") as z:
        z.write(csv, csv.name)
    root = tmp_path / "h"
    stats = import_files(root, [zpath, csv])
    assert stats.btc_ticks == 40
    files = HistoryStore(root).btc_files("imported")
    assert [f.stem for f in files] == ["2026-05-28", "2026-05-29"]
    total = sum(len(f.read_text().splitlines()) - 1 for f in files)
    assert total == 20  # the same trades twice are kept once


@pytest.mark.parametrize("content", ["{not json", '{"foo": 1}', '{"trades": [{"trade_id": "x", "ticker": "T"}]}'])
def test_bad_files_are_one_line_errors(tmp_path: Path, content: str) -> None:
    path = tmp_path / "bad.json"
    path.write_text(content)
    with pytest.raises(HistoryImportError) as info:
        import_files(tmp_path / "h", [path])
    assert "bad.json" in str(info.value) and "\n" not in str(info.value)
