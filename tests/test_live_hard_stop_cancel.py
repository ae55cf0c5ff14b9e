"""A HARD STOP's cancel-all gets its whole schedule before the client closes, else it says "not verified"."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from src.app.kalshi_daemon import _Resources
from src.execution.cancel_all import (
    CALL_TIMEOUT_S,
    MAX_ROUNDS,
    CancelAllRunner,
    backoff_delays,
    finish_cancel_alls,
)
from src.risk.lockfile import read_lock, write_lock

NOT_VERIFIED = "cancel-all not verified: cancel open orders by hand on Kalshi"


class HangingVenue:
    """A venue in a blip: the batch cancel fails, the verifying read never answers."""

    def __init__(self) -> None:
        self.cancels = 0
        self.never = asyncio.Event()

    async def cancel_all_orders(self) -> object:
        self.cancels += 1
        raise ConnectionError("connection reset")

    async def resting_order_ids(self) -> Sequence[str]:
        await self.never.wait()
        return []


class RecordingWait:
    """asyncio.wait's stand-in: notes the timeout it was given and returns at once, as if it ran out."""

    def __init__(self) -> None:
        self.timeouts: list[float] = []

    async def __call__(self, futures: Any, *, timeout: float) -> tuple[set[Any], set[Any]]:
        self.timeouts.append(timeout)
        await asyncio.sleep(0)
        return {f for f in futures if f.done()}, {f for f in futures if not f.done()}


async def no_sleep(_seconds: float) -> None:
    return None


def lock_detail(root: Path) -> str:
    info = read_lock(root)
    assert info is not None and info.data is not None
    return str(info.data["cancel_all"]["detail"])


def test_the_worst_case_is_derived_from_the_runner_s_own_schedule(tmp_path: Path, clock: Any) -> None:
    runner = CancelAllRunner(HangingVenue(), tmp_path, clock, no_sleep)
    assert backoff_delays(MAX_ROUNDS) == [1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 60.0]
    assert runner.worst_case_s() == MAX_ROUNDS * 2 * CALL_TIMEOUT_S + 123.0
    assert runner.worst_case_s() > 120  # the old 30 s cut-off was a quarter of the waits alone
    short = CancelAllRunner(HangingVenue(), tmp_path, clock, no_sleep, max_rounds=3, call_timeout_s=2.0)
    assert short.worst_case_s() == 3 * 2 * 2.0 + 1.0 + 2.0
    with pytest.raises(ValueError, match="call_timeout_s"):
        CancelAllRunner(HangingVenue(), tmp_path, clock, no_sleep, call_timeout_s=0)


async def test_close_waits_the_whole_schedule_then_says_not_verified_before_the_client_closes(
    tmp_path: Path, clock: Any
) -> None:
    """Before: close waited 30 s, then closed the client under a runner built for minutes; the task was
    cancelled and nothing told the owner. Now the wait is the runner's worst case, and what is still
    unfinished after it is written up (console, lock, BLOCKERS.md) before any cleanup runs."""
    write_lock(tmp_path, {"version": 1, "reason": "remote_halt", "figures": {"mode": "live"}})
    wait = RecordingWait()
    res = _Resources(wait=wait)
    said: list[str] = []
    seen_at_close: list[str] = []
    runner = CancelAllRunner(HangingVenue(), tmp_path, clock, no_sleep, out=said.append)
    res.background.append(runner.start())
    res.cleanups.append(lambda: seen_at_close.extend([lock_detail(tmp_path), (tmp_path / "BLOCKERS.md").read_text()]))
    await asyncio.sleep(0)  # the runner starts and hangs on the read
    await res.close()
    assert wait.timeouts == [runner.worst_case_s() + runner.grace_s] and wait.timeouts[0] > 600
    assert len(said) == 1 and said[0].startswith(NOT_VERIFIED) and "had not finished" in said[0]
    assert len(seen_at_close) == 2 and NOT_VERIFIED in seen_at_close[0] and NOT_VERIFIED in seen_at_close[1]
    assert res.background[0].future.cancelled()
    info = read_lock(tmp_path)
    assert info is not None and info.data is not None and info.data["reason"] == "remote_halt"  # kept


async def test_every_call_is_bounded_so_the_run_really_ends_within_its_worst_case(tmp_path: Path, clock: Any) -> None:
    """With the real wait: each hanging call times out, every round is said, the last says CANCEL BY HAND."""
    venue = HangingVenue()
    said: list[str] = []
    res = _Resources()
    runner = CancelAllRunner(venue, tmp_path, clock, no_sleep, out=said.append, max_rounds=2, call_timeout_s=0.05,
                             grace_s=0.5)
    res.background.append(runner.start())
    started = time.monotonic()
    await res.close()
    assert time.monotonic() - started < runner.worst_case_s() + runner.grace_s
    assert venue.cancels == 2 and len(said) == 2
    assert "NOT KNOWN" in said[0] and "retrying in 1s" in said[0]
    assert "CANCEL THEM BY HAND on https://kalshi.com" in said[1]
    assert "CANCEL THEM BY HAND" in (tmp_path / "BLOCKERS.md").read_text()
    assert not any(NOT_VERIFIED in line for line in said)  # it finished: its own last word stands


async def test_a_cancelled_or_failed_run_is_not_verified(tmp_path: Path, clock: Any) -> None:
    said: list[str] = []
    runner = CancelAllRunner(HangingVenue(), tmp_path, clock, no_sleep, out=said.append)
    task = runner.start()
    await asyncio.sleep(0)
    task.future.cancel()
    await finish_cancel_alls([task])
    assert said == [f"{NOT_VERIFIED} (it was cancelled)"]
    assert NOT_VERIFIED in lock_detail(tmp_path) and NOT_VERIFIED in (tmp_path / "BLOCKERS.md").read_text()

    # A run that raises (here: its first console line fails, e.g. a closed terminal) is not verified either.
    lines: list[str] = []

    def out_once_broken(line: str) -> None:
        if not lines:
            lines.append("")
            raise OSError("terminal gone")
        said.append(line)

    failing = CancelAllRunner(HangingVenue(), tmp_path, clock, no_sleep, out=out_once_broken, call_timeout_s=0.01)
    await finish_cancel_alls([failing.start()])
    assert said[-1] == f"{NOT_VERIFIED} (it failed: OSError: terminal gone)"


async def test_an_interrupted_shutdown_still_says_not_verified(tmp_path: Path, clock: Any) -> None:
    said: list[str] = []
    runner = CancelAllRunner(HangingVenue(), tmp_path, clock, no_sleep, out=said.append)
    closing = asyncio.ensure_future(finish_cancel_alls([runner.start()]))
    await asyncio.sleep(0.01)
    closing.cancel()
    with pytest.raises(asyncio.CancelledError):
        await closing
    assert said == [f"{NOT_VERIFIED} (the shutdown was interrupted before it finished)"]
    assert NOT_VERIFIED in (tmp_path / "BLOCKERS.md").read_text()
