"""LaneConnection: messages go to the lane as they are parsed, in order, and never after close()."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from functools import partial

import pytest
from websockets.asyncio.client import connect as ws_connect
from websockets.frames import Frame, Opcode

from src.data.ws_lane import LaneConnection
from tests.fakes.binance_server import FakeBinanceServer
from tests.fakes.fake_ws import wait_until, wire_frames


class Lane:
    """Takes every message except the ones listed in `decline`."""

    def __init__(self, decline: tuple[bytes, ...] = ()) -> None:
        self.taken: list[bytes] = []
        self.decline = decline

    def __call__(self, data: bytes | bytearray) -> bool:
        if bytes(data) in self.decline:
            return False
        self.taken.append(bytes(data))
        return True


@pytest.fixture
async def server() -> AsyncIterator[FakeBinanceServer]:
    async with FakeBinanceServer() as srv:
        yield srv


def dial(server: FakeBinanceServer, lane: Lane) -> ws_connect:
    return ws_connect(server.url, create_connection=partial(LaneConnection, lane=lane), compression=None)


async def test_text_and_binary_messages_go_to_the_lane_and_control_frames_do_not(server) -> None:
    lane = Lane()
    async with dial(server, lane) as ws:
        await server.wait_for_clients()
        await server.broadcast(b'{"a":1}')  # the fake sends text frames
        for conn in list(server._subscribed):
            await conn.send(b'{"b":2}')  # bytes: a binary frame
            await conn.ping(b"are you there")  # answered by websockets, never shown to the lane
        await wait_until(lambda: len(lane.taken) == 2)
        await ws.ping()
        assert lane.taken == [b'{"a":1}', b'{"b":2}'] and ws.queued == 0


async def test_after_a_queued_message_is_read_the_lane_takes_over_again(server) -> None:
    first = b'{"declined":true}'
    lane = Lane(decline=(first,))
    server.blast = wire_frames([first, b'{"n":1}', b'{"n":2}'])
    async with dial(server, lane) as ws:
        # Behind the queued message, the next two queue too: the lane may not overtake it.
        assert await ws.recv(False) == first
        assert await ws.recv(False) == b'{"n":1}'
        assert await ws.recv(False) == b'{"n":2}'
        assert ws.queued == 0 and lane.taken == []
        await server.broadcast(b'{"n":3}')
        await wait_until(lambda: lane.taken == [b'{"n":3}'])
        assert ws.queued == 0


async def test_the_lane_is_shut_as_soon_as_close_starts(server) -> None:
    lane = Lane()
    async with dial(server, lane) as ws:
        await server.broadcast(b'{"n":1}')
        await wait_until(lambda: lane.taken == [b'{"n":1}'])
        closing = asyncio.ensure_future(ws.close())
        await asyncio.sleep(0)  # close() has begun; the closing handshake has not finished
        ws.process_event(Frame(Opcode.TEXT, b'{"n":2}'))  # a trade still on its way in
        assert lane.taken == [b'{"n":1}'] and ws.queued == 1  # left unread, as a stopped recv() loop would
        await closing
