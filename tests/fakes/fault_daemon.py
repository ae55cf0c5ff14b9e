"""Run the real daemon (main.main -> build_and_run -> Engine) in-process against the local fake Kalshi and Binance.

Nothing in main.py or src/ is changed: `main.build_and_run` is wrapped so that, inside the
daemon's own event loop, the fakes are started and the real build_and_run is called with its
documented transport arguments (`kalshi_connector_factory`, `feed_connect`); `src.app.engine.Engine`
is subclassed only to hand the test the instance the daemon built (to watch it and to stop it
the way SIGINT does, with request_stop). A scenario coroutine drives the fakes while the daemon
runs and must end by calling `run.stop()`; a watchdog stops a daemon that overruns.

    def scenario_body(run: DaemonRun) -> Awaitable[None]: ...
    code, run = run_main(monkeypatch, ["--paper"], root, scenario_body, key=..., key_id=...)
"""

from __future__ import annotations

import asyncio
import gc
import logging
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.fakes.binance_server import FakeBinanceServer
from tests.fakes.kalshi_server import (
    KALSHI_HOSTS,
    FakeKalshi,
    FakeKalshiServer,
    HostMapResolver,
    local_tls,
    start_fake_kalshi,
)
from tests.fakes.kalshi_ws_server import FakeKalshiWs

SERIES = "KXBTC15M"
TEST_TICKER = "KXBTC15M-FAULTTEST-00"


class RecordingResolver(HostMapResolver):
    """The fake Kalshi's resolver, also recording every host name the client asked for."""

    def __init__(self, mapping: dict[str, tuple[str, int]], lookups: list[str]) -> None:
        super().__init__(mapping)
        self.lookups = lookups

    async def resolve(self, host: str, port: int = 0, family: Any = None) -> Any:  # type: ignore[override]
        self.lookups.append(host)
        return await super().resolve(host, port)


def recording_connector(server: FakeKalshiServer, lookups: list[str]) -> Callable[[], aiohttp.BaseConnector]:
    """A connector factory like server.connector, recording host lookups (the allowlist is untouched)."""

    def make() -> aiohttp.BaseConnector:
        resolver = RecordingResolver({h: ("127.0.0.1", server.port) for h in KALSHI_HOSTS}, lookups)
        return aiohttp.TCPConnector(resolver=resolver, ssl=server.tls.client_context(), use_dns_cache=False)

    return make


@asynccontextmanager
async def serve_kalshi(
    fake: FakeKalshi, private_key: rsa.RSAPrivateKey, key_id: str
) -> AsyncIterator[FakeKalshiServer]:
    """Serve an existing FakeKalshi (its orders, fills and positions carry over from an earlier run) the
    way start_fake_kalshi serves a fresh one: local TLS on 127.0.0.1, a random port."""
    tls = local_tls()
    runner = web.AppRunner(fake.app(), access_log=None, shutdown_timeout=1.0)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=tls.server_context())
    await site.start()
    try:
        yield FakeKalshiServer(fake=fake, port=runner.addresses[0][1], tls=tls, private_key=private_key, key_id=key_id)
    finally:
        await runner.cleanup()


@dataclass
class DaemonRun:
    """What a scenario sees while the daemon runs."""

    root: Path
    kalshi: FakeKalshiServer
    binance: FakeBinanceServer
    lookups: list[str] = field(default_factory=list)
    kalshi_ws: FakeKalshiWs | None = None  # the websocket fake the daemon's KalshiWs dials
    engine: Any = None
    engine_ready: asyncio.Event = field(default_factory=asyncio.Event)
    timed_out: bool = False
    notes: dict[str, Any] = field(default_factory=dict)

    async def wait_engine(self, timeout: float = 15.0) -> Any:
        await asyncio.wait_for(self.engine_ready.wait(), timeout)
        return self.engine

    def stop(self, code: int = 0) -> None:
        """What the SIGINT/SIGTERM handler does."""
        if self.engine is not None:
            self.engine.request_stop(code)

    async def until(self, predicate: Callable[[], bool], timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out after {timeout}s waiting for: {what}")
            await asyncio.sleep(0.02)


class Terminal:
    """stdin as a person's terminal (the third live guard) for in-process --live runs."""

    def isatty(self) -> bool:
        return True

    def readline(self) -> str:
        return ""


def satisfy_live_guards(monkeypatch: pytest.MonkeyPatch, typed: str = "LIVE") -> None:
    """A terminal on stdin and `typed` at the confirmation prompt; LIVE_TRADING=true goes in the .env."""
    monkeypatch.setattr(sys, "stdin", Terminal())
    monkeypatch.setattr("builtins.input", lambda prompt="": typed)


Scenario = Callable[[DaemonRun], Awaitable[None]]
Setup = Callable[[DaemonRun], None]


def add_test_market(
    target: DaemonRun | FakeKalshi,
    *,
    floor_strike: str = "65000",
    seconds_left: float = 600.0,
    yes_bid: str = "0.25",
    no_bid: str = "0.70",
    depth: str = "100",
    ticker: str = TEST_TICKER,
) -> str:
    """An open KXBTC15M-series market with `seconds_left` to go whatever the wall clock says
    (a real window may be minutes from closing), and a book whose YES ask is 1 - no_bid."""
    fake = target.kalshi.fake if isinstance(target, DaemonRun) else target
    now = time.time()
    fake.add_market(
        ticker, open_ts=now - 60, close_ts=now + seconds_left, floor_strike=Decimal(floor_strike),
        event=ticker.rsplit("-", 1)[0],
    )
    fake.set_book(ticker, yes=[(yes_bid, depth)], no=[(no_bid, depth)])
    return ticker


async def send_ramp(
    binance: FakeBinanceServer, start: float, end: float, *, n: int = 20, span_s: float = 9.5
) -> None:
    """`n` trades from `start` to `end`, time-stamped over the last `span_s` seconds (spacing under a
    second, so no silence gap), ending now: a fast, smooth BTC move the strategy can act on."""
    now_ms = int(time.time() * 1000)
    step_ms = int(span_s * 1000 / (n - 1))
    for i in range(n):
        price = start + (end - start) * i / (n - 1)
        ts_ms = now_ms - (n - 1 - i) * step_ms
        await binance.send_trade(round(price, 2), ts_ms=ts_ms)


async def send_flat(binance: FakeBinanceServer, price: float, seconds: float, every_s: float = 0.1) -> None:
    """Trades at one price, stamped now, every `every_s` for `seconds` (keeps the feed fresh)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        await binance.send_trade(price)
        await asyncio.sleep(every_s)


def run_main(
    monkeypatch: pytest.MonkeyPatch,
    argv: list[str],
    root: Path,
    scenario: Scenario,
    *,
    key: rsa.RSAPrivateKey,
    key_id: str,
    setup: Setup | None = None,
    timeout_s: float = 45.0,
    kalshi_max_skew_s: float = 5.0,
    kalshi_clock: Callable[[], float] = time.time,
    kalshi_fake: FakeKalshi | None = None,
    must_reach_daemon: bool = True,
) -> tuple[int, DaemonRun | None]:
    """main.main(argv, root) with the fakes injected; returns (exit code, the run).

    The run is None only with must_reach_daemon=False, when main.main returned before build_and_run
    (a refusal at steps 1-4): then no fake was started and nothing was contacted.

    `kalshi_fake` serves an existing fake exchange (state carried over, e.g. across a crash)
    instead of a fresh one; `kalshi_clock` is a fresh fake's clock (skew it to provoke 401s)."""
    import main as main_module
    import src.app.engine as engine_module

    holder: dict[str, DaemonRun] = {}
    failures: list[BaseException] = []
    base_engine = engine_module.Engine

    class CapturedEngine(base_engine):  # type: ignore[misc, valid-type]
        def __init__(self, **kwargs: Any) -> None:
            super().__init__(**kwargs)
            run = holder.get("run")
            if run is not None:
                run.engine = self
                run.engine_ready.set()

    original = main_module.build_and_run

    async def wrapped(settings: Any, mode: Any, project_root: Path, **kwargs: Any) -> int:
        if kalshi_fake is not None:
            server = serve_kalshi(kalshi_fake, key, key_id)
        else:
            server = start_fake_kalshi(key, key_id=key_id, max_skew_s=kalshi_max_skew_s, clock=kalshi_clock)
        async with server as kalshi:
            async with FakeBinanceServer() as binance, FakeKalshiWs({key_id: key.public_key()},
                                                                 books=kalshi.fake.books) as kalshi_ws:
                kalshi_ws.auto_sync()  # the websocket publishes what the REST fake's book does
                run = DaemonRun(root=project_root, kalshi=kalshi, binance=binance, kalshi_ws=kalshi_ws)
                holder["run"] = run
                if setup is not None:
                    setup(run)

                async def drive() -> None:
                    try:
                        await scenario(run)
                    except asyncio.CancelledError:
                        raise
                    except BaseException as exc:  # handed to the test after the daemon stops
                        failures.append(exc)
                        run.stop(1)
                        raise
                    run.stop(0)

                async def watchdog() -> None:
                    await asyncio.sleep(timeout_s)
                    run.timed_out = True
                    run.stop(1)

                driver = asyncio.create_task(drive())
                guard = asyncio.create_task(watchdog())
                try:
                    kwargs.setdefault("kalshi_connector_factory", recording_connector(kalshi, run.lookups))
                    kwargs.setdefault("feed_connect", binance.connect)
                    kwargs.setdefault("kalshi_ws_connect", kalshi_ws.connect)
                    return await original(settings, mode, project_root, **kwargs)
                finally:
                    guard.cancel()
                    if not driver.done():
                        driver.cancel()
                    await asyncio.gather(driver, guard, return_exceptions=True)

    monkeypatch.setattr(engine_module, "Engine", CapturedEngine)
    monkeypatch.setattr(main_module, "build_and_run", wrapped)
    code = main_module.main(argv, root=root)
    # Anything the daemon left open is reported by its finaliser: make that happen now, inside this
    # test's output, rather than at some later garbage collection inside pytest's own machinery.
    gc.collect()
    run = holder.get("run")
    if failures:
        raise failures[0]
    if run is None:
        if must_reach_daemon:
            raise AssertionError(f"the daemon never reached build_and_run (exit code {code})")
        return code, None
    if run.timed_out:
        raise AssertionError(f"the daemon overran {timeout_s}s and was stopped by the watchdog")
    return code, run


@contextmanager
def restored_logging() -> Iterator[None]:
    """main.main configures the root logger (handlers on this test's stderr and logs/errors/):
    put the root logger back as it was so later tests do not write to closed streams."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    try:
        yield
    finally:
        for handler in list(root.handlers):
            if handler not in handlers:
                root.removeHandler(handler)
                handler.close()
        for handler in handlers:
            if handler not in root.handlers:
                root.addHandler(handler)
        root.setLevel(level)


__all__ = [
    "DaemonRun",
    "RecordingResolver",
    "TEST_TICKER",
    "add_test_market",
    "recording_connector",
    "restored_logging",
    "satisfy_live_guards",
    "serve_kalshi",
    "run_main",
    "send_flat",
    "send_ramp",
]
