"""BTC spot trades from the public Binance (or Binance.US) `btcusdt@trade` websocket stream."""

from __future__ import annotations

from typing import Any, Literal

from msgspec import DecodeError, Struct
from msgspec.json import Decoder
from orjson import loads

from src.data.ws_feed import BAD_FRAME, RECONNECT_SHUTDOWN, WsFeed
from src.model.models import Clock

BINANCE_URL = "wss://stream.binance.com:9443/ws/btcusdt@trade"
BINANCE_US_URL = "wss://stream.binance.us:9443/ws/btcusdt@trade"
# Each source may reach exactly its own host (ARCHITECTURE §6, DECISIONS §3).
BINANCE_HOSTS = frozenset({"stream.binance.com"})
BINANCE_US_HOSTS = frozenset({"stream.binance.us"})
ALLOWED_HOSTS = BINANCE_HOSTS | BINANCE_US_HOSTS

_SOURCES: dict[str, tuple[str, frozenset[str], str]] = {
    "binance": (
        BINANCE_URL,
        BINANCE_HOSTS,
        "Binance refuses US addresses; set feed.source: coinbase or binance_us",
    ),
    "binance_us": (
        BINANCE_US_URL,
        BINANCE_US_HOSTS,
        "Binance.US refuses this address (HTTP 451); set feed.source: coinbase or binance",
    ),
}

_SYMBOL = "BTCUSDT"


class _Trade(Struct, gc=False):
    """The five fields of a BTCUSDT `trade` event the feed reads; every other field is skipped unparsed."""

    e: Literal["trade"]
    s: Literal["BTCUSDT"]  # _SYMBOL: checked by the decoder, in C
    t: int
    p: str
    T: int


# Decoding straight into a typed struct skips the unused fields (E, q, m, M, ...) and builds no
# dict: about half the cost of orjson.loads on a trade frame, which is most of the per-tick work.
# It accepts only a well-formed BTCUSDT trade (all five fields, these exact types and values);
# anything else (serverShutdown, wrapped events, other symbols or types, garbage) is decoded again
# by the general parser, which decides what it is. No struct holds a reference: gc=False is safe.
_decode_trade = Decoder(_Trade).decode


class BinanceFeed(WsFeed):
    """`btcusdt@trade` over Binance's raw stream. Needs only fields e, s, t, p, T; extras are ignored.

    Payload: {"e":"trade","E":ms,"s":"BTCUSDT","t":id,"p":"price","q":"qty","T":ms,"m":bool,"M":bool}.
    A `serverShutdown` event (sent before Binance restarts a server) triggers an immediate reconnect.
    """

    def __init__(
        self,
        clock: Clock,
        *,
        source: str = "binance",
        url: str | None = None,
        **kwargs: Any,
    ) -> None:
        if source not in _SOURCES:
            raise ValueError(f"unknown Binance source {source!r} (expected one of {sorted(_SOURCES)})")
        default_url, hosts, hint = _SOURCES[source]
        super().__init__(source=source, url=url or default_url, allowed_hosts=hosts, clock=clock, **kwargs)
        self.geo_block_hint = hint

    def _take_trade(self, raw: bytes | str, now: float) -> bool:
        """Every well-formed BTCUSDT trade (the common case, decoded typed); anything else is declined."""
        try:
            trade = _decode_trade(raw)
        except DecodeError:
            return False
        try:
            price = float(trade.p)
        except ValueError:
            self.malformed += 1
            return True
        # Inlined rather than self._accept(): this line runs for every trade. A method call on the
        # attribute (specialised by the interpreter) beats a stored bound method.
        ts = trade.T * 0.001
        if self.window.push(trade.t, ts, price, now):
            self.ticks += 1
            if self._record is not None:
                self._record((next(self._record_seq), trade.t, ts, price, now))
            if self._on_tick is not None:
                self._notify()
        return True

    def handle_frame(self, raw: bytes | str, now: float) -> bool:
        if self._take_trade(raw, now):
            return False
        return self._handle_other(raw, now)

    def _handle_other(self, raw: bytes | str, now: float) -> bool:
        """Every frame the trade fast path refused: other events, looser trade shapes, garbage."""
        try:
            msg = loads(raw)
        except ValueError:
            self.malformed += 1
            return False
        try:
            event = msg["e"]
            if event == "trade":
                if msg["s"] != _SYMBOL:
                    self.malformed += 1
                    return False
                self._accept(msg["t"], msg["T"] * 0.001, float(msg["p"]), now)
                return False
            if event == "serverShutdown":
                return self._request_reconnect(RECONNECT_SHUTDOWN)
        except BAD_FRAME:
            # The websocket API wraps connection events: {"event": {"e": "serverShutdown", ...}}.
            if isinstance(msg, dict) and _is_wrapped_shutdown(msg):
                return self._request_reconnect(RECONNECT_SHUTDOWN)
            self.malformed += 1
            return False
        self.malformed += 1  # an event type this stream never sends
        return False


def _is_wrapped_shutdown(msg: dict[str, Any]) -> bool:
    event = msg.get("event")
    return isinstance(event, dict) and event.get("e") == "serverShutdown"
