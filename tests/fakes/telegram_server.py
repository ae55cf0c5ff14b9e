"""A local fake of the Telegram Bot API (getUpdates long poll, sendMessage) over TLS for api.telegram.org.

Reached exactly like the fake Kalshi: the production TelegramApi keeps its real URL
(https://api.telegram.org/bot<token>/...), checked by its allowlist; only the transport is
injected (`connector`: a resolver mapping api.telegram.org to 127.0.0.1 and this server's port,
and an SSL context trusting a throwaway CA whose certificate names api.telegram.org).

    async with FakeTelegram(token="123:ABC") as tg:
        tg.say(chat_id=42, text="/status")        # a message the bot will get from getUpdates
        api = TelegramApi("123:ABC", connector_factory=tg.connector)
        tg.sent                                   # [(chat_id, text)] the bot sent with sendMessage
        tg.fail_next(500)                         # the next call answers HTTP 500
Requests with another token get 401 {"ok": false}, as the real API answers.

Apprise's tgram:// sends through `requests`, which has no transport to inject, so
`tg.route_requests(monkeypatch, tmp_path)` injects it at the network level, in the test only:
socket.getaddrinfo answers api.telegram.org:443 with 127.0.0.1 and this server's port (after
raising the same "socket.getaddrinfo" audit event the real lookup raises, with the real host
name, so the bot's connection guard still checks api.telegram.org), and requests trusts the
test CA (REQUESTS_CA_BUNDLE), whose certificate names api.telegram.org. Every other lookup is
the real one; nothing in src/ or in any allowlist changes.
"""

from __future__ import annotations

import asyncio
import socket
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from tests.fakes.kalshi_server import HostMapResolver, LocalTLS, local_tls_for

TELEGRAM_HOST = "api.telegram.org"


@dataclass
class FakeTelegram:
    token: str
    updates: list[dict[str, Any]] = field(default_factory=list)
    sent: list[tuple[int, str]] = field(default_factory=list)
    calls: list[str] = field(default_factory=list)
    bad_token_calls: int = 0
    port: int = 0
    _next_id: int = 1000
    _fail: list[int] = field(default_factory=list)
    _new: asyncio.Event = field(default_factory=asyncio.Event)
    _runner: web.AppRunner | None = None
    _tls: LocalTLS | None = None

    def say(self, chat_id: int, text: str, *, date: float | None = None) -> None:
        """Queue a text message from chat_id for the bot's next getUpdates."""
        self._next_id += 1
        self.updates.append({
            "update_id": self._next_id,
            "message": {"message_id": self._next_id, "from": {"id": chat_id, "is_bot": False},
                        "chat": {"id": chat_id, "type": "private"},
                        "date": int(time.time() if date is None else date), "text": text},
        })
        self._new.set()

    def fail_next(self, status: int, times: int = 1) -> None:
        self._fail.extend([status] * times)

    def connector(self) -> aiohttp.TCPConnector:
        assert self._tls is not None
        return aiohttp.TCPConnector(
            resolver=HostMapResolver({TELEGRAM_HOST: ("127.0.0.1", self.port)}),
            ssl=self._tls.client_context(), use_dns_cache=False,
        )

    def route_requests(self, monkeypatch: Any, folder: Path) -> None:
        """Send `requests` (Apprise's tgram://) for https://api.telegram.org to this server; see the module doc."""
        assert self._tls is not None
        bundle = folder / "telegram-test-ca.pem"
        bundle.write_text(self._tls.ca_pem)
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(bundle))
        real = socket.getaddrinfo

        def getaddrinfo(host: Any, port: Any, family: int = 0, type: int = 0, proto: int = 0,  # noqa: A002
                        flags: int = 0) -> Any:
            name = host.decode() if isinstance(host, bytes) else host
            if isinstance(name, str) and name.lower() == TELEGRAM_HOST and str(port) == "443":
                sys.audit("socket.getaddrinfo", host, port, family, type, proto, flags)  # the guard sees the name
                return [(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", ("127.0.0.1", self.port))]
            return real(host, port, family, type, proto, flags)

        monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        _, _, rest = request.path.partition("/bot")
        token, _, method = rest.partition("/")
        self.calls.append(method)
        if token != self.token:
            self.bad_token_calls += 1
            return web.json_response({"ok": False, "error_code": 401, "description": "Unauthorized"}, status=401)
        if self._fail:
            return web.json_response({"ok": False, "error_code": 500}, status=self._fail.pop(0))
        params = await request.json() if request.can_read_body else {}
        if method == "getUpdates":
            return await self._get_updates(params)
        if method == "sendMessage":
            self.sent.append((int(params["chat_id"]), str(params["text"])))
            return web.json_response({"ok": True, "result": {"message_id": len(self.sent)}})
        return web.json_response({"ok": False, "error_code": 404, "description": "Not Found"}, status=404)

    async def _get_updates(self, params: dict[str, Any]) -> web.Response:
        offset = params.get("offset")
        if isinstance(offset, int):
            # As the real API: an offset confirms (and forgets) every update before it.
            self.updates = [u for u in self.updates if u["update_id"] >= offset]
        if not self.updates:
            self._new.clear()
            try:
                await asyncio.wait_for(self._new.wait(), min(float(params.get("timeout", 0)), 2.0))
            except TimeoutError:
                pass
        return web.json_response({"ok": True, "result": list(self.updates)})

    async def __aenter__(self) -> FakeTelegram:
        self._tls = local_tls_for((TELEGRAM_HOST,))
        app = web.Application()
        app.router.add_route("POST", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0, ssl_context=self._tls.server_context())
        await site.start()
        self.port = self._runner.addresses[0][1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._new.set()
        if self._runner is not None:
            await self._runner.cleanup()
