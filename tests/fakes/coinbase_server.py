"""A local fake of Coinbase Exchange's websocket feed (`matches` channel), with the venue's payloads.

Use (shared control API in tests/fakes/fake_ws.py: drop, stall, reject_status, start_stream, ...):

    async with FakeCoinbaseServer() as server:
        feed = CoinbaseFeed(clock, connect=server.connect)
        await server.wait_for_clients()     # the client subscribed; subscriptions + last_match sent
        await server.send_match(65000.5)
        await server.send_error("Failed to subscribe", "product BTC-USDX is not valid")

Like the real feed, a client must send {"type":"subscribe","product_ids":["BTC-USD"],
"channels":["matches"]} first (5 s limit); it then gets `subscriptions`, one `last_match`, and a
`match` per trade. A bad subscription gets an `error` message and no data, and so does a good
one sent as a binary frame: the real ws-feed reads commands only from text frames.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

import orjson
from websockets.asyncio.server import ServerConnection

from tests.fakes.binance_server import random_walk
from tests.fakes.fake_ws import FakeWsServer, Frame

PRODUCT = "BTC-USD"


def iso_time(ts: float) -> str:
    """Coinbase's time format: ISO 8601 UTC with microseconds and a Z."""
    return datetime.fromtimestamp(ts, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def match_payload(
    price: float | str,
    trade_id: int,
    ts: float,
    sequence: int,
    size: str = "0.00150000",
    side: str = "sell",
    kind: str = "match",
    extra: dict[str, Any] | None = None,
    omit: Sequence[str] = (),
) -> bytes:
    """A `match` (or `last_match`) message with Coinbase's field names and types."""
    msg: dict[str, Any] = {
        "type": kind,
        "trade_id": trade_id,
        "maker_order_id": str(uuid.UUID(int=trade_id * 2 + 1)),
        "taker_order_id": str(uuid.UUID(int=trade_id * 2 + 2)),
        "side": side,
        "size": size,
        "price": price if isinstance(price, str) else f"{price:.2f}",
        "product_id": PRODUCT,
        "sequence": sequence,
        "time": iso_time(ts),
    }
    for key in omit:
        msg.pop(key, None)
    if extra:
        msg.update(extra)
    return orjson.dumps(msg)


def subscriptions_payload() -> bytes:
    return orjson.dumps({"type": "subscriptions", "channels": [{"name": "matches", "product_ids": [PRODUCT]}]})


def error_payload(message: str, reason: str = "") -> bytes:
    return orjson.dumps({"type": "error", "message": message, "reason": reason})


def is_valid_subscribe(raw: Frame) -> bool:
    """Does this frame subscribe to BTC-USD matches (channel given as a name or as an object)?"""
    try:
        msg = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return False
    if not isinstance(msg, dict) or msg.get("type") != "subscribe":
        return False
    channels = msg.get("channels") or []
    names = {c if isinstance(c, str) else c.get("name") for c in channels if isinstance(c, str | dict)}
    products = set(msg.get("product_ids") or [])
    for c in channels:
        if isinstance(c, dict):
            products |= set(c.get("product_ids") or [])
    return "matches" in names and PRODUCT in products


class FakeCoinbaseServer(FakeWsServer):
    """Serves ws-feed's protocol on 127.0.0.1; trades cycle through `prices`."""

    path = "/"
    reject_body = '{"message":"Unavailable For Legal Reasons"}'

    def __init__(
        self,
        prices: Sequence[float] | None = None,
        clock: Callable[[], float] = time.time,
        first_trade_id: int = 900_000_000,
        subscribe_timeout_s: float = 5.0,
        script: Sequence[Frame] = (),
    ) -> None:
        super().__init__(script)
        self.prices = list(prices) if prices is not None else random_walk(10_000, seed=11)
        if not self.prices:
            raise ValueError("prices must not be empty")
        self.clock = clock
        self.next_trade_id = first_trade_id
        self.sequence = 80_000_000_000
        self.subscribe_timeout_s = subscribe_timeout_s
        self.subscribes: list[Frame] = []
        self.last_match: bytes | None = None
        self._i = 0

    def next_frame(self) -> bytes:
        price = self.prices[self._i % len(self.prices)]
        self._i += 1
        return self.make_match(price)

    def make_match(self, price: float, trade_id: int | None = None, ts: float | None = None) -> bytes:
        if trade_id is None:
            trade_id = self.next_trade_id
            self.next_trade_id += 1
        self.sequence += 1
        when = self.clock() if ts is None else ts
        self.last_match = match_payload(price, trade_id, when, self.sequence, kind="last_match")
        return match_payload(price, trade_id, when, self.sequence)

    async def send_match(self, price: float | None = None, trade_id: int | None = None) -> bytes:
        frame = self.next_frame() if price is None else self.make_match(price, trade_id)
        await self.broadcast(frame)
        return frame

    async def send_error(self, message: str, reason: str = "") -> None:
        await self.broadcast(error_payload(message, reason))

    async def on_connect(self, ws: ServerConnection) -> bool:
        try:
            raw = await asyncio.wait_for(ws.recv(), self.subscribe_timeout_s)
        except TimeoutError:
            await ws.close(1008, "no subscribe message")
            return False
        self.subscribes.append(raw)
        if isinstance(raw, bytes):  # a binary frame, however valid its JSON
            await ws.send(error_payload("Failed to subscribe", "commands must be sent as text frames"), text=True)
            return False
        if not is_valid_subscribe(raw):
            await ws.send(error_payload("Failed to subscribe", "expected matches for BTC-USD"), text=True)
            return False
        await ws.send(subscriptions_payload(), text=True)
        if self.last_match is None:
            self.next_frame()  # Coinbase always has a latest trade to report
        if self.last_match is not None:
            await ws.send(self.last_match, text=True)
        return True
