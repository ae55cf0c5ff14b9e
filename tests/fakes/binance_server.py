"""A local fake of Binance's `btcusdt@trade` raw stream, sending the venue's exact payloads.

Use (see tests/fakes/fake_ws.py for the shared control API: drop, stall, reject_status, ...):

    async with FakeBinanceServer() as server:          # or FakeBinanceServer(prices=load_closes())
        feed = BinanceFeed(clock, connect=server.connect)
        await server.send_trade(65000.5)               # one trade, next trade id, T = now
        server.start_stream(0.001)                     # or a steady stream
        await server.send_server_shutdown()
        await server.broadcast(GARBAGE["not_json"])

Payload field order and types follow the Binance spot docs:
{"e":"trade","E":ms,"s":"BTCUSDT","t":id,"p":"price","q":"qty","T":ms,"m":bool,"M":true}
"""

from __future__ import annotations

import csv
import random
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import orjson

from tests.fakes.fake_ws import FakeWsServer, Frame

# Real recorded public data shipped with the tests (tests/data/README.md says where it comes from).
BINANCEUS_CSV = Path(__file__).resolve().parents[1] / "data" / "binanceus_BTCUSDT_1m_2023-03-01_03.csv"

GEO_BLOCK_BODY = (
    '{"code":0,"msg":"Service unavailable from a restricted location according to '
    "'b. Eligibility' in https://www.binance.com/en/terms. Please contact customer service if you "
    'believe you received this message in error."}'
)

# Frames a broken or hostile server might send (text frames unless bytes); each must be counted as
# malformed and skipped, never stop the feed.
GARBAGE: dict[str, Frame] = {
    "not_json": "{this is not json",
    "truncated": '{"e":"trade","E":1700000000000,"s":"BTCUSDT","t":1,"p":"650',
    "array": "[1, 2, 3]",
    "number": "42",
    "empty": "",
    "no_event": '{"E":1700000000000,"s":"BTCUSDT"}',
    "missing_price": '{"e":"trade","E":1700000000000,"s":"BTCUSDT","t":5,"q":"1","T":1700000000000}',
    "id_is_text": '{"e":"trade","E":1,"s":"BTCUSDT","t":"seven","p":"65000","q":"1","T":1700000000000}',
    "time_is_text": '{"e":"trade","E":1,"s":"BTCUSDT","t":9,"p":"65000","q":"1","T":"soon"}',
    "price_not_number": '{"e":"trade","E":1,"s":"BTCUSDT","t":9,"p":"abc","q":"1","T":1700000000000}',
    "price_is_list": '{"e":"trade","E":1,"s":"BTCUSDT","t":9,"p":[1],"q":"1","T":1700000000000}',
    "other_symbol": '{"e":"trade","E":1,"s":"ETHUSDT","t":9,"p":"3000","q":"1","T":1700000000000}',
    "other_event": '{"e":"aggTrade","E":1,"s":"BTCUSDT","a":9,"p":"65000","q":"1","T":1700000000000}',
    "binary_noise": bytes(range(256)),  # a binary frame
}


def trade_payload(
    price: float | str,
    trade_id: int,
    ts_ms: int,
    qty: str = "0.00120000",
    buyer_is_maker: bool = False,
    extra: dict[str, Any] | None = None,
    omit: Iterable[str] = (),
) -> bytes:
    """One `trade` event exactly as Binance sends it; `extra` adds fields, `omit` removes some."""
    price_text = price if isinstance(price, str) else f"{price:.8f}"
    msg: dict[str, Any] = {
        "e": "trade",
        "E": ts_ms + 1,
        "s": "BTCUSDT",
        "t": trade_id,
        "p": price_text,
        "q": qty,
        "T": ts_ms,
        "m": buyer_is_maker,
        "M": True,
    }
    for key in omit:
        msg.pop(key, None)
    if extra:
        msg.update(extra)
    return orjson.dumps(msg)


def server_shutdown_payload(ts_ms: int, wrapped: bool = False) -> bytes:
    """The `serverShutdown` event; `wrapped` is the websocket-API form {"event": {...}}."""
    event = {"e": "serverShutdown", "E": ts_ms}
    return orjson.dumps({"event": event} if wrapped else event)


def load_closes(path: Path = BINANCEUS_CSV) -> list[float]:
    """The 1-minute closes of the shared Binance.US recording (4,320 real prices)."""
    with path.open(newline="", encoding="utf-8") as fh:
        return [float(row["close"]) for row in csv.DictReader(fh)]


def random_walk(n: int, start: float = 65_000.0, step_bp: float = 1.0, seed: int = 7) -> list[float]:
    """A reproducible random walk of `n` prices (steps of about `step_bp` basis points)."""
    rng = random.Random(seed)
    prices = []
    price = start
    for _ in range(n):
        price *= 1.0 + rng.gauss(0.0, step_bp * 1e-4)
        prices.append(round(price, 2))
    return prices


class FakeBinanceServer(FakeWsServer):
    """Serves /ws/btcusdt@trade; trades cycle through `prices`, ids count up from `first_trade_id`."""

    path = "/ws/btcusdt@trade"
    reject_body = GEO_BLOCK_BODY

    def __init__(
        self,
        prices: Sequence[float] | None = None,
        clock: Callable[[], float] = time.time,
        first_trade_id: int = 3_000_000_000,
        extra: dict[str, Any] | None = None,
        script: Sequence[Frame] = (),
    ) -> None:
        super().__init__(script)
        self.prices = list(prices) if prices is not None else random_walk(10_000)
        if not self.prices:
            raise ValueError("prices must not be empty")
        self.clock = clock
        self.next_trade_id = first_trade_id
        self.extra = extra
        self._i = 0

    def next_frame(self) -> bytes:
        price = self.prices[self._i % len(self.prices)]
        self._i += 1
        return self.make_trade(price)

    def make_trade(self, price: float, trade_id: int | None = None, ts_ms: int | None = None) -> bytes:
        """A trade with the next id and T = the server clock now, unless given."""
        if trade_id is None:
            trade_id = self.next_trade_id
            self.next_trade_id += 1
        if ts_ms is None:
            ts_ms = int(self.clock() * 1000)
        return trade_payload(price, trade_id, ts_ms, extra=self.extra)

    async def send_trade(
        self, price: float | None = None, trade_id: int | None = None, ts_ms: int | None = None
    ) -> bytes:
        """Broadcast one trade (the next price in `prices` if none given); returns the frame sent."""
        frame = self.next_frame() if price is None else self.make_trade(price, trade_id, ts_ms)
        await self.broadcast(frame)
        return frame

    async def send_server_shutdown(self, wrapped: bool = False) -> None:
        await self.broadcast(server_shutdown_payload(int(self.clock() * 1000), wrapped))

    def build_frames(self, n: int, start_ms: int, spacing_ms: int = 1) -> list[bytes]:
        """`n` consecutive trades (for blasting): ids continue, T advances by `spacing_ms`."""
        frames = []
        for k in range(n):
            price = self.prices[self._i % len(self.prices)]
            self._i += 1
            frames.append(self.make_trade(price, ts_ms=start_ms + k * spacing_ms))
        return frames
