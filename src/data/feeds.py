"""Pick and build the configured BTC price feed (binance, binance_us or coinbase)."""

from __future__ import annotations

from typing import Any

from src.config import FeedConfig
from src.data.binance import BinanceFeed
from src.data.coinbase import CoinbaseFeed
from src.data.ws_feed import ConnectFactory, TickCallback, WsFeed
from src.model.models import Clock

SOURCES = ("binance", "binance_us", "coinbase")


def make_feed(
    feed_cfg: FeedConfig,
    clock: Clock,
    connect: ConnectFactory | None = None,
    on_tick: TickCallback | None = None,
    **kwargs: Any,
) -> WsFeed:
    """The feed `feed_cfg.source` names, wired with the config's window, staleness and backoff cap.

    `connect` replaces websockets' connect (tests dial a local fake; the allowlist still checks the
    real URL); other keyword arguments (silence_timeout_s, rng, sleep, ...) go to the feed.
    """
    common: dict[str, Any] = {
        "window_s": feed_cfg.window_s,
        "stale_after_s": float(feed_cfg.stale_after_s),
        "max_backoff_s": feed_cfg.max_backoff_s,
        "connect": connect,
        "on_tick": on_tick,
        **kwargs,
    }
    source = feed_cfg.source
    if source in ("binance", "binance_us"):
        return BinanceFeed(clock, source=source, **common)
    if source == "coinbase":
        return CoinbaseFeed(clock, **common)
    # FeedConfig validates the source; this guards callers that build one by hand.
    raise ValueError(f"unknown feed.source {source!r} (expected one of {', '.join(SOURCES)})")
