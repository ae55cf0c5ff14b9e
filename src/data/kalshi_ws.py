"""The Kalshi websocket connection: signed handshake, subscriptions, seq-checked books, reconnects.

One connection to `/trade-api/ws/v2` carries everything the bot reads in real time:
- `orderbook_delta`, `ticker`, `trade` for each watched market (one subscribe command per market, so
  each book has its own sid and its own seq; see kalshi_book.BookKeeper);
- `market_lifecycle_v2` (all markets; KXBTC15M ones are kept, and a newly created window is watched
  at once, so its book is whole before the window opens);
- `cfbenchmarks_value` for BRTI, the index KXBTC15M settles on;
- live only: `fill` and `user_orders`, offered to other components as a typed async stream
  (`user_events()`) and by client_order_id (`order_update()`, `fills_for()`), and
  `order_group_updates`;
- routes (`route_venue_events`): order-group updates, KXBTC15M lifecycle events and fee updates go
  to the live safety parts that register after construction (src/execution/venue_events.py).

Resilience (the BTC feed's rules, src/data/ws_feed.py, plus Kalshi's own):
- every (re)connect passes the allowlist (src/net/ws_session), and the handshake is signed anew (RSA-PSS over
  timestamp + "GET" + "/trade-api/ws/v2"; a timestamp is only good for a short while);
- capped exponential backoff with full jitter (src/net/ws_session.Redial), reset by a connection that
  delivered data, and never sooner than a refused handshake's Retry-After (Kalshi answers a handshake
  burst with 429); a planned reconnect (23 h 50 min age) goes at once;
- we ping every `liveness_ping_s`: a pong proves that everything Kalshi sent before it has arrived, so
  a book is known current as of the last frame or pong (`book_age`). No frame and no pong for
  `silence_timeout_s` and the connection is dead: closed and redialled;
- after a reconnect everything is subscribed again and every book waits for its new snapshot;
- seq gap on a book -> `get_snapshot` for it; no snapshot within `snapshot_timeout_s` -> subscribe
  the market again; errors 10 and 25 end a subscription -> subscribe it again;
- commands go through a token bucket (`commands_per_s`); error 27 (too many requests) puts the
  command back after a jittered backoff. Commands are TEXT frames.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

from websockets.exceptions import ConnectionClosed

from src.config import KalshiConfig
from src.data import kalshi_ws_messages as m
from src.data.kalshi_book import BookKeeper, DeltaOutcome
from src.data.ws_feed import BAD_FRAME
from src.model.kxbtc15m import SERIES, WINDOW_S
from src.model.models import Clock, OrderBook, Sleep
from src.net.allowlist import HostNotAllowedError, check_url
from src.net.rate_limit import TokenBucket
from src.net.ws_session import (
    ERR_CLOSED,
    ERR_DNS,
    ERR_HANDSHAKE,
    ERR_INVALID_URI,
    ERR_TIMEOUT,
    PROACTIVE_RECONNECT_S,
    SESSION_ERRORS,
    WS_SCHEMES,
    ConnectFactory,
    Redial,
    SessionEnd,
    classify_end,
    open_ws,
)
from src.net.ws_supervisor import ReconnectingClient

log = logging.getLogger(__name__)

PROD_WS_URL = "wss://external-api-ws.kalshi.com/trade-api/ws/v2"
DEMO_WS_URL = "wss://external-api-ws.demo.kalshi.co/trade-api/ws/v2"
ENV_WS_URLS = {"prod": PROD_WS_URL, "demo": DEMO_WS_URL}
# DECISIONS §1: exactly Kalshi's two websocket hosts.
ALLOWED_HOSTS = frozenset({"external-api-ws.kalshi.com", "external-api-ws.demo.kalshi.co"})

UserEvent = m.UserFill | m.UserOrderUpdate
# What record_events hands a recorder per event: (seq, receive time, item), where item is the parsed
# message (book snapshot or delta, public trade, index print, lifecycle event) or a market ticker
# whose book stopped being whole without a seq gap ("" for every book: the connection ended).
EventSink = Callable[[tuple[int, float, Any]], None]

# Reason codes for last_error (the status line, --verify and the dashboard show them); the
# connection's own (dns, timeout, network, handshake, closed, host_not_allowed) come from
# src/net/ws_session.
ERR_AUTH = "auth"
ERR_SILENT = "silent"


def ws_settings(cfg: KalshiConfig, *, live: bool) -> tuple[str, KalshiWsTiming]:
    """The URL and timing kalshi.ws asks for: its own env, else market data's (paper) or the keys' (live)."""
    ws = cfg.ws
    env = ws.env or (cfg.env if live else cfg.market_data_env)
    timing = KalshiWsTiming(
        silence_timeout_s=ws.silence_timeout_s,
        liveness_ping_s=ws.liveness_ping_ms / 1000,
        max_backoff_s=ws.max_backoff_s,
        commands_per_s=ws.commands_per_s,
    )
    return ENV_WS_URLS[env], timing


class Signer(Protocol):
    """What the handshake needs from src/auth/kalshi_auth.KalshiAuth."""

    def headers(self, method: str, path: str, timestamp_ms: int | None = None) -> dict[str, str]: ...


@dataclass(frozen=True, slots=True)
class KalshiWsTiming:
    silence_timeout_s: float = 15.0
    liveness_ping_s: float = 0.2
    snapshot_timeout_s: float = 3.0
    max_backoff_s: float = 30.0
    base_backoff_s: float = 0.5
    open_timeout_s: float = 10.0
    commands_per_s: int = 10
    max_connection_age_s: float = PROACTIVE_RECONNECT_S

    def __post_init__(self) -> None:
        for name in ("silence_timeout_s", "liveness_ping_s", "snapshot_timeout_s", "max_backoff_s",
                     "base_backoff_s", "open_timeout_s", "max_connection_age_s"):
            if not float(getattr(self, name)) > 0:
                raise ValueError(f"{name} must be positive")
        if self.commands_per_s < 1:
            raise ValueError("commands_per_s must be at least 1")


@dataclass(frozen=True, slots=True)
class KalshiWsStats:
    """Counters for the status line, the dashboard and --verify."""

    connected: bool
    connects: int
    reconnects: int
    frames: int
    malformed: int
    snapshots: int
    deltas: int
    gaps: int
    resubscribes: int
    rate_limited: int
    last_error: str
    error_code: str


@dataclass(slots=True)
class _Sub:
    channel: str
    ticker: str  # "" for channels that are not per market


@dataclass(slots=True)
class _Pending:
    command: dict[str, Any]
    ticker: str
    tries: int = 0


class KalshiWs(ReconnectingClient):
    """Keeps one signed websocket to Kalshi open until stop(); see the module docstring."""

    def __init__(
        self,
        *,
        url: str,
        signer: Signer,
        clock: Clock,
        private: bool = False,
        index_ids: tuple[str, ...] = (m.BRTI,),
        series: str = SERIES,
        connect: ConnectFactory | None = None,
        timing: KalshiWsTiming = KalshiWsTiming(),
        on_book: Callable[[str], None] | None = None,
        on_index: Callable[[m.IndexValue], None] | None = None,
        on_trade: Callable[[m.PublicTrade], None] | None = None,
        on_lifecycle: Callable[[m.LifecycleEvent], None] | None = None,
        on_fee_update: Callable[[m.FeeUpdate], None] | None = None,
        rng: Callable[[], float] = random.random,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        check_url(url, ALLOWED_HOSTS, WS_SCHEMES)  # a wrong URL is refused at construction too
        self.url = url
        self._signer = signer
        self._clock = clock
        self.private = private
        self.index_ids = index_ids
        self.series = series
        self._connect = connect  # None: websockets' own connect (src/net/ws_session.open_ws)
        self.timing = timing
        self._on_book = on_book
        self._index_listeners: list[Callable[[m.IndexValue], None]] = [on_index] if on_index else []
        self._on_trade = on_trade
        self._on_lifecycle = on_lifecycle
        self._on_fee_update = on_fee_update
        self._rng = rng
        super().__init__(Redial(base_backoff_s=timing.base_backoff_s, max_backoff_s=timing.max_backoff_s, rng=rng,
                                sleep=sleep))
        self.books = BookKeeper()
        self._markets: dict[str, None] = {}  # watched markets, in the order they were asked for
        # Per connection:
        self._ws: Any = None
        self._subs: dict[int, _Sub] = {}
        self._pending: dict[int, _Pending] = {}
        self._snapshot_asked: dict[str, float] = {}  # ticker -> when get_snapshot went out
        self._next_id = 1
        self._outbox: asyncio.Queue[tuple[dict[str, Any], str]] | None = None
        # Latest public state.
        self.index: dict[str, m.IndexValue] = {}
        self.index_received_at: dict[str, float] = {}
        self.tickers: dict[str, m.TickerUpdate] = {}
        self.trades: deque[m.PublicTrade] = deque(maxlen=500)
        self.lifecycle: dict[str, m.LifecycleEvent] = {}  # latest event per KXBTC15M market
        self.fee_updates: list[m.FeeUpdate] = []
        # Private state (live): by client_order_id.
        self._orders: dict[str, m.UserOrderUpdate] = {}
        self._fills: dict[str, list[m.UserFill]] = {}
        self._listeners: list[asyncio.Queue[UserEvent]] = []
        self._record: EventSink | None = None  # the recorder's channel (record_events)
        self._record_seq: Iterator[int] = iter(())
        self._routes = _Routes()
        # Counters.
        self.connects = 0
        self.frames = 0
        self.malformed = 0
        self.resubscribes = 0
        self.rate_limited = 0
        self.callback_errors = 0
        self.last_error = ""
        self.error_code = ""
        self.last_disconnect = ""  # why the previous connection ended (kept after a reconnect clears last_error)
        self.alive_at = 0.0  # last frame or pong: everything Kalshi sent before it has arrived
        self._planned = False

    # -- what other components ask for ---------------------------------------------------------------

    def watch(self, tickers: list[str]) -> None:
        """Keep books (and ticker/trade) for exactly these markets; others are unsubscribed and forgotten."""
        wanted = [t for t in dict.fromkeys(tickers) if t]
        for ticker in [t for t in self._markets if t not in wanted]:
            del self._markets[ticker]
            self._unsubscribe_market(ticker)
        for ticker in wanted:
            if ticker not in self._markets:
                self._markets[ticker] = None
                self._subscribe_market(ticker)

    @property
    def watched(self) -> list[str]:
        return list(self._markets)

    def book(self, ticker: str) -> OrderBook | None:
        """The market's book if whole (None while it waits for a snapshot or was never received)."""
        return self.books.book(ticker)

    def book_age(self, ticker: str, now: float) -> float | None:
        """Seconds since the book was last known current (a frame or a pong after it); None if not whole."""
        if not self.connected or not self.books.is_whole(ticker):
            return None
        changed = self.books.changed_at(ticker) or 0.0
        return max(0.0, now - max(self.alive_at, changed))

    def index_value(self, index_id: str = m.BRTI) -> m.IndexValue | None:
        return self.index.get(index_id)

    def index_age(self, now: float, index_id: str = m.BRTI) -> float | None:
        """Seconds since the index's last print was received, or None before the first."""
        at = self.index_received_at.get(index_id)
        return None if at is None else max(0.0, now - at)

    def listen_index(self, callback: Callable[[m.IndexValue], None]) -> None:
        """Call `callback` with every CF Benchmarks print (e.g. the BRTI anchor measuring its basis)."""
        self._index_listeners.append(callback)

    def record_events(self, append: EventSink, seq: Iterator[int]) -> None:
        """Hand every market-data event to a recorder's channel (Recorder.ws_channel), as it is handled:
        book snapshots and deltas (with sid and seq, gaps included), public trades, index prints,
        lifecycle events, and the moments a book stops being whole for another reason."""
        self._record, self._record_seq = append, seq

    def _recorded(self, item: Any, now: float) -> None:
        record = self._record
        if record is not None:
            record((next(self._record_seq), now, item))

    def _invalidate_all(self) -> None:
        self.books.invalidate_all()
        self._recorded("", self._clock())

    def order_update(self, client_order_id: str) -> m.UserOrderUpdate | None:
        """The latest user_orders state of our order with this client_order_id (live only)."""
        return self._orders.get(client_order_id)

    def fills_for(self, client_order_id: str) -> list[m.UserFill]:
        """Every fill of our order with this client_order_id seen on this run (live only)."""
        return list(self._fills.get(client_order_id, ()))

    async def user_events(self) -> AsyncIterator[UserEvent]:
        """Our fills and order updates as they arrive, typed (live only). Each caller gets every event."""
        queue: asyncio.Queue[UserEvent] = asyncio.Queue()
        self._listeners.append(queue)
        try:
            while True:
                yield await queue.get()
        finally:
            self._listeners.remove(queue)

    def route_venue_events(
        self,
        *,
        on_order_group: Callable[[m.OrderGroupUpdate], None] | None = None,
        on_lifecycle: Callable[[m.LifecycleEvent], None] | None = None,
        on_fee_update: Callable[[m.FeeUpdate], None] | None = None,
    ) -> None:
        """Also hand these venue events to the given callbacks (the live parts exist only after the
        person confirmed, long after this connection was built)."""
        if on_order_group is not None:
            self._routes.order_group.append(on_order_group)
        if on_lifecycle is not None:
            self._routes.lifecycle.append(on_lifecycle)
        if on_fee_update is not None:
            self._routes.fee_update.append(on_fee_update)

    def stats(self) -> KalshiWsStats:
        c = self.books.counters()
        return KalshiWsStats(
            connected=self.connected, connects=self.connects, reconnects=self.reconnects, frames=self.frames,
            malformed=self.malformed, snapshots=c.snapshots, deltas=c.deltas, gaps=c.gaps,
            resubscribes=self.resubscribes, rate_limited=self.rate_limited, last_error=self.last_error,
            error_code=self.error_code,
        )

    # -- the supervision loop's hooks (src/net/ws_supervisor.py) ----------------------------------------

    def _name(self) -> str:
        return "the Kalshi websocket"

    def _progress(self) -> int:
        return self.frames

    def _session_ended(self) -> None:
        self._invalidate_all()

    def _reconnecting(self, planned: bool, delay_s: float) -> None:
        self.last_disconnect = "planned" if planned else self.last_error
        if not planned:
            log.warning("Kalshi websocket lost (%s); reconnecting in %.1f s", self.last_error, delay_s)

    # -- connection ----------------------------------------------------------------------------------

    async def _session(self) -> bool:
        """One connection's life; True if it ended for a planned reconnect."""
        self._planned = False
        self._retry_after = None
        try:
            # Signed per connection: Kalshi refuses a stale timestamp.
            headers = self._signer.headers("GET", m.WS_PATH)
            connector = open_ws(self._connect, self.url, ALLOWED_HOSTS, who="Kalshi websocket",
                                additional_headers=headers, open_timeout=self.timing.open_timeout_s,
                                ping_interval=None,  # our own liveness pings, see _keepalive
                                close_timeout=2, compression=None, max_size=2**22)
            async with connector as ws:
                await self._serve(ws)
        except SESSION_ERRORS as exc:
            self._ended(classify_end(exc, self._clock()))
        finally:
            self.connected = False
            self._ws = None
            self._outbox = None
        return self._planned

    def _ended(self, end: SessionEnd) -> None:
        """Word why the session ended; raise where retrying cannot help."""
        if end.code == ERR_HANDSHAKE and end.status is not None:
            self._retry_after = end.retry_after_s
            if end.status in (401, 403):
                self._set_error(ERR_AUTH, f"Kalshi refused the websocket handshake (HTTP {end.status}): check the "
                                          "API key id, the key file, that the keys belong to this environment, "
                                          "and the clock")
            else:
                self._set_error(ERR_HANDSHAKE, f"Kalshi rejected the websocket connection with HTTP {end.status}")
        elif end.code == ERR_CLOSED:
            if not self._planned and self.error_code != ERR_SILENT:
                code = "none" if end.close_code is None else end.close_code
                self._set_error(ERR_CLOSED, f"Kalshi closed the websocket (close code {code})")
        elif end.code == ERR_DNS:
            self._set_error(ERR_DNS, "cannot resolve the Kalshi websocket host (DNS failure: check the network)")
        elif end.code == ERR_TIMEOUT:
            self._set_error(ERR_TIMEOUT, f"Kalshi websocket did not answer within {self.timing.open_timeout_s:g} s")
        elif end.code == ERR_INVALID_URI:
            raise HostNotAllowedError(f"Kalshi websocket URL is invalid: {end.detail}") from None
        else:
            self._set_error(end.code, f"Kalshi websocket: {end.detail}"[:200])

    async def _serve(self, ws: Any) -> None:
        now = self._clock()
        self._ws = ws
        self._subs.clear()
        self._pending.clear()
        self._snapshot_asked.clear()
        self._next_id = 1
        self._outbox = asyncio.Queue()
        self._invalidate_all()
        self.connected = True
        self.connects += 1
        self.alive_at = now
        if self.error_code in (ERR_SILENT, ERR_CLOSED):
            self._set_error("", "")
        self._subscribe_all()
        helpers = [
            asyncio.ensure_future(self._sender(ws)),
            asyncio.ensure_future(self._keepalive(ws, now + self.timing.max_connection_age_s)),
        ]
        try:
            await self._pump(ws)
        finally:
            for task in helpers:
                task.cancel()
            await asyncio.gather(*helpers, return_exceptions=True)

    async def _pump(self, ws: Any) -> None:
        while True:
            raw = await ws.recv(False)
            now = self._clock()
            self.alive_at = now
            self.frames += 1
            try:
                message = m.parse(raw)
            except BAD_FRAME as exc:
                self.malformed += 1
                log.debug("Kalshi websocket: bad frame skipped: %s", exc)
                continue
            if message is not None:
                self._dispatch(message, now)

    async def _keepalive(self, ws: Any, deadline: float) -> None:
        """Ping often; a pong moves alive_at. Close a silent or too-old connection from outside recv()."""
        interval = self.timing.liveness_ping_s
        while True:
            try:
                waiter = await ws.ping()
            except ConnectionClosed:
                return
            sent = self._clock()
            # asyncio.wait, not wait_for: it neither cancels the pong waiter nor ever swallows our own
            # cancellation (3.11's wait_for can turn a cancel racing its timeout into a TimeoutError).
            done, _ = await asyncio.wait({waiter}, timeout=interval)
            if done and not waiter.cancelled() and waiter.exception() is None:
                self.alive_at = max(self.alive_at, sent)
            now = self._clock()
            if now - self.alive_at >= self.timing.silence_timeout_s:
                self._set_error(ERR_SILENT, f"no data and no pong from Kalshi for {self.timing.silence_timeout_s:g} s")
                # The peer is not answering: a closing handshake would only wait close_timeout for it.
                ws.transport.abort()
                return
            if now >= deadline:
                self._planned = True
                break
            self._check_snapshots(now)
            await asyncio.sleep(max(0.0, interval - (now - sent)))
        await ws.close()

    async def _sender(self, ws: Any) -> None:
        bucket = TokenBucket(self.timing.commands_per_s, 1.0)
        outbox = self._outbox
        if outbox is None:
            return
        while True:
            command, ticker = await outbox.get()
            await bucket.acquire()
            self._pending.setdefault(command["id"], _Pending(command, ticker))
            await ws.send(m.encode_command(command))  # str: a TEXT frame

    # -- commands ------------------------------------------------------------------------------------

    def _queue(self, command: dict[str, Any], ticker: str = "") -> None:
        if self._outbox is not None:
            self._outbox.put_nowait((command, ticker))

    def _new_id(self) -> int:
        cmd_id = self._next_id
        self._next_id += 1
        return cmd_id

    def _subscribe_all(self) -> None:
        self._queue(m.subscribe_command(self._new_id(), (m.CH_LIFECYCLE,)))
        if self.index_ids:
            self._queue(m.subscribe_command(self._new_id(), (m.CH_INDEX,), index_ids=self.index_ids))
        if self.private:
            self._queue(m.subscribe_command(self._new_id(), m.PRIVATE_CHANNELS))
        for ticker in self._markets:
            self._subscribe_market(ticker)

    def _subscribe_market(self, ticker: str, channels: tuple[str, ...] = m.MARKET_CHANNELS) -> None:
        self._queue(m.subscribe_command(self._new_id(), channels, ticker=ticker), ticker)

    def _unsubscribe_market(self, ticker: str) -> None:
        sids = [sid for sid, sub in self._subs.items() if sub.ticker == ticker]
        for sid in sids:
            del self._subs[sid]
        if sids:
            self._queue(m.unsubscribe_command(self._new_id(), sids))
        self._snapshot_asked.pop(ticker, None)
        self.books.forget(ticker)
        self._recorded(ticker, self._clock())

    def _resubscribe(self, sub: _Sub) -> None:
        self.resubscribes += 1
        if sub.channel == m.CH_BOOK:
            self.books.invalidate(sub.ticker)
            self._recorded(sub.ticker, self._clock())
            self._snapshot_asked.pop(sub.ticker, None)
        if sub.ticker:
            if sub.ticker in self._markets:
                self._subscribe_market(sub.ticker, (sub.channel,))
        elif sub.channel == m.CH_INDEX:
            self._queue(m.subscribe_command(self._new_id(), (m.CH_INDEX,), index_ids=self.index_ids))
        else:
            self._queue(m.subscribe_command(self._new_id(), (sub.channel,)))

    def _ask_snapshot(self, ticker: str, sid: int, now: float) -> None:
        if ticker in self._snapshot_asked:
            return  # one request at a time; _check_snapshots escalates if it goes unanswered
        self._snapshot_asked[ticker] = now
        self._queue(m.get_snapshot_command(self._new_id(), sid, ticker), ticker)

    def _check_snapshots(self, now: float) -> None:
        for ticker, asked in list(self._snapshot_asked.items()):
            if now - asked < self.timing.snapshot_timeout_s:
                continue
            # get_snapshot went unanswered: a fresh subscription always starts with a snapshot.
            del self._snapshot_asked[ticker]
            for sid, sub in list(self._subs.items()):
                if sub.ticker == ticker and sub.channel == m.CH_BOOK:
                    del self._subs[sid]
                    self._queue(m.unsubscribe_command(self._new_id(), [sid]))
                    self._resubscribe(sub)

    # -- incoming ------------------------------------------------------------------------------------

    def _dispatch(self, message: m.WsMessage, now: float) -> None:
        if isinstance(message, m.BookDelta):
            if self._record is not None:
                self._record((next(self._record_seq), now, message))
            outcome = self.books.on_delta(message, now)
            if outcome is DeltaOutcome.APPLIED:
                self._notify(self._on_book, message.ticker)
            elif outcome is DeltaOutcome.GAP:
                log.info("Kalshi book %s: seq gap on sid %d; asking for a snapshot", message.ticker, message.sid)
                for ticker in self.books.tickers_of_sid(message.sid) or [message.ticker]:
                    self._ask_snapshot(ticker, message.sid, now)
                self._notify(self._on_book, message.ticker)
        elif isinstance(message, m.BookSnapshot):
            if message.ticker not in self._markets:
                return  # an answer for a market we stopped watching
            self._recorded(message, now)
            self.books.on_snapshot(message, now)
            self._snapshot_asked.pop(message.ticker, None)
            self._notify(self._on_book, message.ticker)
        elif isinstance(message, m.IndexValue):
            self._recorded(message, now)
            self.index[message.index_id] = message
            self.index_received_at[message.index_id] = now
            for listener in self._index_listeners:
                self._notify(listener, message)
        elif isinstance(message, m.PublicTrade):
            self._recorded(message, now)
            self.trades.append(message)
            self._notify(self._on_trade, message)
        elif isinstance(message, m.TickerUpdate):
            self.tickers[message.ticker] = message
        elif isinstance(message, m.LifecycleEvent):
            self._lifecycle(message, now)
        elif isinstance(message, m.FeeUpdate):
            if message.event_ticker.startswith(self.series + "-"):
                self.fee_updates.append(message)
                self._notify(self._on_fee_update, message)
                self._route_fee_update(message)
        elif isinstance(message, m.UserFill | m.UserOrderUpdate):
            self._user_event(message)
        elif isinstance(message, m.OrderGroupUpdate):
            self._route_order_group(message)
        elif isinstance(message, m.Subscribed):
            pending = self._pending.get(message.cmd_id)
            ticker = pending.ticker if pending else ""
            if ticker and ticker not in self._markets:
                # Unwatched while the subscribe was on its way: end it now.
                self._queue(m.unsubscribe_command(self._new_id(), [message.sid]))
                return
            self._subs[message.sid] = _Sub(message.channel, ticker)
        elif isinstance(message, m.CommandOk):
            self._pending.pop(message.cmd_id, None)
        elif isinstance(message, m.WsError):
            self._error(message, now)

    def _lifecycle(self, event: m.LifecycleEvent, now: float) -> None:
        if not event.ticker.startswith(self.series + "-"):
            return
        self._recorded(event, now)
        self.lifecycle[event.ticker] = event
        _trim(self.lifecycle)
        soon = event.open_ts is None or event.open_ts - self._clock() <= WINDOW_S
        if event.event_type == "created" and soon and event.ticker not in self._markets:
            # A new window: subscribe its book now, so it is whole before the window opens.
            self._markets[event.ticker] = None
            self._subscribe_market(event.ticker)
        self._notify(self._on_lifecycle, event)
        self._route_lifecycle(event)

    def _user_event(self, event: UserEvent) -> None:
        if isinstance(event, m.UserFill):
            if event.client_order_id:
                fills = self._fills.setdefault(event.client_order_id, [])
                if all(f.trade_id != event.trade_id for f in fills):
                    fills.append(event)
                _trim(self._fills)
        elif event.client_order_id:
            self._orders[event.client_order_id] = event
            _trim(self._orders)
        for queue in self._listeners:
            queue.put_nowait(event)

    def _route_order_group(self, update: m.OrderGroupUpdate) -> None:
        for callback in self._routes.order_group:
            self._notify(callback, update)

    def _route_lifecycle(self, event: m.LifecycleEvent) -> None:
        for callback in self._routes.lifecycle:
            self._notify(callback, event)

    def _route_fee_update(self, update: m.FeeUpdate) -> None:
        for callback in self._routes.fee_update:
            self._notify(callback, update)

    def _error(self, error: m.WsError, now: float) -> None:
        if error.code == m.ERR_TOO_MANY_REQUESTS and error.cmd_id is not None:
            self.rate_limited += 1
            pending = self._pending.pop(error.cmd_id, None)
            if pending is not None:
                pending.tries += 1
                delay = self._redial.policy.jittered_delay_s(pending.tries, self._rng)
                asyncio.get_running_loop().call_later(delay, self._requeue, pending)
            return
        sub = self._subs.pop(error.sid, None) if error.sid is not None else None
        if sub is not None and error.terminal:
            log.warning("Kalshi subscription %s %s ended (error %d: %s); subscribing again",
                        sub.channel, sub.ticker, error.code, error.message)
            self._resubscribe(sub)
            return
        if sub is not None:
            self._subs[error.sid] = sub  # type: ignore[index]  # not terminal: the subscription lives
        pending = self._pending.pop(error.cmd_id, None) if error.cmd_id is not None else None
        if pending is not None and pending.command.get("params", {}).get("action") == "get_snapshot":
            self._snapshot_asked[pending.ticker] = now - self.timing.snapshot_timeout_s  # escalate at once
        self._set_error(f"ws_error_{error.code}", f"Kalshi websocket error {error.code}: {error.message}")

    def _requeue(self, pending: _Pending) -> None:
        if self._outbox is None:
            return  # the connection is gone; the next one subscribes everything anew
        self._pending[pending.command["id"]] = pending
        self._queue(pending.command, pending.ticker)

    def _notify(self, callback: Callable[[Any], None] | None, arg: Any) -> None:
        if callback is None:
            return
        try:
            callback(arg)
        except Exception:
            # The connection must outlive a bug in its consumer; the traceback goes to the log.
            self.callback_errors += 1
            log.exception("Kalshi websocket: a consumer callback failed")

    def _set_error(self, code: str, message: str) -> None:
        self.error_code = code
        self.last_error = message


@dataclass(slots=True)
class _Routes:
    """Venue-event callbacks registered after construction (route_venue_events)."""

    order_group: list[Callable[[m.OrderGroupUpdate], None]] = field(default_factory=list)
    lifecycle: list[Callable[[m.LifecycleEvent], None]] = field(default_factory=list)
    fee_update: list[Callable[[m.FeeUpdate], None]] = field(default_factory=list)


KEEP = 2000  # markets or orders remembered: a run of months must not grow without bound


def _trim(entries: dict[str, Any]) -> None:
    """Drop the oldest entries (dicts keep insertion order) beyond KEEP."""
    while len(entries) > KEEP:
        del entries[next(iter(entries))]
