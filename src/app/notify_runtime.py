"""Wire notifications and Telegram remote control into one daemon run: build from settings, start, drain, close."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import Any

from src.config import ConfigError, Settings
from src.db import Database
from src.journal.log_setup import register_secret
from src.model.interfaces import Executor, Settler
from src.net.backoff import RetryPolicy
from src.net.http_session import ConnectorFactory
from src.notify.apprise_sender import AppriseSender, NotifyConfigError, split_urls
from src.notify.commands import CommandHandler
from src.notify.events import Notification
from src.notify.jobs import Watched, send_summaries, watch_outages
from src.notify.notifier import Notifier
from src.notify.outbox import Outbox, SendFn
from src.notify.taps import NotifyingExecutor, NotifyingSettler
from src.notify.telegram_api import TelegramApi
from src.notify.telegram_poller import TelegramPoller

log = logging.getLogger("polybot.notify")

DRAIN_ON_CLOSE_S = 8.0  # how long a shutdown waits for the last messages ("stopped", a HARD STOP)


def parse_chat_ids(text: str | None) -> frozenset[int]:
    """TELEGRAM_CHAT_IDS: integers separated by spaces or commas (group chats are negative)."""
    ids: set[int] = set()
    for part in (text or "").replace(",", " ").split():
        try:
            ids.add(int(part))
        except ValueError:
            raise ConfigError(f".env: TELEGRAM_CHAT_IDS: {part[:20]!r} is not a chat id (a whole number)") from None
    return frozenset(ids)


def telegram_token(urls: Sequence[str]) -> str | None:
    """The bot token of the first tgram:// URL (tgram://<token>/<chat ids>), or None."""
    for url in urls:
        if url.lower().startswith("tgram://"):
            token = url[len("tgram://"):].split("/", 1)[0].split("?", 1)[0]
            return token.removeprefix("bot") if token.startswith("bot") and token[3:4].isdigit() else token
    return None


def register_notify_secrets(urls: Sequence[str], hosts: frozenset[str]) -> None:
    """Every URL and every long piece of one (tokens, webhook keys) is redacted from logs from now on."""
    for url in urls:
        register_secret(url)
        for segment in url.split("://", 1)[-1].split("/"):
            pieces = [segment]
            for sep in ":@?&=":
                pieces = [p for piece in pieces for p in piece.split(sep)] + ([segment] if sep == ":" else [])
            for piece in pieces:
                if len(piece) >= 12 and piece.lower() not in hosts:
                    register_secret(piece)


class NotifyRuntime:
    """Owns the notification tasks of one run. With no NOTIFY_URLS it still works: nothing is sent."""

    def __init__(
        self,
        settings: Settings,
        db: Database,
        *,
        enabled: bool = True,
        send: SendFn | None = None,
        telegram_connector_factory: ConnectorFactory | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        cfg = settings.app.notify
        self._cfg = cfg
        self._db = db
        self._clock = clock
        urls = split_urls(settings.secrets.get("NOTIFY_URLS")) if enabled else []
        chat_ids = parse_chat_ids(settings.secrets.get("TELEGRAM_CHAT_IDS")) if enabled else frozenset()
        self._sender: AppriseSender | None = None
        if urls:
            try:
                self._sender = AppriseSender(urls)
            except NotifyConfigError as exc:
                raise ConfigError(f".env: {exc}") from None
            register_notify_secrets(urls, self._sender.allowed_hosts)
            send = send or self._sender.send
        self.services = self._sender.services if self._sender is not None else ()
        self.outbox: Outbox | None = None
        if send is not None:
            self.outbox = Outbox(
                send,
                capacity=cfg.queue_size,
                policy=RetryPolicy(max_attempts=cfg.max_attempts, base_delay_s=1.0, max_delay_s=30.0,
                                   budget_s=cfg.retry_budget_s),
                send_timeout_s=cfg.send_timeout_s,
                record=self._record,
            )
        self.notifier = Notifier(cfg.levels.model_dump(), cfg.min_level, self._put, clock)
        self._token = telegram_token(urls) if chat_ids else None
        if chat_ids and self._token is None:
            raise ConfigError(".env: TELEGRAM_CHAT_IDS is set but NOTIFY_URLS has no tgram:// URL (its bot token "
                              "is what the bot listens with)")
        self._chat_ids = chat_ids
        self._telegram_connector_factory = telegram_connector_factory
        self._api: TelegramApi | None = None
        self.poller: TelegramPoller | None = None
        self.handler: CommandHandler | None = None
        self._tasks: list[asyncio.Task[None]] = []

    @property
    def remote_control(self) -> bool:
        return bool(self._chat_ids)

    def describe(self) -> str:
        if self.outbox is None:
            return "notifications off (no NOTIFY_URLS in .env)"
        where = ", ".join(f"{s.scheme}://{s.host}" for s in self.services) or "test sender"
        remote = f"; Telegram remote control for {len(self._chat_ids)} chat(s)" if self._chat_ids else ""
        return f"notifications to {where}{remote}"

    def _put(self, note: Notification) -> None:
        if self.outbox is not None:
            self.outbox.put(note)

    def _record(self, note: Notification, status: str, attempts: int, error: str) -> None:
        self._db.record_notification(self._clock(), note.kind.value, note.level, note.title, status, attempts, error)

    # -- wrapping the trading components ----------------------------------------------------------

    def tap_executor(self, executor: Executor) -> Executor:
        return NotifyingExecutor(executor, self.notifier) if self.outbox is not None else executor

    def tap_settler(self, settler: Settler) -> Settler:
        return NotifyingSettler(settler, self.notifier) if self.outbox is not None else settler

    # -- running ----------------------------------------------------------------------------------

    def start(
        self,
        *,
        controls: Any,
        watched: Sequence[Watched],
        mode: str,
        starting_bankroll: Decimal,
        sleep: Callable[[float], Any] = asyncio.sleep,
    ) -> None:
        """Start the sender, the Telegram poller (when configured) and the periodic jobs."""
        if self.outbox is not None:
            self._spawn(self.outbox.run(), "notify-outbox")
            self._spawn(watch_outages(watched, self.notifier, threshold_s=self._cfg.outage_after_s,
                                      clock=self._clock, sleep=sleep), "notify-outage")
            self._spawn(send_summaries(self.notifier, self._db, mode=mode, starting_bankroll=starting_bankroll,
                                       daily_utc=self._cfg.daily_summary_utc,
                                       weekly_day=self._cfg.weekly_summary_day,
                                       clock=self._clock, sleep=sleep), "notify-summaries")
        if self._token is not None:
            self._api = TelegramApi(self._token, connector_factory=self._telegram_connector_factory)
            self.handler = CommandHandler(self._chat_ids, controls, on_action=self.notifier.remote_command)
            self.poller = TelegramPoller(self._api, self.handler, poll_timeout_s=self._cfg.poll_timeout_s,
                                         clock=self._clock)
            self._spawn(self.poller.run(), "telegram-commands")

    def _spawn(self, coro: Any, name: str) -> None:
        task = asyncio.create_task(coro, name=name)
        task.add_done_callback(_log_crash)
        self._tasks.append(task)

    async def close(self) -> None:
        """Stop listening, give the last messages a few seconds to go out, then stop everything."""
        for task in self._tasks:
            if task.get_name() == "telegram-commands":
                task.cancel()
        if self.outbox is not None and any(t.get_name() == "notify-outbox" for t in self._tasks):
            if not await self.outbox.drain(DRAIN_ON_CLOSE_S):
                log.warning("%d notification(s) not sent before exit", len(self.outbox))
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
        if self._api is not None:
            await self._api.close()
        if self._sender is not None:
            self._sender.close()


def _log_crash(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("%s stopped: %s", task.get_name(), type(task.exception()).__name__)

