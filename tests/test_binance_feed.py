"""BinanceFeed: real payload shapes, every fault of the fake server, reconnects, 24 h cut, allowlist."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator, Callable
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from src.data.binance import BINANCE_URL, BINANCE_US_URL, BinanceFeed
from src.data.ws_feed import PROACTIVE_RECONNECT_S, FeedBlockedError
from src.net.allowlist import HostNotAllowedError
from tests.fakes.binance_server import (
    GARBAGE,
    FakeBinanceServer,
    server_shutdown_payload,
    trade_payload,
)
from tests.fakes.fake_ws import wait_until, wire_frames

# The example event from Binance's spot "Trade Streams" documentation, with our symbol.
DOC_PAYLOAD = (
    b'{"e":"trade","E":1672515782136,"s":"BTCUSDT","t":12345,"p":"0.001","q":"100","T":1672515782136,"m":true,"M":true}'
)


class Recorder:
    """An injected backoff sleep: records each delay, returns at once, can stop the feed."""

    def __init__(self) -> None:
        self.delays: list[float] = []
        self.after: Callable[[], None] | None = None

    async def __call__(self, delay: float) -> None:
        self.delays.append(delay)
        if self.after is not None:
            self.after()
        await asyncio.sleep(0)


@pytest.fixture
async def server() -> AsyncIterator[FakeBinanceServer]:
    async with FakeBinanceServer() as srv:
        yield srv


def make(clock: Any, server: FakeBinanceServer | None = None, **kwargs: Any) -> BinanceFeed:
    options: dict[str, Any] = {"watch_interval_s": 0.005, "base_backoff_s": 0.01, "max_backoff_s": 0.05}
    options.update(kwargs)
    return BinanceFeed(clock, connect=server.connect if server else None, **options)


async def finish(feed: BinanceFeed, task: asyncio.Task[None]) -> None:
    feed.stop()
    await asyncio.wait_for(task, 5.0)


# -- parsing ----------------------------------------------------------------------------------------


def test_documented_payload_is_a_tick(clock) -> None:
    feed = BinanceFeed(clock)
    assert feed.handle_frame(DOC_PAYLOAD, clock()) is False
    snap = feed.snapshot()
    assert feed.ticks == 1 and feed.malformed == 0
    assert snap.price == 0.001
    assert snap.last_trade_ts == pytest.approx(1672515782.136)
    assert snap.source == "binance" and not snap.stale


def test_extra_fields_are_tolerated_and_only_e_s_t_p_T_are_required(clock) -> None:
    feed = BinanceFeed(clock)
    # Pre-2024 payloads carried b and a; new fields may appear any time.
    feed.handle_frame(trade_payload(65000.0, 1, 1_700_000_000_000, extra={"b": 88, "a": 50, "X": [1]}), clock())
    feed.handle_frame(trade_payload(65001.0, 2, 1_700_000_000_500, omit=("E", "q", "m", "M")), clock())
    assert feed.ticks == 2 and feed.malformed == 0
    assert feed.snapshot().price == 65001.0


def test_str_frames_parse_like_bytes(clock) -> None:
    feed = BinanceFeed(clock)
    feed.handle_frame(DOC_PAYLOAD.decode(), clock())
    assert feed.ticks == 1


@pytest.mark.parametrize("name", sorted(GARBAGE))
def test_garbage_is_counted_and_skipped(clock, name: str) -> None:
    feed = BinanceFeed(clock)
    feed.handle_frame(trade_payload(65000.0, 1, 1_700_000_000_000), clock())
    assert feed.handle_frame(GARBAGE[name], clock()) is False
    assert feed.malformed == 1 and feed.ticks == 1
    feed.handle_frame(trade_payload(65010.0, 2, 1_700_000_000_100), clock())
    assert feed.ticks == 2 and feed.snapshot().price == 65010.0


def test_nonsense_price_is_refused_by_the_window(clock) -> None:
    feed = BinanceFeed(clock)
    feed.handle_frame(trade_payload("NaN", 1, 1_700_000_000_000), clock())
    feed.handle_frame(trade_payload("0", 2, 1_700_000_000_000), clock())
    assert feed.ticks == 0 and feed.stats().ignored == 2


def test_duplicate_and_replayed_trades_are_ignored(clock) -> None:
    feed = BinanceFeed(clock)
    for tid in (5, 6, 6, 4, 7):
        feed.handle_frame(trade_payload(65000.0 + tid, tid, 1_700_000_000_000 + tid), clock())
    assert feed.ticks == 3 and feed.stats().ignored == 2
    assert feed.snapshot().price == 65007.0


@pytest.mark.parametrize("wrapped", [False, True])
def test_server_shutdown_asks_for_a_reconnect(clock, wrapped: bool) -> None:
    feed = BinanceFeed(clock)
    assert feed.handle_frame(server_shutdown_payload(1_700_000_000_000, wrapped), clock()) is True
    assert feed.malformed == 0 and feed.last_error == ""


def test_on_tick_runs_per_accepted_tick_and_its_errors_do_not_escape(clock) -> None:
    calls: list[float] = []
    feed = BinanceFeed(clock, on_tick=lambda: calls.append(feed.snapshot().price))
    feed.handle_frame(trade_payload(65000.0, 1, 1_700_000_000_000), clock())
    feed.handle_frame(trade_payload(65000.0, 1, 1_700_000_000_000), clock())  # duplicate: no call
    assert calls == [65000.0]

    def broken() -> None:
        raise RuntimeError("strategy bug")

    feed2 = BinanceFeed(clock, on_tick=broken)
    feed2.handle_frame(trade_payload(65000.0, 1, 1_700_000_000_000), clock())
    assert feed2.ticks == 1 and feed2.callback_errors == 1


def test_screen_values_are_the_snapshot_values(clock) -> None:
    feed = BinanceFeed(clock)
    for i in range(30):
        feed.handle_frame(trade_payload(50_000.0 + 7 * (i % 4), 100 + i, 1_700_000_000_000 + 250 * i), clock())
        snap = feed.snapshot()
        assert feed.screen_values() == (snap.stale, snap.price, snap.gap_in_window, snap.move_pct, snap.volatility)


# Values each field may take: the documented types plus the shapes a broken or changed venue could send.
_FIELD_VALUES = {
    "e": st.sampled_from(["trade", "serverShutdown", "aggTrade", "", 1]),
    "s": st.sampled_from(["BTCUSDT", "ETHUSDT", "btcusdt", None]),
    "t": st.one_of(st.integers(-5, 2**70), st.floats(allow_nan=True), st.just("12"), st.booleans()),
    "p": st.one_of(
        st.sampled_from(["65000.01000000", "0", "-1", "NaN", "inf", "1e400", "abc", " 65000 ", "6_5000"]),
        st.floats(allow_nan=True),
        st.integers(-10, 10**6),
    ),
    "T": st.one_of(st.integers(0, 2**63), st.floats(allow_nan=True), st.just("1700000000000")),
}


@st.composite
def _frames(draw: st.DrawFn) -> bytes:
    msg: dict[str, Any] = {}
    for key, values in _FIELD_VALUES.items():
        if draw(st.integers(0, 9)):  # usually present
            msg[key] = draw(values)
    if draw(st.booleans()):
        msg["q"] = "0.001"
    if draw(st.integers(0, 19)) == 0:
        msg = {"event": msg}  # the websocket API's wrapped form
    # The stdlib encoder: it writes integers past 64 bits and NaN tokens, as a broken server might.
    return json.dumps(msg).encode()


@settings(max_examples=400, deadline=None)
@given(st.lists(_frames(), min_size=1, max_size=12))
def test_fast_trade_path_decides_exactly_like_the_general_parser(frames: list[bytes]) -> None:
    """The struct decoder is only a shortcut: every frame must leave the feed as the general parser would."""
    fast, general = BinanceFeed(lambda: 1.0), BinanceFeed(lambda: 1.0)
    for i, raw in enumerate(frames):
        now = 1.0 + i
        assert fast.handle_frame(raw, now) == general._handle_other(raw, now)
        assert (fast.ticks, fast.malformed, fast.window.rejected) == (
            general.ticks, general.malformed, general.window.rejected
        )
        assert fast.snapshot() == general.snapshot()


def test_fast_trade_path_takes_a_documented_trade(clock, monkeypatch: pytest.MonkeyPatch) -> None:
    feed = BinanceFeed(clock)
    monkeypatch.setattr(feed, "_handle_other", lambda raw, now: pytest.fail(f"fell back on {raw!r}"))
    feed.handle_frame(DOC_PAYLOAD, clock())
    feed.handle_frame(trade_payload(65000.0, 12346, 1_672_515_782_200, extra={"X": [1, {"y": 2}]}), clock())
    assert feed.ticks == 2


def test_unknown_source_is_refused(clock) -> None:
    with pytest.raises(ValueError, match="binance_us"):
        BinanceFeed(clock, source="kraken")


# -- against the fake server ------------------------------------------------------------------------


async def test_streams_ticks_from_the_real_url(clock, server: FakeBinanceServer) -> None:
    feed = make(clock, server)
    task = asyncio.ensure_future(feed.run())
    await server.wait_for_clients()
    sent = [await server.send_trade() for _ in range(25)]
    await wait_until(lambda: feed.ticks == 25)
    snap = feed.snapshot()
    assert snap.price == float(orjson.loads(sent[-1])["p"])
    assert snap.window_start_price == float(orjson.loads(sent[0])["p"])
    assert snap.ticks_in_window == 25 and not snap.stale and not snap.gap_in_window
    assert server.dialed == [BINANCE_URL]  # the allowlist saw the real URL; only the transport is local
    assert feed.connected
    await finish(feed, task)
    assert not feed.connected and feed.reconnects == 0


async def test_dropped_connection_reconnects_and_keeps_the_window(clock, server: FakeBinanceServer) -> None:
    sleeps = Recorder()
    feed = make(clock, server, sleep=sleeps)
    task = asyncio.ensure_future(feed.run())
    await server.wait_for_clients()
    for _ in range(10):
        await server.send_trade()
    await wait_until(lambda: feed.ticks == 10)
    await server.drop()
    await server.wait_for_clients(2)
    await server.send_trade()
    await wait_until(lambda: feed.ticks == 11)
    snap = feed.snapshot()
    assert snap.ticks_in_window == 11  # trades from before the drop are still in the window
    assert snap.gap_in_window  # ...and the move across the reconnect is flagged
    assert feed.reconnects == 1 and feed.error_code == "closed"
    assert len(sleeps.delays) == 1
    assert server.dialed == [BINANCE_URL, BINANCE_URL]
    await finish(feed, task)


async def test_garbage_from_the_server_never_stops_the_feed(clock, server: FakeBinanceServer) -> None:
    feed = make(clock, server)
    task = asyncio.ensure_future(feed.run())
    await server.wait_for_clients()
    for frame in GARBAGE.values():
        await server.broadcast(frame)
    await server.send_trade()
    await wait_until(lambda: feed.ticks == 1)
    assert feed.malformed == len(GARBAGE)
    assert feed.reconnects == 0 and server.accepted == 1
    await finish(feed, task)


async def test_stall_goes_stale_then_reconnects_on_silence(clock, server: FakeBinanceServer) -> None:
    feed = make(clock, server, silence_timeout_s=30.0)
    task = asyncio.ensure_future(feed.run())
    await server.wait_for_clients()
    await server.send_trade()
    await wait_until(lambda: feed.ticks == 1)
    server.stall()
    clock.advance(10.5)  # past stale_after_s (10): no signal may come from this
    snap = feed.snapshot()
    assert snap.stale and snap.age_s == pytest.approx(10.5)
    assert server.accepted == 1  # stale is not yet silent enough to reconnect
    clock.advance(20.0)  # 30.5 s without a frame: the watchdog reconnects
    await server.wait_for_clients(2)
    assert feed.error_code == "silent"
    server.resume()
    await server.send_trade()
    await wait_until(lambda: feed.ticks == 2)
    assert not feed.snapshot().stale
    await finish(feed, task)


async def test_server_shutdown_reconnects_at_once_without_backoff(clock, server: FakeBinanceServer) -> None:
    sleeps = Recorder()
    feed = make(clock, server, sleep=sleeps)
    task = asyncio.ensure_future(feed.run())
    await server.wait_for_clients()
    await server.send_trade()
    await wait_until(lambda: feed.ticks == 1)
    await server.send_server_shutdown()
    await server.wait_for_clients(2)
    await server.send_trade()
    await wait_until(lambda: feed.ticks == 2)
    assert feed.reconnects == 1 and sleeps.delays == []
    assert feed.last_error == ""  # planned: not an error
    await finish(feed, task)


async def test_proactive_reconnect_before_the_24h_cut(clock, server: FakeBinanceServer) -> None:
    # The watchdog enforces the age limit as well as the receive loop does.
    # (Silence is not the point here: the clock jumps by hours between two trades.)
    sleeps = Recorder()
    feed = make(clock, server, sleep=sleeps, silence_timeout_s=10 * PROACTIVE_RECONNECT_S)
    task = asyncio.ensure_future(feed.run())
    await server.wait_for_clients()
    await wait_until(lambda: feed.connected)
    await server.send_trade()
    await wait_until(lambda: feed.ticks == 1)
    clock.advance(PROACTIVE_RECONNECT_S - 1)
    await server.send_trade()
    await wait_until(lambda: feed.ticks == 2)
    await asyncio.sleep(0.1)  # twenty watchdog rounds: one second short of the limit is not the limit
    assert server.accepted == 1
    clock.advance(1)  # 23h50m after connecting, by the injected clock
    await server.send_trade()
    await server.wait_for_clients(2)
    await server.send_trade()
    await wait_until(lambda: feed.ticks == 4)
    assert feed.reconnects == 1 and sleeps.delays == [] and feed.last_error == ""
    await finish(feed, task)


async def test_a_message_through_recv_also_checks_the_24h_cut(clock, server: FakeBinanceServer) -> None:
    sleeps = Recorder()
    feed = make(clock, server, sleep=sleeps, watch_interval_s=3600.0)  # only the receive path checks
    task = asyncio.ensure_future(feed.run())
    await server.wait_for_clients()
    await wait_until(lambda: feed.connected)
    clock.advance(PROACTIVE_RECONNECT_S)
    await server.broadcast(_declined_trade(1, 1_700_000_000_000))  # the lane declines it: recv() gets it
    await server.wait_for_clients(2)
    assert feed.ticks == 1 and feed.reconnects == 1 and sleeps.delays == [] and feed.last_error == ""
    await finish(feed, task)


async def test_proactive_reconnect_also_fires_on_a_quiet_connection(clock, server: FakeBinanceServer) -> None:
    feed = make(clock, server, silence_timeout_s=10 * PROACTIVE_RECONNECT_S)
    task = asyncio.ensure_future(feed.run())
    await server.wait_for_clients()
    # The server can see the client before the client has read the clock for its deadline: wait
    # until the feed itself says it is connected, or the advance below could land too early.
    for _ in range(500):
        if feed.connected:
            break
        await asyncio.sleep(0.01)
    assert feed.connected
    clock.advance(PROACTIVE_RECONNECT_S)
    await server.wait_for_clients(2)  # the watchdog closed the old connection by itself
    assert feed.last_error == ""
    await finish(feed, task)


async def test_http_451_names_the_fix_and_stops_retrying(clock, server: FakeBinanceServer) -> None:
    server.reject_status = 451
    feed = make(clock, server)
    with pytest.raises(FeedBlockedError) as err:
        await asyncio.wait_for(feed.run(), 5.0)
    message = str(err.value)
    assert message == "Binance refuses US addresses; set feed.source: coinbase or binance_us"
    assert "\n" not in message
    assert feed.error_code == "geo_blocked" and feed.last_error == message
    assert server.rejected == 1


async def test_binance_us_451_hint_points_elsewhere(clock, server: FakeBinanceServer) -> None:
    server.reject_status = 451
    feed = make(clock, server, source="binance_us")
    with pytest.raises(FeedBlockedError, match="set feed.source: coinbase or binance"):
        await asyncio.wait_for(feed.run(), 5.0)
    assert server.dialed == [BINANCE_US_URL]


async def test_other_handshake_errors_back_off_exponentially_with_full_jitter(clock, server: FakeBinanceServer) -> None:
    server.reject_status = 503
    sleeps = Recorder()
    feed = make(clock, server, sleep=sleeps, base_backoff_s=1.0, max_backoff_s=8.0, rng=lambda: 0.5)
    sleeps.after = lambda: feed.stop() if len(sleeps.delays) >= 6 else None
    await asyncio.wait_for(feed.run(), 5.0)
    # uniform(0, min(cap, base * 2**n)) with the random draw fixed at 0.5
    assert sleeps.delays == [0.5, 1.0, 2.0, 4.0, 4.0, 4.0]
    assert feed.error_code == "handshake" and "503" in feed.last_error
    assert server.rejected == 6


async def test_retry_after_on_a_refused_handshake_is_honoured(clock, server: FakeBinanceServer) -> None:
    server.reject_status = 429
    server.reject_headers = [("Retry-After", "120")]
    sleeps = Recorder()
    feed = make(clock, server, sleep=sleeps, rng=lambda: 1.0)
    sleeps.after = feed.stop
    await asyncio.wait_for(feed.run(), 5.0)
    assert sleeps.delays == [120.0]  # not the 0.01 s backoff: retrying early would extend an IP ban


async def test_backoff_resets_after_a_healthy_connection(clock, server: FakeBinanceServer) -> None:
    sleeps = Recorder()
    feed = make(clock, server, sleep=sleeps, base_backoff_s=1.0, max_backoff_s=8.0, rng=lambda: 1.0)
    server.reject_status = 503
    task = asyncio.ensure_future(feed.run())
    await wait_until(lambda: len(sleeps.delays) >= 3)
    server.reject_status = None
    await server.wait_for_clients(1)
    await server.send_trade()
    await wait_until(lambda: feed.ticks == 1)
    n = len(sleeps.delays)
    await server.drop()
    await wait_until(lambda: len(sleeps.delays) > n)
    assert sleeps.delays[:3] == [1.0, 2.0, 4.0]
    assert sleeps.delays[n] == 1.0  # back to the first step: the last connection delivered data
    await finish(feed, task)


async def test_stop_interrupts_a_long_backoff(clock, server: FakeBinanceServer) -> None:
    server.reject_status = 503
    feed = make(clock, server, base_backoff_s=100.0, max_backoff_s=100.0, rng=lambda: 1.0)
    task = asyncio.ensure_future(feed.run())
    await wait_until(lambda: server.rejected == 1)
    await asyncio.sleep(0.01)
    await finish(feed, task)  # would take 100 s if stop() did not cut the wait


async def test_stop_interrupts_a_hanging_connect(clock) -> None:
    started = asyncio.Event()

    class Hang:
        async def __aenter__(self) -> None:
            started.set()
            await asyncio.sleep(3600)

        async def __aexit__(self, *exc: object) -> None:
            return None

    feed = BinanceFeed(clock, connect=lambda uri, **kw: Hang())
    task = asyncio.ensure_future(feed.run())
    await asyncio.wait_for(started.wait(), 5.0)
    await finish(feed, task)


async def test_stop_before_run_returns_at_once(clock, server: FakeBinanceServer) -> None:
    feed = make(clock, server)
    feed.stop()
    await asyncio.wait_for(feed.run(), 1.0)
    assert server.accepted == 0


async def test_running_twice_is_refused(clock, server: FakeBinanceServer) -> None:
    feed = make(clock, server)
    task = asyncio.ensure_future(feed.run())
    await server.wait_for_clients()
    with pytest.raises(RuntimeError, match="already running"):
        await feed.run()
    await finish(feed, task)


async def test_dns_failure_is_reported_and_retried(clock) -> None:
    sleeps = Recorder()

    def no_dns(uri: str, **kwargs: Any) -> Any:
        raise socket.gaierror(-2, "Name or service not known")

    feed = BinanceFeed(clock, connect=no_dns, sleep=sleeps, rng=lambda: 0.0)
    sleeps.after = lambda: feed.stop() if len(sleeps.delays) >= 2 else None
    await asyncio.wait_for(feed.run(), 5.0)
    assert feed.error_code == "dns" and "DNS" in feed.last_error
    assert feed.reconnects == 2


async def test_connection_refused_is_a_network_error(clock) -> None:
    sleeps = Recorder()

    def refused(uri: str, **kwargs: Any) -> Any:
        raise ConnectionRefusedError(111, "Connection refused")

    feed = BinanceFeed(clock, connect=refused, sleep=sleeps, rng=lambda: 0.0)
    sleeps.after = feed.stop
    await asyncio.wait_for(feed.run(), 5.0)
    assert feed.error_code == "network"


# -- allowlist --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "url"),
    [
        ("binance", "wss://evil.example.com/ws/btcusdt@trade"),
        ("binance", "wss://stream.binance.com.evil.example/ws/btcusdt@trade"),
        ("binance", BINANCE_US_URL),  # each source reaches only its own host
        ("binance_us", BINANCE_URL),
        ("binance", "ws://stream.binance.com:9443/ws/btcusdt@trade"),  # no plain text
        ("binance", "wss://user:pw@stream.binance.com:9443/ws/btcusdt@trade"),
    ],
)
async def test_allowlist_refuses_before_connecting(clock, server: FakeBinanceServer, source: str, url: str) -> None:
    feed = make(clock, server, source=source, url=url)
    with pytest.raises(HostNotAllowedError):
        await asyncio.wait_for(feed.run(), 5.0)
    assert server.dialed == [] and server.accepted == 0
    assert feed.error_code == "host_not_allowed"


# -- the typed trade decoder and the general parser -------------------------------------------------


def _wire(payload: bytes, opcode: int = 0x1, fin: bool = True) -> bytes:
    """One unmasked server frame (payloads under 64 KiB) with any opcode and FIN bit, as on the wire."""
    n = len(payload)
    length = bytes((n,)) if n < 126 else bytes((126,)) + n.to_bytes(2, "big")
    return bytes(((0x80 if fin else 0) | opcode,)) + length + payload


def _declined_trade(trade_id: int, ts_ms: int) -> bytes:
    """A valid trade the strict typed decoder declines (T as 1.7e12, not an int): the general parser takes it."""
    return trade_payload(65000.0, trade_id, ts_ms).replace(b'"T":%d' % ts_ms, b'"T":%d.0' % ts_ms)


def test_the_declined_trade_shape_is_still_a_tick(clock) -> None:
    feed = BinanceFeed(clock)
    raw = _declined_trade(7, 1_700_000_000_000)
    assert feed._take_trade(raw, clock()) is False and feed.ticks == 0
    assert feed.handle_frame(raw, clock()) is False and feed.ticks == 1


async def test_declined_shapes_among_thousands_of_trades_keep_their_order(clock, server: FakeBinanceServer) -> None:
    frames = server.build_frames(3_000, 1_700_000_000_000)
    first_id = orjson.loads(frames[0])["t"]
    for i in range(50, 3_000, 100):
        frames[i] = _declined_trade(first_id + i, 1_700_000_000_000 + i)
    server.blast = wire_frames(frames)
    feed = make(clock, server)
    task = asyncio.ensure_future(feed.run())
    await wait_until(lambda: feed.ticks + feed.window.rejected == len(frames))
    assert feed.window.rejected == 0 and feed.ticks == len(frames) and feed.malformed == 0
    assert feed.window.last_trade_id == first_id + len(frames) - 1
    await finish(feed, task)


async def test_a_fragmented_message_keeps_its_place(clock, server: FakeBinanceServer) -> None:
    ts = 1_700_000_000_000
    whole = trade_payload(65002.0, 2, ts + 2)
    server.blast = b"".join(
        (
            _wire(trade_payload(65001.0, 1, ts + 1)),
            _wire(whole[:40], fin=False),  # text frame without FIN ...
            _wire(whole[40:], opcode=0x0),  # ... and its continuation
            _wire(trade_payload(65003.0, 3, ts + 3)),
            _wire(trade_payload(65004.0, 4, ts + 4)),
        )
    )
    feed = make(clock, server)
    task = asyncio.ensure_future(feed.run())
    await wait_until(lambda: feed.ticks + feed.window.rejected == 4)
    assert feed.ticks == 4 and feed.window.rejected == 0
    assert feed.snapshot().price == 65004.0
    await finish(feed, task)


async def test_server_shutdown_behind_many_trades_still_reconnects(clock, server: FakeBinanceServer) -> None:
    frames = server.build_frames(200, 1_700_000_000_000)
    server.blast = wire_frames([*frames, server_shutdown_payload(1_700_000_001_000)])
    sleeps = Recorder()
    feed = make(clock, server, sleep=sleeps)
    task = asyncio.ensure_future(feed.run())
    await server.wait_for_clients(2)
    assert feed.reconnects >= 1 and sleeps.delays == []  # planned: no backoff
    assert feed.ticks == 200 and feed.error_code == ""
    await finish(feed, task)
