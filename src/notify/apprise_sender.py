"""Deliver notifications through Apprise to the NOTIFY_URLS services, held to those services' hosts.

Why Apprise: one well-kept library speaks Telegram, Discord, ntfy, Pushover, e-mail and plain
webhooks, each configured by one URL, so the owner picks his service without code changes.

How it is held to the allowlist (ground rule 5): Apprise sends through `requests`/`smtplib` with
no transport to inject, so
1. at start-up every URL must use a scheme from SCHEMES, and the host each one will reach is
   derived from the parsed URL (fixed for Telegram, Discord, Pushover; the configured host for a
   webhook, ntfy server or SMTP server) and passed through check_url: that set is the allowlist;
2. every send runs inside src.net.connection_guard.only_hosts(allowlist): any host lookup the
   library makes (a redirect, a retry, a second service) outside it is refused before a
   connection opens; redirects are also switched off in Apprise itself;
3. Apprise's persistent storage is kept in memory (it writes no files) and loads no plugins.
The URLs hold tokens: they are never logged, stored or put in an error message.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import apprise

from src.net.allowlist import HostNotAllowedError, check_url
from src.net.connection_guard import only_hosts
from src.notify.events import Notification
from src.notify.outbox import DeliveryError

log = logging.getLogger("polybot.notify")


class NotifyConfigError(Exception):
    """NOTIFY_URLS holds something the bot refuses to send to; the text never quotes the URL."""


def _fixed(host: str) -> Callable[[Any], str]:
    return lambda _plugin: host


def _ntfy_host(plugin: Any) -> str:
    return "ntfy.sh" if getattr(plugin, "mode", "") == "cloud" else str(plugin.host or "")


# scheme -> how to find the one host that service's plugin will reach
SCHEMES: dict[str, Callable[[Any], str]] = {
    "tgram": _fixed("api.telegram.org"),
    "discord": _fixed("discord.com"),
    "pover": _fixed("api.pushover.net"),
    "ntfy": _ntfy_host,
    "ntfys": _ntfy_host,
    "json": lambda p: str(p.host or ""),
    "jsons": lambda p: str(p.host or ""),
    "mailto": lambda p: str(getattr(p, "smtp_host", "") or ""),
    "mailtos": lambda p: str(getattr(p, "smtp_host", "") or ""),
}
# The protocol each service's traffic uses, for check_url (SMTP is checked as its own scheme).
_WIRE = {"json": "http", "ntfy": "https", "mailto": "smtp", "mailtos": "smtp"}

_TYPES = {"info": apprise.NotifyType.INFO, "warning": apprise.NotifyType.WARNING,
          "critical": apprise.NotifyType.FAILURE}


@dataclass(frozen=True, slots=True)
class ServiceInfo:
    """What may be shown about one configured service: its scheme and host, never its URL."""

    scheme: str
    host: str


def split_urls(text: str | None) -> list[str]:
    """NOTIFY_URLS: URLs separated by spaces, commas or new lines."""
    if not text:
        return []
    return [u for u in text.replace(",", " ").split() if u]


def parse_services(urls: Sequence[str]) -> tuple[list[Any], tuple[ServiceInfo, ...]]:
    """Validate every URL; returns Apprise's plugin objects and what may be shown about them."""
    plugins: list[Any] = []
    infos: list[ServiceInfo] = []
    for number, url in enumerate(urls, 1):
        scheme = url.split("://", 1)[0].lower() if "://" in url else ""
        if scheme not in SCHEMES:
            raise NotifyConfigError(
                f"NOTIFY_URLS entry {number}: scheme {scheme or '(none)'!r} is not supported "
                f"(supported: {', '.join(sorted(SCHEMES))})"
            )
        plugin = apprise.Apprise.instantiate(url, asset=_asset(), suppress_exceptions=True)
        if plugin is None:
            raise NotifyConfigError(f"NOTIFY_URLS entry {number} ({scheme}://): Apprise cannot parse it")
        host = SCHEMES[scheme](plugin).lower()
        wire = _WIRE.get(scheme, "https")
        try:
            check_url(f"{wire}://{host}/", frozenset({host}) if host else frozenset(), frozenset({wire}))
        except HostNotAllowedError:
            raise NotifyConfigError(f"NOTIFY_URLS entry {number} ({scheme}://): no usable host") from None
        plugins.append(plugin)
        infos.append(ServiceInfo(scheme, host))
    return plugins, tuple(infos)


def _asset() -> apprise.AppriseAsset:
    asset = apprise.AppriseAsset(storage_mode="memory")
    asset.http_redirects = False
    return asset


class AppriseSender:
    """send() delivers one notification to every configured service, off the event loop."""

    def __init__(self, urls: Sequence[str]) -> None:
        # Apprise logs every send at INFO (and URLs at DEBUG); the outbox logs what matters.
        logging.getLogger("apprise").setLevel(logging.WARNING)
        plugins, self.services = parse_services(urls)
        if not plugins:
            raise NotifyConfigError("NOTIFY_URLS is empty")
        self.allowed_hosts = frozenset(s.host for s in self.services)
        self._apprise = apprise.Apprise(asset=_asset())
        for plugin in plugins:
            plugin.redirects = False
            self._apprise.add(plugin)
        # One thread of our own: a service that hangs holds this thread, never the event loop
        # or the default executor other code uses.
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="notify-send")
        self._busy = False

    def __repr__(self) -> str:
        return f"AppriseSender(services={[f'{s.scheme}://{s.host}' for s in self.services]})"

    async def send(self, note: Notification) -> None:
        if self._busy:
            # The previous try is still stuck in a service (its own timeouts will end it); do not
            # queue more work behind it.
            raise DeliveryError("the previous delivery is still running")
        self._busy = True
        loop = asyncio.get_running_loop()
        context = contextvars.copy_context()
        future = loop.run_in_executor(self._pool, context.run, self._send_blocking, note)
        future.add_done_callback(self._done)
        failed = await asyncio.shield(future)
        if failed:
            raise DeliveryError(f"not delivered to: {', '.join(failed)}")

    def _done(self, _future: asyncio.Future[list[str]]) -> None:
        self._busy = False

    def _send_blocking(self, note: Notification) -> list[str]:
        """Runs in the sender thread; returns the names of the services that did not take it."""
        with only_hosts(self.allowed_hosts):
            result = self._apprise.notify(
                body=note.body, title=note.title, notify_type=_TYPES.get(note.level, apprise.NotifyType.INFO)
            )
        if bool(result):
            return []
        names = [str(getattr(r, "name", "service")) for r in result if not bool(r)]
        return names or ["every service"]

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
