"""The bounded outbound queue: put() never blocks, a full queue drops its oldest (counted), sends retry with backoff."""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections import deque
from collections.abc import Awaitable, Callable

from src.journal.log_setup import redact
from src.net.backoff import RetryPolicy, RetrySchedule, Sleep
from src.notify.events import Notification

log = logging.getLogger("polybot.notify")

SendFn = Callable[[Notification], Awaitable[None]]
# (notification, status, attempts, error) -> None; status is sent | failed | dropped
RecordFn = Callable[[Notification, str, int, str], None]


class DeliveryError(Exception):
    """A notification service did not accept a message. The text never holds a URL or a token."""


class Outbox:
    """One sender task drains the queue in order; the trading loop only ever calls put().

    While a service is down, messages wait here; once `capacity` are waiting the oldest goes, so
    the newest (usually the most important: a HARD STOP comes last) is kept. Each message is
    tried until the retry policy gives up, then recorded as failed and the next one is sent.
    """

    def __init__(
        self,
        send: SendFn,
        *,
        capacity: int,
        policy: RetryPolicy,
        send_timeout_s: float,
        record: RecordFn | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Sleep = asyncio.sleep,
        rng: Callable[[], float] = random.random,
    ) -> None:
        if capacity < 1:
            raise ValueError(f"outbox capacity must be at least 1, got {capacity}")
        self._send = send
        self._queue: deque[Notification] = deque()
        self.capacity = capacity
        self._policy = policy
        self._timeout_s = send_timeout_s
        self._record = record
        self._clock = clock
        self._sleep = sleep
        self._rng = rng
        self._ready = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self.dropped = 0
        # Drops not yet written to the record (bounded: the record is for the dashboard only).
        self._unrecorded: deque[tuple[Notification, int]] = deque(maxlen=max(capacity, 100))
        self.sent = 0
        self.failed = 0

    def __len__(self) -> int:
        return len(self._queue)

    def put(self, note: Notification) -> None:
        """Queue a message; never waits, never raises for a full queue."""
        if len(self._queue) >= self.capacity:
            oldest = self._queue.popleft()
            self.dropped += 1
            if self.dropped == 1 or self.dropped % 100 == 0:  # a dead service must not flood the log
                log.warning("notification queue full: dropped %r (%d dropped so far)", oldest.title, self.dropped)
            # Recorded by the sender task, not here: put() is called from the trading path.
            self._unrecorded.append((oldest, self.dropped))
        self._queue.append(note)
        self._idle.clear()
        self._ready.set()

    async def run(self) -> None:
        """Send forever (until cancelled)."""
        while True:
            while self._unrecorded:
                dropped, count = self._unrecorded.popleft()
                self._write(dropped, "dropped", 0, f"queue full ({self.capacity}); {count} dropped so far")
            if not self._queue:
                self._idle.set()
                self._ready.clear()
                await self._ready.wait()
                continue
            note = self._queue.popleft()
            await self._deliver(note)

    async def drain(self, timeout_s: float) -> bool:
        """Wait (at most timeout_s) until everything queued has been sent or given up; True if it was."""
        try:
            await asyncio.wait_for(self._idle.wait(), timeout_s)
        except TimeoutError:
            return False
        return True

    async def _deliver(self, note: Notification) -> None:
        schedule = RetrySchedule(self._policy, clock=self._clock, rng=self._rng)
        while True:
            attempt = schedule.start_attempt()
            try:
                await asyncio.wait_for(self._send(note), self._timeout_s)
            except asyncio.CancelledError:
                self._queue.appendleft(note)  # not lost: a drain after cancel() can still see it
                raise
            except Exception as exc:  # noqa: BLE001 - any failure of a service is retried, then recorded
                error = _describe(exc, self._timeout_s)
                delay = schedule.next_delay()
                if delay is None:
                    self.failed += 1
                    log.warning("notification %r not delivered after %d tries: %s", note.title, attempt, error)
                    self._write(note, "failed", attempt, error)
                    return
                log.info("notification %r try %d failed (%s); retrying in %.1f s", note.title, attempt, error, delay)
                await self._sleep(delay)
                continue
            self.sent += 1
            self._write(note, "sent", attempt, "")
            return

    def _write(self, note: Notification, status: str, attempts: int, error: str) -> None:
        if self._record is None:
            return
        try:
            self._record(note, status, attempts, redact(error, uuids=False))  # the database never holds a secret
        except Exception as exc:  # noqa: BLE001 - the record is for the dashboard; never stop sending for it
            log.warning("could not record a notification outcome (%s)", type(exc).__name__)


def _describe(exc: BaseException, timeout_s: float) -> str:
    if isinstance(exc, TimeoutError):
        return f"no answer within {timeout_s:g} s"
    if isinstance(exc, DeliveryError):
        return str(exc)[:200]
    # Library exceptions may quote the URL they tried (with a token in it): name the type only.
    return type(exc).__name__
