"""A fake Polymarket Data API (leaderboard and per-wallet trades) on 127.0.0.1 over TLS, shaped like the real one."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from tests.fakes.polymarket_server import FakeHttpsServer, LoopbackTLS


def leaderboard_row(wallet: str, pnl: float | int, rank: int, name: str = "", vol: float | int = 0) -> dict[str, Any]:
    """A `/v1/leaderboard` row as the Data API sends it (numbers are JSON numbers, rank a string)."""
    return {
        "rank": str(rank),
        "proxyWallet": wallet,
        "userName": name or f"whale{rank}",
        "vol": vol,
        "pnl": pnl,
        "profileImage": "",
        "xUsername": None,
        "verifiedBadge": None,
    }


def trade_row(
    wallet: str,
    tx: str,
    ts: int,
    *,
    side: str = "BUY",
    asset: str = "1234567890",
    price: float = 0.42,
    size: float = 100.0,
    outcome: str = "Yes",
    outcome_index: int = 0,
    condition: str = "0x" + "ab" * 32,
) -> dict[str, Any]:
    """A `/trades` row as the Data API sends it."""
    return {
        "proxyWallet": wallet,
        "side": side,
        "asset": asset,
        "conditionId": condition,
        "size": size,
        "price": price,
        "timestamp": ts,
        "title": "Will it happen?",
        "slug": "will-it-happen",
        "icon": "",
        "eventSlug": "it",
        "outcome": outcome,
        "outcomeIndex": outcome_index,
        "name": "",
        "pseudonym": "",
        "bio": "",
        "profileImage": "",
        "profileImageOptimized": "",
        "transactionHash": tx,
    }


class FakeDataApi(FakeHttpsServer):
    """`/v1/leaderboard` and `/trades?user=` with limit/offset, newest trades first."""

    def __init__(self, tls: LoopbackTLS) -> None:
        super().__init__(tls)
        self.leaderboard: list[dict[str, Any]] = []
        self.trades: dict[str, list[dict[str, Any]]] = {}  # by lower-cased wallet
        self.app.router.add_get("/v1/leaderboard", self._leaderboard)
        self.app.router.add_get("/trades", self._trades)

    def add_trade(self, row: dict[str, Any]) -> None:
        self.trades.setdefault(row["proxyWallet"].lower(), []).append(row)

    async def _leaderboard(self, request: web.Request) -> web.Response:
        limit = int(request.query.get("limit", "25"))
        if not 1 <= limit <= 50:
            return web.Response(status=400, text=json.dumps({"error": "limit out of range"}))
        return web.Response(text=json.dumps(self.leaderboard[:limit]), content_type="application/json")

    async def _trades(self, request: web.Request) -> web.Response:
        user = request.query.get("user", "").lower()
        limit = int(request.query.get("limit", "100"))
        offset = int(request.query.get("offset", "0"))
        rows = sorted(self.trades.get(user, []), key=lambda r: r["timestamp"], reverse=True)
        return web.Response(text=json.dumps(rows[offset : offset + limit]), content_type="application/json")
