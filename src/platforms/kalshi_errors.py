"""Kalshi client errors: what the client raises about Kalshi, never carrying headers or key material."""

from __future__ import annotations


class KalshiError(Exception):
    """Base of everything this client raises about Kalshi (never carries headers or key material)."""


class KalshiAPIError(KalshiError):
    """Kalshi answered with an error (or could not be reached): HTTP status, Kalshi code, message."""

    def __init__(self, status: int, code: str, message: str, *, method: str = "", path: str = "") -> None:
        self.status = status
        self.code = code
        self.message = message
        self.method = method
        self.path = path
        where = f" ({method} {path})" if method else ""
        super().__init__(f"Kalshi API error {status} {code}: {message}{where}")


class KalshiAuthFailure(KalshiAPIError):
    """Kalshi refused our credentials (401): bad signature, wrong key, or clock skew. The kill switch counts these."""


class KalshiTransportError(KalshiAPIError):
    """No usable HTTP answer: timeout, dropped or refused connection (status 0)."""


class KalshiOrderUncertain(KalshiAPIError):
    """An order may or may not exist: every try was ambiguous and the lookup could not settle it.

    The caller must reconcile with get_order_by_client_id(client_order_id) before trading again.
    """

    def __init__(self, client_order_id: str, last_error: KalshiAPIError) -> None:
        self.client_order_id = client_order_id
        self.last_error = last_error
        super().__init__(
            last_error.status,
            "order_state_unknown",
            f"order {client_order_id} may or may not have been placed (last error: {last_error.code})",
            method=last_error.method,
            path=last_error.path,
        )


class KalshiNoCredentials(KalshiError):
    """A portfolio call was made on a client built for market data only."""


class KalshiRequestError(KalshiError, ValueError):
    """The caller asked for something that cannot be sent (bad ticker, price, count...)."""


class Retryable(Exception):
    """Internal: one attempt failed in a way worth retrying."""

    def __init__(self, error: KalshiAPIError, *, ambiguous: bool, retry_after_s: float | None = None) -> None:
        super().__init__(str(error))
        self.error = error
        self.ambiguous = ambiguous  # the server may have acted on the request
        self.retry_after_s = retry_after_s

