"""Kalshi transport: one keep-alive session, the host allowlist on every request, signing, rate limits and retries."""

from __future__ import annotations

import asyncio
import json
import logging
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from email.utils import parsedate_to_datetime
from typing import Any, Literal
from urllib.parse import urlsplit

import aiohttp
from yarl import URL

from src.auth.kalshi_auth import HEADER_KEY, HEADER_SIGNATURE, KEY_ID_ENV, KEY_PATH_ENV, KalshiAuth
from src.model.models import Clock, Sleep
from src.model.rate_ceilings import HARD_READS_PER_S, HARD_WRITES_PER_S
from src.net.allowlist import check_url
from src.net.backoff import RetryPolicy, RetrySchedule, parse_retry_after
from src.net.http_session import ConnectorFactory, new_session
from src.net.rate_limit import TokenBucket
from src.platforms.kalshi_errors import (
    KalshiAPIError,
    KalshiNoCredentials,
    KalshiRequestError,
    KalshiTransportError,
    Retryable,
)
from src.platforms.kalshi_requests import query_string
from src.platforms.kalshi_wire import error_from, json_list, loads

log = logging.getLogger("src.platforms.kalshi")

Env = Literal["demo", "prod"]

API_PREFIX = "/trade-api/v2"
ENV_HOSTS: dict[str, str] = {"demo": "demo-api.kalshi.co", "prod": "external-api.kalshi.com"}
# DECISIONS §1: exactly these Kalshi REST hosts (the WS hosts are not used by this client).
ALLOWED_HOSTS = frozenset(
    {"demo-api.kalshi.co", "external-api.demo.kalshi.co", "external-api.kalshi.com", "api.elections.kalshi.com"}
)
_SCHEMES = frozenset({"https"})
_PAGE_LIMIT = 200
_MAX_PAGES = 100


@dataclass(frozen=True, slots=True)
class _Target:
    base: str  # https://host/trade-api/v2
    signed: bool


class KalshiTransport:
    """One keep-alive aiohttp session to Kalshi: every request is allowlisted, rate-limited, signed when
    portfolio, and retried by the policy. Endpoints live in the client (src/platforms/kalshi.py).

    Market data is public: unsigned, and read from `market_data_env`. Portfolio calls are signed with
    `auth` and go to `env`; without auth they raise KalshiNoCredentials.

    Tests inject the transport through `connector_factory` (e.g. a resolver that maps the real
    Kalshi hostnames to a local TLS server); URLs, allowlist and TLS verification stay as in production.
    """

    def __init__(
        self,
        *,
        env: Env = "demo",
        market_data_env: Env | None = None,
        auth: KalshiAuth | None = None,
        reads_per_s: float | Decimal = HARD_READS_PER_S,
        writes_per_s: float | Decimal = HARD_WRITES_PER_S,
        request_timeout_s: float = 5.0,
        retry_policy: RetryPolicy | None = None,
        connector_factory: ConnectorFactory | None = None,
        clock: Clock = time.time,
        monotonic: Callable[[], float] = time.monotonic,
        retry_sleep: Sleep = asyncio.sleep,
        rng: Callable[[], float] = random.random,
        on_auth_failure: Callable[[str], None] | None = None,
        on_auth_success: Callable[[], None] | None = None,
        on_reconnect: Callable[[], None] | None = None,
    ) -> None:
        for name, value in (("env", env), ("market_data_env", market_data_env or env)):
            if value not in ENV_HOSTS:
                raise KalshiRequestError(f"{name} must be 'demo' or 'prod', got {value!r}")
        for name, rate, hard in (
            ("reads_per_s", reads_per_s, HARD_READS_PER_S),
            ("writes_per_s", writes_per_s, HARD_WRITES_PER_S),
        ):
            if not Decimal(str(rate)) > 0 or Decimal(str(rate)) > hard:
                raise KalshiRequestError(f"{name} must be above 0 and at most {hard} (code limit), got {rate}")
        if not request_timeout_s > 0:
            raise KalshiRequestError(f"request_timeout_s must be positive, got {request_timeout_s}")
        if auth is not None and not isinstance(auth, KalshiAuth):
            raise KalshiRequestError("auth must be a KalshiAuth")
        self.env: Env = env
        self.market_data_env: Env = market_data_env or env
        self._auth = auth
        self._portfolio = _Target(f"https://{ENV_HOSTS[self.env]}{API_PREFIX}", signed=True)
        self._market = _Target(f"https://{ENV_HOSTS[self.market_data_env]}{API_PREFIX}", signed=False)
        for target in (self._portfolio, self._market):
            check_url(target.base, ALLOWED_HOSTS, _SCHEMES)
        self._reads = TokenBucket.per_second(reads_per_s)
        self._writes = TokenBucket.per_second(writes_per_s)
        self._timeout = aiohttp.ClientTimeout(total=request_timeout_s)
        self._policy = retry_policy or RetryPolicy()
        self._connector_factory = connector_factory
        self._clock = clock
        self._monotonic = monotonic
        self._retry_sleep = retry_sleep
        self._rng = rng
        self._on_auth_failure = on_auth_failure
        self._on_auth_success = on_auth_success
        self.on_reconnect = on_reconnect  # told when Kalshi answers again after a lost connection
        self._link_down = False
        self._session: aiohttp.ClientSession | None = None
        self._session_lock = asyncio.Lock()
        self.server_clock_skew_s: float | None = None  # server Date minus our clock, last response
        self._last_date_header = ""
        self._last_date_ts = 0.0

    @property
    def has_credentials(self) -> bool:
        return self._auth is not None

    @property
    def read_limiter(self) -> TokenBucket:
        return self._reads

    @property
    def write_limiter(self) -> TokenBucket:
        return self._writes

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def _get_session(self) -> aiohttp.ClientSession:
        session = self._session
        if session is not None and not session.closed:
            return session  # the usual case: no lock round trip per request
        async with self._session_lock:
            if self._session is None or self._session.closed:
                self._session = new_session(
                    self._connector_factory,
                    headers={"Accept": "application/json", "User-Agent": "polymarket-bot/0.1"},
                )
            return self._session


    # ------------------------------------------------------------------ one HTTP attempt

    def _observe_date(self, header: str | None) -> None:
        if not header:
            return
        # Date has one-second resolution: every response within a second repeats the last header.
        if header == self._last_date_header:
            server = self._last_date_ts
        else:
            try:
                server = parsedate_to_datetime(header).timestamp()
            except (TypeError, ValueError, IndexError):
                return
            self._last_date_header, self._last_date_ts = header, server
        self.server_clock_skew_s = server - self._clock()

    async def _attempt(
        self, method: str, target: _Target, path: str, query: Mapping[str, Any] | None, body: bytes | None
    ) -> Any:
        url = target.base + path
        if query:
            params = {k: v for k, v in query.items() if v is not None}
            if params:
                url += "?" + query_string(params)
        check_url(url, ALLOWED_HOSTS, _SCHEMES)  # every request, whatever built the URL
        auth = self._auth if target.signed else None
        if target.signed and auth is None:
            raise KalshiNoCredentials(
                f"{method} {path} needs Kalshi credentials: set {KEY_ID_ENV} and {KEY_PATH_ENV} in .env"
            )
        signed_path = urlsplit(url).path if auth is not None else ""
        session = await self._get_session()
        bucket = self._reads if method == "GET" else self._writes
        secrets: tuple[str, ...] = ()
        async with bucket.hold():
            headers = {"Content-Type": "application/json"} if body is not None else {}
            if auth is not None:
                auth_headers = auth.headers(method, signed_path)
                secrets = (auth_headers[HEADER_SIGNATURE], auth_headers[HEADER_KEY])
                headers.update(auth_headers)
            try:
                async with session.request(
                    method,
                    URL(url, encoded=True),
                    data=body,
                    headers=headers,
                    allow_redirects=False,
                    timeout=self._timeout,
                ) as resp:
                    raw = await resp.read()
                    status = resp.status
                    resp_headers = resp.headers
                    retry_header = resp_headers.get("Retry-After")
                    retry_after = None if retry_header is None else parse_retry_after(retry_header, self._clock())
                    self._observe_date(resp_headers.get("Date"))
            except TimeoutError:
                self._link_down = True
                err = KalshiTransportError(0, "timeout", "no answer in time", method=method, path=path)
                raise Retryable(err, ambiguous=True) from None
            except aiohttp.ClientConnectorError as exc:
                # Never connected, so nothing was sent: safe to resend even an order.
                self._link_down = True
                reason = type(exc.os_error).__name__ if exc.os_error else "connect failed"
                err = KalshiTransportError(0, "connection_refused", reason, method=method, path=path)
                raise Retryable(err, ambiguous=False) from None
            except (aiohttp.ClientConnectionError, aiohttp.ClientPayloadError) as exc:
                self._link_down = True
                err = KalshiTransportError(0, "connection_error", type(exc).__name__, method=method, path=path)
                raise Retryable(err, ambiguous=True) from None
            except aiohttp.ClientError as exc:
                err = KalshiTransportError(0, "client_error", type(exc).__name__, method=method, path=path)
                raise err from None
        if self._link_down:
            # An answer after a lost connection: whatever happened meanwhile must be reconciled.
            self._link_down = False
            if self.on_reconnect is not None:
                self.on_reconnect()
        return self._outcome(method, path, target, status, raw, retry_after, secrets)

    def _outcome(
        self,
        method: str,
        path: str,
        target: _Target,
        status: int,
        raw: bytes,
        retry_after: float | None,
        secrets: tuple[str, ...],
    ) -> Any:
        if 200 <= status < 300:
            self._auth_ok(target)
            if not raw.strip():
                return {}
            try:
                return loads(raw)
            except (ValueError, UnicodeDecodeError):
                err = KalshiAPIError(status, "malformed_response", "body is not JSON", method=method, path=path)
                raise Retryable(err, ambiguous=True) from None
        if 300 <= status < 400:
            raise KalshiAPIError(status, "redirect_refused", "redirects are not followed", method=method, path=path)
        error = error_from(status, raw, secrets, method, path)
        if status == 401:
            if self._on_auth_failure is not None:
                self._on_auth_failure(error.code)
            raise error
        if status == 429 or status >= 500:
            raise Retryable(error, ambiguous=status >= 500, retry_after_s=retry_after)
        self._auth_ok(target)
        raise error

    def _auth_ok(self, target: _Target) -> None:
        if target.signed and self._on_auth_success is not None:
            self._on_auth_success()

    # ------------------------------------------------------------------ retry loop

    async def _call(
        self,
        method: str,
        target: _Target,
        path: str,
        query: Mapping[str, Any] | None = None,
        body: Mapping[str, Any] | None = None,
    ) -> Any:
        raw_body = None if body is None else json.dumps(body, separators=(",", ":")).encode()
        schedule = RetrySchedule(self._policy, clock=self._monotonic, rng=self._rng)
        while True:
            attempt = schedule.start_attempt()
            try:
                return await self._attempt(method, target, path, query, raw_body)
            except Retryable as failure:
                delay = schedule.next_delay(failure.retry_after_s)
                if delay is None:
                    raise failure.error from None
                log.warning(
                    "Kalshi %s %s failed (%s %s), retry %d in %.2fs",
                    method, path, failure.error.status, failure.error.code, attempt, delay,
                )
            await self._retry_sleep(delay)

    async def _pages(
        self, target: _Target, path: str, field: str, query: Mapping[str, Any] | None = None
    ) -> list[Mapping[str, Any]]:
        items: list[Mapping[str, Any]] = []
        params = dict(query or {})
        params.setdefault("limit", _PAGE_LIMIT)
        seen: set[str] = set()
        for _ in range(_MAX_PAGES):
            payload = await self._call("GET", target, path, params)
            items.extend(json_list(payload, field))
            cursor = payload.get("cursor") if isinstance(payload, Mapping) else None
            if not cursor:
                return items
            if not isinstance(cursor, str) or cursor in seen:
                raise KalshiAPIError(200, "pagination_loop", f"cursor repeated for {path}", method="GET", path=path)
            seen.add(cursor)
            params["cursor"] = cursor
        raise KalshiAPIError(200, "too_many_pages", f"more than {_MAX_PAGES} pages for {path}", method="GET", path=path)
