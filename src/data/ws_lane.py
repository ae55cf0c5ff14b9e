"""A websockets client connection that hands each complete message to the feed as it is parsed."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from websockets.asyncio.client import ClientConnection
from websockets.frames import Frame, Opcode

# Given one complete message (its raw payload; websockets hands over a bytearray): True if it
# consumed the message, False to leave it for recv(). Runs inside data_received: it must not block,
# and an exception there makes asyncio log it and drop the connection.
FrameLane = Callable[[bytes | bytearray], bool]


def _closed_lane(data: bytes | bytearray) -> bool:
    return False


_WHOLE = frozenset({Opcode.TEXT, Opcode.BINARY})  # with FIN set: a message in one frame
_DATA = frozenset({Opcode.CONT, Opcode.TEXT, Opcode.BINARY})


class LaneConnection(ClientConnection):
    """A ClientConnection that offers every unfragmented data message to `lane` before queueing it.

    Why: a recv() loop pays, per message, for websockets' message queue, its flow-control checks and
    three coroutine frames before the feed sees a byte. For a stream of ~200-byte trades that costs
    about as much CPU as decoding the trade and updating the window. The lane runs synchronously
    while websockets parses the bytes it read, so nothing is queued and reading stays back-pressured
    by the handler itself.

    Order is kept: once a message has gone to the queue, every later data frame goes there too until
    recv() has returned all of them, so the lane never overtakes an earlier message. Fragmented
    messages, control frames (ping, pong, close) and the handshake take websockets' own path. RFC 6455
    allows only control frames inside a fragmented message, so a text or binary frame with FIN always
    starts and ends a message of its own.

    The lane closes when close() is called (by the feed: stop, a planned or watchdog reconnect, the
    end of the session): trades still arriving during the closing handshake are left unread, as a
    recv() loop that has stopped reading leaves them, and no callback fires after the feed is done.

    Read messages with recv() only: it is what counts queued messages back down.

    The hook (process_event) is websockets' own extension point for subclasses; should a release stop
    calling it, every message simply arrives through recv() as before (tests/test_binance_feed.py
    checks that the lane is in use with the installed version).
    """

    def __init__(self, *args: Any, lane: FrameLane, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._lane = lane
        self.queued = 0  # complete messages put in websockets' queue that recv() has not returned yet

    def process_event(self, event: Any) -> None:
        if (
            self.queued == 0
            and event.__class__ is Frame
            and event.fin
            and event.opcode in _WHOLE
            and self._lane(event.data)
        ):
            return
        if event.__class__ is Frame and event.opcode in _DATA and event.fin:
            self.queued += 1
        super().process_event(event)

    async def recv(self, decode: bool | None = None) -> Any:
        message = await super().recv(decode)
        self.queued -= 1
        return message

    async def close(self, *args: Any, **kwargs: Any) -> None:
        self._lane = _closed_lane
        await super().close(*args, **kwargs)
