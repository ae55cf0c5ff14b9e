"""Tests for the shared network helpers: token bucket, retry/backoff policy and the URL allowlist."""

from __future__ import annotations

import asyncio
import math
from email.utils import format_datetime

import aiohttp
import pytest
from aiohttp import web

from src.model.models import utc_from_ts
from src.net.allowlist import HostNotAllowedError, check_url
from src.net.backoff import (
    RetryAdvice,
    RetryPolicy,
    RetrySchedule,
    parse_retry_after,
    retry_async,
)
from src.net.http_session import new_session
from src.net.rate_limit import TokenBucket


class FakeTime:
    """A monotonic clock whose sleep advances it instead of waiting."""

    def __init__(self) -> None:
        self.now = 100.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds
        await asyncio.sleep(0)


# ---------------------------------------------------------------- token bucket


async def test_bucket_grants_capacity_at_once_then_waits_one_period() -> None:
    t = FakeTime()
    bucket = TokenBucket(3, 1.0, clock=t, sleep=t.sleep)
    for _ in range(3):
        await bucket.acquire()
    assert t.now == 100.0
    await bucket.acquire()
    assert t.now == pytest.approx(101.0)


async def test_bucket_never_exceeds_capacity_in_any_window_with_many_callers() -> None:
    t = FakeTime()
    bucket = TokenBucket(5, 1.0, clock=t, sleep=t.sleep)
    stamps: list[float] = []

    async def caller() -> None:
        for _ in range(4):
            await bucket.acquire()
            stamps.append(t.now)

    await asyncio.gather(*(caller() for _ in range(10)))
    assert len(stamps) == 40
    stamps.sort()
    # Any 1-second half-open window holds at most 5 acquisitions.
    for i, start in enumerate(stamps):
        in_window = [s for s in stamps[i:] if s < start + 1.0 - 1e-9]
        assert len(in_window) <= 5
    # And the bucket is not needlessly slow: 40 tokens at 5 per second take about 7 seconds.
    assert stamps[-1] - stamps[0] == pytest.approx(7.0)


async def test_hold_returns_token_one_period_after_the_block_ends() -> None:
    t = FakeTime()
    bucket = TokenBucket(1, 1.0, clock=t, sleep=t.sleep)
    async with bucket.hold():
        t.now += 0.7  # a slow request
    assert bucket.time_until_available() == pytest.approx(1.0)
    await bucket.acquire()
    assert t.now == pytest.approx(101.7)


async def test_waiter_blocks_while_every_token_is_held_then_proceeds_on_release() -> None:
    t = FakeTime()
    bucket = TokenBucket(1, 1.0, clock=t, sleep=t.sleep)
    release = asyncio.Event()
    order: list[str] = []

    async def holder() -> None:
        async with bucket.hold():
            order.append("held")
            await release.wait()
        order.append("released")

    async def waiter() -> None:
        await bucket.acquire()
        order.append("waiter")

    h = asyncio.create_task(holder())
    await asyncio.sleep(0)
    w = asyncio.create_task(waiter())
    for _ in range(5):
        await asyncio.sleep(0)
    assert order == ["held"]
    assert math.isinf(bucket.time_until_available())
    release.set()
    await asyncio.gather(h, w)
    assert order == ["held", "released", "waiter"]
    assert t.now == pytest.approx(101.0)


async def test_hold_gives_token_back_when_the_block_raises() -> None:
    t = FakeTime()
    bucket = TokenBucket(1, 1.0, clock=t, sleep=t.sleep)
    with pytest.raises(RuntimeError):
        async with bucket.hold():
            raise RuntimeError("boom")
    assert bucket.time_until_available() == pytest.approx(1.0)


async def test_cancelled_waiter_does_not_leak_a_token() -> None:
    t = FakeTime()
    bucket = TokenBucket(1, 1.0, clock=t, sleep=t.sleep)
    started = asyncio.Event()
    gate = asyncio.Event()

    async def holder() -> None:
        async with bucket.hold():
            started.set()
            await gate.wait()

    h = asyncio.create_task(holder())
    await started.wait()
    w = asyncio.create_task(bucket.acquire())
    await asyncio.sleep(0)
    w.cancel()
    with pytest.raises(asyncio.CancelledError):
        await w
    gate.set()
    await h
    await bucket.acquire()  # the bucket still works
    assert t.now == pytest.approx(101.0)


def test_per_second_rounds_fractional_rates_down() -> None:
    assert (TokenBucket.per_second(10).capacity, TokenBucket.per_second(10).period_s) == (10, 1.0)
    b = TokenBucket.per_second(2.5)
    assert (b.capacity, b.period_s) == (2, 1.0)
    b = TokenBucket.per_second(0.5)
    assert (b.capacity, b.period_s) == (1, 2.0)
    assert TokenBucket.per_second(0.5).rate_per_s == pytest.approx(0.5)


@pytest.mark.parametrize("capacity", [0, -1, 1.5, True])
def test_bucket_rejects_bad_capacity(capacity: object) -> None:
    with pytest.raises(ValueError, match="capacity"):
        TokenBucket(capacity)  # type: ignore[arg-type]


@pytest.mark.parametrize("rate", [0, -2, float("inf"), float("nan")])
def test_per_second_rejects_bad_rates(rate: float) -> None:
    with pytest.raises(ValueError, match="rate"):
        TokenBucket.per_second(rate)


# ---------------------------------------------------------------- backoff


def test_policy_ceiling_doubles_and_caps() -> None:
    p = RetryPolicy(max_attempts=10, base_delay_s=0.5, max_delay_s=3.0, budget_s=60)
    assert [p.ceiling_s(n) for n in range(1, 6)] == [0.5, 1.0, 2.0, 3.0, 3.0]
    assert p.ceiling_s(10_000) == 3.0


def test_full_jitter_spans_zero_to_ceiling() -> None:
    p = RetryPolicy(base_delay_s=1.0, max_delay_s=8.0)
    assert p.jittered_delay_s(3, rng=lambda: 0.0) == 0.0
    assert p.jittered_delay_s(3, rng=lambda: 0.5) == pytest.approx(2.0)
    assert p.jittered_delay_s(3, rng=lambda: 0.999) == pytest.approx(3.996)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"max_attempts": 0},
        {"max_attempts": 2.5},
        {"base_delay_s": 0},
        {"budget_s": -1},
        {"max_delay_s": float("inf")},
        {"base_delay_s": 2.0, "max_delay_s": 1.0},
    ],
)
def test_policy_rejects_nonsense(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        RetryPolicy(**kwargs)  # type: ignore[arg-type]


def test_schedule_stops_after_max_attempts() -> None:
    t = FakeTime()
    s = RetrySchedule(RetryPolicy(max_attempts=3, budget_s=100), clock=t, rng=lambda: 0.5)
    delays = []
    while True:
        s.start_attempt()
        d = s.next_delay()
        if d is None:
            break
        delays.append(d)
    assert s.attempts == 3
    assert delays == [0.125, 0.25]


def test_schedule_refuses_a_wait_past_the_time_budget() -> None:
    t = FakeTime()
    s = RetrySchedule(RetryPolicy(max_attempts=10, budget_s=2.0), clock=t, rng=lambda: 0.5)
    s.start_attempt()
    t.now += 1.9
    assert s.next_delay() is None  # 0.125 s would end past the 2 s budget
    s2 = RetrySchedule(RetryPolicy(max_attempts=10, budget_s=2.0), clock=t, rng=lambda: 0.5)
    s2.start_attempt()
    assert s2.next_delay(retry_after_s=5.0) is None  # server asks for longer than we have
    assert s2.next_delay(retry_after_s=1.5) == 1.5  # honoured exactly, no jitter


def test_parse_retry_after_forms() -> None:
    assert parse_retry_after(None) is None
    assert parse_retry_after("") is None
    assert parse_retry_after("3") == 3.0
    assert parse_retry_after(" 1.5 ") == 1.5
    assert parse_retry_after("-4") == 0.0
    assert parse_retry_after("soon") is None
    assert parse_retry_after("inf") is None
    when = format_datetime(utc_from_ts(1_000_010.0), usegmt=True)
    assert parse_retry_after(when, now_epoch=1_000_000.0) == pytest.approx(10.0)


async def test_retry_async_retries_retryable_then_succeeds() -> None:
    t = FakeTime()
    calls = 0

    async def op() -> str:
        nonlocal calls
        calls += 1
        if calls < 3:
            raise ConnectionError("flaky")
        return "ok"

    result = await retry_async(
        op,
        policy=RetryPolicy(max_attempts=4, base_delay_s=1.0, max_delay_s=8.0, budget_s=60),
        classify=lambda e: RetryAdvice() if isinstance(e, ConnectionError) else None,
        clock=t,
        sleep=t.sleep,
        rng=lambda: 1.0,
    )
    assert result == "ok"
    assert calls == 3
    assert t.sleeps == [1.0, 2.0]


async def test_retry_async_does_not_retry_final_errors_and_reraises_last() -> None:
    t = FakeTime()
    calls = 0

    async def bad() -> None:
        nonlocal calls
        calls += 1
        raise ValueError("final")

    with pytest.raises(ValueError, match="final"):
        await retry_async(bad, policy=RetryPolicy(), classify=lambda e: None, clock=t, sleep=t.sleep)
    assert calls == 1

    calls = 0

    async def always_flaky() -> None:
        nonlocal calls
        calls += 1
        raise ConnectionError(f"try {calls}")

    with pytest.raises(ConnectionError, match="try 3"):
        await retry_async(
            always_flaky,
            policy=RetryPolicy(max_attempts=3),
            classify=lambda e: RetryAdvice(retry_after_s=0.5),
            clock=t,
            sleep=t.sleep,
        )
    assert t.sleeps == [0.5, 0.5]


# ---------------------------------------------------------------- allowlist

KALSHI = frozenset({"demo-api.kalshi.co", "external-api.kalshi.com"})


def test_allowlist_accepts_listed_host() -> None:
    assert check_url("https://demo-api.kalshi.co/trade-api/v2/markets?x=1", KALSHI, frozenset({"https"})) == (
        "demo-api.kalshi.co"
    )


@pytest.mark.parametrize(
    "url",
    [
        "http://demo-api.kalshi.co/trade-api/v2",  # wrong scheme
        "https://trading-api.kalshi.com/trade-api/v2",  # retired host
        "https://demo-api.kalshi.co.evil.example/x",  # suffix trick
        "https://user:pw@demo-api.kalshi.co/x",  # credentials in URL
        "https://127.0.0.1/trade-api/v2",
        "https://[::1",  # malformed
    ],
)
def test_allowlist_refuses(url: str) -> None:
    with pytest.raises(HostNotAllowedError):
        check_url(url, KALSHI, frozenset({"https"}))


# -- one HTTP try per request (src/net/http_session.py) --------------------------------------------


async def _dropping_server() -> tuple[web.AppRunner, str, list[str]]:
    """HTTP on 127.0.0.1 that aborts the connection of the first request, unanswered, and answers the rest."""
    seen: list[str] = []

    async def handle(request: web.Request) -> web.StreamResponse:
        seen.append(request.method)
        if len(seen) == 1 and request.transport is not None:
            request.transport.abort()
        return web.json_response({})

    app = web.Application()
    app.router.add_route("*", "/x", handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    return runner, f"http://127.0.0.1:{port}/x", seen


@pytest.mark.parametrize("method", ["GET", "DELETE"])
async def test_a_dropped_request_is_not_sent_again_behind_the_clients_back(method: str) -> None:
    runner, url, seen = await _dropping_server()
    try:
        async with new_session() as session:
            with pytest.raises(aiohttp.ClientError):
                async with session.request(method, url) as resp:
                    await resp.read()
        assert seen == [method]
    finally:
        await runner.cleanup()


async def test_a_plain_aiohttp_session_would_send_it_twice() -> None:
    # Why new_session exists: if aiohttp ever stops re-sending on its own, this fails and the
    # private switch in http_session.py can go.
    runner, url, seen = await _dropping_server()
    try:
        async with aiohttp.ClientSession() as session, session.delete(url) as resp:
            assert resp.status == 200
        assert seen == ["DELETE", "DELETE"]
    finally:
        await runner.cleanup()
