"""Builds the aiohttp session every venue client uses, so that each HTTP try is the client's own."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import aiohttp

# Tests inject one (a resolver that maps the real host name to a local fake server).
ConnectorFactory = Callable[[], aiohttp.BaseConnector]


def new_session(connector_factory: ConnectorFactory | None = None, **options: Any) -> aiohttp.ClientSession:
    """A ClientSession on the injected connector (or a default TCPConnector) with `options`.

    aiohttp silently sends an idempotent request (GET, HEAD, PUT, DELETE...) a second time when a
    kept-alive connection drops under it. That second request would bypass the client's token
    bucket, its retry policy and its log: for a DELETE /order or a status read, every try must be
    one the client chose to make. aiohttp has no public switch for this; the attribute is checked
    for so an aiohttp without it still works (tests/test_net.py fails if the re-send comes back).
    """
    connector = connector_factory() if connector_factory is not None else aiohttp.TCPConnector()
    session = aiohttp.ClientSession(connector=connector, **options)
    if hasattr(session, "_retry_connection"):
        session._retry_connection = False
    return session
