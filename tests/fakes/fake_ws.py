"""A scriptable local websocket server on 127.0.0.1 that the venue fakes (Binance, Coinbase) build on.

Control API (all venue fakes share it):
- lifecycle: `async with Fake() as server:` (or `await server.start()` / `await server.stop()`);
  `server.url` is the local ws:// URL, `server.port` the random port.
- client side: pass `server.connect` as the feed's `connect=` factory. It has websockets.connect's
  signature, records the URI the production code asked for in `server.dialed` (the real wss:// URL,
  which the allowlist checked) and dials the local server instead.
- sending: `await server.broadcast(frame)` to every subscribed connection; `script` (a list of
  frames) is sent to each new connection right after its handshake/subscription.
- blasting (benchmarks): `server.blast = wire_frames(frames)` writes those frames, pre-encoded, straight
  to each new connection's socket in one go, so the server costs next to nothing per message.
- streaming: `server.start_stream(interval_s)` sends `next_frame()` to everyone every interval;
  `stop_stream()`; `stall()` keeps connections open but sends nothing (pings still answered);
  `resume()`.
- faults: `await server.drop()` aborts every TCP connection without a close frame;
  `await server.close_clients(code)` closes them cleanly; `server.reject_status = 451` refuses every
  handshake with that HTTP status until set back to None (plus `reject_headers`, e.g. Retry-After).
- observing: `accepted` (handshakes accepted), `rejected`, `open_count`, `received` (client frames),
  `await server.wait_for(lambda: ...)`.
"""

from __future__ import annotations

import asyncio
import contextlib
import http
from collections.abc import Callable, Sequence
from typing import Any

from websockets.asyncio.client import connect as ws_connect
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

Frame = bytes | str


def wire_frames(frames: Sequence[Frame]) -> bytes:
    """Encode text frames exactly as a server puts them on the wire (FIN + text opcode, unmasked)."""
    out = bytearray()
    for frame in frames:
        data = frame.encode() if isinstance(frame, str) else frame
        n = len(data)
        if n < 126:
            out += bytes((0x81, n))
        elif n < 65536:
            out += bytes((0x81, 126)) + n.to_bytes(2, "big")
        else:
            out += bytes((0x81, 127)) + n.to_bytes(8, "big")
        out += data
    return bytes(out)


async def wait_until(predicate: Callable[[], bool], timeout: float = 5.0, interval: float = 0.002) -> None:
    """Poll `predicate` on the event loop until true; fail the test after `timeout` real seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        if loop.time() > deadline:
            raise TimeoutError(f"condition not met within {timeout} s")
        await asyncio.sleep(interval)


class FakeWsServer:
    """Base class: subclasses set `path`, `reject_body`, and override `next_frame` / `on_connect`."""

    path = "/"
    reject_body = "Unavailable For Legal Reasons\n"

    def __init__(self, script: Sequence[Frame] = ()) -> None:
        self.script: list[Frame] = list(script)
        self.port = 0
        self.reject_status: int | None = None
        self.reject_headers: list[tuple[str, str]] = []  # e.g. [("Retry-After", "120")]
        self.accepted = 0
        self.rejected = 0
        self.dialed: list[str] = []
        self.received: list[Frame] = []
        self.stalled = False
        self.blast: bytes | None = None
        self._server: Server | None = None
        self._subscribed: set[ServerConnection] = set()
        self._stream_task: asyncio.Task[None] | None = None

    # -- lifecycle ---------------------------------------------------------------------------------

    async def start(self) -> FakeWsServer:
        self._server = await serve(
            self._handler,
            "127.0.0.1",
            0,
            process_request=self._process_request,
            compression=None,
            max_queue=None,
        )
        sock = next(iter(self._server.sockets))
        self.port = sock.getsockname()[1]
        return self

    async def stop(self) -> None:
        self.stop_stream()
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 3.0)
            self._server = None

    async def __aenter__(self) -> Any:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}{self.path}"

    def connect(self, uri: str, **kwargs: Any) -> Any:
        """websockets.connect look-alike: remember the real URI, dial this local server instead."""
        self.dialed.append(uri)
        return ws_connect(self.url, **kwargs)

    # -- observing ---------------------------------------------------------------------------------

    @property
    def open_count(self) -> int:
        return len(self._subscribed)

    async def wait_for(self, predicate: Callable[[], bool], timeout: float = 5.0) -> None:
        await wait_until(predicate, timeout)

    async def wait_for_clients(self, n: int = 1, timeout: float = 5.0) -> None:
        """Until `n` handshakes in total have been accepted and someone is listening."""
        await wait_until(lambda: self.accepted >= n and self.open_count > 0, timeout)

    # -- sending -----------------------------------------------------------------------------------

    def next_frame(self) -> Frame:
        """The next frame the stream sends (a venue trade message)."""
        raise NotImplementedError

    async def broadcast(self, frame: Frame) -> int:
        """Send one frame to every subscribed connection; returns how many got it."""
        sent = 0
        for ws in list(self._subscribed):
            try:
                await ws.send(frame, text=True)  # venues send JSON as text frames, bytes or not
                sent += 1
            except ConnectionClosed:
                self._subscribed.discard(ws)
        return sent

    async def send_frames(self, frames: Sequence[Frame]) -> None:
        for frame in frames:
            await self.broadcast(frame)

    def start_stream(self, interval_s: float = 0.01) -> None:
        """Send `next_frame()` to all subscribers every `interval_s` (0: as fast as the loop allows)."""
        self.stop_stream()
        self._stream_task = asyncio.ensure_future(self._stream(interval_s))

    def stop_stream(self) -> None:
        if self._stream_task is not None:
            self._stream_task.cancel()
            self._stream_task = None

    def stall(self) -> None:
        """Keep connections open but let the stream send nothing (explicit broadcasts still go out)."""
        self.stalled = True

    def resume(self) -> None:
        self.stalled = False

    # -- faults ------------------------------------------------------------------------------------

    async def drop(self) -> None:
        """Abort every connection's TCP stream: the client sees no close frame (a network cut)."""
        for ws in list(self._subscribed):
            ws.transport.abort()
        self._subscribed.clear()

    async def close_clients(self, code: int = 1001, reason: str = "going away") -> None:
        for ws in list(self._subscribed):
            with contextlib.suppress(Exception):
                await ws.close(code, reason)
        self._subscribed.clear()

    # -- internals ---------------------------------------------------------------------------------

    async def on_connect(self, ws: ServerConnection) -> bool:
        """Venue handshake after the websocket opens (e.g. read a subscribe); False drops the client."""
        return True

    async def _process_request(self, connection: ServerConnection, request: Request) -> Response | None:
        if self.reject_status is not None:
            self.rejected += 1
            status = http.HTTPStatus(self.reject_status)
            return Response(
                status.value,
                status.phrase,
                Headers([("Content-Type", "application/json"), *self.reject_headers]),
                self.reject_body.encode(),
            )
        return None

    async def _handler(self, ws: ServerConnection) -> None:
        self.accepted += 1
        try:
            if not await self.on_connect(ws):
                return
            for frame in self.script:
                await ws.send(frame, text=True)
            if self.blast is not None:
                ws.transport.write(self.blast)
            self._subscribed.add(ws)
            async for message in ws:
                self.received.append(message)
        except ConnectionClosed:
            pass
        finally:
            self._subscribed.discard(ws)

    async def _stream(self, interval_s: float) -> None:
        while True:
            if not self.stalled and self._subscribed:
                await self.broadcast(self.next_frame())
            await asyncio.sleep(interval_s)
