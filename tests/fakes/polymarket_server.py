"""A fake Polymarket CLOB V2 on 127.0.0.1 over TLS, reached through the real host name by resolver injection.

How tests reach it without widening any allowlist: the server presents a throwaway certificate
for the real host names; the client's injected connector resolves those names to 127.0.0.1 and
the fake's port, and trusts only that certificate. The client still requests
https://clob.polymarket.com/..., so its allowlist check runs unchanged.

The fake checks auth independently of src/: L2 HMAC with py-clob-client-v2's signer (the test-only
oracle) over the exact body bytes received, L1 and order signatures by EIP-712 recovery.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import socket
import ssl
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web
from aiohttp.abc import AbstractResolver, ResolveResult
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from eth_account import Account
from eth_account.messages import encode_typed_data
from py_clob_client_v2.order_utils.exchange_order_builder_v2 import ExchangeOrderBuilderV2
from py_clob_client_v2.order_utils.model.order_data_v2 import OrderV2 as RefOrderV2
from py_clob_client_v2.signing.hmac import build_hmac_signature as ref_hmac

CLOB_HOST = "clob.polymarket.com"
DATA_HOST = "data-api.polymarket.com"
END_CURSOR = "LTE="


# ------------------------------------------------------------------ TLS loopback plumbing


class LoopbackTLS:
    """A throwaway certificate for the real host names, and the matching server/client contexts."""

    def __init__(self, hostnames: tuple[str, ...] = (CLOB_HOST, DATA_HOST)) -> None:
        key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hostnames[0])])
        now = dt.datetime.now(dt.UTC)
        cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(h) for h in hostnames]), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256())
        )
        self._dir = tempfile.TemporaryDirectory()
        cert_pem = cert.public_bytes(serialization.Encoding.PEM)
        cert_path = Path(self._dir.name) / "cert.pem"
        key_path = Path(self._dir.name) / "key.pem"
        cert_path.write_bytes(cert_pem)
        key_path.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )
        self.server_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.server_context.load_cert_chain(cert_path, key_path)
        # The client trusts this one certificate only, with full host-name checking.
        self.client_context = ssl.create_default_context(cadata=cert_pem.decode("ascii"))

    def cleanup(self) -> None:
        self._dir.cleanup()


class LoopbackResolver(AbstractResolver):
    """Resolves the mapped host names to 127.0.0.1 and the fake's port; anything else fails (offline)."""

    def __init__(self, ports: dict[str, int], lookups: list[str] | None = None) -> None:
        self._ports = ports
        self.lookups: list[str] = [] if lookups is None else lookups

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        self.lookups.append(host)
        if host not in self._ports:
            raise OSError(f"test resolver: {host} is not a fake host")
        return [
            ResolveResult(
                hostname=host, host="127.0.0.1", port=self._ports[host], family=socket.AF_INET, proto=0, flags=0
            )
        ]

    async def close(self) -> None:
        return None


def connector_factory(
    tls: LoopbackTLS, ports: dict[str, int], lookups: list[str] | None = None
) -> Callable[[], aiohttp.BaseConnector]:
    """What a test passes as `connector_factory`: real host names, local servers (`lookups` records names)."""

    def make() -> aiohttp.BaseConnector:
        return aiohttp.TCPConnector(resolver=LoopbackResolver(ports, lookups), ssl=tls.client_context)

    return make


# ------------------------------------------------------------------ scripted faults


@dataclass
class Fault:
    """What the next matching request gets instead of the normal answer."""

    status: int = 0  # an HTTP error status, or 0 for none
    delay_s: float = 0.0  # sleep before answering (timeouts)
    body: str | None = None  # a raw body instead of the normal JSON (malformed responses)
    headers: dict[str, str] = field(default_factory=dict)
    drop: bool = False  # abort the TCP connection without answering


@dataclass
class Seen:
    """One request as the fake received it."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: str


class FakeHttpsServer:
    """Base: an aiohttp app on 127.0.0.1 with TLS, scripted per-path faults and a request log."""

    def __init__(self, tls: LoopbackTLS) -> None:
        self.tls = tls
        self.app = web.Application(middlewares=[self._middleware])
        self.faults: dict[str, list[Fault]] = {}
        self.requests: list[Seen] = []
        self.port = 0
        self._runner: web.AppRunner | None = None

    def fail(self, path: str, *faults: Fault) -> None:
        self.faults.setdefault(path, []).extend(faults)

    def hits(self, path: str, method: str | None = None) -> list[Seen]:
        return [r for r in self.requests if r.path == path and (method is None or r.method == method)]

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Any) -> web.StreamResponse:
        body = await request.text()
        self.requests.append(Seen(request.method, request.path, dict(request.query), dict(request.headers), body))
        queue = self.faults.get(request.path)
        if queue:
            fault = queue.pop(0)
            if fault.delay_s:
                await asyncio.sleep(fault.delay_s)
            if fault.drop:
                if request.transport is not None:
                    request.transport.abort()
                return web.Response()  # never written: the connection is gone
            if fault.status:
                text = fault.body if fault.body is not None else json.dumps({"error": f"scripted {fault.status}"})
                return web.Response(status=fault.status, text=text, headers=fault.headers)
            if fault.body is not None:
                return web.Response(status=200, text=fault.body, content_type="application/json")
        return await handler(request)

    async def start(self) -> None:
        self._runner = web.AppRunner(self.app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0, ssl_context=self.tls.server_context)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()


# ------------------------------------------------------------------ the fake CLOB


def market_row(
    condition: str, yes_token: str, no_token: str, *, closed: bool = False, winner: str | None = None
) -> dict[str, Any]:
    """A CLOB `GET /markets/{condition_id}` body for a two-outcome market; `winner` is the winning token once closed."""
    return {
        "condition_id": condition,
        "question": "Will it happen?",
        "tokens": [
            {"token_id": yes_token, "outcome": "Yes", "price": 0.41, "winner": winner == yes_token},
            {"token_id": no_token, "outcome": "No", "price": 0.59, "winner": winner == no_token},
        ],
        "active": True,
        "closed": closed,
        "accepting_orders": not closed,
        "end_date_iso": "2026-12-31T00:00:00Z",
    }


def _json(payload: Any, status: int = 200) -> web.Response:
    return web.Response(status=status, text=json.dumps(payload), content_type="application/json")


class FakeClob(FakeHttpsServer):
    """Enough of CLOB V2 for the client: market data, API keys, orders, paginated reads."""

    def __init__(self, tls: LoopbackTLS, chain_id: int = 137) -> None:
        super().__init__(tls)
        self.chain_id = chain_id
        self.creds: dict[str, str] | None = None  # the API key the fake accepts
        self.address: str | None = None  # whose key it is
        self.books: dict[str, dict[str, Any]] = {}
        self.tick_sizes: dict[str, Any] = {}
        self.neg_risk: dict[str, bool] = {}
        self.markets: dict[str, dict[str, Any]] = {}
        self.posted: list[dict[str, Any]] = []
        self.open_orders: list[dict[str, Any]] = []
        self.trades: list[dict[str, Any]] = []
        self.page_size = 2
        self.order_answer: dict[str, Any] = {"status": "live"}
        r = self.app.router
        r.add_get("/book", self._book)
        r.add_get("/price", self._price)
        r.add_get("/midpoint", self._midpoint)
        r.add_get("/tick-size", self._tick)
        r.add_get("/fee-rate", self._fee)
        r.add_get("/neg-risk", self._neg_risk)
        r.add_get("/markets/{condition_id}", self._market)
        r.add_post("/auth/api-key", self._create_key)
        r.add_get("/auth/derive-api-key", self._derive_key)
        r.add_post("/order", self._post_order)
        r.add_delete("/order", self._cancel)
        r.add_delete("/cancel-all", self._cancel_all)
        r.add_get("/data/orders", self._orders)
        r.add_get("/data/trades", self._trades)

    # -- auth checks (independent of src/)

    def _l1_ok(self, request: web.Request) -> bool:
        h = request.headers
        typed = {
            "types": {
                "EIP712Domain": [
                    {"name": "name", "type": "string"},
                    {"name": "version", "type": "string"},
                    {"name": "chainId", "type": "uint256"},
                ],
                "ClobAuth": [
                    {"name": "address", "type": "address"},
                    {"name": "timestamp", "type": "string"},
                    {"name": "nonce", "type": "uint256"},
                    {"name": "message", "type": "string"},
                ],
            },
            "primaryType": "ClobAuth",
            "domain": {"name": "ClobAuthDomain", "version": "1", "chainId": self.chain_id},
            "message": {
                "address": h.get("POLY_ADDRESS", ""),
                "timestamp": h.get("POLY_TIMESTAMP", ""),
                "nonce": int(h.get("POLY_NONCE", "0")),
                "message": "This message attests that I control the given wallet",
            },
        }
        try:
            signer = Account.recover_message(encode_typed_data(full_message=typed), signature=h["POLY_SIGNATURE"])
        except Exception:
            return False
        return signer == h.get("POLY_ADDRESS")

    async def _l2_ok(self, request: web.Request) -> bool:
        h = request.headers
        if self.creds is None or h.get("POLY_API_KEY") != self.creds["apiKey"]:
            return False
        if h.get("POLY_PASSPHRASE") != self.creds["passphrase"] or h.get("POLY_ADDRESS") != self.address:
            return False
        body = await request.text()
        timestamp = h.get("POLY_TIMESTAMP", "")
        expected = ref_hmac(self.creds["secret"], timestamp, request.method, request.path, body or None)
        return h.get("POLY_SIGNATURE") == expected

    # -- market data

    async def _book(self, request: web.Request) -> web.Response:
        token = request.query.get("token_id", "")
        if token not in self.books:
            return _json({"error": "No orderbook exists for the requested token id"}, 404)
        return _json(self.books[token])

    async def _price(self, request: web.Request) -> web.Response:
        book = self.books.get(request.query.get("token_id", ""))
        side = request.query.get("side")
        if book is None or side not in ("BUY", "SELL"):
            return _json({"error": "Invalid side or token id"}, 400)
        levels = book["bids"] if side == "BUY" else book["asks"]
        best = (
            max(levels, key=lambda lv: float(lv["price"]))
            if side == "BUY"
            else min(levels, key=lambda lv: float(lv["price"]))
        )
        return _json({"price": best["price"]})

    async def _midpoint(self, request: web.Request) -> web.Response:
        book = self.books.get(request.query.get("token_id", ""))
        if book is None:
            return _json({"error": "No orderbook exists for the requested token id"}, 404)
        bid = max(float(lv["price"]) for lv in book["bids"])
        ask = min(float(lv["price"]) for lv in book["asks"])
        return _json({"mid": f"{(bid + ask) / 2:.4f}"})

    async def _tick(self, request: web.Request) -> web.Response:
        token = request.query.get("token_id", "")
        return _json({"minimum_tick_size": self.tick_sizes.get(token, 0.01)})

    async def _fee(self, request: web.Request) -> web.Response:
        return _json({"base_fee": 30})

    async def _neg_risk(self, request: web.Request) -> web.Response:
        return _json({"neg_risk": self.neg_risk.get(request.query.get("token_id", ""), False)})

    async def _market(self, request: web.Request) -> web.Response:
        market = self.markets.get(request.match_info["condition_id"])
        return _json(market) if market else _json({"error": "market not found"}, 404)

    # -- keys

    async def _create_key(self, request: web.Request) -> web.Response:
        if not self._l1_ok(request) or self.creds is None:
            return _json({"error": "Invalid L1 Request headers"}, 401)
        self.address = request.headers["POLY_ADDRESS"]
        return _json(self.creds)

    async def _derive_key(self, request: web.Request) -> web.Response:
        if not self._l1_ok(request) or self.creds is None:
            return _json({"error": "Invalid L1 Request headers"}, 401)
        if self.address is None:
            return _json({"error": "Could not derive api key!"}, 400)
        return _json(self.creds)

    # -- orders

    def _order_signature_ok(self, order: dict[str, Any]) -> bool:
        exchange = "0xE111180000d2663C0091e4f400237545B87B996B"
        if self.neg_risk.get(order["tokenId"]):
            exchange = "0xe2222d279d744050d28e00520010520000310F59"
        ref = RefOrderV2(
            salt=str(order["salt"]),
            maker=order["maker"],
            signer=order["signer"],
            tokenId=order["tokenId"],
            makerAmount=order["makerAmount"],
            takerAmount=order["takerAmount"],
            side=0 if order["side"] == "BUY" else 1,
            signatureType=order["signatureType"],
            timestamp=order["timestamp"],
            metadata=order["metadata"],
            builder=order["builder"],
        )
        typed = ExchangeOrderBuilderV2.build_order_typed_data(
            _DomainOnly(exchange, self.chain_id),
            ref,  # type: ignore[arg-type]
        )
        try:
            signer = Account.recover_message(encode_typed_data(full_message=typed), signature=order["signature"])
        except Exception:
            return False
        return signer == order["signer"]

    async def _post_order(self, request: web.Request) -> web.Response:
        if not await self._l2_ok(request):
            return _json({"error": "Unauthorized/Invalid api key"}, 401)
        payload = json.loads(await request.text())
        if payload.get("owner") != self.creds["apiKey"]:  # type: ignore[index]
            return _json({"error": "the order owner has to be the owner of the API KEY"}, 400)
        order = payload["order"]
        if not self._order_signature_ok(order):
            return _json({"error": "invalid signature"}, 400)
        self.posted.append(payload)
        order_id = "0x" + f"{len(self.posted):064x}"
        answer = {
            "success": True,
            "errorMsg": "",
            "orderID": order_id,
            "status": "live",
            "makingAmount": "",
            "takingAmount": "",
            "transactionsHashes": [],
            "tradeIDs": [],
        }
        answer.update(self.order_answer)
        return _json(answer)

    async def _cancel(self, request: web.Request) -> web.Response:
        if not await self._l2_ok(request):
            return _json({"error": "Unauthorized/Invalid api key"}, 401)
        order_id = json.loads(await request.text())["orderID"]
        known = {o["id"] for o in self.open_orders}
        if order_id in known:
            self.open_orders = [o for o in self.open_orders if o["id"] != order_id]
            return _json({"canceled": [order_id], "not_canceled": {}})
        return _json({"canceled": [], "not_canceled": {order_id: "Order not found or already canceled"}})

    async def _cancel_all(self, request: web.Request) -> web.Response:
        if not await self._l2_ok(request):
            return _json({"error": "Unauthorized/Invalid api key"}, 401)
        ids = [o["id"] for o in self.open_orders]
        self.open_orders = []
        return _json({"canceled": ids, "not_canceled": {}})

    def _page(self, request: web.Request, rows: list[dict[str, Any]]) -> web.Response:
        cursor = request.query.get("next_cursor", "MA==")
        start = 0 if cursor == "MA==" else int(cursor)
        chunk = rows[start : start + self.page_size]
        nxt = start + self.page_size
        return _json(
            {"data": chunk, "next_cursor": str(nxt) if nxt < len(rows) else END_CURSOR, "limit": self.page_size,
             "count": len(chunk)}
        )  # fmt: skip

    async def _orders(self, request: web.Request) -> web.Response:
        if not await self._l2_ok(request):
            return _json({"error": "Unauthorized/Invalid api key"}, 401)
        return self._page(request, self.open_orders)

    async def _trades(self, request: web.Request) -> web.Response:
        if not await self._l2_ok(request):
            return _json({"error": "Unauthorized/Invalid api key"}, 401)
        return self._page(request, self.trades)


@dataclass
class _DomainOnly:
    """Stands in for ExchangeOrderBuilderV2's self: build_order_typed_data only reads these two fields."""

    contract_address: str
    chain_id: int
    domain_version: str = "2"
