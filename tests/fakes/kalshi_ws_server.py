"""A local fake of Kalshi's websocket (`/trade-api/ws/v2`) on 127.0.0.1, as hard as the venue.

- The handshake must carry KALSHI-ACCESS-KEY/-TIMESTAMP/-SIGNATURE: the signature is verified here,
  independently of the production signer (RSA-PSS SHA-256, salt = digest length, over
  timestamp + "GET" + "/trade-api/ws/v2"), and the timestamp must be within `max_skew_s`. Anything
  else is answered 401, as is every handshake while `reject_status` is set.
- Commands must be TEXT frames of JSON (`binary_commands` counts the ones that were not).
- subscribe / update_subscription(get_snapshot) / unsubscribe answer as the AsyncAPI spec says; each
  subscription has its own sid and its own seq, starting with the snapshot.
- Books live in `books` ({ticker: {"yes": {price: count}, "no": {...}}}); pass the REST fake's
  `FakeKalshi.books` to serve the very same state. `set_level` changes a level and sends the delta;
  `sync(ticker)` sends the deltas for whatever changed behind our back (e.g. a REST fake fill).
- Faults: `gap_next()` (the next delta skips a seq), `drop()` (TCP cut, no close frame), `stall()`
  (stop reading: no frames, no pongs), `terminal_error(ticker, 25)`, `rate_limit_next(n)` (error
  27), `ignore_get_snapshot`, `reject_status = 401`.
- Own orders: `mirror(rest_fake)` publishes a `user_order` and its `fill` messages for every order
  the REST fake (tests/fakes/kalshi_server.FakeKalshi) creates, and `order_group_updates` for every
  group it triggers, from that same state and at once (the REST listing may still lag);
  `mute_private = True` keeps them back (a websocket that heard nothing). Venue events:
  `send_lifecycle`, `send_fee_update`, `send_order_group`.
- Observing: `commands`, `handshakes`, `rejected`, `delta_sent_ns` (for the benchmarks).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import http
import itertools
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import orjson
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from websockets.asyncio.client import connect as ws_connect
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from tests.fakes.fake_ws import wait_until

WS_PATH = "/trade-api/ws/v2"
_PSS = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32)
Book = dict[str, dict[Decimal, Decimal]]


def d4(x: Decimal) -> str:
    return f"{x:.4f}"


def d2(x: Decimal) -> str:
    return f"{x:.2f}"


@dataclass
class _Conn:
    ws: ServerConnection
    subs: dict[int, tuple[str, str]] = field(default_factory=dict)  # sid -> (channel, ticker)
    seq: dict[int, int] = field(default_factory=dict)  # sid -> last seq sent
    skip: int = 0  # seq numbers the next sequenced message skips (gap injection)


class FakeKalshiWs:
    """See the module docstring."""

    def __init__(
        self,
        keys: dict[str, rsa.RSAPublicKey],
        *,
        books: dict[str, Book] | None = None,
        clock: Callable[[], float] = time.time,
        max_skew_s: float = 5.0,
    ) -> None:
        self.keys = keys
        self.books: dict[str, Book] = books if books is not None else {}
        self.clock = clock
        self.max_skew_s = max_skew_s
        self.port = 0
        self.reject_status: int | None = None
        self.reject_retry_after: str | None = None  # the refusal's Retry-After header (Kalshi sends one with 429)
        self.ignore_get_snapshot = False
        self.handshakes = 0
        self.rejected: list[str] = []  # why each refused handshake was refused
        self.dialed: list[str] = []
        self.commands: list[dict[str, Any]] = []
        self.command_times: list[float] = []  # time.monotonic() of each command's arrival
        self.binary_commands = 0
        self.delta_sent_ns: list[tuple[str, int, int]] = []  # (ticker, seq, perf_counter_ns)
        self.conns: list[_Conn] = []
        self._published: dict[str, Book] = {}
        self._sids = itertools.count(1)
        self._rate_limit = 0
        self._server: Server | None = None
        self._auto: asyncio.Task[None] | None = None
        self.mute_private = False
        self._pushes: set[asyncio.Task[None]] = set()

    # -- lifecycle ---------------------------------------------------------------------------------

    async def __aenter__(self) -> FakeKalshiWs:
        self._server = await serve(self._handler, "127.0.0.1", 0, process_request=self._check_handshake,
                                   compression=None, max_queue=None)
        self.port = next(iter(self._server.sockets)).getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._auto is not None:
            self._auto.cancel()
        if self._server is not None:
            for conn in list(self.conns):
                conn.ws.transport.abort()
            self._server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 3.0)
            self._server = None

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}{WS_PATH}"

    def connect(self, uri: str, **kwargs: Any) -> Any:
        """websockets.connect look-alike: remember the real wss:// URI, dial this local server instead."""
        self.dialed.append(uri)
        return ws_connect(self.url, **kwargs)

    async def wait_for(self, predicate: Callable[[], bool], timeout: float = 5.0) -> None:
        await wait_until(predicate, timeout)

    # -- book state --------------------------------------------------------------------------------

    def set_book(self, ticker: str, yes: dict[str, str] | None = None, no: dict[str, str] | None = None) -> None:
        """Replace a book without telling anyone (subscribers see it in their next snapshot or sync)."""
        self.books[ticker] = {
            "yes": {Decimal(p): Decimal(c) for p, c in (yes or {}).items()},
            "no": {Decimal(p): Decimal(c) for p, c in (no or {}).items()},
        }

    async def set_level(self, ticker: str, side: str, price: str, count: str) -> None:
        """Set one level's resting count (0 removes it) and send the delta to every subscriber."""
        book = self.books.setdefault(ticker, {"yes": {}, "no": {}})
        p, c = Decimal(price), Decimal(count)
        if c == 0:
            book[side].pop(p, None)
        else:
            book[side][p] = c
        await self.sync(ticker)

    async def sync(self, ticker: str) -> int:
        """Send a delta for every level that differs from what subscribers were last told; returns how many."""
        book = self.books.get(ticker, {"yes": {}, "no": {}})
        told = self._published.setdefault(ticker, {"yes": {}, "no": {}})
        sent = 0
        for side in ("yes", "no"):
            for price in sorted(set(book[side]) | set(told[side])):
                diff = book[side].get(price, Decimal(0)) - told[side].get(price, Decimal(0))
                if diff != 0:
                    await self._delta(ticker, side, price, diff)
                    sent += 1
            told[side] = dict(book[side])
        return sent

    def auto_sync(self, interval_s: float = 0.02) -> None:
        """Publish every change of `books` (made by anyone, e.g. the REST fake) within interval_s, as Kalshi
        publishes each change: what the daemon tests need when the REST fake moves a book."""

        async def loop() -> None:
            while True:
                for ticker in {t for c in self.conns for ch, t in c.subs.values() if ch == "orderbook_delta"}:
                    await self.sync(ticker)
                await asyncio.sleep(interval_s)

        self._auto = asyncio.ensure_future(loop())

    # -- other channels ----------------------------------------------------------------------------

    async def send_index(self, value: str, *, avg_60s: str | None = None, settle_avg: str | None = None,
                         settle_count: int = 0, ts_ms: int | None = None, index_id: str = "BRTI") -> None:
        ts = ts_ms if ts_ms is not None else int(self.clock() * 1000)
        msg: dict[str, Any] = {
            "index_id": index_id,
            "received_at": ts + 15,
            "data": orjson.dumps({"type": "value", "id": index_id, "time": ts, "value": value}).decode(),
            "avg_60s_data": {"value": avg_60s or value, "window_size": 59, "window_start_ts_ms": ts - 60000,
                             "window_end_ts_exclusive": ts},
        }
        if settle_avg is not None:
            close = (ts // 900000 + 1) * 900000
            msg["last_60s_windowed_average_15min"] = {"value": settle_avg, "window_size": settle_count,
                                                      "window_start_ts_ms": close - 60000,
                                                      "window_end_ts_exclusive": ts}
        await self._publish("cfbenchmarks_value", "", "cfbenchmarks_value", msg)

    async def send_trade(self, ticker: str, yes_price: str, count: str = "10.00", taker: str = "yes") -> None:
        ts = int(self.clock() * 1000)
        await self._publish("trade", ticker, "trade", {
            "trade_id": f"t{next(self._sids)}", "market_ticker": ticker, "yes_price_dollars": yes_price,
            "no_price_dollars": d4(1 - Decimal(yes_price)), "count_fp": count, "taker_side": taker,
            "taker_outcome_side": taker, "taker_book_side": "bid" if taker == "yes" else "ask",
            "is_block_trade": False, "ts": ts // 1000, "ts_ms": ts})

    async def send_ticker(self, ticker: str, price: str, yes_bid: str, yes_ask: str) -> None:
        ts = int(self.clock() * 1000)
        await self._publish("ticker", ticker, "ticker", {
            "market_id": "00000000-0000-0000-0000-000000000001", "market_ticker": ticker, "price_dollars": price,
            "yes_bid_dollars": yes_bid, "yes_ask_dollars": yes_ask, "volume_fp": "100.00",
            "open_interest_fp": "50.00", "dollar_volume": 50, "dollar_open_interest": 25,
            "yes_bid_size_fp": "10.00", "yes_ask_size_fp": "10.00", "last_trade_size_fp": "1.00",
            "ts": ts // 1000, "ts_ms": ts, "time": "2026-01-01T00:00:00Z"}, sequenced=False)

    async def send_lifecycle(self, ticker: str, event_type: str, **fields: Any) -> None:
        await self._publish("market_lifecycle_v2", "", "market_lifecycle_v2",
                            {"market_ticker": ticker, "event_type": event_type, **fields})

    async def send_fee_update(self, event_ticker: str, fee_type: str | None, multiplier: float | None) -> None:
        await self._publish("market_lifecycle_v2", "", "event_fee_update", {
            "event_ticker": event_ticker, "fee_type_override": fee_type, "fee_multiplier_override": multiplier})

    async def send_fill(self, *, order_id: str, client_order_id: str, ticker: str, side: str, yes_price: str,
                        count: str, fee: str = "0.020000", trade_id: str = "") -> None:
        ts = int(self.clock() * 1000)
        await self._publish("fill", "", "fill", {
            "trade_id": trade_id or f"f{next(self._sids)}", "order_id": order_id, "client_order_id": client_order_id,
            "market_ticker": ticker, "exchange_index": 0, "is_taker": True, "side": side,
            "yes_price_dollars": yes_price, "count_fp": count, "fee_cost": fee, "action": "buy", "ts": ts // 1000,
            "ts_ms": ts, "post_position_fp": count, "purchased_side": side, "outcome_side": side,
            "book_side": "bid" if side == "yes" else "ask"}, sequenced=False)

    async def send_user_order(self, *, order_id: str, client_order_id: str, ticker: str, side: str, status: str,
                              yes_price: str, filled: str, remaining: str) -> None:
        ts = int(self.clock() * 1000)
        initial = d2(Decimal(filled) + Decimal(remaining))
        await self._publish("user_orders", "", "user_order", {
            "order_id": order_id, "user_id": "00000000-0000-0000-0000-00000000000a", "ticker": ticker,
            "exchange_index": 0, "status": status, "side": side, "is_yes": side == "yes", "outcome_side": side,
            "book_side": "bid" if side == "yes" else "ask", "yes_price_dollars": yes_price,
            "fill_count_fp": filled, "remaining_count_fp": remaining, "initial_count_fp": initial,
            "taker_fill_cost_dollars": "0.000000", "maker_fill_cost_dollars": "0.000000",
            "taker_fees_dollars": "0.010000", "maker_fees_dollars": "0.000000", "client_order_id": client_order_id,
            "created_time": "2026-01-01T00:00:00Z", "created_ts_ms": ts, "last_updated_ts_ms": ts}, sequenced=False)

    async def send_order_group(self, order_group_id: str, event_type: str, contracts_limit: str = "10.00") -> None:
        await self._publish("order_group_updates", "", "order_group_updates", {
            "event_type": event_type, "order_group_id": order_group_id, "contracts_limit_fp": contracts_limit,
            "ts_ms": int(self.clock() * 1000)})

    def mirror(self, venue: Any) -> None:
        """Publish what the REST fake `venue` does to our orders and groups, from its own state."""
        venue.order_listeners.append(self._mirror_order)
        venue.group_listeners.append(self._mirror_group)

    def _push(self, coro: Any) -> None:
        if self.mute_private:
            coro.close()
            return
        task = asyncio.ensure_future(coro)
        self._pushes.add(task)
        task.add_done_callback(self._pushes.discard)

    def _mirror_order(self, order: Any, fills: list[Any]) -> None:
        self._push(self._publish_order(order, fills))

    def _mirror_group(self, group: Any, event_type: str) -> None:
        self._push(self.send_order_group(group.group_id, event_type, d2(group.contracts_limit)))

    async def _publish_order(self, order: Any, fills: list[Any]) -> None:
        side = "yes" if order.book_side == "bid" else "no"
        ts = int(order.created_ts * 1000)
        await self._publish("user_orders", "", "user_order", {
            "order_id": order.order_id, "user_id": "00000000-0000-0000-0000-00000000000a", "ticker": order.ticker,
            "exchange_index": 0, "status": order.status, "side": side, "is_yes": side == "yes", "outcome_side": side,
            "book_side": order.book_side, "yes_price_dollars": d4(order.yes_price),
            "fill_count_fp": d2(order.filled), "remaining_count_fp": d2(order.remaining),
            "initial_count_fp": d2(order.initial), "taker_fill_cost_dollars": d4(order.fill_cost),
            "maker_fill_cost_dollars": "0.0000", "taker_fees_dollars": d4(order.fees),
            "maker_fees_dollars": "0.0000", "client_order_id": order.client_order_id,
            "created_time": "2026-01-01T00:00:00Z", "created_ts_ms": ts, "last_updated_ts_ms": ts}, sequenced=False)
        for f in fills:
            await self.send_fill(order_id=f.order_id, client_order_id=f.client_order_id, ticker=f.ticker, side=side,
                                 yes_price=d4(f.yes_price), count=d2(f.count), fee=d4(f.fee), trade_id=f.fill_id)

    async def broadcast_raw(self, frame: str) -> None:
        for conn in list(self.conns):
            with contextlib.suppress(ConnectionClosed):
                await conn.ws.send(frame)

    # -- faults ------------------------------------------------------------------------------------

    def gap_next(self, skipped: int = 1) -> None:
        """The next sequenced message on every connection skips `skipped` seq numbers (a lost message)."""
        for conn in self.conns:
            conn.skip = skipped

    def rate_limit_next(self, n: int = 1) -> None:
        """Answer the next n commands with error 27 (too many requests) instead of executing them."""
        self._rate_limit = n

    async def terminal_error(self, ticker: str, code: int = 25, channel: str = "orderbook_delta") -> None:
        """End a subscription with a terminal error (10 channel error, 25 buffer overflow)."""
        for conn in list(self.conns):
            for sid, (ch, t) in list(conn.subs.items()):
                if ch == channel and t == ticker:
                    del conn.subs[sid]
                    await self._send(conn, {"type": "error", "sid": sid, "seq": conn.seq.get(sid, 0) + 1,
                                            "msg": {"code": code, "msg": "Subscription buffer overflow",
                                                    "market_ticker": ticker}})

    async def drop(self) -> None:
        """Cut every TCP connection without a close frame."""
        for conn in list(self.conns):
            conn.ws.transport.abort()
        self.conns.clear()

    def stall(self) -> None:
        """Stop reading every connection: nothing more is processed, so no pongs and no answers."""
        for conn in self.conns:
            conn.ws.transport.pause_reading()

    # -- observing ---------------------------------------------------------------------------------

    def subscriptions(self, channel: str, ticker: str = "") -> int:
        return sum(1 for c in self.conns for ch, t in c.subs.values() if ch == channel and t == ticker)

    # -- internals ---------------------------------------------------------------------------------

    def _check_handshake(self, connection: ServerConnection, request: Request) -> Response | None:
        reason = self._refusal(request)
        if reason is None:
            return None
        self.rejected.append(reason)
        status = http.HTTPStatus(self.reject_status or 401)
        code = "too_many_requests" if status == http.HTTPStatus.TOO_MANY_REQUESTS else "authentication_error"
        body = orjson.dumps({"error": {"code": code, "message": reason}})
        headers = Headers([("Content-Type", "application/json")])
        if self.reject_retry_after is not None:
            headers["Retry-After"] = self.reject_retry_after
        return Response(status.value, status.phrase, headers, body)

    def _refusal(self, request: Request) -> str | None:
        if self.reject_status is not None:
            return "refused by test"
        if request.path.split("?", 1)[0] != WS_PATH:
            return "wrong path"
        h = request.headers
        key_id, ts, sig = (h.get("KALSHI-ACCESS-KEY"), h.get("KALSHI-ACCESS-TIMESTAMP"),
                           h.get("KALSHI-ACCESS-SIGNATURE"))
        if not key_id or not ts or not sig:
            return "missing auth headers"
        key = self.keys.get(key_id)
        if key is None:
            return "unknown key"
        if not ts.isdigit() or abs(int(ts) / 1000 - self.clock()) > self.max_skew_s:
            return "header_timestamp_expired"
        try:
            key.verify(base64.b64decode(sig), f"{ts}GET{WS_PATH}".encode(), _PSS, hashes.SHA256())
        except (InvalidSignature, ValueError):
            return "INCORRECT_API_KEY_SIGNATURE"
        return None

    async def _handler(self, ws: ServerConnection) -> None:
        self.handshakes += 1
        conn = _Conn(ws)
        self.conns.append(conn)
        try:
            async for raw in ws:
                if not isinstance(raw, str):
                    self.binary_commands += 1
                    await self._send(conn, {"type": "error", "msg": {"code": 1, "msg": "Unable to process message"}})
                    continue
                command = orjson.loads(raw)
                self.commands.append(command)
                self.command_times.append(time.monotonic())
                await self._command(conn, command)
        except ConnectionClosed:
            pass
        finally:
            if conn in self.conns:
                self.conns.remove(conn)

    async def _command(self, conn: _Conn, cmd: dict[str, Any]) -> None:
        cmd_id = cmd.get("id", 0)
        params = cmd.get("params") or {}
        if self._rate_limit > 0:
            self._rate_limit -= 1
            await self._send(conn, {"id": cmd_id, "type": "error", "msg": {"code": 27, "msg": "Too many requests"}})
            return
        if cmd.get("cmd") == "subscribe":
            for channel in params.get("channels", []):
                sid = next(self._sids)
                ticker = params.get("market_ticker", "")
                conn.subs[sid] = (channel, ticker)
                await self._send(conn, {"id": cmd_id, "type": "subscribed", "msg": {"channel": channel, "sid": sid}})
                if channel == "orderbook_delta":
                    await self._snapshot(conn, sid, ticker)
        elif cmd.get("cmd") == "update_subscription" and params.get("action") == "get_snapshot":
            if self.ignore_get_snapshot:
                return
            sid = params.get("sid")
            for ticker in params.get("market_tickers", []):
                await self._snapshot(conn, sid, ticker, cmd_id)
        elif cmd.get("cmd") == "unsubscribe":
            for sid in params.get("sids", []):
                conn.subs.pop(sid, None)
                await self._send(conn, {"id": cmd_id, "sid": sid, "seq": conn.seq.get(sid, 0) + 1,
                                        "type": "unsubscribed"})
        else:
            await self._send(conn, {"id": cmd_id, "type": "error", "msg": {"code": 5, "msg": "Unknown command"}})

    def _next_seq(self, conn: _Conn, sid: int) -> int:
        seq = conn.seq.get(sid, 0) + 1 + conn.skip
        conn.skip = 0
        conn.seq[sid] = seq
        return seq

    async def _snapshot(self, conn: _Conn, sid: Any, ticker: str, cmd_id: int | None = None) -> None:
        book = self.books.get(ticker, {"yes": {}, "no": {}})
        self._published[ticker] = {"yes": dict(book["yes"]), "no": dict(book["no"])}
        msg: dict[str, Any] = {"market_ticker": ticker, "market_id": "00000000-0000-0000-0000-000000000001"}
        for side in ("yes", "no"):
            levels = [[d4(p), d2(c)] for p, c in sorted(book[side].items()) if c > 0]
            if levels:  # the key is absent when a side is empty
                msg[f"{side}_dollars_fp"] = levels
        frame: dict[str, Any] = {"type": "orderbook_snapshot", "sid": sid, "seq": self._next_seq(conn, sid),
                                 "msg": msg}
        if cmd_id is not None:
            frame["id"] = cmd_id
        await self._send(conn, frame)

    async def _delta(self, ticker: str, side: str, price: Decimal, diff: Decimal) -> None:
        for conn in list(self.conns):
            for sid, (ch, t) in list(conn.subs.items()):
                if ch == "orderbook_delta" and t == ticker:
                    seq = self._next_seq(conn, sid)
                    ts = int(self.clock() * 1000)
                    frame = {"type": "orderbook_delta", "sid": sid, "seq": seq, "msg": {
                        "market_ticker": ticker, "market_id": "00000000-0000-0000-0000-000000000001",
                        "price_dollars": d4(price), "delta_fp": d2(diff), "side": side, "ts_ms": ts}}
                    self.delta_sent_ns.append((ticker, seq, time.perf_counter_ns()))
                    await self._send(conn, frame)

    async def _publish(self, channel: str, ticker: str, kind: str, msg: dict[str, Any], sequenced: bool = True
                       ) -> None:
        for conn in list(self.conns):
            for sid, (ch, t) in list(conn.subs.items()):
                if ch == channel and (not t or not ticker or t == ticker):
                    frame: dict[str, Any] = {"type": kind, "sid": sid, "msg": msg}
                    if sequenced:
                        frame["seq"] = self._next_seq(conn, sid)
                    await self._send(conn, frame)

    async def _send(self, conn: _Conn, frame: dict[str, Any]) -> None:
        with contextlib.suppress(ConnectionClosed):
            await conn.ws.send(orjson.dumps(frame).decode())
