"""Websocket sessions to allowlisted hosts: the gated dial, why a session ended, and when to dial again.

Every venue websocket (the BTC price feeds in src/data/ws_feed.py, Kalshi's in src/data/kalshi_ws.py)
dials through `open_ws` and classifies a lost session with `classify_end`; `Redial` keeps the one
reconnect policy they share:
- every dial passes the allowlist first (check_url on the real URL), and so does every redirect
  target websockets would follow on its own; no proxy (a proxy host is a host off the allowlist);
- capped exponential backoff with full jitter (src/net/backoff), reset by a connection that was
  useful; never sooner than a refused handshake's Retry-After (coming back sooner extends a ban);
- the wait between dials ends early on stop.
"""

from __future__ import annotations

import asyncio
import logging
import random
import socket
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from websockets.asyncio.client import connect as ws_connect
from websockets.exceptions import ConnectionClosed, InvalidStatus, InvalidURI, WebSocketException

from src.model.models import Sleep
from src.net.allowlist import HostNotAllowedError, check_url
from src.net.backoff import RetryPolicy, parse_retry_after

log = logging.getLogger(__name__)

WS_SCHEMES = frozenset({"wss"})
# Binance cuts every connection at 24 h (Kalshi's plan is the same); leave ten minutes of margin and
# reconnect on our own terms.
PROACTIVE_RECONNECT_S = 23 * 3600 + 50 * 60

# `websockets.asyncio.client.connect` or anything with its signature (tests dial a local fake).
ConnectFactory = Callable[..., Any]

# Why a session ended (stable codes: status lines, --verify and the dashboard show them).
ERR_HOST_REFUSED = "host_not_allowed"
ERR_DNS = "dns"
ERR_TIMEOUT = "timeout"
ERR_NETWORK = "network"
ERR_HANDSHAKE = "handshake"
ERR_CLOSED = "closed"
ERR_INVALID_URI = "invalid_uri"

# What a session can end with that `classify_end` names: everything websockets raises (a refused
# handshake, a close, a bad URI) and every socket error (DNS, timeouts, resets).
SESSION_ERRORS: tuple[type[BaseException], ...] = (OSError, WebSocketException)


@dataclass(frozen=True, slots=True)
class SessionEnd:
    """Why one websocket session ended, in venue-neutral terms; each venue words its own message."""

    code: str  # one of the ERR_* above
    status: int | None = None  # the refused handshake's HTTP status
    retry_after_s: float | None = None  # the refused handshake's Retry-After, seconds
    close_code: int | None = None  # the venue's close frame, if it sent one
    close_reason: str = ""
    detail: str = ""  # "Type: message" of a network or protocol error

    @property
    def close_text(self) -> str:
        if self.close_code is None:
            return "no close frame"
        return f"code {self.close_code}" + (f": {self.close_reason[:80]}" if self.close_reason else "")


def classify_end(exc: BaseException, now_epoch: float) -> SessionEnd:
    """Name what ended a session; `exc` is one of SESSION_ERRORS. `now_epoch` dates a Retry-After."""
    if isinstance(exc, InvalidStatus):
        response = exc.response
        return SessionEnd(ERR_HANDSHAKE, status=response.status_code,
                          retry_after_s=parse_retry_after(response.headers.get("Retry-After"), now_epoch))
    if isinstance(exc, ConnectionClosed):
        rcvd = exc.rcvd
        return SessionEnd(ERR_CLOSED, close_code=None if rcvd is None else rcvd.code,
                          close_reason="" if rcvd is None else rcvd.reason)
    if isinstance(exc, socket.gaierror):
        return SessionEnd(ERR_DNS)
    if isinstance(exc, TimeoutError):
        return SessionEnd(ERR_TIMEOUT)
    if isinstance(exc, InvalidURI):
        return SessionEnd(ERR_INVALID_URI, detail=str(exc))
    code = ERR_NETWORK if isinstance(exc, OSError) else ERR_HANDSHAKE
    return SessionEnd(code, detail=f"{type(exc).__name__}: {exc}")


def open_ws(connect: ConnectFactory | None, url: str, allowed_hosts: frozenset[str], *, who: str,
            **options: Any) -> Any:
    """The connector for one dial of `url` (use as `async with`): the URL passes the allowlist now,
    and any redirect target when websockets would follow it. Raises HostNotAllowedError."""
    check_url(url, allowed_hosts, WS_SCHEMES)
    connector = (connect or ws_connect)(url, proxy=None, **options)
    follow = getattr(connector, "process_redirect", None)
    if follow is not None:
        # websockets follows redirects on its own; each target must pass the same gate.
        connector.process_redirect = _checked_redirect(follow, allowed_hosts, who)
    return connector


def _checked_redirect(follow: Callable[[Exception], Exception | str], allowed_hosts: frozenset[str],
                      who: str) -> Callable[[Exception], Exception | str]:
    def process_redirect(exc: Exception) -> Exception | str:
        target = follow(exc)
        if isinstance(target, str):
            try:
                check_url(target, allowed_hosts, WS_SCHEMES)
            except HostNotAllowedError as refused:
                log.warning("%s: refused a redirect: %s", who, refused)
                return refused  # websockets raises it: the session ends, the URL is never dialled
        return target

    return process_redirect


class Redial:
    """When to dial again after a lost session, and the stop-aware wait until then."""

    def __init__(self, *, base_backoff_s: float, max_backoff_s: float, rng: Callable[[], float] = random.random,
                 sleep: Sleep = asyncio.sleep) -> None:
        cap = float(max_backoff_s)
        self.policy = RetryPolicy(base_delay_s=min(base_backoff_s, cap), max_delay_s=cap)
        self._rng = rng
        self._sleep = sleep
        self.retry = 0  # failed sessions in a row

    def planned(self) -> None:
        """A planned reconnect (age limit, venue shutdown notice): the next dial goes at once."""
        self.retry = 0

    def delay_s(self, *, useful: bool, retry_after_s: float | None = None) -> float:
        """Seconds to wait after an unplanned loss. Only a session that was `useful` (delivered data)
        resets the backoff: one accepted and then failing at once must not be retried in a tight loop."""
        self.retry = 1 if useful else self.retry + 1
        delay = self.policy.jittered_delay_s(self.retry, self._rng)
        if retry_after_s is not None:
            delay = max(delay, retry_after_s)
        return delay

    async def wait(self, delay_s: float, stop: asyncio.Event) -> None:
        """Sleep `delay_s`, or less if `stop` is set first."""
        sleeper = asyncio.ensure_future(self._sleep(delay_s))
        stopper = asyncio.ensure_future(stop.wait())
        try:
            await asyncio.wait({sleeper, stopper}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            sleeper.cancel()
            stopper.cancel()
