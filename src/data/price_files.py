"""BTC price file formats: each supported layout read as (ts_seconds, price, trade_id) ticks; the generic one written.

Layouts read (plain .csv, or a .zip holding exactly one .csv; a header row is optional wherever
the official files have none, and is recognised by its column names):

  trades      Binance public data, no header: id,price,qty,quote_qty,time,is_buyer_maker,is_best_match
              (6-column futures files without is_best_match too)
  agg_trades  Binance public data, no header: agg_trade_id,price,quantity,first_trade_id,
              last_trade_id,transact_time,is_buyer_maker,is_best_match (7-column futures too)
  klines      Binance public data (1s, 1m, ...), 12 columns, no header: open_time,open,high,low,
              close,volume,close_time,quote_volume,count,taker_buy_volume,taker_buy_quote_volume,ignore
  price       generic headered CSV with a time column (timestamp|time|ts|datetime|date|...) and a
              `price` column; an id column (id|trade_id|agg_trade_id) is used when present
  ohlcv       generic headered bars: open_time (or timestamp|time|date|datetime|ts),open,high,low,close
              [,volume,...]; a close_time column gives the bar length, otherwise it is inferred
              as the smallest spacing between the first bars

Times: epoch numbers are seconds, milliseconds or (Binance from 2025 on) microseconds, told
apart by magnitude value by value (< 1e11 seconds, < 1e14 milliseconds, else microseconds),
so a file that switches from ms to us mid-way still reads right. Text times are ISO 8601
(`2023-03-01 00:00:00+00:00`, `...Z`); a time without an offset is taken as UTC, the
convention of every exchange data dump.

Bars become a path at one-second steps (src/data/bar_path.py): the open at the bar's start, one
point a second through the high and the low (a seeded Brownian bridge with the bar's own
volatility, kept inside the bar), and the close at the bar's end, open + length - 1 ms
(Binance's close_time), so the next bar's open follows 1 ms later. Bars shorter than three
seconds keep four points (open, extremes, close). Synthesised ticks (bars, and `price` files
without ids) get trade ids 1, 2, 3, ... in file order.

Ticks must not go back in time; equal times are fine (several trades in one millisecond).
Every problem is a PriceFileError: one line naming the file and, where there is one, the line.
"""

from __future__ import annotations

import csv
import io
import math
import zipfile
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from enum import StrEnum
from itertools import chain
from pathlib import Path

from src.data.bar_path import bar_path

Tick = tuple[float, float, int]

# Epoch magnitudes: 1e11 s is the year 5138, 1e14 ms likewise; anything at or above is a finer unit.
_MS_FROM = 1e11
_US_FROM = 1e14
# Bars shorter than this are not bars: Binance's finest klines are 1 s.
_MIN_BAR_S = 1.0
# Rows read ahead to infer the bar length of a headered OHLCV file without close_time.
_BAR_LOOKAHEAD = 64
_BAR_END_S = 0.001  # a bar ends 1 ms before the next one opens (Binance's close_time)

_TIME_NAMES = ("timestamp", "time", "ts", "datetime", "date", "transact_time", "open_time", "t", "t_ms")
_BAR_TIME_NAMES = ("open_time", "timestamp", "time", "ts", "datetime", "date", "t")
_ID_NAMES = ("id", "trade_id", "agg_trade_id", "a")
_BOOLS = frozenset({"true", "false"})


class PriceFileError(ValueError):
    """A price file that cannot be read as prices: the message names the file and the line."""

    def __init__(self, path: Path, message: str, line: int | None = None) -> None:
        where = f"{path.name}:{line}" if line is not None else path.name
        super().__init__(f"{where}: {message}")
        self.path = path
        self.line = line


class Layout(StrEnum):
    """The file layouts this module reads (see the module docstring)."""

    TRADES = "trades"
    AGG_TRADES = "agg_trades"
    KLINES = "klines"
    PRICE = "price"
    OHLCV = "ohlcv"


@dataclass(frozen=True, slots=True)
class PriceColumns:
    """Where one trade's time, price and (optional) id are in a row."""

    time: int
    price: int
    trade_id: int | None


@dataclass(frozen=True, slots=True)
class BarColumns:
    """Where one bar's open time, prices and (optional) close time are in a row."""

    open_time: int
    open: int
    high: int
    low: int
    close: int
    close_time: int | None


@dataclass(frozen=True, slots=True)
class FileLayout:
    """What a price file holds: its layout, columns, and whether line 1 is a header."""

    layout: Layout
    columns: PriceColumns | BarColumns
    has_header: bool
    bar_length_s: float | None = None  # bars only: seconds per bar (detect_layout fills it in)

    @property
    def is_bars(self) -> bool:
        return isinstance(self.columns, BarColumns)


# -- time parsing ---------------------------------------------------------------------------------


def epoch_seconds(value: float) -> float:
    """An epoch number in s, ms or us (told apart by magnitude) as seconds."""
    if value >= _US_FROM:
        return value / 1e6
    if value >= _MS_FROM:
        return value / 1e3
    return value


def _iso_seconds(text: str) -> float:
    text = text.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def _number_seconds(text: str) -> float:
    return epoch_seconds(float(text))


def parse_time(text: str) -> float:
    """Epoch seconds from an epoch number (s/ms/us) or an ISO 8601 time (UTC if no offset).

    Raises ValueError with a one-line message; used for file cells and --from/--to arguments.
    """
    stripped = text.strip()
    try:
        value = float(stripped)
    except ValueError:
        try:
            return _iso_seconds(stripped)
        except ValueError:
            raise ValueError(f"not a time: {text!r} (use epoch seconds/ms/us or ISO 8601)") from None
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"not a time: {text!r} (epoch must be positive)")
    return epoch_seconds(value)


def _time_converter(sample: str) -> Callable[[str], float]:
    """Numbers and ISO texts need different (and differently fast) parsers: pick once per file."""
    try:
        float(sample)
    except ValueError:
        return _iso_seconds
    return _number_seconds


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _is_time(text: str) -> bool:
    try:
        parse_time(text)
    except ValueError:
        return False
    return True


# -- opening files --------------------------------------------------------------------------------


def _open_text(path: Path, stack: ExitStack) -> tuple[io.TextIOBase, Callable[[], int], int]:
    """A text stream over a .csv, or over the one .csv inside a .zip; plus a function giving how
    many (uncompressed) bytes have been read so far, and the total, for progress displays."""
    try:
        if path.suffix.lower() == ".zip":
            archive = stack.enter_context(zipfile.ZipFile(path))
            members = [
                m for m in archive.infolist()
                if not m.is_dir() and not m.filename.startswith("__MACOSX/") and m.filename.lower().endswith(".csv")
            ]
            if len(members) != 1:
                raise PriceFileError(path, f"a price .zip must hold exactly one .csv, found {len(members)}")
            raw = stack.enter_context(archive.open(members[0]))
            text = stack.enter_context(io.TextIOWrapper(raw, encoding="utf-8-sig", newline=""))
            return text, raw.tell, members[0].file_size
        binary = stack.enter_context(open(path, "rb"))  # noqa: SIM115
        text = stack.enter_context(io.TextIOWrapper(binary, encoding="utf-8-sig", newline=""))
        return text, binary.tell, path.stat().st_size
    except FileNotFoundError:
        raise PriceFileError(path, "file not found") from None
    except IsADirectoryError:
        raise PriceFileError(path, "is a directory, not a price file") from None
    except zipfile.BadZipFile:
        raise PriceFileError(path, "not a valid zip archive") from None
    except OSError as exc:
        raise PriceFileError(path, f"cannot read ({exc.strerror or exc})") from None


def _first_row(path: Path, lines: Iterator[str]) -> tuple[int, list[str]]:
    """Line number and cells of the first non-blank line."""
    line_no = 0
    try:
        for line_no, line in enumerate(lines, start=1):
            if line.strip():
                return line_no, [cell.strip() for cell in next(csv.reader([line]))]
    except UnicodeDecodeError:
        raise PriceFileError(path, "not a text CSV file (cannot decode as UTF-8)", line_no + 1) from None
    raise PriceFileError(path, "no price rows (the file is empty)")


# -- layout detection -----------------------------------------------------------------------------


def _header_layout(path: Path, header: list[str], line_no: int) -> FileLayout:
    names = [h.strip().lower().replace(" ", "_") for h in header]

    def find(candidates: tuple[str, ...]) -> int | None:
        for name in candidates:
            if name in names:
                return names.index(name)
        return None

    if all(k in names for k in ("open", "high", "low", "close")):
        open_time = find(_BAR_TIME_NAMES)
        if open_time is None:
            raise PriceFileError(path, f"bar header has no time column (one of {', '.join(_BAR_TIME_NAMES)})", line_no)
        close_time = names.index("close_time") if "close_time" in names else None
        columns = BarColumns(
            open_time, names.index("open"), names.index("high"), names.index("low"), names.index("close"), close_time
        )
        layout = Layout.KLINES if close_time is not None else Layout.OHLCV
        return FileLayout(layout, columns, has_header=True)
    if "price" in names:
        time = find(_TIME_NAMES)
        if time is None:
            raise PriceFileError(path, f"price header has no time column (one of {', '.join(_TIME_NAMES)})", line_no)
        trade_id = find(_ID_NAMES)
        if "agg_trade_id" in names:
            layout = Layout.AGG_TRADES
        elif "id" in names and "qty" in names:
            layout = Layout.TRADES
        else:
            layout = Layout.PRICE
        return FileLayout(layout, PriceColumns(time, names.index("price"), trade_id), has_header=True)
    raise PriceFileError(
        path, f"unknown header {','.join(header)!r}: need a price column, or open/high/low/close", line_no
    )


def _headerless_layout(path: Path, row: list[str], line_no: int) -> FileLayout:
    n = len(row)
    bools = [i for i, cell in enumerate(row) if cell.lower() in _BOOLS]
    if bools and n in (6, 7, 8):
        # Trades and aggTrades both put the trade time just before is_buyer_maker.
        first_bool = bools[0]
        if first_bool == 5:
            return FileLayout(Layout.TRADES, PriceColumns(4, 1, 0), has_header=False)
        if first_bool == 6:
            return FileLayout(Layout.AGG_TRADES, PriceColumns(5, 1, 0), has_header=False)
    if not bools:
        if n == 12:
            return FileLayout(Layout.KLINES, BarColumns(0, 1, 2, 3, 4, 6), has_header=False)
        if n == 6:
            return FileLayout(Layout.OHLCV, BarColumns(0, 1, 2, 3, 4, None), has_header=False)
        if n == 2:
            return FileLayout(Layout.PRICE, PriceColumns(0, 1, None), has_header=False)
    raise PriceFileError(
        path,
        f"unrecognised layout ({n} columns): expected Binance trades (7), aggTrades (8), klines (12), "
        "or a headered CSV with timestamp,price or open_time,open,high,low,close",
        line_no,
    )


def detect_layout(path: Path) -> FileLayout:
    """Read the start of `path` and say which layout it is and, for bars, how long a bar is."""
    with ExitStack() as stack:
        lines = iter(_open_text(path, stack)[0])
        line_no, row = _first_row(path, lines)
        layout = _layout_of(path, row, line_no)
        if not isinstance(layout.columns, BarColumns):
            return layout
        body = lines if layout.has_header else chain([",".join(row)], lines)
        first_line = line_no + 1 if layout.has_header else line_no
        rows = _numbered_rows(path, body, first_line)
        head = [item for _, item in zip(range(_BAR_LOOKAHEAD), rows, strict=False)]
        return replace(layout, bar_length_s=_bar_length_from(path, head, layout.columns))


def _bar_length_from(path: Path, head: list[tuple[int, list[str]]], cols: BarColumns) -> float:
    """Bar length from the first row's close_time, or else the smallest spacing of the first bars
    (a missing bar makes one spacing larger, never smaller)."""
    if not head:
        raise PriceFileError(path, "no price rows (only a header)")
    to_seconds = _time_converter(head[0][1][cols.open_time])
    line_no, parts = head[0]
    times: list[float] = []
    try:
        if cols.close_time is not None:
            return bar_length(to_seconds(parts[cols.open_time]), to_seconds(parts[cols.close_time]))
        for item in head:
            line_no, parts = item
            times.append(to_seconds(parts[cols.open_time]))
    except (ValueError, IndexError) as exc:
        raise _row_error(path, line_no, ",".join(parts), exc) from None
    spacings = [b - a for a, b in zip(times, times[1:], strict=False) if b - a > 0]
    if not spacings:
        raise PriceFileError(path, "cannot infer the bar length: need two bars or a close_time column")
    return max(_MIN_BAR_S, float(round(min(spacings))))


def _layout_of(path: Path, row: list[str], line_no: int) -> FileLayout:
    # A data row starts with a number or a time; anything else in the first cell is a header.
    if row and (_is_number(row[0]) or _is_time(row[0])):
        return _headerless_layout(path, row, line_no)
    return _header_layout(path, row, line_no)


# -- streaming ticks ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TickStream:
    """An opened price file: its layout, its ticks (lazily parsed), and how far reading has got."""

    path: Path
    layout: FileLayout
    ticks: Iterator[Tick]
    _bytes_read: Callable[[], int]
    total_bytes: int

    def fraction_read(self) -> float | None:
        """Share of the file read so far (0..1), for progress displays; None if unknown."""
        if self.total_bytes <= 0:
            return None
        try:
            return min(1.0, self._bytes_read() / self.total_bytes)
        except (OSError, ValueError):  # closed at the end of the stream
            return 1.0


def open_ticks(path: Path, start: float | None = None, end: float | None = None) -> TickStream:
    """Open `path`, check its layout (PriceFileError here if it is not a price file) and return
    its ticks with start <= ts < end, parsed lazily as the iterator is consumed."""
    path = Path(path)
    stack = ExitStack()
    try:
        text, bytes_read, total = _open_text(path, stack)
        lines = iter(text)
        line_no, row = _first_row(path, lines)
        layout = _layout_of(path, row, line_no)
        if layout.has_header:
            first_data: list[str] = []
        else:
            first_data = [",".join(row)]
    except BaseException:
        stack.close()
        raise
    lo = -math.inf if start is None else float(start)
    hi = math.inf if end is None else float(end)
    body = chain(first_data, lines) if first_data else lines  # no chain step per line when there is a header
    first_line = line_no if first_data else line_no + 1
    # Each tick generator closes the file itself when it ends (no wrapping generator per tick).
    if isinstance(layout.columns, PriceColumns):
        ticks = _price_ticks(path, body, first_line, layout.columns, lo, hi, stack)
    else:
        ticks = _bar_ticks(path, body, first_line, layout.columns, lo, hi, stack)
    return TickStream(path, layout, ticks, bytes_read, total)


def iter_ticks(path: Path, start: float | None = None, end: float | None = None) -> Iterator[Tick]:
    """Ticks of `path` with start <= ts < end, in file order (see open_ticks)."""
    return open_ticks(path, start, end).ticks


def load_ticks(path: Path, start: float | None = None, end: float | None = None) -> list[Tick]:
    """All ticks of a (small) file as a list; large files should be streamed with iter_ticks."""
    return list(iter_ticks(path, start, end))


def _row_error(path: Path, line_no: int, line: str, exc: Exception) -> PriceFileError:
    shown = line.strip()
    if len(shown) > 60:
        shown = shown[:57] + "..."
    if isinstance(exc, IndexError):
        return PriceFileError(path, f"too few columns in {shown!r}", line_no)
    if isinstance(exc, UnicodeDecodeError):
        return PriceFileError(path, "not a text CSV file (cannot decode as UTF-8)", line_no)
    if isinstance(exc, PriceFileError):
        return exc
    return PriceFileError(path, f"cannot read {shown!r}: {exc}", line_no)


def _price_ticks(
    path: Path, lines: Iterator[str], first_line: int, cols: PriceColumns, lo: float, hi: float, stack: ExitStack
) -> Iterator[Tick]:
    # The hot loop of every trade file: epoch numbers are converted inline (no call per row).
    ti, pi, ii = cols.time, cols.price, cols.trade_id
    to_seconds: Callable[[str], float] | None = None
    numeric = False
    last_ts = -math.inf
    synthetic_id = 0
    line_no = first_line - 1
    line = ""
    inf = math.inf
    ms_from, us_from = _MS_FROM, _US_FROM
    with stack:  # the file closes when the ticks end, run out or fail
        try:
            for line_no, line in enumerate(lines, start=first_line):
                parts = line.split(",")
                if len(parts) < 2:
                    if not line.strip():
                        continue
                    raise IndexError
                if numeric:
                    ts = float(parts[ti])
                    if ts >= ms_from:
                        ts = ts / 1e6 if ts >= us_from else ts / 1e3
                elif to_seconds is None:
                    to_seconds = _time_converter(parts[ti])
                    numeric = to_seconds is _number_seconds
                    ts = to_seconds(parts[ti])
                else:
                    ts = to_seconds(parts[ti])
                price = float(parts[pi])
                if not 0.0 < price < inf:
                    raise PriceFileError(path, f"price must be a positive number, got {parts[pi].strip()!r}", line_no)
                if ts < last_ts:
                    raise PriceFileError(path, f"time goes backwards ({ts!r} after {last_ts!r})", line_no)
                last_ts = ts
                if ii is None:
                    synthetic_id += 1
                    trade_id = synthetic_id
                else:
                    trade_id = int(parts[ii])
                if ts < lo:
                    continue
                if ts >= hi:
                    return
                yield (ts, price, trade_id)
        except (ValueError, IndexError, UnicodeDecodeError) as exc:
            raise _row_error(path, line_no, line, exc) from None


def _parse_bar(
    path: Path, line_no: int, parts: list[str], cols: BarColumns, to_seconds: Callable[[str], float]
) -> tuple[float, float | None, float, float, float, float]:
    t0 = to_seconds(parts[cols.open_time])
    close_time = to_seconds(parts[cols.close_time]) if cols.close_time is not None else None
    o = float(parts[cols.open])
    h = float(parts[cols.high])
    low = float(parts[cols.low])
    c = float(parts[cols.close])
    if not (0.0 < low < math.inf and 0.0 < o < math.inf and 0.0 < h < math.inf and 0.0 < c < math.inf):
        raise PriceFileError(path, "bar prices must be positive numbers", line_no)
    if h < low:
        raise PriceFileError(path, f"bar high {h} is below its low {low}", line_no)
    return t0, close_time, o, h, low, c


def bar_length(open_time: float, close_time: float) -> float:
    """A kline's length in seconds from its open and close times (close = open + length - 1 unit)."""
    return max(_MIN_BAR_S, float(round(close_time - open_time)))


def bar_ticks(t0: float, length: float, o: float, h: float, low: float, c: float) -> tuple[tuple[float, float], ...]:
    """The (ts, price) ticks a bar becomes: its one-second path (see src/data/bar_path.py)."""
    return tuple(bar_path(t0, length, _BAR_END_S, o, h, low, c))


def _bar_ticks(
    path: Path, lines: Iterator[str], first_line: int, cols: BarColumns, lo: float, hi: float, stack: ExitStack
) -> Iterator[Tick]:
    with stack:  # the file closes when the ticks end, run out or fail
        yield from _bar_rows(path, lines, first_line, cols, lo, hi)


def _bar_rows(
    path: Path, lines: Iterator[str], first_line: int, cols: BarColumns, lo: float, hi: float
) -> Iterator[Tick]:
    rows = _numbered_rows(path, lines, first_line)
    to_seconds: Callable[[str], float] | None = None
    fixed_length: float | None = None
    buffered: list[tuple[int, list[str]]] = []
    if cols.close_time is None:
        buffered = [item for _, item in zip(range(_BAR_LOOKAHEAD), rows, strict=False)]
        fixed_length = _bar_length_from(path, buffered, cols)
    last_end = -math.inf
    next_id = 0
    for line_no, parts in chain(buffered, rows):
        try:
            if to_seconds is None:
                to_seconds = _time_converter(parts[cols.open_time])
            t0, close_time, o, h, low, c = _parse_bar(path, line_no, parts, cols, to_seconds)
        except (ValueError, IndexError) as exc:
            raise _row_error(path, line_no, ",".join(parts), exc) from None
        length = fixed_length if close_time is None else bar_length(t0, close_time)
        if t0 < last_end:
            raise PriceFileError(path, "bars overlap or go back in time", line_no)
        last_end = t0 + length - _BAR_END_S
        for ts, price in bar_path(t0, length, _BAR_END_S, o, h, low, c):
            next_id += 1
            if ts < lo:
                continue
            if ts >= hi:
                return
            yield (ts, price, next_id)


def _numbered_rows(path: Path, lines: Iterator[str], first_line: int) -> Iterator[tuple[int, list[str]]]:
    line_no = first_line - 1
    try:
        for line_no, line in enumerate(lines, start=first_line):
            if not line.strip():
                continue
            yield line_no, line.split(",")
    except UnicodeDecodeError as exc:
        raise _row_error(path, line_no + 1, "", exc) from None


# -- writing the generic layout -------------------------------------------------------------------


def write_price_csv(path: Path, ticks: Iterator[Tick] | list[Tick]) -> int:
    """Write ticks as the generic `timestamp,price,trade_id` layout (epoch seconds); returns the count."""
    count = 0
    with open(path, "w", encoding="utf-8", newline="") as out:
        out.write("timestamp,price,trade_id\n")
        buf: list[str] = []
        for ts, price, trade_id in ticks:
            buf.append(f"{ts!r},{price!r},{trade_id}\n")
            count += 1
            if len(buf) >= 10_000:
                out.write("".join(buf))
                buf.clear()
        out.write("".join(buf))
    return count
