"""Wire notifications and Telegram remote control into one daemon run: build from settings, start, drain, close."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

from src.app.remote_controls import DaemonControls, HaltTarget
from src.config import ConfigError, Settings
from src.db import Database
from src.model.exit_codes import EXIT_AUTH_HALT, EXIT_HARD_STOP, EXIT_OK
from src.model.interfaces import Executor, Settler
from src.net.backoff import RetryPolicy
from src.net.http_session import ConnectorFactory
from src.notify.apprise_sender import AppriseSender, NotifyConfigError, split_urls
from src.notify.commands import CommandHandler
from src.notify.events import Notification
from src.notify.jobs import Watched, feed_last_tick, send_summaries, watch_outages
from src.notify.notifier import Notifier
from src.notify.outbox import Outbox, SendFn
from src.notify.pause import PauseGate
from src.notify.taps import NotifyingExecutor, NotifyingSettler
from src.notify.telegram_api import TelegramApi, TelegramError
from src.notify.telegram_poller import TelegramPoller
from src.notify.url_secrets import parse_chat_ids, register_notify_secrets, register_url_credentials, telegram_token
from src.risk.kill_switch import KillSwitch

log = logging.getLogger("polybot.notify")

DRAIN_ON_CLOSE_S = 8.0  # how long a shutdown waits for the last messages ("stopped", a HARD STOP)


class NotifyRuntime:
    """Owns the notification tasks of one run. With no NOTIFY_URLS it still works: nothing is sent.

    Each service gets its own queue and sender thread: a service that is down or hangs delays
    and drops only its own messages, and a message is never sent twice to one service because
    another one failed.
    """

    def __init__(
        self,
        settings: Settings,
        db: Database,
        *,
        enabled: bool = True,
        senders: Sequence[tuple[str, SendFn]] = (),
        telegram_connector_factory: ConnectorFactory | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        cfg = settings.app.notify
        self._cfg = cfg
        self._db = db
        self._clock = clock
        urls = split_urls(settings.secrets.get("NOTIFY_URLS")) if enabled else []
        chat_ids = parse_chat_ids(settings.secrets.get("TELEGRAM_CHAT_IDS")) if enabled else frozenset()
        self._senders: list[AppriseSender] = []
        all_senders: list[tuple[str, SendFn]] = list(senders)
        for number, url in enumerate(urls, 1):
            # Apprise may log the URL (user name in clear) while parsing it: its credentials first.
            register_url_credentials(url)
            try:
                sender = AppriseSender([url])
            except NotifyConfigError as exc:
                raise ConfigError(f".env: {str(exc).replace('entry 1', f'entry {number}')}") from None
            register_notify_secrets([url], sender.allowed_hosts)
            self._senders.append(sender)
            service = sender.services[0]
            all_senders.append((f"{service.scheme}://{service.host}", sender.send))
        policy = RetryPolicy(max_attempts=cfg.max_attempts, base_delay_s=1.0, max_delay_s=30.0,
                             budget_s=cfg.retry_budget_s)
        self.outboxes: list[tuple[str, Outbox]] = [
            (name, Outbox(send, capacity=cfg.queue_size, policy=policy, send_timeout_s=cfg.send_timeout_s,
                          record=self._recorder(name)))
            for name, send in all_senders
        ]
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
        # The kill switches a /halt stops besides Kalshi's, added as their loops start (add_halt_target).
        self.halt_targets: list[HaltTarget] = []

    @property
    def sending(self) -> bool:
        return bool(self.outboxes)

    def describe(self) -> str:
        if not self.outboxes:
            return "notifications off (no NOTIFY_URLS in .env)"
        remote = f"; Telegram remote control for {len(self._chat_ids)} chat(s)" if self._chat_ids else ""
        return f"notifications to {', '.join(name for name, _ in self.outboxes)}{remote}"

    def _put(self, note: Notification) -> None:
        for _, outbox in self.outboxes:
            outbox.put(note)

    def _recorder(self, service: str) -> Callable[[Notification, str, int, str], None]:
        def record(note: Notification, status: str, attempts: int, error: str) -> None:
            self._db.record_notification(self._clock(), note.kind.value, note.level, note.title, status, attempts,
                                         error, service=service)

        return record

    # -- wrapping the trading components ----------------------------------------------------------

    def tap_executor(self, executor: Executor, notifier: Notifier | None = None) -> Executor:
        """A paper executor's fills are told through `notifier` (a venue's own, see for_venue), by default
        Kalshi's. A live executor is not tapped: the daemon gives it the notifier's order_filled as on_filled."""
        return NotifyingExecutor(executor, notifier or self.notifier) if self.outboxes else executor

    def tap_settler(self, settler: Settler, notifier: Notifier | None = None) -> Settler:
        return NotifyingSettler(settler, notifier or self.notifier) if self.outboxes else settler

    def venue_notifier(self, venue: str, *, lock_root: Path, reset_command: str) -> Notifier:
        """The notifier of another venue's loop beside Kalshi (Polymarket US): the same levels and
        queues; its messages name the venue, its own reset command and its own lock's reason."""
        return self.notifier.for_venue(venue, reset_command, lock_root)

    def add_halt_target(self, venue: str, kill_switch: KillSwitch, lock_root: Path) -> None:
        """A Telegram /halt also hard-stops this venue's kill switch (its own lock and cancel-all)."""
        self.halt_targets.append(HaltTarget(venue, kill_switch, lock_root))

    # -- running ----------------------------------------------------------------------------------

    def start_sending(self) -> None:
        """Start the sender now, so even a run that fails during start-up gets its messages out."""
        if not any(t.get_name().startswith("notify-outbox") for t in self._tasks):
            for name, outbox in self.outboxes:
                self._spawn(outbox.run(), f"notify-outbox {name}")

    def start(
        self,
        *,
        controls: Any,
        watched: Sequence[Watched],
        mode: str,
        starting_bankroll: Decimal,
        sleep: Callable[[float], Any] = asyncio.sleep,
    ) -> None:
        """Start the Telegram poller (when configured) and the periodic jobs (and the sender, if not yet)."""
        self.start_sending()
        if self.outboxes:
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

    def start_for_daemon(
        self,
        *,
        engine: Any,
        feed: Any,
        kill_switch: KillSwitch,
        pause_gate: PauseGate,
        kill_switch_root: Path,
        request_stop: Callable[[int], None],
        mode: str,
        starting_bankroll: Decimal,
    ) -> None:
        """start() with the daemon's own controls and the two dependencies watched for outages."""
        self.notifier.lock_root = kill_switch_root  # a /halt's HARD STOP is told as "remote_halt"
        controls = DaemonControls(
            status_line=engine.status_line, pause_gate=pause_gate, kill_switch=kill_switch,
            kill_switch_root=kill_switch_root, db=self._db, clock=self._clock, request_stop=request_stop,
            also_halt=self.halt_targets,
        )
        watched = [
            Watched("BTC feed", feed_last_tick(feed.snapshot, self._clock)),
            Watched("Kalshi", lambda: engine.last_venue_ok_ts),
        ]
        self.start(controls=controls, watched=watched, mode=mode, starting_bankroll=starting_bankroll)

    def _spawn(self, coro: Any, name: str) -> None:
        task = asyncio.create_task(coro, name=name)
        task.add_done_callback(_log_crash)
        self._tasks.append(task)

    async def close(self) -> None:
        """Stop listening, give the last messages a few seconds to go out, then stop everything."""
        for task in self._tasks:
            if task.get_name() == "telegram-commands":
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
        if self.poller is not None:
            try:
                await asyncio.wait_for(self.poller.acknowledge(), 5.0)
            except (TelegramError, TimeoutError) as exc:
                log.warning("telegram: could not confirm the last commands (%s)", type(exc).__name__)
        if any(t.get_name().startswith("notify-outbox") for t in self._tasks):
            drained = await asyncio.gather(*(box.drain(DRAIN_ON_CLOSE_S) for _, box in self.outboxes))
            for (name, box), ok in zip(self.outboxes, drained, strict=True):
                if not ok:
                    log.warning("%d notification(s) to %s not sent before exit", len(box), name)
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
        if self._api is not None:
            await self._api.close()
        for sender in self._senders:
            sender.close()


def stop_reason(code: int) -> str:
    """Why the run ended, in the owner's words, from its exit code."""
    return {EXIT_OK: "Stopped cleanly", EXIT_HARD_STOP: "HARD STOP: see the kill switch message",
            EXIT_AUTH_HALT: "Halted on authentication failures"}.get(code, "Stopped on an error")


def _log_crash(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("%s stopped: %s", task.get_name(), type(task.exception()).__name__)

