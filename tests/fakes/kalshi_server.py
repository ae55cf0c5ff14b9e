"""An in-memory fake of the Kalshi Trade API v2 (2026 fixed-point shapes) served over local TLS for tests.

How the real client reaches it (no test-only branch in src/, no widening of the allowlist)
-----------------------------------------------------------------------------------------
The client keeps using the production URLs (https://demo-api.kalshi.co/trade-api/v2/..., and the
other allowlisted Kalshi hosts). Only the transport is injected through the client's
`connector_factory`: an aiohttp TCPConnector whose resolver (HostMapResolver) maps each Kalshi
hostname to 127.0.0.1 and the fake's random port, and whose SSL context trusts a throwaway test CA.
The fake serves a certificate for the Kalshi hostnames signed by that CA (made with `cryptography`
at test time, EC P-256, cached per process), so TLS verification stays ON and hostname checks
are real. Anything not in the map fails to resolve, so nothing can leak off the machine.

Typical use
-----------
    async with start_fake_kalshi(rsa_private_key) as server:
        fake = server.fake                      # the state and fault controls below
        fake.add_kxbtc15m_market(now, floor_strike=Decimal("95000.12"))
        fake.set_book(ticker, yes=[("0.40", "10")], no=[("0.55", "5")])
        async with server.client() as client:   # a real KalshiClient wired to the fake
            book = await client.get_orderbook(ticker)

Control API of FakeKalshi (for the lead's execution and fault tests too)
------------------------------------------------------------------------
state:  add_market, add_kxbtc15m_market, set_book, set_market_status, settle, set_balance,
        set_exchange_status, register_key, page_size
faults (each applies to the next `times` matching requests; `method`/`path` narrow the match,
        `path` is a prefix after /trade-api/v2):
        fail_next(status, code=..., retry_after=...)      e.g. 429 bursts, 500s, 503s
        delay_next(seconds, after_processing=...)         slow answers (client timeouts)
        drop_next(after_processing=...)                   connection dropped; with
                                                          after_processing=True the request is
                                                          acted on first ("accept then drop")
        malformed_next(after_processing=...)              200 with a body that is not JSON
        reject_auth_next(code=...)                        401 INCORRECT_API_KEY_SIGNATURE etc.
        redirect_next(location)                           a 302 (the client must not follow it)
        echo_auth_headers=True on fail_next               puts the received auth headers in the
                                                          error message (to test scrubbing)
as hard as the real venue (issue 18):
        listing_lag_s                                     new orders and their fills are missing
                                                          from the listings for this long
        (always) a reused client_order_id is accepted     once the first order no longer rests
                                                          (only a RESTING order blocks its id)
        reject_auth_next("header_timestamp_expired",      401s on the reads that resolve an order
                         method="GET", path=...)
        cancel_all_misses                                 cancel-all answers 204 but leaves orders
        order groups (create, get, list, trigger_group)   rolling 15-s contracts limit; a triggered
                                                          group refuses orders (order_group_limit_reached)
        set_series_fees / announce_fee_change             the series' fee terms and announced changes
        2026 shapes: orders and fills carry book_side/outcome_side, never `direction`; REST fills
        carry no client_order_id; listings filter by ticker, order_id and min_ts.
push:   order_listeners / group_listeners                 told of each new order (with its fills) and
                                                          each group event; FakeKalshiWs.mirror uses them
observation: requests (RecordedRequest list), counts_per_second(kind), orders_with_client_id,
        orders, fills, positions, settlements, balance

Every signed request is verified with the registered public key (RSA-PSS/SHA-256, salt = digest
length) over timestamp + METHOD + path; bad ones get 401 INCORRECT_API_KEY_SIGNATURE, stale
timestamps 401 header_timestamp_expired. Portfolio endpoints demand a signature; public market
endpoints accept unsigned requests (a signature, if present, is still verified). V1
POST /portfolio/orders answers 410 deprecated_v1_order_endpoint.
"""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import functools
import ipaddress
import itertools
import json
import os
import socket
import ssl
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import aiohttp
from aiohttp import web
from aiohttp.abc import AbstractResolver, ResolveResult
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from src.auth.kalshi_auth import KalshiAuth
from src.model.fees import taker_fee
from src.model.kxbtc15m import WINDOW_S, event_ticker, market_ticker, window_close, window_open
from src.platforms.kalshi import ALLOWED_HOSTS, KalshiClient

API = "/trade-api/v2"
KALSHI_HOSTS = tuple(sorted(ALLOWED_HOSTS))
ONE = Decimal(1)
ZERO = Decimal(0)
_Q4 = Decimal("0.0001")
_Q2 = Decimal("0.01")
_Q6 = Decimal("0.000001")
_PSS = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=padding.PSS.DIGEST_LENGTH)


def d4(x: Decimal) -> str:
    return f"{x.quantize(_Q4):f}"


def d2(x: Decimal) -> str:
    return f"{x.quantize(_Q2):f}"


def iso(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts, tz=dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# ------------------------------------------------------------------------------------------------ TLS


@dataclass(frozen=True)
class LocalTLS:
    """A throwaway CA and a server certificate for every Kalshi hostname."""

    ca_pem: str
    cert_pem: bytes
    key_pem: bytes

    def server_context(self) -> ssl.SSLContext:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        # load_cert_chain only reads files: write them briefly to a private temp dir.
        with tempfile.TemporaryDirectory() as tmp:
            cert, key = os.path.join(tmp, "cert.pem"), os.path.join(tmp, "key.pem")
            with open(cert, "wb") as fh:
                fh.write(self.cert_pem)
            with open(key, "wb") as fh:
                fh.write(self.key_pem)
            ctx.load_cert_chain(cert, key)
        return ctx

    def client_context(self) -> ssl.SSLContext:
        """Default verification (hostname + chain) trusting only the test CA."""
        return ssl.create_default_context(cadata=self.ca_pem)


def local_tls(hosts: tuple[str, ...] = KALSHI_HOSTS) -> LocalTLS:
    """A CA and a leaf certificate for `hosts` (the Kalshi hostnames unless another fake names its own)."""
    return local_tls_for(hosts)


@functools.lru_cache(maxsize=4)
def local_tls_for(hosts: tuple[str, ...]) -> LocalTLS:
    """A throwaway CA and a server certificate for `hosts` (the fake Telegram server uses its own)."""
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "polymarket-bot test CA")])
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=7))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(True, False, False, False, False, True, True, False, False), critical=True
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    leaf_key = ec.generate_private_key(ec.SECP256R1())
    leaf = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hosts[0])]))
        .issuer_name(ca_name)
        .public_key(leaf_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=7))
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName(h) for h in hosts]), critical=False
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    return LocalTLS(
        ca_pem=ca_cert.public_bytes(serialization.Encoding.PEM).decode(),
        cert_pem=leaf.public_bytes(serialization.Encoding.PEM),
        key_pem=leaf_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ),
    )


class HostMapResolver(AbstractResolver):
    """Resolves only the mapped hostnames, each to a loopback address and port; refuses the rest."""

    def __init__(self, mapping: Mapping[str, tuple[str, int]]) -> None:
        for host, (addr, _port) in mapping.items():
            if not ipaddress.ip_address(addr).is_loopback:
                raise ValueError(f"test resolver maps {host} to non-loopback {addr}")
        self._mapping = {h.lower(): v for h, v in mapping.items()}

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        target = self._mapping.get(host.lower())
        if target is None:
            raise OSError(f"test resolver: {host} is not mapped")
        addr, mapped_port = target
        return [
            ResolveResult(
                hostname=host,
                host=addr,
                port=mapped_port,
                family=socket.AF_INET,
                proto=0,
                flags=socket.AI_NUMERICHOST,
            )
        ]

    async def close(self) -> None:
        return None


# ------------------------------------------------------------------------------------------------ state


@dataclass
class FakeMarket:
    ticker: str
    event_ticker: str
    open_ts: float
    close_ts: float
    floor_strike: Decimal | None
    status: str = "active"  # initialized | active | closed | settled
    result: str = ""
    expiration_value: Decimal | None = None
    listed: bool = True  # False: reachable by ticker but missing from the listing (listing lag)
    last_price: Decimal | None = None
    volume: Decimal = ZERO


@dataclass
class FakeOrder:
    order_id: str
    client_order_id: str
    ticker: str
    book_side: str  # "bid" (buy YES) | "ask" (sell YES = buy NO)
    yes_price: Decimal
    initial: Decimal
    time_in_force: str
    created_ts: float
    filled: Decimal = ZERO
    remaining: Decimal = ZERO
    status: str = "resting"
    fees: Decimal = ZERO
    fill_cost: Decimal = ZERO  # dollars paid for the bought side
    order_group_id: str = ""


@dataclass
class FakeOrderGroup:
    group_id: str
    contracts_limit: Decimal
    matched: list[tuple[float, Decimal]] = field(default_factory=list)  # (ts, contracts) for the rolling 15 s
    triggered: bool = False
    order_ids: list[str] = field(default_factory=list)


@dataclass
class FakeFill:
    fill_id: str
    order_id: str
    client_order_id: str
    ticker: str
    book_side: str
    yes_price: Decimal  # trade price on the YES book
    count: Decimal
    fee: Decimal
    ts: float
    is_taker: bool = True


@dataclass
class FakePosition:
    signed: Decimal = ZERO  # + YES contracts, - NO contracts
    exposure: Decimal = ZERO
    fees: Decimal = ZERO
    traded: Decimal = ZERO
    realized: Decimal = ZERO


@dataclass
class FakeSettlement:
    ticker: str
    event_ticker: str
    result: str
    yes_count: Decimal
    no_count: Decimal
    yes_cost: Decimal
    no_cost: Decimal
    revenue: Decimal
    fees: Decimal
    ts: float


@dataclass
class Fault:
    kind: str  # status | delay | drop | malformed | auth | redirect
    times: int
    method: str | None = None
    path: str | None = None
    status: int = 500
    code: str = "internal_server_error"
    message: str = "fault injected"
    retry_after: str | None = None
    delay_s: float = 0.0
    after_processing: bool = False
    echo_auth_headers: bool = False
    location: str = ""

    def matches(self, method: str, rel_path: str) -> bool:
        if self.method is not None and self.method != method:
            return False
        return self.path is None or rel_path.startswith(self.path)


@dataclass(frozen=True)
class RecordedRequest:
    ts: float
    method: str
    path: str  # after /trade-api/v2
    query: str
    host: str
    kind: str  # "read" (GET) | "write"
    signed: bool
    body: str


@dataclass
class _Key:
    public_key: rsa.RSAPublicKey
    hosts: frozenset[str]


class FakeKalshi:
    """The fake exchange: markets, books, orders, fills, positions, settlements, balance, faults."""

    def __init__(self, *, clock: Callable[[], float] = time.time, max_skew_s: float = 5.0) -> None:
        self.clock = clock
        self.max_skew_s = max_skew_s
        self.keys: dict[str, _Key] = {}
        self.markets: dict[str, FakeMarket] = {}
        self.books: dict[str, dict[str, dict[Decimal, Decimal]]] = {}
        self.orders: dict[str, FakeOrder] = {}
        self.fills: list[FakeFill] = []
        self.positions: dict[str, FakePosition] = {}
        self.settlements: list[FakeSettlement] = []
        self.balance = Decimal("1000.00")
        self.exchange_active = True
        self.trading_active = True
        self.page_size = 100
        # As hard as the real venue: a new order (and its fills) is missing from the listings for
        # this many seconds after it was created (Kalshi lags a write by about a second).
        self.listing_lag_s = 0.0
        # Cancel-all answers 204 yet leaves the resting orders in place this many more times.
        self.cancel_all_misses = 0
        self.order_groups: dict[str, FakeOrderGroup] = {}
        self.series_fees: dict[str, tuple[str, Decimal]] = {}  # series -> (fee_type, fee_multiplier)
        self.fee_changes: list[dict[str, Any]] = []
        self.faults: list[Fault] = []
        self.requests: list[RecordedRequest] = []
        self._ids = itertools.count(1)
        # Told of every order the venue creates (with its fills) and every group event, as they
        # happen: the fake websocket (FakeKalshiWs.mirror) publishes them from this same state.
        self.order_listeners: list[Callable[[FakeOrder, list[FakeFill]], None]] = []
        self.group_listeners: list[Callable[[FakeOrderGroup, str], None]] = []

    # ---------------------------------------------------------------- setup

    def register_key(
        self, key_id: str, public_key: rsa.RSAPublicKey, hosts: Iterable[str] = KALSHI_HOSTS
    ) -> None:
        """Accept signatures by this key on these hosts (e.g. only demo hosts, to test 'demo key on prod')."""
        self.keys[key_id] = _Key(public_key, frozenset(hosts))

    def add_market(
        self,
        ticker: str,
        *,
        open_ts: float,
        close_ts: float,
        floor_strike: Decimal | str | None = None,
        event: str | None = None,
        status: str = "active",
        listed: bool = True,
    ) -> FakeMarket:
        market = FakeMarket(
            ticker=ticker,
            event_ticker=event or ticker.rsplit("-", 1)[0],
            open_ts=open_ts,
            close_ts=close_ts,
            floor_strike=None if floor_strike is None else Decimal(str(floor_strike)),
            status=status,
            listed=listed,
        )
        self.markets[ticker] = market
        self.books.setdefault(ticker, {"yes": {}, "no": {}})
        return market

    def add_kxbtc15m_market(
        self,
        now: float,
        *,
        floor_strike: Decimal | str | None = None,
        listed: bool = True,
        offset_windows: int = 0,
        status: str = "active",
    ) -> FakeMarket:
        """The KXBTC15M market of the window containing `now` (+ offset_windows), named as Kalshi names it."""
        open_ts = window_open(now) + offset_windows * WINDOW_S
        close_ts = window_close(now) + offset_windows * WINDOW_S
        return self.add_market(
            market_ticker(close_ts),
            open_ts=open_ts,
            close_ts=close_ts,
            floor_strike=floor_strike,
            event=event_ticker(close_ts),
            status=status,
            listed=listed,
        )

    def set_book(
        self,
        ticker: str,
        *,
        yes: Iterable[tuple[str | Decimal, str | Decimal]] = (),
        no: Iterable[tuple[str | Decimal, str | Decimal]] = (),
    ) -> None:
        """Replace the resting bids of a market: (price dollars, count) for each side."""
        if ticker not in self.markets:
            raise KeyError(f"unknown market {ticker}")
        self.books[ticker] = {
            "yes": {Decimal(str(p)): Decimal(str(c)) for p, c in yes},
            "no": {Decimal(str(p)): Decimal(str(c)) for p, c in no},
        }

    def add_resting_order(
        self,
        ticker: str,
        *,
        buy: str = "yes",
        price: Decimal | str = "0.10",
        count: Decimal | str = "1",
        client_order_id: str | None = None,
    ) -> FakeOrder:
        """Put one of OUR good-till-canceled orders on the book without an HTTP call (test setup)."""
        paid = Decimal(str(price))
        book_side = "bid" if buy == "yes" else "ask"
        body = {
            "side": book_side,
            "price": d4(paid if buy == "yes" else ONE - paid),
            "count": d2(Decimal(str(count))),
            "time_in_force": "good_till_canceled",
        }
        answer = self._execute(self.markets[ticker], body, client_order_id or f"setup-{next(self._ids)}")
        return self.orders[answer["order_id"]]

    def set_market_status(self, ticker: str, status: str) -> None:
        self.markets[ticker].status = status

    def set_exchange_status(self, *, exchange_active: bool = True, trading_active: bool = True) -> None:
        self.exchange_active = exchange_active
        self.trading_active = trading_active

    def set_balance(self, dollars: Decimal | str) -> None:
        self.balance = Decimal(str(dollars))

    def settle(self, ticker: str, result: str, expiration_value: Decimal | str | None = None) -> None:
        """Settle a market: pay $1 per winning contract, book the settlement, cancel resting orders."""
        if result not in ("yes", "no"):
            raise ValueError("result must be 'yes' or 'no'")
        market = self.markets[ticker]
        market.status = "settled"
        market.result = result
        market.expiration_value = None if expiration_value is None else Decimal(str(expiration_value))
        for order in self.orders.values():
            if order.ticker == ticker and order.status == "resting":
                order.status = "canceled"
                order.remaining = ZERO
        self.books[ticker] = {"yes": {}, "no": {}}
        pos = self.positions.pop(ticker, None)
        if pos is None:
            return
        yes_count = max(pos.signed, ZERO)
        no_count = max(-pos.signed, ZERO)
        revenue = yes_count if result == "yes" else no_count
        self.balance += revenue
        self.settlements.append(
            FakeSettlement(
                ticker=ticker,
                event_ticker=market.event_ticker,
                result=result,
                yes_count=yes_count,
                no_count=no_count,
                yes_cost=pos.exposure if yes_count else ZERO,
                no_cost=pos.exposure if no_count else ZERO,
                revenue=revenue,
                fees=pos.fees,
                ts=self.clock(),
            )
        )

    # ---------------------------------------------------------------- faults

    def _add_fault(self, fault: Fault) -> None:
        if fault.times < 1:
            raise ValueError("times must be at least 1")
        self.faults.append(fault)

    def fail_next(
        self,
        status: int,
        *,
        times: int = 1,
        code: str | None = None,
        message: str = "fault injected",
        retry_after: str | None = None,
        method: str | None = None,
        path: str | None = None,
        echo_auth_headers: bool = False,
        after_processing: bool = False,
    ) -> None:
        """Answer `status` with a Kalshi error body; after_processing=True acts on the request first."""
        default = {429: "too_many_requests", 503: "service_unavailable"}.get(status, "internal_server_error")
        self._add_fault(
            Fault("status", times, method, path, status=status, code=code or default, message=message,
                  retry_after=retry_after, echo_auth_headers=echo_auth_headers,
                  after_processing=after_processing)
        )

    def delay_next(
        self,
        seconds: float,
        *,
        times: int = 1,
        after_processing: bool = True,
        method: str | None = None,
        path: str | None = None,
    ) -> None:
        self._add_fault(Fault("delay", times, method, path, delay_s=seconds, after_processing=after_processing))

    def drop_next(
        self, *, times: int = 1, after_processing: bool = False, method: str | None = None, path: str | None = None
    ) -> None:
        self._add_fault(Fault("drop", times, method, path, after_processing=after_processing))

    def malformed_next(
        self, *, times: int = 1, after_processing: bool = False, method: str | None = None, path: str | None = None
    ) -> None:
        self._add_fault(Fault("malformed", times, method, path, after_processing=after_processing))

    def reject_auth_next(
        self,
        code: str = "INCORRECT_API_KEY_SIGNATURE",
        *,
        times: int = 1,
        method: str | None = None,
        path: str | None = None,
    ) -> None:
        self._add_fault(Fault("auth", times, method, path, status=401, code=code))

    def redirect_next(
        self, location: str, *, times: int = 1, method: str | None = None, path: str | None = None
    ) -> None:
        self._add_fault(Fault("redirect", times, method, path, status=302, location=location))

    def _take_fault(self, method: str, rel: str) -> Fault | None:
        for fault in self.faults:
            if fault.matches(method, rel):
                fault.times -= 1
                if fault.times <= 0:
                    self.faults.remove(fault)
                return fault
        return None

    # ---------------------------------------------------------------- observation

    def counts_per_second(self, kind: str | None = None) -> dict[int, int]:
        """Requests that reached the server in each whole second (by the fake's clock), optionally of one kind."""
        return dict(Counter(int(r.ts) for r in self.requests if kind is None or r.kind == kind))

    def max_in_any_window(self, kind: str | None = None, window_s: float = 1.0) -> int:
        """The most requests seen inside any sliding window of window_s seconds."""
        stamps = sorted(r.ts for r in self.requests if kind is None or r.kind == kind)
        best, lo = 0, 0
        for hi, ts in enumerate(stamps):
            while ts - stamps[lo] >= window_s:
                lo += 1
            best = max(best, hi - lo + 1)
        return best

    def requests_to(self, path: str, method: str | None = None) -> list[RecordedRequest]:
        return [r for r in self.requests if r.path == path and (method is None or r.method == method)]

    def orders_with_client_id(self, client_order_id: str) -> list[FakeOrder]:
        return [o for o in self.orders.values() if o.client_order_id == client_order_id]

    # ---------------------------------------------------------------- auth

    def _auth_error(self, request: web.Request) -> tuple[str, str] | None:
        key_id = request.headers.get("KALSHI-ACCESS-KEY")
        ts_text = request.headers.get("KALSHI-ACCESS-TIMESTAMP")
        sig_text = request.headers.get("KALSHI-ACCESS-SIGNATURE")
        if not (key_id and ts_text and sig_text):
            return "missing_authentication", "KALSHI-ACCESS-* headers are required"
        key = self.keys.get(key_id)
        if key is None or request.host.split(":")[0] not in key.hosts:
            return "INCORRECT_API_KEY_SIGNATURE", "unknown API key for this environment"
        try:
            ts = int(ts_text)
        except ValueError:
            return "INCORRECT_API_KEY_SIGNATURE", "bad timestamp header"
        if abs(self.clock() * 1000 - ts) > self.max_skew_s * 1000:
            return "header_timestamp_expired", "request timestamp is too far from server time"
        message = f"{ts}{request.method}{request.rel_url.raw_path}".encode()
        try:
            key.public_key.verify(base64.b64decode(sig_text, validate=True), message, _PSS, hashes.SHA256())
        except (InvalidSignature, ValueError):
            return "INCORRECT_API_KEY_SIGNATURE", "signature does not verify"
        return None

    # ---------------------------------------------------------------- app

    def app(self) -> web.Application:
        app = web.Application(middlewares=[self._middleware])
        r = app.router
        r.add_get(API + "/exchange/status", self._exchange_status)
        r.add_get(API + "/markets", self._markets)
        r.add_get(API + "/markets/{ticker}", self._market)
        r.add_get(API + "/markets/{ticker}/orderbook", self._orderbook)
        r.add_get(API + "/portfolio/balance", self._balance)
        r.add_get(API + "/portfolio/positions", self._positions)
        r.add_get(API + "/portfolio/fills", self._fills)
        r.add_get(API + "/portfolio/orders", self._orders)
        r.add_get(API + "/portfolio/settlements", self._settlements)
        r.add_post(API + "/portfolio/orders", self._v1_order)
        r.add_post(API + "/portfolio/events/orders", self._create_order)
        r.add_delete(API + "/portfolio/events/orders", self._cancel_all)
        r.add_delete(API + "/portfolio/events/orders/batched", self._batch_cancel)
        r.add_post(API + "/portfolio/order_groups/create", self._create_group)
        r.add_get(API + "/portfolio/order_groups", self._list_groups)
        r.add_get(API + "/portfolio/order_groups/{group_id}", self._get_group)
        r.add_get(API + "/series/fee_changes", self._fee_changes)
        r.add_get(API + "/series/{series}", self._series)
        r.add_delete(API + "/portfolio/events/orders/{order_id}", self._cancel)
        return app

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Callable[..., Any]) -> web.StreamResponse:
        rel = request.path.removeprefix(API)
        body = await request.text() if request.can_read_body else ""
        self.requests.append(
            RecordedRequest(
                ts=self.clock(),
                method=request.method,
                path=rel,
                query=request.query_string,
                host=request.host.split(":")[0],
                kind="read" if request.method == "GET" else "write",
                signed="KALSHI-ACCESS-SIGNATURE" in request.headers,
                body=body,
            )
        )
        fault = self._take_fault(request.method, rel)
        if fault is not None and not fault.after_processing:
            early = await self._apply_fault(fault, request)
            if early is not None:
                return early
        if rel.startswith("/portfolio") or "KALSHI-ACCESS-SIGNATURE" in request.headers:
            problem = self._auth_error(request)
            if problem is not None:
                return _error(401, *problem)
        response = await handler(request)
        if fault is not None and fault.after_processing:
            late = await self._apply_fault(fault, request)
            if late is not None:
                return late
        return response

    async def _apply_fault(self, fault: Fault, request: web.Request) -> web.StreamResponse | None:
        if fault.kind == "delay":
            await asyncio.sleep(fault.delay_s)
            return None
        if fault.kind == "drop":
            transport = request.transport
            if transport is not None:
                transport.abort()
            # Nothing can be written any more; aiohttp drops this response silently.
            return web.Response(status=204)
        if fault.kind == "malformed":
            return web.Response(status=200, body=b'{"truncated": [1, 2', content_type="application/json")
        if fault.kind == "auth":
            return _error(401, fault.code, "authentication failed")
        if fault.kind == "redirect":
            return web.Response(status=fault.status, headers={"Location": fault.location})
        message = fault.message
        if fault.echo_auth_headers:
            message += " " + " ".join(
                f"{k}={v}" for k, v in request.headers.items() if k.upper().startswith("KALSHI-ACCESS")
            )
        headers = {"Retry-After": fault.retry_after} if fault.retry_after is not None else None
        return _error(fault.status, fault.code, message, headers=headers)

    # ---------------------------------------------------------------- JSON shapes

    def market_json(self, m: FakeMarket) -> dict[str, Any]:
        book = self.books.get(m.ticker, {"yes": {}, "no": {}})
        yes_bid = max(book["yes"]) if book["yes"] else None
        no_bid = max(book["no"]) if book["no"] else None
        return {
            "ticker": m.ticker,
            "event_ticker": m.event_ticker,
            "market_type": "binary",
            "status": m.status,
            "open_time": iso(m.open_ts),
            "close_time": iso(m.close_ts),
            "expiration_time": iso(m.close_ts),
            # Kalshi sends the strike as a JSON number.
            "floor_strike": None if m.floor_strike is None else float(m.floor_strike),
            "strike_type": "greater_or_equal",
            "yes_bid_dollars": d4(yes_bid) if yes_bid is not None else "0.0000",
            "yes_ask_dollars": d4(ONE - no_bid) if no_bid is not None else "1.0000",
            "no_bid_dollars": d4(no_bid) if no_bid is not None else "0.0000",
            "no_ask_dollars": d4(ONE - yes_bid) if yes_bid is not None else "1.0000",
            "last_price_dollars": d4(m.last_price) if m.last_price is not None else "0.0000",
            "volume_fp": d2(m.volume),
            "result": m.result,
            "expiration_value": "" if m.expiration_value is None else str(m.expiration_value),
            "price_level_structure": "linear_cent",
            "fractional_trading_enabled": False,
        }

    @staticmethod
    def order_json(o: FakeOrder) -> dict[str, Any]:
        # Listed like Kalshi's order objects since 2026-05-28: no `direction`; the YES book's
        # side (bid/ask) and the outcome bought; fixed-point fields only.
        return {
            "order_id": o.order_id,
            "client_order_id": o.client_order_id,
            "ticker": o.ticker,
            "book_side": o.book_side,
            "outcome_side": "yes" if o.book_side == "bid" else "no",
            "action": "buy",
            "type": "limit",
            "status": o.status,
            "yes_price_dollars": d4(o.yes_price),
            "no_price_dollars": d4(ONE - o.yes_price),
            "initial_count_fp": d2(o.initial),
            "fill_count_fp": d2(o.filled),
            "remaining_count_fp": d2(o.remaining),
            "taker_fees_dollars": d4(o.fees),
            "maker_fees_dollars": "0.0000",
            "taker_fill_cost_dollars": d4(o.fill_cost),
            "maker_fill_cost_dollars": "0.0000",
            "time_in_force": o.time_in_force,
            "self_trade_prevention_type": "taker_at_cross",
            "created_time": iso(o.created_ts),
        }

    @staticmethod
    def fill_json(f: FakeFill) -> dict[str, Any]:
        # REST fills lost client_order_id on 2026-03-30 and direction on 2026-05-28.
        return {
            "fill_id": f.fill_id,
            "trade_id": f.fill_id,
            "order_id": f.order_id,
            "ticker": f.ticker,
            "market_ticker": f.ticker,
            "book_side": f.book_side,
            "outcome_side": "yes" if f.book_side == "bid" else "no",
            "action": "buy",
            "count_fp": d2(f.count),
            "yes_price_dollars": d4(f.yes_price),
            "no_price_dollars": d4(ONE - f.yes_price),
            "is_taker": f.is_taker,
            "fee_cost": d4(f.fee),
            "created_time": iso(f.ts),
        }

    # ---------------------------------------------------------------- handlers: market data

    def _page(self, request: web.Request, rows: list[dict[str, Any]], field_name: str) -> web.Response:
        try:
            limit = int(request.query.get("limit", "100"))
            start = int(request.query.get("cursor") or "0")
        except ValueError:
            return _error(400, "invalid_parameters", "bad limit or cursor")
        size = max(1, min(limit, self.page_size))
        chunk = rows[start : start + size]
        cursor = str(start + size) if start + size < len(rows) else ""
        return _json({field_name: chunk, "cursor": cursor})

    async def _exchange_status(self, request: web.Request) -> web.Response:
        return _json(
            {
                "exchange_active": self.exchange_active,
                "trading_active": self.trading_active,
                "exchange_estimated_resume_time": None,
            }
        )

    async def _markets(self, request: web.Request) -> web.Response:
        q = request.query
        wanted_status = {"open": "active", "unopened": "initialized", "closed": "closed", "settled": "settled"}
        tickers = set(q["tickers"].split(",")) if q.get("tickers") else None
        rows = []
        for m in self.markets.values():
            if not m.listed:
                continue
            if q.get("series_ticker") and m.event_ticker.split("-")[0] != q["series_ticker"]:
                continue
            if q.get("event_ticker") and m.event_ticker != q["event_ticker"]:
                continue
            if q.get("status") and m.status != wanted_status.get(q["status"], q["status"]):
                continue
            if tickers is not None and m.ticker not in tickers:
                continue
            rows.append(self.market_json(m))
        return self._page(request, rows, "markets")

    async def _market(self, request: web.Request) -> web.Response:
        market = self.markets.get(request.match_info["ticker"])
        if market is None:
            return _error(404, "not_found", "market not found")
        return _json({"market": self.market_json(market)})

    async def _orderbook(self, request: web.Request) -> web.Response:
        ticker = request.match_info["ticker"]
        if ticker not in self.markets:
            return _error(404, "not_found", "market not found")
        book = self.books[ticker]

        def side(levels: dict[Decimal, Decimal]) -> list[list[str]] | None:
            rows = [[d4(p), d2(c)] for p, c in sorted(levels.items()) if c > 0]
            return rows or None

        return _json({"orderbook_fp": {"yes_dollars": side(book["yes"]), "no_dollars": side(book["no"])}})

    # ---------------------------------------------------------------- handlers: portfolio reads

    async def _balance(self, request: web.Request) -> web.Response:
        cents = int((self.balance * 100).to_integral_value())
        return _json({"balance": cents, "balance_dollars": d4(self.balance), "portfolio_value": 0})

    async def _positions(self, request: web.Request) -> web.Response:
        rows = [
            {
                "ticker": ticker,
                "position_fp": d2(p.signed),
                "market_exposure_dollars": d4(p.exposure),
                "fees_paid_dollars": d4(p.fees),
                "total_traded_dollars": d4(p.traded),
                "realized_pnl_dollars": d4(p.realized),
                "resting_orders_count": sum(
                    1 for o in self.orders.values() if o.ticker == ticker and o.status == "resting"
                ),
            }
            for ticker, p in self.positions.items()
        ]
        return self._page(request, rows, "market_positions")

    def _listed(self, created_ts: float) -> bool:
        return self.clock() - created_ts >= self.listing_lag_s

    async def _fills(self, request: web.Request) -> web.Response:
        q = request.query
        ticker, order_id, min_ts = q.get("ticker"), q.get("order_id"), float(q.get("min_ts") or 0)
        rows = [self.fill_json(f) for f in self.fills
                if (ticker is None or f.ticker == ticker) and (order_id is None or f.order_id == order_id)
                and f.ts >= min_ts and self._listed(f.ts)]
        return self._page(request, rows, "fills")

    async def _orders(self, request: web.Request) -> web.Response:
        ticker, status = request.query.get("ticker"), request.query.get("status")
        min_ts = float(request.query.get("min_ts") or 0)
        rows = [
            self.order_json(o)
            for o in self.orders.values()
            if (ticker is None or o.ticker == ticker) and (status is None or o.status == status)
            and o.created_ts >= min_ts and self._listed(o.created_ts)
        ]
        return self._page(request, rows, "orders")

    async def _settlements(self, request: web.Request) -> web.Response:
        rows = [
            {
                "ticker": s.ticker,
                "event_ticker": s.event_ticker,
                "market_result": s.result,
                "yes_count_fp": d2(s.yes_count),
                "no_count_fp": d2(s.no_count),
                "yes_total_cost_dollars": d4(s.yes_cost),
                "no_total_cost_dollars": d4(s.no_cost),
                "revenue_dollars": d4(s.revenue),
                "fee_cost": d4(s.fees),
                "settled_time": iso(s.ts),
            }
            for s in self.settlements
            if (request.query.get("ticker") in (None, s.ticker)) and s.ts >= float(request.query.get("min_ts") or 0)
        ]
        return self._page(request, rows, "settlements")

    # ---------------------------------------------------------------- handlers: orders

    async def _v1_order(self, request: web.Request) -> web.Response:
        return _error(410, "deprecated_v1_order_endpoint", "use POST /portfolio/events/orders")

    async def _create_order(self, request: web.Request) -> web.Response:
        try:
            body = json.loads(await request.text())
        except ValueError:
            return _error(400, "invalid_parameters", "body is not JSON")
        problem = _validate_order(body)
        if problem:
            return _error(400, "invalid_parameters", problem)
        ticker = body["ticker"]
        market = self.markets.get(ticker)
        if market is None:
            return _error(404, "market_not_found", "market not found")
        if not self.trading_active or not self.exchange_active:
            return _error(400, "trading_is_paused", "trading is paused")
        if market.status != "active":
            return _error(400, "market_closed", "market is not open")
        coid = body["client_order_id"]
        # Like Kalshi: only an order still RESTING blocks its client_order_id. Once the first order
        # executed or was cancelled, the same id is accepted again and makes a second order.
        if any(o.client_order_id == coid and o.status == "resting" for o in self.orders.values()):
            return _error(409, "order_already_exists", "an open order has this client_order_id")
        group = None
        if body.get("order_group_id"):
            group = self.order_groups.get(body["order_group_id"])
            if group is None:
                return _error(404, "order_group_not_found", "order group not found")
            if group.triggered:
                return _error(400, "order_group_limit_reached", "the order group was triggered; reset it")
        answer = self._execute(market, body, coid)
        if group is not None:
            self._group_matched(group, answer["order_id"], Decimal(answer["fill_count"]))
        return _json(answer, status=201)

    def _group_matched(self, group: FakeOrderGroup, order_id: str, filled: Decimal) -> None:
        """Count matched contracts over a rolling 15 s; at the limit the group triggers and cancels its orders."""
        now = self.clock()
        order = self.orders[order_id]
        order.order_group_id = group.group_id
        group.order_ids.append(order_id)
        group.matched = [(t, c) for t, c in group.matched if now - t < 15.0]
        if filled:
            group.matched.append((now, filled))
        if sum((c for _, c in group.matched), ZERO) >= group.contracts_limit:
            self.trigger_group(group.group_id)

    def _execute(self, market: FakeMarket, body: Mapping[str, Any], coid: str) -> dict[str, Any]:
        book_side = body["side"]
        yes_limit = Decimal(body["price"])
        count = Decimal(body["count"])
        tif = body["time_in_force"]
        book = self.books[market.ticker]
        # A YES buyer lifts NO bids (YES ask = 1 - NO bid); a YES seller hits YES bids.
        if book_side == "bid":
            opposite, crosses = book["no"], [p for p in sorted(book["no"], reverse=True) if ONE - p <= yes_limit]
        else:
            opposite, crosses = book["yes"], [p for p in sorted(book["yes"], reverse=True) if p >= yes_limit]
        available = sum((opposite[p] for p in crosses), ZERO)
        trades: list[tuple[Decimal, Decimal]] = []  # (price paid for the bought side, count)
        if not (tif == "fill_or_kill" and available < count):
            left = count
            for p in crosses:
                if left <= 0:
                    break
                take = min(left, opposite[p])
                # Buying YES against a NO bid p pays 1 - p; buying NO against a YES bid p pays 1 - p too.
                trades.append((ONE - p, take))
                left -= take
        filled = sum((c for _, c in trades), ZERO)
        cost = sum((p * c for p, c in trades), ZERO)
        fees = sum((taker_fee(c, p) for p, c in trades), ZERO)
        if cost + fees > self.balance:
            trades, filled, cost, fees = [], ZERO, ZERO, ZERO
        now = self.clock()
        order = FakeOrder(
            order_id=str(uuid.uuid4()),
            client_order_id=coid,
            ticker=market.ticker,
            book_side=book_side,
            yes_price=yes_limit,
            initial=count,
            time_in_force=tif,
            created_ts=now,
            filled=filled,
            fees=fees,
            fill_cost=cost,
        )
        for paid, c in trades:
            level = ONE - paid
            opposite[level] -= c
            if opposite[level] <= 0:
                del opposite[level]
            self.fills.append(
                FakeFill(
                    fill_id=f"fill-{next(self._ids)}",
                    order_id=order.order_id,
                    client_order_id=coid,
                    ticker=market.ticker,
                    book_side=book_side,
                    yes_price=paid if book_side == "bid" else ONE - paid,
                    count=c,
                    fee=taker_fee(c, paid),
                    ts=now,
                )
            )
            market.last_price = paid if book_side == "bid" else ONE - paid
            market.volume += c
        if filled:
            self.balance -= cost + fees
            pos = self.positions.setdefault(market.ticker, FakePosition())
            pos.fees += fees
            pos.traded += cost
            for paid, c in trades:
                self._book_position(pos, 1 if book_side == "bid" else -1, c, paid)
        rest = count - filled
        if tif == "good_till_canceled" and rest > 0:
            order.remaining = rest
            order.status = "resting"
            own = book["yes"] if book_side == "bid" else book["no"]
            own_price = yes_limit if book_side == "bid" else ONE - yes_limit
            own[own_price] = own.get(own_price, ZERO) + rest
        else:
            order.remaining = ZERO
            order.status = "executed" if filled > 0 else "canceled"
        self.orders[order.order_id] = order
        for listener in self.order_listeners:
            listener(order, [f for f in self.fills if f.order_id == order.order_id])
        answer: dict[str, Any] = {
            "order_id": order.order_id,
            "client_order_id": coid,
            "fill_count": d2(filled),
            "remaining_count": d2(order.remaining),
        }
        if filled > 0:
            avg_yes = (cost / filled) if book_side == "bid" else ONE - cost / filled
            answer["average_fill_price"] = d4(avg_yes)
            answer["average_fee_paid"] = f"{(fees / filled).quantize(_Q6):f}"
        return answer

    def _book_position(self, pos: FakePosition, direction: int, count: Decimal, paid: Decimal) -> None:
        """Add bought contracts; a YES+NO pair nets out at once and pays $1 (as Kalshi nets positions)."""
        held = abs(pos.signed)
        if pos.signed == 0 or (pos.signed > 0) == (direction > 0):
            pos.signed += direction * count
            pos.exposure += paid * count
            return
        closing = min(held, count)
        basis = pos.exposure * closing / held
        pos.exposure -= basis
        pos.realized += closing * (ONE - paid) - basis
        self.balance += closing
        pos.signed += direction * closing
        opening = count - closing
        if opening:
            pos.signed += direction * opening
            pos.exposure += paid * opening

    def _cancel_one(self, order_id: str) -> tuple[FakeOrder | None, Decimal]:
        order = self.orders.get(order_id)
        if order is None or order.status != "resting":
            return order, ZERO
        reduced = order.remaining
        book = self.books[order.ticker]
        own = book["yes"] if order.book_side == "bid" else book["no"]
        price = order.yes_price if order.book_side == "bid" else ONE - order.yes_price
        own[price] = own.get(price, ZERO) - reduced
        if own[price] <= 0:
            del own[price]
        order.remaining = ZERO
        order.status = "canceled"
        return order, reduced

    async def _cancel(self, request: web.Request) -> web.Response:
        order, reduced = self._cancel_one(request.match_info["order_id"])
        if order is None:
            return _error(404, "not_found", "order not found")
        if reduced == 0:
            return _error(400, "order_not_resting", "order is not resting")
        return _json({"order_id": order.order_id, "client_order_id": order.client_order_id, "reduced_by": d2(reduced)})

    async def _cancel_all(self, request: web.Request) -> web.Response:
        if self.cancel_all_misses > 0:
            self.cancel_all_misses -= 1  # answered as done; the orders stay (the caller must verify)
            return web.Response(status=204)
        for order in list(self.orders.values()):
            self._cancel_one(order.order_id)
        return web.Response(status=204)

    async def _create_group(self, request: web.Request) -> web.Response:
        try:
            body = json.loads(await request.text())
            limit = Decimal(str(body.get("contracts_limit_fp") or body["contracts_limit"]))
        except (ValueError, KeyError, TypeError, ArithmeticError):
            return _error(400, "invalid_parameters", "contracts_limit required")
        if limit < 1:
            return _error(400, "invalid_parameters", "contracts_limit must be at least 1")
        group_id = f"og-{next(self._ids)}"
        self.order_groups[group_id] = FakeOrderGroup(group_id, limit)
        return _json({"order_group_id": group_id, "subaccount": 0}, status=201)

    async def _list_groups(self, request: web.Request) -> web.Response:
        return _json({"order_groups": [
            {"id": g.group_id, "contracts_limit_fp": d2(g.contracts_limit), "is_auto_cancel_enabled": True}
            for g in self.order_groups.values()]})

    async def _get_group(self, request: web.Request) -> web.Response:
        group = self.order_groups.get(request.match_info["group_id"])
        if group is None:
            return _error(404, "not_found", "order group not found")
        return _json({"is_auto_cancel_enabled": True, "contracts_limit_fp": d2(group.contracts_limit),
                      "contracts_limit": int(group.contracts_limit), "orders": list(group.order_ids)})

    def trigger_group(self, group_id: str) -> None:
        """What the exchange does when the limit is hit: cancel the group's orders, refuse new ones."""
        group = self.order_groups[group_id]
        group.triggered = True
        for oid in group.order_ids:
            self._cancel_one(oid)
        for listener in self.group_listeners:
            listener(group, "triggered")

    def set_series_fees(self, series: str, fee_type: str, multiplier: Decimal | str | int) -> None:
        self.series_fees[series] = (fee_type, Decimal(str(multiplier)))

    def announce_fee_change(self, series: str, fee_type: str, multiplier: Decimal | str, scheduled_ts: float) -> None:
        self.fee_changes.append({"id": f"fc-{next(self._ids)}", "series_ticker": series, "fee_type": fee_type,
                                 "fee_multiplier": float(Decimal(str(multiplier))), "scheduled_ts": iso(scheduled_ts)})

    async def _series(self, request: web.Request) -> web.Response:
        series = request.match_info["series"]
        fee_type, multiplier = self.series_fees.get(series, ("quadratic", Decimal(1)))
        return _json({"series": {"ticker": series, "frequency": "fifteen_min", "title": series, "category": "Crypto",
                                 "fee_type": fee_type, "fee_multiplier": float(multiplier)}})

    async def _fee_changes(self, request: web.Request) -> web.Response:
        series = request.query.get("series_ticker")
        rows = [c for c in self.fee_changes if series is None or c["series_ticker"] == series]
        return _json({"series_fee_change_arr": rows})

    async def _batch_cancel(self, request: web.Request) -> web.Response:
        try:
            body = json.loads(await request.text())
            ids = [item["order_id"] for item in body["orders"]]
        except (ValueError, KeyError, TypeError):
            return _error(400, "invalid_parameters", "orders: [{order_id}] required")
        if len(ids) > 20:
            return _error(400, "invalid_parameters", "at most 20 orders per batch")
        rows = []
        for oid in ids:
            order, reduced = self._cancel_one(oid)
            if order is None or reduced == 0:
                rows.append({"order_id": oid, "error": {"code": "not_found", "message": "no resting order"}})
            else:
                rows.append({"order_id": oid, "client_order_id": order.client_order_id, "reduced_by": d2(reduced)})
        return _json({"orders": rows})


def _validate_order(body: Any) -> str:
    if not isinstance(body, dict):
        return "body must be an object"
    required = ("ticker", "client_order_id", "side", "count", "price", "time_in_force", "self_trade_prevention_type")
    missing = [k for k in required if not isinstance(body.get(k), str) or not body.get(k)]
    if missing:
        return f"missing or non-string fields: {missing}"
    if body["side"] not in ("bid", "ask"):
        return "side must be bid or ask"
    if body["time_in_force"] not in ("fill_or_kill", "good_till_canceled", "immediate_or_cancel"):
        return "bad time_in_force"
    if body["self_trade_prevention_type"] not in ("taker_at_cross", "maker"):
        return "bad self_trade_prevention_type"
    try:
        count, price = Decimal(body["count"]), Decimal(body["price"])
    except ArithmeticError:
        return "count and price must be decimal strings"
    if count <= 0 or count != count.to_integral_value() or count.as_tuple().exponent < -2:
        return "count must be whole contracts with at most 2 decimals"
    if not ZERO < price < ONE or price.as_tuple().exponent < -4:
        return "price must be in (0, 1) with at most 4 decimals"
    return ""


def _json(payload: Any, status: int = 200) -> web.Response:
    return web.Response(status=status, text=json.dumps(payload), content_type="application/json")


def _error(status: int, code: str, message: str, headers: Mapping[str, str] | None = None) -> web.Response:
    body = {"error": {"code": code, "message": message, "details": ""}}
    return web.Response(status=status, text=json.dumps(body), content_type="application/json", headers=headers)


# ------------------------------------------------------------------------------------------------ running


# The book most execution tests trade against: YES asks 0.45 x 3 (NO bid 0.55), then 0.50 x 10.
STANDARD_YES_BIDS = (("0.40", "10"),)
STANDARD_NO_BIDS = (("0.50", "10"), ("0.55", "3"))


def add_standard_market(fake: FakeKalshi, *, floor_strike: str = "95000.12") -> str:
    """A KXBTC15M window open now (on the fake's clock) with the standard book; returns its ticker."""
    market = fake.add_kxbtc15m_market(fake.clock(), floor_strike=floor_strike)
    fake.set_book(market.ticker, yes=list(STANDARD_YES_BIDS), no=list(STANDARD_NO_BIDS))
    return str(market.ticker)


def clocked_client(server: FakeKalshiServer, clock: Callable[[], float], *, attempts: int = 3) -> KalshiClient:
    """A client that signs and times on the test's clock, retries fast, and pages without waiting."""
    from src.net.backoff import RetryPolicy
    from src.net.rate_limit import TokenBucket

    client = server.client(auth=server.auth(clock=clock), clock=clock,
                           retry_policy=RetryPolicy(max_attempts=attempts, base_delay_s=0.01, max_delay_s=0.02,
                                                    budget_s=30))
    # Paging through a long history must not take real seconds at 10 reads/s in a test.
    client._reads = TokenBucket.per_second(10_000)
    return client


class SleepRecorder:
    """A retry_sleep for the client that records the requested waits instead of sleeping."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)
        await asyncio.sleep(0)


@dataclass
class FakeKalshiServer:
    """A running FakeKalshi plus what a test needs to point a real KalshiClient at it."""

    fake: FakeKalshi
    port: int
    tls: LocalTLS
    private_key: rsa.RSAPrivateKey
    key_id: str
    sleeps: SleepRecorder = field(default_factory=SleepRecorder)

    def resolver(self) -> HostMapResolver:
        return HostMapResolver({host: ("127.0.0.1", self.port) for host in KALSHI_HOSTS})

    def connector(self) -> aiohttp.TCPConnector:
        return aiohttp.TCPConnector(
            resolver=self.resolver(), ssl=self.tls.client_context(), use_dns_cache=False
        )

    def auth(self, *, clock: Callable[[], float] = time.time, key_id: str | None = None) -> KalshiAuth:
        return KalshiAuth(key_id or self.key_id, self.private_key, clock=clock)

    def client(self, *, with_auth: bool = True, **kwargs: Any) -> KalshiClient:
        """A production KalshiClient whose only test change is the injected transport (and a recorded retry sleep)."""
        kwargs.setdefault("connector_factory", self.connector)
        kwargs.setdefault("retry_sleep", self.sleeps)
        if with_auth:
            kwargs.setdefault("auth", self.auth())
        return KalshiClient(**kwargs)


_KEY_CACHE: list[rsa.RSAPrivateKey] = []


def _default_key() -> rsa.RSAPrivateKey:
    if not _KEY_CACHE:
        _KEY_CACHE.append(rsa.generate_private_key(public_exponent=65537, key_size=2048))
    return _KEY_CACHE[0]


@asynccontextmanager
async def start_fake_kalshi(
    private_key: rsa.RSAPrivateKey | None = None,
    *,
    key_id: str = "test-key-id",
    key_hosts: Iterable[str] = KALSHI_HOSTS,
    clock: Callable[[], float] = time.time,
    max_skew_s: float = 5.0,
) -> AsyncIterator[FakeKalshiServer]:
    """Serve a fresh FakeKalshi over TLS on 127.0.0.1 at a random port; the key is registered for key_hosts."""
    key = private_key or _default_key()
    fake = FakeKalshi(clock=clock, max_skew_s=max_skew_s)
    fake.register_key(key_id, key.public_key(), key_hosts)
    tls = local_tls()
    runner = web.AppRunner(fake.app(), access_log=None, shutdown_timeout=1.0)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=tls.server_context())
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield FakeKalshiServer(fake=fake, port=port, tls=tls, private_key=key, key_id=key_id)
    finally:
        await runner.cleanup()


__all__ = [
    "API",
    "KALSHI_HOSTS",
    "FakeKalshi",
    "FakeKalshiServer",
    "FakeMarket",
    "FakeOrder",
    "HostMapResolver",
    "RecordedRequest",
    "SleepRecorder",
    "start_fake_kalshi",
    "local_tls",
    "add_standard_market",
    "clocked_client",
]
