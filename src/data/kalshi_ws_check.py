"""`--verify` for the Kalshi websocket: handshake, a book snapshot, the delta rate and BRTI's age, with a hint."""

from __future__ import annotations

import asyncio
import time
from urllib.parse import urlsplit

from src.config import KalshiConfig
from src.data.kalshi_ws import ERR_AUTH, ConnectFactory, KalshiWs, Signer, ws_settings
from src.model.kxbtc15m import market_ticker, window_close
from src.model.models import CheckResult, Clock

NAME = "Kalshi websocket"
MAX_BRTI_AGE_S = 5.0  # BRTI prints about once a second


async def check_kalshi_ws(
    cfg: KalshiConfig,
    signer: Signer | None,
    *,
    live: bool = False,
    clock: Clock = time.time,
    seconds: float = 5.0,
    connect: ConnectFactory | None = None,
) -> list[CheckResult]:
    """Connect for `seconds` (real time), watch the current KXBTC15M market, and judge what arrived."""
    if not cfg.ws.enabled:
        return [CheckResult(NAME, True, "disabled (kalshi.ws.enabled: false): decisions use the REST poll")]
    url, timing = ws_settings(cfg, live=live)
    host = urlsplit(url).hostname or url
    env = cfg.ws.env or (cfg.env if live else cfg.market_data_env)
    if signer is None:
        return [CheckResult(NAME, False, "skipped: no credentials",
                            "the websocket is signed even for market data: set the Kalshi keys in .env")]
    ws = KalshiWs(url=url, signer=signer, clock=clock, series=cfg.series_ticker, connect=connect, timing=timing)
    ticker = market_ticker(window_close(clock()), cfg.series_ticker)
    ws.watch([ticker])
    loop = asyncio.get_running_loop()
    started = loop.time()
    task = asyncio.ensure_future(ws.run())
    try:
        await asyncio.wait({task}, timeout=seconds)
    finally:
        elapsed = max(loop.time() - started, 1e-9)
        ws.stop()
        await asyncio.wait({task}, timeout=3.0)
        if not task.done():
            task.cancel()
    if task.done() and not task.cancelled() and task.exception() is not None:
        exc = task.exception()
        return [CheckResult(NAME, False, f"{host}: {exc}", "the websocket URL is off the allowlist")]
    stats = ws.stats()
    if stats.connects == 0:
        hint = "check the network, firewall or VPN"
        if stats.error_code == ERR_AUTH:
            hint = (f"the websocket needs keys of the {env} environment: use keys for {env}, set kalshi.ws.env "
                    "(or kalshi.market_data_env) to your keys' environment, or kalshi.ws.enabled: false")
        return [CheckResult(NAME, False, f"{host}: no handshake ({stats.last_error or 'no answer'})", hint)]
    parts = [f"{host}: handshake ok"]
    ok = True
    hint = ""
    if stats.snapshots:
        parts.append(f"snapshot {ticker} received, {stats.deltas} deltas in {elapsed:.0f}s "
                     f"({stats.deltas / elapsed:.1f}/s)")
    else:
        ok = False
        parts.append(f"no book snapshot for {ticker}")
        hint = "the current market may not be listed yet (new windows can lag): run --verify again in a minute"
    brti = ws.index_value()
    age = ws.index_age(clock())
    if brti is None or age is None:
        ok = False
        parts.append("no BRTI print")
        hint = hint or "cfbenchmarks_value sent no BRTI: the fair value falls back to the trade feed's level"
    else:
        parts.append(f"BRTI {brti.value} ({age:.1f}s old)")
        if age > MAX_BRTI_AGE_S:
            ok = False
            hint = hint or f"BRTI is older than {MAX_BRTI_AGE_S:g} s: the index feed is lagging"
    return [CheckResult(NAME, ok, ", ".join(parts), hint)]
