"""A local webhook receiver (aiohttp) for Apprise's json:// service: records each POST, can fail, hang or redirect.

Apprise's json://HOST:PORT/PATH posts {"version", "title", "message", "type", ...} to
http://HOST:PORT/PATH. The owner's own webhook host is what NOTIFY_URLS names, so the test
configures json://127.0.0.1:<port>/hook and the sender's allowlist is exactly 127.0.0.1.

    async with WebhookReceiver() as hook:
        hook.url                     # json://127.0.0.1:<port>/hook
        hook.fail_next(500, times=2) # the next two POSTs answer 500
        hook.hang = True             # every POST waits until release() (a service that hangs)
        hook.redirect_to = "http://localhost:1/elsewhere"
        hook.received                # list of JSON bodies accepted (status 200)
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web


@dataclass
class WebhookReceiver:
    path: str = "/hook"
    received: list[dict[str, Any]] = field(default_factory=list)
    attempts: int = 0
    hang: bool = False
    redirect_to: str | None = None
    _fail: list[int] = field(default_factory=list)
    _release: asyncio.Event = field(default_factory=asyncio.Event)
    _runner: web.AppRunner | None = None
    port: int = 0

    @property
    def url(self) -> str:
        return f"json://127.0.0.1:{self.port}{self.path}"

    def fail_next(self, status: int, times: int = 1) -> None:
        self._fail.extend([status] * times)

    def release(self) -> None:
        """Let hanging requests finish (answered 503) so worker threads end."""
        self.hang = False
        self._release.set()

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        self.attempts += 1
        body = await request.read()
        if self.hang:
            await self._release.wait()
            return web.Response(status=503)
        if self.redirect_to is not None:
            raise web.HTTPFound(self.redirect_to)
        if self._fail:
            return web.Response(status=self._fail.pop(0), text="server error")
        self.received.append(json.loads(body))
        return web.json_response({"ok": True})

    async def __aenter__(self) -> WebhookReceiver:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = self._runner.addresses[0][1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.release()
        if self._runner is not None:
            await self._runner.cleanup()
