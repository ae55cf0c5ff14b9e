"""Long-poll Telegram for commands and answer each one, backing off while Telegram is unreachable."""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Callable

from src.net.backoff import RetryPolicy, Sleep
from src.notify.commands import CommandHandler
from src.notify.telegram_api import TelegramApi, TelegramError

log = logging.getLogger("polybot.notify")

# A command older than this when it arrives is not obeyed (e.g. a /resume typed while the bot
# was down must not take effect hours later); the owner is told to send it again.
MAX_COMMAND_AGE_S = 120.0
BACKOFF = RetryPolicy(max_attempts=10, base_delay_s=1.0, max_delay_s=60.0, budget_s=3600.0)


class TelegramPoller:
    def __init__(
        self,
        api: TelegramApi,
        handler: CommandHandler,
        *,
        poll_timeout_s: int,
        clock: Callable[[], float] = time.time,
        sleep: Sleep = asyncio.sleep,
        rng: Callable[[], float] = random.random,
    ) -> None:
        self._api = api
        self._handler = handler
        self._poll_timeout_s = poll_timeout_s
        self._clock = clock
        self._sleep = sleep
        self._rng = rng
        self._offset: int | None = None
        self._confirmed: int | None = None  # Telegram forgets updates below the offset it was last sent
        self.failures = 0
        self.handled = 0

    async def run(self) -> None:
        """Poll until cancelled; never raises for Telegram's failures."""
        while True:
            try:
                await self.poll_once()
                self.failures = 0
            except TelegramError as exc:
                self.failures += 1
                delay = BACKOFF.jittered_delay_s(min(self.failures, 30), self._rng)
                log.warning("telegram: polling failed (%s); retrying in %.0f s", exc, delay)
                await self._sleep(delay)

    async def poll_once(self) -> int:
        """One getUpdates round; returns how many messages were answered."""
        updates = await self._api.get_updates(self._offset, self._poll_timeout_s)
        self._confirmed = self._offset
        answered = 0
        for update in updates:
            # Acknowledge first: a command that crashes the handler is never re-delivered in a loop.
            self._offset = update.update_id + 1
            if update.chat_id is None or not update.text:
                continue
            age = self._clock() - update.date
            if age > MAX_COMMAND_AGE_S and self._handler.allows(update.chat_id):
                reply = (f"Ignored a command sent {age:.0f} s ago (older than {MAX_COMMAND_AGE_S:.0f} s); "
                         "send it again.")
            else:
                reply = self._handler.handle(update.chat_id, update.text)
            self.handled += 1
            if reply is None:
                continue
            try:
                await self._api.send_message(update.chat_id, reply)
                answered += 1
            except TelegramError as exc:
                log.warning("telegram: could not answer chat %s (%s)", update.chat_id, exc)
        return answered

    async def acknowledge(self) -> None:
        """Confirm what was handled, so a restart is not handed the same /stop again."""
        if self._offset is not None and self._offset != self._confirmed:
            await self._api.get_updates(self._offset, 0)
            self._confirmed = self._offset
