"""Send JSON requests to one allowlisted Polymarket HTTPS host, rate-limited and retried, parsing money as Decimal."""

from __future__ import annotations

import asyncio
import json
import logging
import random
import time
from collections.abc import Callable, Iterable, Mapping
from decimal import Decimal
from email.utils import parsedate_to_datetime
from typing import Any

import aiohttp

from src.net.allowlist import check_url
from src.net.backoff import Classifier, RetryAdvice, RetryPolicy, Sleep, parse_retry_after, retry_async
from src.net.http_session import ConnectorFactory, new_session
from src.net.rate_limit import TokenBucket

log = logging.getLogger(__name__)

HTTPS = frozenset({"https"})
RETRYABLE_STATUSES = frozenset({429, 500, 502, 503, 504})
_MAX_DETAIL = 200


class PolyHttpError(Exception):
    """A request to a Polymarket host failed; `status` is the HTTP status (0 when none arrived)."""

    def __init__(self, service: str, status: int, message: str, retry_after_s: float | None = None) -> None:
        self.service = service
        self.status = status
        self.retry_after_s = retry_after_s
        super().__init__(f"{service}: {message}")

    @property
    def is_auth_failure(self) -> bool:
        """401/403: the kill switch counts these."""
        return self.status in (401, 403)

    @property
    def retryable(self) -> bool:
        return self.status in RETRYABLE_STATUSES


class PolyTransportError(PolyHttpError):
    """No HTTP answer: timeout, refused connection, dropped connection."""

    @property
    def retryable(self) -> bool:
        return True


class PolyMalformedResponse(PolyHttpError):
    """The server answered 2xx with something that is not the JSON we expected."""


def _no_constants(name: str) -> Any:
    raise ValueError(f"non-finite number {name} in JSON")


def parse_json(text: str) -> Any:
    """JSON with every non-integer number as Decimal (money never passes through float)."""
    return json.loads(text, parse_float=Decimal, parse_constant=_no_constants)


def classify(exc: BaseException) -> RetryAdvice | None:
    """Retry 429, 5xx gateways and transport failures; everything else is final."""
    if isinstance(exc, PolyHttpError) and exc.retryable:
        return RetryAdvice(exc.retry_after_s)
    return None


class PolyHttp:
    """One HTTPS host. Every try is checked against the allowlist, holds a token of the given
    bucket, and signs its headers afresh (timestamps must be current on a retry).

    The aiohttp session is made on first use inside the running loop, from `connector_factory`
    (tests inject a connector whose resolver maps the real host name to a local fake server);
    constructing a PolyHttp opens nothing.
    """

    def __init__(
        self,
        service: str,
        base_url: str,
        allowed_hosts: frozenset[str],
        *,
        timeout_s: float = 5.0,
        retry_policy: RetryPolicy = RetryPolicy(),  # frozen: a shared default is safe
        connector_factory: ConnectorFactory | None = None,
        sleep: Sleep = asyncio.sleep,
        monotonic: Callable[[], float] = time.monotonic,
        rng: Callable[[], float] = random.random,
        redactions: Callable[[], Iterable[str]] = tuple,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        check_url(base_url, allowed_hosts, HTTPS)
        if timeout_s <= 0:
            raise ValueError(f"timeout_s must be positive, got {timeout_s}")
        self.service = service
        self.base_url = base_url.rstrip("/")
        self.allowed_hosts = allowed_hosts
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._policy = retry_policy
        self._connector_factory = connector_factory
        self._sleep = sleep
        self._monotonic = monotonic
        self._rng = rng
        self._redactions = redactions
        self._wall_clock = wall_clock
        self._session: aiohttp.ClientSession | None = None
        # The server's clock from the last answer's Date header (epoch seconds), and our clock
        # (`wall_clock`, the one signatures use) when it arrived: --verify's clock-skew hint.
        self.last_server_date: tuple[float, float] | None = None

    def _session_now(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = new_session(self._connector_factory, timeout=self._timeout)
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    def _clean(self, text: str) -> str:
        for secret in self._redactions():
            if secret:
                text = text.replace(secret, "[REDACTED]")
        return " ".join(text.split())[:_MAX_DETAIL]

    async def request(
        self,
        method: str,
        path: str,
        *,
        bucket: TokenBucket,
        params: Mapping[str, str] | None = None,
        body: str | None = None,
        sign: Callable[[str, str, str | None], dict[str, str]] | None = None,
        base_url: str | None = None,
        retry_classify: Classifier | None = None,
    ) -> Any:
        """Send and retry; returns the parsed JSON (None for an empty body).

        `path` excludes the query string, which is what Polymarket's L2 HMAC signs; `sign(method,
        path, body)` returns auth headers and is called once per try. `base_url` sends this
        request to another of the allowlisted hosts over the same session (Polymarket US splits
        public and signed calls over two hosts); `retry_classify` replaces the default retry rule
        (an order that must never be sent twice retries only what the venue certainly refused).
        """
        url = (base_url.rstrip("/") if base_url else self.base_url) + path

        async def attempt() -> Any:
            check_url(url, self.allowed_hosts, HTTPS)  # every try, not once: ground rule 5
            headers = {"Accept": "application/json"}
            if body is not None:
                headers["Content-Type"] = "application/json"
            async with bucket.hold():
                if sign is not None:  # signed after any wait for a token, so the timestamp is fresh
                    headers.update(sign(method, path, body))
                return await self._send(method, url, headers, params, body)

        try:
            return await retry_async(
                attempt,
                policy=self._policy,
                classify=retry_classify or classify,
                clock=self._monotonic,
                sleep=self._sleep,
                rng=self._rng,
            )
        except PolyHttpError as exc:
            log.warning("%s %s %s failed: %s", self.service, method, path, exc)
            raise

    async def _send(
        self, method: str, url: str, headers: dict[str, str], params: Mapping[str, str] | None, body: str | None
    ) -> Any:
        session = self._session_now()
        try:
            async with session.request(
                method, url, headers=headers, params=params, data=body, allow_redirects=False
            ) as resp:
                text = await resp.text()
                status = resp.status
                retry_after = parse_retry_after(resp.headers.get("Retry-After"))
                self._note_server_date(resp.headers.get("Date"))
        except TimeoutError:
            raise PolyTransportError(self.service, 0, f"{method} {url} timed out") from None
        except aiohttp.ClientError as exc:
            raise PolyTransportError(self.service, 0, f"{method} {url}: {type(exc).__name__}") from None
        if not 200 <= status < 300:
            detail = self._clean(_error_text(text))
            raise PolyHttpError(self.service, status, f"HTTP {status} on {method} {url}: {detail}", retry_after)
        if not text.strip():
            return None
        try:
            return parse_json(text)
        except ValueError:
            raise PolyMalformedResponse(self.service, status, f"malformed JSON from {method} {url}") from None


    def _note_server_date(self, value: str | None) -> None:
        if not value:
            return
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return
        if when is not None and when.tzinfo is not None:
            self.last_server_date = (when.timestamp(), self._wall_clock())


def _error_text(text: str) -> str:
    """Polymarket errors look like {"error": "..."}; fall back to the raw text."""
    try:
        payload = json.loads(text)
    except ValueError:
        return text
    if isinstance(payload, dict):
        for key in ("error", "errorMsg", "message"):
            if isinstance(payload.get(key), str):
                return payload[key]
    return text


__all__ = [
    "HTTPS",
    "PolyHttp",
    "PolyHttpError",
    "PolyMalformedResponse",
    "PolyTransportError",
    "classify",
    "parse_json",
]
