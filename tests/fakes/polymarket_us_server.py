"""A fake Polymarket US exchange (api. and gateway.polymarket.us) on 127.0.0.1 over TLS, strict about signatures.

Reached through the real host names by resolver injection (see tests/fakes/polymarket_server.py),
so the client's allowlist runs unchanged. Like the real venue:
- public paths answer only on gateway.polymarket.us, signed paths only on api.polymarket.us;
- every signed request must carry X-PM-Access-Key / X-PM-Timestamp / X-PM-Signature, the
  signature is verified with PyNaCl (the official SDK's own Ed25519 library, independent of
  src/) over timestamp + METHOD + path, and a timestamp more than 30 s from the fake's clock is
  refused: 401 either way;
- one instrument per market (YES); bids/offers and order prices are YES prices; BUY_SHORT at
  YES price p buys NO by selling YES to bids at or above p;
- orders fill immediately against the book (FOK all or nothing, IOC what is there), move the
  position (negative = NO), the balance and the trade history (`/v1/portfolio/activities`).
Faults: the shared per-path `fail()` (status, delay, drop: before the order is applied) and
`order_faults` for what happens AFTER an order was applied: "timeout" (the answer comes too
late) or "drop" (the connection is cut instead of answering).
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from email.utils import formatdate
from typing import Any

from aiohttp import web
from nacl.exceptions import BadSignatureError
from nacl.signing import SigningKey, VerifyKey

from tests.fakes.polymarket_server import FakeHttpsServer, LoopbackTLS

API_HOST = "api.polymarket.us"
GATEWAY_HOST = "gateway.polymarket.us"
WINDOW_MS = 30_000


def new_us_key() -> tuple[str, str]:
    """(key id, base64 64-byte secret: seed + public key) as polymarket.us/developer hands them out."""
    signing = SigningKey.generate()
    secret = bytes(signing) + bytes(signing.verify_key)
    return "4f1e2d3c-5b6a-4798-8a9b-0c1d2e3f4a5b", base64.b64encode(secret).decode()


def amount(value: Decimal | str) -> dict[str, str]:
    return {"value": str(value), "currency": "USD"}


def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def moneyline_market(slug: str, long_team: tuple[str, str, str], short_team: tuple[str, str, str], *,
                     closed: bool = False, start: str = "2026-12-07T18:00:00Z") -> dict[str, Any]:  # fmt: skip
    """A moneyline market in the shape the gateway sends (real captured structure, see tests/data)."""

    def side(team: tuple[str, str, str], long: bool, ordering: str) -> dict[str, Any]:
        description, name, abbreviation = team
        return {"description": description, "identifier": slug, "long": long,
                "team": {"abbreviation": abbreviation, "league": slug.split("-")[1], "name": name,
                         "ordering": ordering}}  # fmt: skip

    return {"market": {
        "id": "1", "slug": slug, "question": f"{long_team[1]} vs. {short_team[1]}", "active": True,
        "closed": closed, "category": "sports", "gameStartTime": start, "marketType": "moneyline",
        "sportsMarketType": "moneyline",
        "marketSides": [side(long_team, True, "away"), side(short_team, False, "home")],
    }}  # fmt: skip


LAC_TEN = "aec-nfl-lac-ten-2026-12-07"  # the market the conftest's `us_fake` lists


def lac_ten_market() -> dict[str, Any]:
    """Chargers at Titans, the moneyline market every Polymarket US suite trades or maps to."""
    return moneyline_market(LAC_TEN, ("Chargers", "Los Angeles Chargers", "lac"), ("Titans", "Tennessee Titans", "ten"))


@dataclass
class UsBook:
    bids: list[tuple[Decimal, Decimal]] = field(default_factory=list)  # (YES price, qty)
    offers: list[tuple[Decimal, Decimal]] = field(default_factory=list)


def _json(payload: Any, status: int = 200) -> web.Response:
    return web.Response(status=status, text=json.dumps(payload), content_type="application/json")


def _error(status: int, code: int, message: str) -> web.Response:
    return _json({"code": code, "message": message, "details": []}, status)


class FakePolymarketUS(FakeHttpsServer):
    """Enough of Polymarket US for the client, the paper and live paths and --verify."""

    def __init__(self, tls: LoopbackTLS, key_id: str, secret_b64: str, *,
                 now: Callable[[], float] = time.time) -> None:  # fmt: skip
        super().__init__(tls)
        raw = base64.b64decode(secret_b64)
        self.key_id = key_id
        self.verify_key = VerifyKey(raw[32:] if len(raw) == 64 else bytes(SigningKey(raw).verify_key))
        self.now = now
        self.markets: dict[str, dict[str, Any]] = {}
        self.events: dict[str, dict[str, Any]] = {}
        self.books: dict[str, UsBook] = {}
        self.settlements: dict[str, Decimal] = {}
        self.balance = Decimal("500.00")
        self.positions: dict[str, Decimal] = {}
        self.trades: list[dict[str, Any]] = []  # newest last
        self.orders: dict[str, dict[str, Any]] = {}
        self.order_faults: list[str] = []  # "timeout" | "drop", applied AFTER the order took effect
        self.timeout_s = 6.0
        self.commission_rate = Decimal("0")
        self.page_size = 2
        self.auth_failures: list[str] = []
        self.created: list[dict[str, Any]] = []  # every order body applied, in order
        self.cancel_all_misses = 0  # cancel-alls answered "done" that cancel nothing (the venue at its hardest)
        self.date_offset_s = 0.0  # how far the fake's Date header is from real time (clock-skew checks)
        self.app.on_response_prepare.append(self._date_header)
        r = self.app.router
        r.add_get("/v1/markets", self._markets)
        r.add_get("/v1/market/slug/{slug}", self._market)
        r.add_get("/v1/events/slug/{slug}", self._event)
        r.add_get("/v1/markets/{slug}/book", self._book)
        r.add_get("/v1/markets/{slug}/settlement", self._settlement)
        r.add_post("/v1/orders", self._create)
        r.add_get("/v1/order/{order_id}", self._order)
        r.add_post("/v1/order/{order_id}/cancel", self._cancel)
        r.add_get("/v1/orders/open", self._open)
        r.add_post("/v1/orders/open/cancel", self._cancel_all)
        r.add_get("/v1/portfolio/positions", self._positions)
        r.add_get("/v1/portfolio/activities", self._activities)
        r.add_get("/v1/account/balances", self._balances)

    async def _date_header(self, _request: web.Request, response: web.StreamResponse) -> None:
        if self.date_offset_s:
            response.headers["Date"] = formatdate(time.time() + self.date_offset_s, usegmt=True)

    # -- host and auth checks ------------------------------------------------------------------

    @staticmethod
    def _host(request: web.Request) -> str:
        return (request.host or "").split(":")[0]

    def _public_ok(self, request: web.Request) -> bool:
        return self._host(request) == GATEWAY_HOST

    def _auth_error(self, request: web.Request) -> web.Response | None:
        if self._host(request) != API_HOST:
            return _error(404, 5, "not found")
        h = request.headers
        ts = h.get("X-PM-Timestamp", "")
        reason = ""
        if h.get("X-PM-Access-Key") != self.key_id:
            reason = "unknown api key"
        elif not ts.isdigit():
            reason = "missing timestamp"
        elif abs(int(ts) - self.now() * 1000) > WINDOW_MS:
            reason = "timestamp outside the 30 second window"
        else:
            try:
                signature = base64.b64decode(h.get("X-PM-Signature", ""), validate=True)
                self.verify_key.verify(f"{ts}{request.method}{request.path}".encode(), signature)
            except (BadSignatureError, ValueError):
                reason = "invalid signature"
        if reason:
            self.auth_failures.append(reason)
            return _error(401, 16, reason)
        return None

    # -- public ---------------------------------------------------------------------------------

    async def _markets(self, request: web.Request) -> web.Response:
        if not self._public_ok(request):
            return _error(404, 5, "not found")
        limit = int(request.query.get("limit", "20"))
        rows = [m["market"] for m in self.markets.values()
                if not (request.query.get("closed") == "false" and m["market"].get("closed"))]  # fmt: skip
        return _json({"markets": rows[:limit]})

    async def _market(self, request: web.Request) -> web.Response:
        if not self._public_ok(request):
            return _error(404, 5, "not found")
        market = self.markets.get(request.match_info["slug"])
        return _json(market) if market else _error(404, 5, "market not found")

    async def _event(self, request: web.Request) -> web.Response:
        if not self._public_ok(request):
            return _error(404, 5, "not found")
        event = self.events.get(request.match_info["slug"])
        return _json(event) if event else _error(404, 5, "event not found")

    async def _book(self, request: web.Request) -> web.Response:
        slug = request.match_info["slug"]
        if not self._public_ok(request) or slug not in self.books:
            return _error(404, 5, "market not found")
        book = self.books[slug]
        return _json({"marketData": {
            "marketSlug": slug,
            "bids": [{"px": amount(p), "qty": str(q)} for p, q in sorted(book.bids, reverse=True)],
            "offers": [{"px": amount(p), "qty": str(q)} for p, q in sorted(book.offers)],
            "state": "MARKET_STATE_OPEN", "transactTime": iso(self.now()),
        }})  # fmt: skip

    async def _settlement(self, request: web.Request) -> web.Response:
        slug = request.match_info["slug"]
        if not self._public_ok(request) or slug not in self.settlements:
            return _error(404, 5, "settlement not found")
        return _json({"slug": slug, "settlement": float(self.settlements[slug])})

    # -- orders ---------------------------------------------------------------------------------

    def _fill(self, slug: str, intent: str, price: Decimal, quantity: int, tif: str) -> list[tuple[Decimal, Decimal]]:
        """Take liquidity; returns [(YES price, qty)] and removes it from the book."""
        book = self.books.setdefault(slug, UsBook())
        if intent == "ORDER_INTENT_BUY_LONG":
            levels, ok = sorted(book.offers), (lambda px: px <= price)
        else:  # BUY_SHORT: sell YES to the bids at or above the YES price
            levels, ok = sorted(book.bids, reverse=True), (lambda px: px >= price)
        takes: list[tuple[Decimal, Decimal]] = []
        left = Decimal(quantity)
        for px, qty in levels:
            if left <= 0 or not ok(px):
                break
            take = min(qty, left)
            takes.append((px, take))
            left -= take
        if left > 0 and tif == "TIME_IN_FORCE_FILL_OR_KILL":
            return []
        remaining = {px: qty for px, qty in levels}
        for px, take in takes:
            remaining[px] -= take
        rest = [(px, q) for px, q in remaining.items() if q > 0]
        if intent == "ORDER_INTENT_BUY_LONG":
            book.offers = rest
        else:
            book.bids = rest
        return takes

    async def _create(self, request: web.Request) -> web.StreamResponse:
        denied = self._auth_error(request)
        if denied is not None:
            return denied
        try:
            body = json.loads(await request.text())
            slug, intent, tif = body["marketSlug"], body["intent"], body["tif"]
            price = Decimal(body["price"]["value"])
            quantity = body["quantity"]
            if body["type"] != "ORDER_TYPE_LIMIT" or body["price"]["currency"] != "USD":
                raise ValueError("type")
            if intent not in ("ORDER_INTENT_BUY_LONG", "ORDER_INTENT_BUY_SHORT") or not isinstance(quantity, int):
                raise ValueError("intent")
        except (KeyError, TypeError, ValueError, ArithmeticError):
            return _error(400, 3, "invalid order request")
        if slug not in self.markets:
            return _error(400, 3, f"unknown market {slug}")
        self.created.append(body)
        now = self.now()
        order_id = f"ord-{len(self.orders) + 1:06d}"
        takes = self._fill(slug, intent, price, quantity, tif)
        filled = sum((q for _, q in takes), Decimal(0))
        executions = []
        commission_total = Decimal(0)
        for px, qty in takes:
            trade_id = f"trd-{len(self.trades) + 1:06d}"
            paid = px if intent == "ORDER_INTENT_BUY_LONG" else 1 - px
            commission = (self.commission_rate * qty * paid * (1 - paid)).quantize(Decimal("0.01"))
            commission_total += commission
            self.balance -= paid * qty + commission
            sign = 1 if intent == "ORDER_INTENT_BUY_LONG" else -1
            self.positions[slug] = self.positions.get(slug, Decimal(0)) + sign * qty
            self.trades.append({"id": trade_id, "marketSlug": slug, "state": "TRADE_STATE_CLEARED",
                                "createTime": iso(now), "updateTime": iso(now), "price": amount(px),
                                "qty": str(qty), "qtyDecimal": str(qty), "isAggressor": True})  # fmt: skip
            executions.append({"id": f"exe-{trade_id}", "lastShares": str(qty), "lastPx": amount(px),
                               "type": "EXECUTION_TYPE_PARTIAL_FILL", "tradeId": trade_id, "aggressor": True,
                               "commissionNotionalCollected": amount(commission)})  # fmt: skip
        state = "ORDER_STATE_FILLED" if filled == quantity else "ORDER_STATE_CANCELED"
        avg = (sum((p * q for p, q in takes), Decimal(0)) / filled) if filled else None
        order = {"id": order_id, "marketSlug": slug, "side": "ORDER_SIDE_BUY", "type": body["type"],
                 "price": body["price"], "quantity": quantity, "cumQuantity": int(filled),
                 "leavesQuantity": 0, "tif": tif, "intent": intent, "state": state,
                 "avgPx": amount(avg.quantize(Decimal("0.0001"))) if avg is not None else None,
                 "commissionNotionalTotalCollected": amount(commission_total),
                 "createTime": iso(now), "insertTime": iso(now)}  # fmt: skip
        self.orders[order_id] = order
        for e in executions:
            e["order"] = {"id": order_id, "state": state}
        fault = self.order_faults.pop(0) if self.order_faults else ""
        if fault == "timeout":
            await asyncio.sleep(self.timeout_s)
        elif fault == "drop":
            if request.transport is not None:
                request.transport.abort()
            return web.Response()
        return _json({"id": order_id, "executions": executions})

    async def _order(self, request: web.Request) -> web.Response:
        denied = self._auth_error(request)
        if denied is not None:
            return denied
        order = self.orders.get(request.match_info["order_id"])
        return _json({"order": order}) if order else _error(404, 5, "order not found")

    async def _cancel(self, request: web.Request) -> web.Response:
        denied = self._auth_error(request)
        if denied is not None:
            return denied
        order = self.orders.get(request.match_info["order_id"])
        if order is None:
            return _error(404, 5, "order not found")
        if order["state"] in ("ORDER_STATE_NEW", "ORDER_STATE_PARTIALLY_FILLED"):
            order["state"] = "ORDER_STATE_CANCELED"
        return _json({})

    def _resting(self, slugs: list[str]) -> list[dict[str, Any]]:
        return [o for o in self.orders.values() if o["state"] in ("ORDER_STATE_NEW", "ORDER_STATE_PARTIALLY_FILLED")
                and (not slugs or o["marketSlug"] in slugs)]  # fmt: skip

    async def _open(self, request: web.Request) -> web.Response:
        denied = self._auth_error(request)
        if denied is not None:
            return denied
        return _json({"orders": self._resting(request.query.getall("slugs", []))})

    async def _cancel_all(self, request: web.Request) -> web.Response:
        denied = self._auth_error(request)
        if denied is not None:
            return denied
        ids = []
        if self.cancel_all_misses > 0:
            self.cancel_all_misses -= 1
            return _json({"canceledOrderIds": ids})
        for order in self._resting([]):
            order["state"] = "ORDER_STATE_CANCELED"
            ids.append(order["id"])
        return _json({"canceledOrderIds": ids})

    async def _positions(self, request: web.Request) -> web.Response:
        denied = self._auth_error(request)
        if denied is not None:
            return denied
        market = request.query.get("market")
        rows = {slug: {"netPosition": str(int(net)), "netPositionDecimal": str(net), "expired": False}
                for slug, net in self.positions.items() if net != 0 and (not market or slug == market)}  # fmt: skip
        return _json({"positions": rows, "eof": True})

    async def _activities(self, request: web.Request) -> web.Response:
        denied = self._auth_error(request)
        if denied is not None:
            return denied
        slug = request.query.get("marketSlug")
        rows = [t for t in reversed(self.trades) if not slug or t["marketSlug"] == slug]
        start = int(request.query.get("cursor", "0") or 0)
        chunk = rows[start : start + self.page_size]
        nxt = start + self.page_size
        payload: dict[str, Any] = {"activities": [{"type": "ACTIVITY_TYPE_TRADE", "trade": t} for t in chunk],
                                   "eof": nxt >= len(rows)}  # fmt: skip
        if nxt < len(rows):
            payload["nextCursor"] = str(nxt)
        return _json(payload)

    async def _balances(self, request: web.Request) -> web.Response:
        denied = self._auth_error(request)
        if denied is not None:
            return denied
        return _json({"balances": [{"currentBalance": float(self.balance), "currency": "USD",
                                    "buyingPower": float(self.balance), "lastUpdated": iso(self.now())}]})  # fmt: skip
