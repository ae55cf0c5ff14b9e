"""The reconnecting websocket loop every price-feed source shares (backoff, watchdog, stop, counters)."""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from src.data.window import RollingWindow
from src.model.models import Clock, FeedSnapshot, Sleep
from src.net.ws_session import (
    ERR_CLOSED,
    ERR_DNS,
    ERR_HANDSHAKE,
    ERR_INVALID_URI,
    ERR_NETWORK,  # noqa: F401 - re-exported: src/data/feed_check names every feed code from here
    ERR_TIMEOUT,
    PROACTIVE_RECONNECT_S,
    SESSION_ERRORS,
    ConnectFactory,
    Redial,
    SessionEnd,
    classify_end,
    open_ws,
)
from src.net.ws_supervisor import ReconnectingClient

log = logging.getLogger(__name__)

TickCallback = Callable[[], None]
TradeSink = Callable[[tuple[int, int, float, float, float]], None]  # a recorder's channel append

# Reason codes for last_error / reconnects (stable: the status line and dashboard show them); the
# connection's own (dns, timeout, network, handshake, closed, host_not_allowed) come from src/net/ws_session.
ERR_GEO_BLOCKED = "geo_blocked"
ERR_SILENT = "silent"
ERR_VENUE = "venue_error"
RECONNECT_SHUTDOWN = "server_shutdown"
RECONNECT_MAX_AGE = "max_age"
_PLANNED = frozenset({RECONNECT_SHUTDOWN, RECONNECT_MAX_AGE})
# What reading a bad frame can raise in a venue parser: a JSON decode error is a ValueError, a
# missing field a KeyError, a field of the wrong type (or a non-object payload) a TypeError.
BAD_FRAME = (ValueError, KeyError, TypeError)


class FeedError(Exception):
    """A price feed cannot work as configured; the message is one line naming the fix."""


class FeedBlockedError(FeedError):
    """The venue refused this network location (HTTP 451): retrying cannot help."""


@dataclass(frozen=True, slots=True)
class FeedStats:
    """Counters for the status line and dashboard."""

    source: str
    connected: bool
    ticks: int  # trades accepted into the window
    malformed: int  # frames that could not be parsed (skipped)
    ignored: int  # duplicate, out-of-order or invalid trades the window refused
    frames: int  # websocket messages received
    connects: int  # handshakes that succeeded
    reconnects: int
    last_error: str
    error_code: str


class WsFeed(ReconnectingClient):
    """Connects, subscribes, pumps frames into a RollingWindow, and reconnects until stop().

    Subclasses (one per venue) provide `handle_frame` (parse one message), `subscribe_frames`
    (messages to send after each connect) and `geo_block_hint`. Everything else lives here:
    - exponential backoff with full jitter (src/net/backoff) capped at `max_backoff_s`, reset after a
      connection that delivered trades; planned reconnects (serverShutdown, 23h50m age) go at once;
    - a watchdog that reconnects after `silence_timeout_s` without any frame (injected clock);
    - every (re)connect passes the module's allowlist first (check_url on the real URL);
    - the window survives reconnects; each disconnect marks a gap in it.
    """

    geo_block_hint = "the venue refused this network location (HTTP 451); choose another feed.source"

    def __init__(
        self,
        *,
        source: str,
        url: str,
        allowed_hosts: frozenset[str],
        clock: Clock,
        window_s: float = 60.0,
        stale_after_s: float = 10.0,
        max_backoff_s: float = 30.0,
        connect: ConnectFactory | None = None,
        on_tick: TickCallback | None = None,
        silence_timeout_s: float = 30.0,
        max_connection_age_s: float = PROACTIVE_RECONNECT_S,
        watch_interval_s: float = 1.0,
        base_backoff_s: float = 0.5,
        open_timeout_s: float = 10.0,
        rng: Callable[[], float] = random.random,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        for name, value in (
            ("silence_timeout_s", silence_timeout_s),
            ("max_connection_age_s", max_connection_age_s),
            ("watch_interval_s", watch_interval_s),
            ("max_backoff_s", max_backoff_s),
            ("open_timeout_s", open_timeout_s),
        ):
            if not float(value) > 0:
                raise ValueError(f"{name} must be positive, got {value}")
        self.source = source
        self.url = url
        self.allowed_hosts = allowed_hosts
        # A silence longer than the staleness limit is a gap too: the move across it was not seen.
        self.window = RollingWindow(source, window_s, stale_after_s, gap_after_s=stale_after_s)
        self._clock = clock
        self._connect = connect  # None: websockets' own connect (src/net/ws_session.open_ws)
        self._on_tick = on_tick
        # The recorder (src/recording/): per accepted trade, append((next(seq), id, trade time, price, receive
        # time)). Two C calls, no Python frame: this runs for every trade. None when not recording.
        self._record: TradeSink | None = None
        self._record_seq: Iterator[int] = iter(())
        self._silence_timeout_s = float(silence_timeout_s)
        self._max_age_s = float(max_connection_age_s)
        self._watch_interval_s = float(watch_interval_s)
        self._open_timeout_s = float(open_timeout_s)
        super().__init__(Redial(base_backoff_s=base_backoff_s, max_backoff_s=max_backoff_s, rng=rng, sleep=sleep))
        # Counters (plain ints: read by the status line, written on the hot path).
        self.ticks = 0
        self.malformed = 0
        self.frames = 0
        self.connects = 0
        self.callback_errors = 0
        self.last_error = ""
        self.error_code = ""
        self._reason = ""  # why the current connection is being ended
        self._last_frame_at = 0.0

    # -- venue hooks -------------------------------------------------------------------------------

    def record_trades(self, append: TradeSink, seq: Iterator[int]) -> None:
        """Hand every accepted trade to a recorder's channel (Recorder.btc_channel)."""
        self._record, self._record_seq = append, seq

    def handle_frame(self, raw: bytes | str, now: float) -> bool:
        """Parse one websocket message received at `now`; return True to reconnect at once."""
        raise NotImplementedError

    def subscribe_frames(self) -> list[str]:
        """JSON commands to send right after each connect (the URL itself subscribes on Binance).

        str, never bytes: websockets sends a str as a text frame and bytes as a binary one, and a
        venue reads its JSON commands only from text frames (Coinbase answers a binary subscribe
        with "Failed to subscribe").
        """
        return []

    # -- shared by the venue parsers ---------------------------------------------------------------

    def _accept(self, trade_id: int, ts: float, price: float, now: float) -> None:
        if self.window.push(trade_id, ts, price, now):
            self.ticks += 1
            if self._record is not None:
                self._record((next(self._record_seq), trade_id, ts, price, now))
            if self._on_tick is not None:
                self._notify()

    def _notify(self) -> None:
        on_tick = self._on_tick
        if on_tick is None:
            return
        try:
            on_tick()
        except Exception:
            # The feed must outlive a bug in its consumer; the traceback goes to the log.
            self.callback_errors += 1
            log.exception("%s feed: on_tick callback failed", self.source)

    def _request_reconnect(self, reason: str, detail: str = "") -> bool:
        self._reason = reason
        if reason not in _PLANNED:
            self._set_error(reason, detail or reason)
        return True

    def _set_error(self, code: str, message: str) -> None:
        self.error_code = code
        self.last_error = message

    # -- PriceFeed protocol ------------------------------------------------------------------------

    def snapshot(self) -> FeedSnapshot:
        return self.window.snapshot(self._clock())

    def screen_values(self) -> tuple[bool, float, bool, float, float]:
        """(stale, price, gap_in_window, move_pct, volatility) of snapshot(), without building it."""
        return self.window.screen_values(self._clock())

    def stats(self) -> FeedStats:
        return FeedStats(
            source=self.source,
            connected=self.connected,
            ticks=self.ticks,
            malformed=self.malformed,
            ignored=self.window.rejected,
            frames=self.frames,
            connects=self.connects,
            reconnects=self.reconnects,
            last_error=self.last_error,
            error_code=self.error_code,
        )

    # -- the supervision loop's hooks (src/net/ws_supervisor.py) --------------------------------------

    def _name(self) -> str:
        return f"{self.source} feed"

    def _progress(self) -> int:
        return self.ticks

    def _session_ended(self) -> None:
        self.window.mark_gap()

    def _reconnecting(self, planned: bool, delay_s: float) -> None:
        if planned:
            log.info("%s feed: reconnecting (%s)", self.source, self._reason)
        else:
            log.warning("%s feed: connection lost (%s); reconnecting in %.1f s", self.source, self.last_error, delay_s)

    # -- internals ---------------------------------------------------------------------------------

    async def _session(self) -> bool:
        """One connection's life; True if it ended for a planned reconnect (no backoff)."""
        self._reason = ""
        self._retry_after = None
        try:
            connector = open_ws(self._connect, self.url, self.allowed_hosts, who=f"{self.source} feed",
                                open_timeout=self._open_timeout_s, ping_interval=20, ping_timeout=20,
                                close_timeout=2, compression=None, max_size=2**20)
            async with connector as ws:
                now = self._clock()
                self._last_frame_at = now
                self.connected = True
                self.connects += 1
                for frame in self.subscribe_frames():
                    if not isinstance(frame, str):
                        raise TypeError("a subscribe command is JSON text (str), sent as a text frame, never bytes")
                    await ws.send(frame)
                watchdog = asyncio.ensure_future(self._watch(ws, now + self._max_age_s))
                try:
                    await self._pump(ws, now + self._max_age_s)
                finally:
                    watchdog.cancel()
        except SESSION_ERRORS as exc:
            self._ended(classify_end(exc, self._clock()))
        finally:
            self.connected = False
        return self._reason in _PLANNED

    def _ended(self, end: SessionEnd) -> None:
        """Word why the session ended; raise where retrying cannot help."""
        if end.code == ERR_HANDSHAKE and end.status is not None:
            if end.status == 451:
                self._set_error(ERR_GEO_BLOCKED, self.geo_block_hint)
                raise FeedBlockedError(self.geo_block_hint) from None
            self._retry_after = end.retry_after_s
            self._set_error(ERR_HANDSHAKE, f"{self.source} rejected the connection with HTTP {end.status}")
        elif end.code == ERR_CLOSED:
            if not self._reason:
                self._set_error(ERR_CLOSED, f"{self.source} closed the connection ({end.close_text})")
        elif end.code == ERR_DNS:
            self._set_error(ERR_DNS, f"cannot resolve {self.source} host (DNS failure: check the network)")
        elif end.code == ERR_TIMEOUT:
            self._set_error(ERR_TIMEOUT, f"{self.source} did not answer within {self._open_timeout_s:g} s")
        elif end.code == ERR_INVALID_URI:
            raise FeedError(f"{self.source} feed URL is invalid: {end.detail}") from None
        else:
            self._set_error(end.code, f"{self.source}: {end.detail}"[:200])

    async def _pump(self, ws: Any, deadline: float) -> None:
        # One await, one clock read, one parse per message. The watchdog enforces the age deadline too,
        # for a connection that goes quiet.
        recv = ws.recv
        handle = self.handle_frame
        clock = self._clock
        while True:
            raw = await recv(False)  # bytes even for text frames: orjson needs no str decode
            now = clock()
            self._last_frame_at = now
            self.frames += 1
            if handle(raw, now):
                return
            if now >= deadline:
                self._reason = RECONNECT_MAX_AGE
                return

    async def _watch(self, ws: Any, deadline: float) -> None:
        """Close a connection that has gone silent or grown too old, from outside the receive loop."""
        while True:
            await asyncio.sleep(self._watch_interval_s)
            now = self._clock()
            if now - self._last_frame_at >= self._silence_timeout_s:
                self._request_reconnect(ERR_SILENT, f"no data from {self.source} for {self._silence_timeout_s:g} s")
                break
            if now >= deadline:
                self._reason = RECONNECT_MAX_AGE
                break
        await ws.close()

