"""Keeps a venue websocket connected: one session after another until stop(), under the shared redial policy."""

from __future__ import annotations

import asyncio
from abc import ABC, abstractmethod

from src.net.allowlist import HostNotAllowedError
from src.net.ws_session import ERR_HOST_REFUSED, Redial


class ReconnectingClient(ABC):
    """The supervision loop the BTC feeds and the Kalshi websocket share; each says what a session is.

    A subclass provides `_session()` (one connection's life; True when it ended for a planned
    reconnect), `_progress()` (a counter a useful session moves: frames or trades), `_session_ended()`
    (what a lost connection makes untrustworthy), `_reconnecting()` (what to say about it) and
    `_set_error()`. A refusal off the allowlist is final: retrying cannot help.
    """

    def __init__(self, redial: Redial) -> None:
        self._redial = redial
        self._retry_after: float | None = None  # a refused handshake's Retry-After, seconds
        self.reconnects = 0
        self.connected = False
        self._stopping = False
        self._running = False
        self._stop_event: asyncio.Event | None = None
        self._session_task: asyncio.Task[bool] | None = None

    @abstractmethod
    async def _session(self) -> bool: ...

    @abstractmethod
    def _progress(self) -> int: ...

    @abstractmethod
    def _session_ended(self) -> None: ...

    @abstractmethod
    def _reconnecting(self, planned: bool, delay_s: float) -> None: ...

    @abstractmethod
    def _set_error(self, code: str, message: str) -> None: ...

    @abstractmethod
    def _name(self) -> str: ...

    def stop(self) -> None:
        """Ask run() to return: interrupts a connect, a receive or a backoff wait."""
        self._stopping = True
        if self._stop_event is not None:
            self._stop_event.set()
        task = self._session_task
        if task is not None and not task.done():
            task.cancel()

    async def run(self) -> None:
        """Stay connected until stop(). Raises HostNotAllowedError, or what a session raises as final."""
        if self._running:
            raise RuntimeError(f"{self._name()} is already running")
        self._running = True
        stop_event = self._stop_event = asyncio.Event()
        if self._stopping:
            stop_event.set()
        try:
            while not self._stopping:
                before = self._progress()
                task = asyncio.ensure_future(self._session())
                self._session_task = task
                try:
                    await asyncio.wait({task})
                finally:
                    if not task.done():  # run() itself was cancelled
                        task.cancel()
                self._session_task = None
                try:
                    planned = False if task.cancelled() else task.result()
                except HostNotAllowedError as exc:  # the URL or a redirect target is off the allowlist
                    self._set_error(ERR_HOST_REFUSED, str(exc))
                    raise
                self._session_ended()
                if self._stopping:
                    break
                self.reconnects += 1
                if planned:
                    self._redial.planned()
                    self._reconnecting(True, 0.0)
                    continue
                # A venue answering 429/418 sends Retry-After; coming back sooner extends a ban.
                delay = self._redial.delay_s(useful=self._progress() > before, retry_after_s=self._retry_after)
                self._reconnecting(False, delay)
                await self._redial.wait(delay, stop_event)
        finally:
            self._running = False
            self.connected = False
            self._session_task = None
