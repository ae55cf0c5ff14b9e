"""A minimal Telegram Bot API client (getUpdates, sendMessage) on aiohttp, held to api.telegram.org.

Why not python-telegram-bot: the bot needs two methods. PTB brings its own httpx transport and
Application event loop, whose requests cannot pass our per-request check_url or take the
injected connector the other clients use; a 100-line client on the aiohttp session builder the
venue clients share does both, and tests reach the fake Bot API exactly as they reach the fake
Kalshi: a resolver mapping api.telegram.org to 127.0.0.1 and a test CA, TLS checks on.

The bot token is part of every URL (https://api.telegram.org/bot<token>/<method>): no URL and
no library error text (which can quote the URL) ever reaches a log or an exception here.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from typing import Any

import aiohttp

from src.net.allowlist import check_url
from src.net.http_session import ConnectorFactory, new_session

API_BASE = "https://api.telegram.org"
TELEGRAM_HOSTS = frozenset({"api.telegram.org"})
_SCHEMES = frozenset({"https"})
MAX_TEXT = 4000  # Telegram refuses messages over 4096 characters


class TelegramError(Exception):
    """A Bot API call failed. The text names the method and the status only, never the token."""


@dataclass(frozen=True, slots=True)
class Update:
    """One incoming text message (other update kinds are skipped but still acknowledged)."""

    update_id: int
    chat_id: int | None
    text: str
    date: float


def parse_updates(payload: Any) -> list[Update]:
    if not isinstance(payload, dict) or payload.get("ok") is not True or not isinstance(payload.get("result"), list):
        raise TelegramError("getUpdates: unexpected answer")
    updates: list[Update] = []
    for item in payload["result"]:
        if not isinstance(item, dict) or not isinstance(item.get("update_id"), int):
            continue
        message = item.get("message")
        chat_id: int | None = None
        text = ""
        date = 0.0
        if isinstance(message, dict):
            chat = message.get("chat")
            if isinstance(chat, dict) and isinstance(chat.get("id"), int):
                chat_id = chat["id"]
            text = message.get("text") if isinstance(message.get("text"), str) else ""
            date = float(message.get("date") or 0)
        updates.append(Update(item["update_id"], chat_id, text, date))
    return updates


class TelegramApi:
    """One bot's Bot API calls. Tests inject `connector_factory`; the URL checked is always the real one."""

    def __init__(self, token: str, *, connector_factory: ConnectorFactory | None = None,
                 request_timeout_s: float = 10.0) -> None:
        if not token or "/" in token or any(c.isspace() for c in token):
            raise TelegramError("the Telegram bot token is empty or malformed")
        self._token = token
        self._connector_factory = connector_factory
        self._timeout_s = request_timeout_s
        self._session: aiohttp.ClientSession | None = None

    def __repr__(self) -> str:
        return "TelegramApi(token=<hidden>)"

    async def _call(self, method: str, params: dict[str, Any], timeout_s: float) -> Any:
        url = f"{API_BASE}/bot{self._token}/{method}"
        check_url(url, TELEGRAM_HOSTS, _SCHEMES)  # every request
        if self._session is None or self._session.closed:
            self._session = new_session(self._connector_factory)
        try:
            async with self._session.request(
                "POST", url, json=params, allow_redirects=False,
                timeout=aiohttp.ClientTimeout(total=timeout_s),
            ) as response:
                body = await response.read()
                status = response.status
        except TimeoutError:
            raise TelegramError(f"{method}: no answer within {timeout_s:g} s") from None
        except aiohttp.ClientError as exc:
            raise TelegramError(f"{method}: {type(exc).__name__}") from None
        if status != 200:
            raise TelegramError(f"{method}: HTTP {status}")
        try:
            return json.loads(body)
        except ValueError:
            raise TelegramError(f"{method}: answer is not JSON") from None

    async def get_updates(self, offset: int | None, poll_timeout_s: int) -> list[Update]:
        """Long poll: waits up to poll_timeout_s for new messages."""
        params: dict[str, Any] = {"timeout": poll_timeout_s, "allowed_updates": ["message"]}
        if offset is not None:
            params["offset"] = offset
        payload = await self._call("getUpdates", params, poll_timeout_s + self._timeout_s)
        return parse_updates(payload)

    async def send_message(self, chat_id: int, text: str) -> None:
        payload = await self._call("sendMessage", {"chat_id": chat_id, "text": text[:MAX_TEXT]}, self._timeout_s)
        if not isinstance(payload, dict) or payload.get("ok") is not True:
            raise TelegramError("sendMessage: refused")

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            # Let aiohttp finish closing the TLS transports before the loop ends.
            await asyncio.sleep(0)
