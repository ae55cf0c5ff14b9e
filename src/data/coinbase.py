"""BTC-USD trades from Coinbase Exchange's public websocket `matches` channel (reachable from the US)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from orjson import dumps, loads

from src.data.ws_feed import BAD_FRAME, ERR_VENUE, WsFeed
from src.model.models import Clock

COINBASE_URL = "wss://ws-feed.exchange.coinbase.com"
ALLOWED_HOSTS = frozenset({"ws-feed.exchange.coinbase.com"})
PRODUCT_ID = "BTC-USD"
SUBSCRIBE_MESSAGE: dict[str, Any] = {"type": "subscribe", "product_ids": [PRODUCT_ID], "channels": ["matches"]}

_TRADE_TYPES = frozenset({"match", "last_match"})
# Acknowledgements and keep-alives that carry no trade.
_QUIET_TYPES = frozenset({"subscriptions", "heartbeat"})


class CoinbaseFeed(WsFeed):
    """Coinbase Exchange `matches` for BTC-USD. Subscribes on every connect.

    After subscribing, Coinbase sends `subscriptions`, then one `last_match` (the latest trade, which
    the window ignores if it already has it), then a `match` per trade:
    {"type":"match","trade_id":int,"sequence":int,"maker_order_id":..,"taker_order_id":..,
     "time":"2014-11-07T08:19:27.028459Z","product_id":"BTC-USD","size":"5.2","price":"400.23","side":"sell"}
    Only type, trade_id, time, product_id and price are needed; extra fields are ignored.
    An `error` message (e.g. a refused subscription) is recorded and the connection is retried.
    """

    geo_block_hint = "Coinbase refuses this address (HTTP 451); set feed.source: binance_us or binance"

    def __init__(self, clock: Clock, *, url: str | None = None, **kwargs: Any) -> None:
        super().__init__(source="coinbase", url=url or COINBASE_URL, allowed_hosts=ALLOWED_HOSTS, clock=clock, **kwargs)
        self._subscribe = dumps(SUBSCRIBE_MESSAGE).decode()  # str: sent as a text frame, as Coinbase requires

    def subscribe_frames(self) -> list[str]:
        return [self._subscribe]

    def handle_frame(self, raw: bytes | str, now: float) -> bool:
        try:
            msg = loads(raw)
        except ValueError:
            self.malformed += 1
            return False
        try:
            kind = msg["type"]
            if kind in _TRADE_TYPES:
                if msg["product_id"] != PRODUCT_ID:
                    self.malformed += 1
                    return False
                self._accept(msg["trade_id"], parse_time(msg["time"]), float(msg["price"]), now)
                return False
            if kind in _QUIET_TYPES:
                return False
            if kind == "error":
                reason = f"{msg.get('message', '')} {msg.get('reason', '')}".strip()
                return self._request_reconnect(ERR_VENUE, f"coinbase error: {reason[:160] or 'unspecified'}")
        except BAD_FRAME:
            self.malformed += 1
            return False
        self.malformed += 1
        return False


def parse_time(text: str) -> float:
    """Coinbase's ISO 8601 UTC time ('...T08:19:27.028459Z') as epoch seconds; naive times are refused."""
    when = datetime.fromisoformat(text)
    if when.tzinfo is None:
        raise ValueError(f"time without a UTC offset: {text[:40]!r}")
    return when.timestamp()
