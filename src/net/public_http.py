"""GET JSON from public REST endpoints: per-client allowlist on every request, token bucket, 429/5xx backoff."""

from __future__ import annotations

import asyncio
import json
import logging
import random
import time
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

import aiohttp
from yarl import URL

from src.net.allowlist import check_url
from src.net.backoff import MonotonicClock, RetryPolicy, RetrySchedule, Sleep, parse_retry_after
from src.net.http_session import ConnectorFactory, new_session
from src.net.rate_limit import TokenBucket

log = logging.getLogger(__name__)

_SCHEMES = frozenset({"https"})
_MESSAGE_MAX = 160
# Floats become Decimal: prices and strikes never pass through float (ground rule 3).
_JSON = json.JSONDecoder(parse_float=Decimal)


class PublicHttpError(Exception):
    """A public endpoint answered with an error, or could not be reached (status 0), after the retries."""

    def __init__(self, status: int, message: str, url_path: str) -> None:
        self.status = status
        self.message = message
        self.url_path = url_path
        super().__init__(f"HTTP {status} from {url_path}: {message}")


class _Retry(Exception):
    def __init__(self, error: PublicHttpError, retry_after_s: float | None) -> None:
        super().__init__(str(error))
        self.error = error
        self.retry_after_s = retry_after_s


def decode_json(raw: bytes) -> Any:
    """JSON with every float as a Decimal."""
    return _JSON.decode(raw.decode("utf-8"))


class PublicHttp:
    """One keep-alive session for one client's public GETs; no credentials ever travel through it.

    `allowed_hosts` is the owning module's own allowlist, checked on every request (ground rule 5).
    Polite by construction: at most `per_second` requests in any second (a TokenBucket held for the
    whole request), and a 429 or 5xx waits as the server's Retry-After says, else capped exponential
    backoff with full jitter. Redirects are never followed. Tests inject the transport through
    `connector_factory` (a resolver mapping the real host names to a local fake), never the allowlist.
    """

    def __init__(
        self,
        allowed_hosts: frozenset[str],
        *,
        per_second: float = 5.0,
        request_timeout_s: float = 20.0,
        retry_policy: RetryPolicy | None = None,
        connector_factory: ConnectorFactory | None = None,
        monotonic: MonotonicClock = time.monotonic,
        sleep: Sleep = asyncio.sleep,
        rng: Callable[[], float] = random.random,
        user_agent: str = "polymarket-bot-history/0.1",
    ) -> None:
        if not allowed_hosts:
            raise ValueError("a public HTTP client needs at least one allowed host")
        self.allowed_hosts = allowed_hosts
        self.bucket = TokenBucket.per_second(per_second, clock=monotonic, sleep=sleep)
        self._timeout = aiohttp.ClientTimeout(total=request_timeout_s)
        self._policy = retry_policy or RetryPolicy(max_attempts=8, base_delay_s=0.5, max_delay_s=30.0, budget_s=300.0)
        self._connector_factory = connector_factory
        self._monotonic = monotonic
        self._sleep = sleep
        self._rng = rng
        self._user_agent = user_agent
        self._session: aiohttp.ClientSession | None = None
        self.requests = 0  # answered requests, retries included (for the download's politeness report)
        self.retries = 0

    async def __aenter__(self) -> PublicHttp:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    def _get_session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = new_session(
                self._connector_factory, headers={"Accept": "application/json", "User-Agent": self._user_agent}
            )
        return self._session

    @staticmethod
    def url_for(base: str, path: str, query: Mapping[str, Any] | None = None) -> str:
        url = base + path
        params = {k: v for k, v in (query or {}).items() if v is not None}
        return url + ("?" + urlencode(params, doseq=True) if params else "")

    async def get_json(self, base: str, path: str, query: Mapping[str, Any] | None = None) -> Any:
        """The decoded JSON answer to GET base+path?query, retried on 429, 5xx and dropped connections."""
        url = self.url_for(base, path, query)
        schedule = RetrySchedule(self._policy, clock=self._monotonic, rng=self._rng)
        while True:
            schedule.start_attempt()
            try:
                return await self._attempt(url, path)
            except _Retry as failure:
                delay = schedule.next_delay(failure.retry_after_s)
                if delay is None:
                    raise failure.error from None
                self.retries += 1
                log.info("GET %s: %s; retry in %.2fs", path, failure.error.message, delay)
            await self._sleep(delay)

    async def _attempt(self, url: str, path: str) -> Any:
        check_url(url, self.allowed_hosts, _SCHEMES)  # every request, whatever built the URL
        session = self._get_session()
        async with self.bucket.hold():
            try:
                async with session.request(
                    "GET", URL(url, encoded=True), allow_redirects=False, timeout=self._timeout
                ) as resp:
                    raw = await resp.read()
                    status = resp.status
                    retry_after = parse_retry_after(resp.headers.get("Retry-After"))
            except TimeoutError:
                raise _Retry(PublicHttpError(0, "no answer in time", path), None) from None
            except (aiohttp.ClientConnectorCertificateError, aiohttp.ClientSSLError) as exc:
                # A certificate that does not verify will not verify on the next try either.
                raise PublicHttpError(0, f"TLS: {type(exc).__name__}", path) from None
            except aiohttp.ClientError as exc:
                raise _Retry(PublicHttpError(0, type(exc).__name__, path), None) from None
        self.requests += 1
        if 200 <= status < 300:
            try:
                return decode_json(raw)
            except (ValueError, UnicodeDecodeError):
                raise _Retry(PublicHttpError(status, "body is not JSON", path), None) from None
        message = " ".join(raw[:_MESSAGE_MAX].decode("utf-8", "replace").split()) or "no message"
        error = PublicHttpError(status, message, path)
        if 300 <= status < 400:
            raise PublicHttpError(status, "redirects are not followed", path)
        if status == 429 or status >= 500:
            raise _Retry(error, retry_after)
        raise error


__all__ = ["PublicHttp", "PublicHttpError", "decode_json"]
