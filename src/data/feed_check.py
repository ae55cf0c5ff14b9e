"""`--verify` for the price feed: connect for a few seconds, report tick rate and freshness with a hint."""

from __future__ import annotations

import asyncio
import time

from src.config import FeedConfig
from src.data.feeds import make_feed
from src.data.ws_feed import (
    ERR_CLOSED,
    ERR_DNS,
    ERR_HANDSHAKE,
    ERR_NETWORK,
    ERR_SILENT,
    ERR_TIMEOUT,
    ERR_VENUE,
    ConnectFactory,
    FeedError,
)
from src.model.models import CheckResult, Clock
from src.net.allowlist import HostNotAllowedError

_OTHER_SOURCES = {
    "binance": "binance_us or coinbase",
    "binance_us": "coinbase or binance",
    "coinbase": "binance_us or binance",
}

_HINTS = {
    ERR_DNS: "the host name did not resolve: check the internet connection and DNS",
    ERR_TIMEOUT: "no answer in time: check the network, firewall or VPN",
    ERR_NETWORK: "the connection failed: check the network, firewall or VPN",
    ERR_HANDSHAKE: "the venue refused the websocket handshake",
    ERR_CLOSED: "the venue closed the connection",
    ERR_SILENT: "the connection went silent",
    ERR_VENUE: "the venue sent an error",
}


async def check_feed(
    feed_cfg: FeedConfig,
    clock: Clock = time.time,
    seconds: float = 5.0,
    connect: ConnectFactory | None = None,
) -> list[CheckResult]:
    """Stream for `seconds` (real time) and judge the feed: connected, ticking, and fresh."""
    feed = make_feed(feed_cfg, clock, connect=connect)
    other = _OTHER_SOURCES.get(feed.source, "another source")
    loop = asyncio.get_running_loop()
    started = loop.time()
    task = asyncio.ensure_future(feed.run())
    try:
        await asyncio.wait({task}, timeout=seconds)
    finally:
        elapsed = loop.time() - started
        feed.stop()
        await asyncio.wait({task}, timeout=3.0)
        if not task.done():
            task.cancel()
    fatal = task.exception() if task.done() and not task.cancelled() else None

    conn_name = f"BTC price feed ({feed.source}): connection"
    tick_name = f"BTC price feed ({feed.source}): trades"
    if isinstance(fatal, FeedError):
        return [CheckResult(conn_name, False, detail=str(fatal), hint=str(fatal))]
    if isinstance(fatal, HostNotAllowedError):
        return [CheckResult(conn_name, False, detail=str(fatal), hint="feed URLs must stay on the venue's host")]
    if fatal is not None:
        return [CheckResult(conn_name, False, detail=f"{type(fatal).__name__}: {fatal}"[:200])]

    stats = feed.stats()
    if stats.connects == 0:
        hint = _HINTS.get(stats.error_code, "nothing was received")
        return [
            CheckResult(
                conn_name,
                False,
                detail=stats.last_error or f"no connection within {seconds:g} s",
                hint=f"{hint}; or set feed.source: {other}",
            )
        ]
    results = [CheckResult(conn_name, True, detail=f"{feed.url} ({stats.reconnects} reconnects)")]
    snap = feed.snapshot()
    if stats.ticks == 0:
        results.append(
            CheckResult(
                tick_name,
                False,
                detail=f"connected but no trades in {elapsed:.1f} s ({stats.malformed} unreadable messages)",
                hint=f"the stream may be quiet or changed; try feed.source: {other}",
            )
        )
        return results
    rate = stats.ticks / elapsed if elapsed > 0 else 0.0
    detail = (
        f"{stats.ticks} trades in {elapsed:.1f} s ({rate:.1f}/s), last {snap.age_s:.1f} s ago, BTC {snap.price:,.2f}"
    )
    if snap.stale:
        hint = (
            f"no trade for more than {feed.window.stale_after_s:g} s (feed.stale_after_s): "
            f"the bot would refuse to trade; try feed.source: {other}"
        )
        results.append(CheckResult(tick_name, False, detail=detail, hint=hint))
    else:
        results.append(CheckResult(tick_name, True, detail=detail))
    return results
