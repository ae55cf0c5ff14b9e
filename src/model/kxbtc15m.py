"""KXBTC15M window arithmetic: when each 15-minute window opens and closes, and its tickers."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

SERIES = "KXBTC15M"
WINDOW_S = 15 * 60
_ET = ZoneInfo("America/New_York")
_MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")


def window_open(ts: float) -> float:
    """Epoch seconds at which the window containing `ts` opened (:00/:15/:30/:45 UTC)."""
    return float(int(ts // WINDOW_S) * WINDOW_S)


def window_close(ts: float) -> float:
    """Epoch seconds at which the window containing `ts` closes."""
    return window_open(ts) + WINDOW_S


def event_ticker(close_ts: float, series: str = SERIES) -> str:
    """Kalshi names the event by its close time in US Eastern: KXBTC15M-26APR271445."""
    et = datetime.fromtimestamp(close_ts, tz=UTC).astimezone(_ET)
    return f"{series}-{et:%y}{_MONTHS[et.month - 1]}{et:%d%H%M}"


def market_ticker(close_ts: float, series: str = SERIES) -> str:
    """The single market of a KXBTC15M event carries the close minute as suffix: ...-45."""
    et = datetime.fromtimestamp(close_ts, tz=UTC).astimezone(_ET)
    return f"{event_ticker(close_ts, series)}-{et:%M}"


def close_from_event_ticker(ticker: str) -> float:
    """Inverse of event_ticker/market_ticker: the close time (epoch seconds) a ticker names."""
    parts = ticker.split("-")
    if len(parts) < 2 or len(parts[1]) != 11:
        raise ValueError(f"not a KXBTC15M ticker: {ticker!r}")
    code = parts[1]
    try:
        month = _MONTHS.index(code[2:5]) + 1
        local = datetime(2000 + int(code[0:2]), month, int(code[5:7]), int(code[7:9]), int(code[9:11]))
    except (ValueError, IndexError) as exc:
        raise ValueError(f"not a KXBTC15M ticker: {ticker!r}") from exc
    return local.replace(tzinfo=_ET).timestamp()


def next_windows(ts: float, n: int) -> list[tuple[float, float]]:
    """(open, close) of the current window and the n-1 after it."""
    start = window_open(ts)
    return [(start + i * WINDOW_S, start + (i + 1) * WINDOW_S) for i in range(n)]


__all__ = [
    "SERIES",
    "WINDOW_S",
    "close_from_event_ticker",
    "event_ticker",
    "market_ticker",
    "next_windows",
    "window_close",
    "window_open",
]
