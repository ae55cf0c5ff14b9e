"""Build the headers that authenticate a request to the Polymarket CLOB (L1 EIP-712 ClobAuth, L2 HMAC)."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from dataclasses import dataclass
from typing import Any

from src.auth.poly_wallet import PolyAuthError, PolyWallet

POLY_ADDRESS = "POLY_ADDRESS"
POLY_SIGNATURE = "POLY_SIGNATURE"
POLY_TIMESTAMP = "POLY_TIMESTAMP"
POLY_NONCE = "POLY_NONCE"
POLY_API_KEY = "POLY_API_KEY"
POLY_PASSPHRASE = "POLY_PASSPHRASE"

# Header names whose values are secret or key-derived: anything that logs headers must drop these.
SENSITIVE_HEADERS = frozenset({POLY_SIGNATURE, POLY_API_KEY, POLY_PASSPHRASE})

CLOB_AUTH_DOMAIN_NAME = "ClobAuthDomain"
CLOB_AUTH_DOMAIN_VERSION = "1"
CLOB_AUTH_MESSAGE = "This message attests that I control the given wallet"

_CLOB_AUTH_TYPES: dict[str, list[dict[str, str]]] = {
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
}


def _decode_secret(secret: str) -> bytes:
    try:
        # validate=True: junk characters are an error, not silently dropped as urlsafe_b64decode does.
        raw = base64.b64decode(secret.encode("ascii"), altchars=b"-_", validate=True)
    except (binascii.Error, UnicodeEncodeError, ValueError):
        raise PolyAuthError("POLY_API_SECRET is not url-safe base64") from None
    if not raw:
        raise PolyAuthError("POLY_API_SECRET decodes to nothing")
    return raw


@dataclass(frozen=True, slots=True)
class ApiCreds:
    """L2 API credentials. repr/str never show them; the secret is checked to be base64 up front."""

    api_key: str
    secret: str
    passphrase: str

    def __post_init__(self) -> None:
        for name in ("api_key", "secret", "passphrase"):
            value = getattr(self, name)
            if not isinstance(value, str) or not value.strip():
                raise PolyAuthError(f"Polymarket API credential {name} is empty")
        _decode_secret(self.secret)

    @classmethod
    def from_response(cls, payload: Any) -> ApiCreds:
        """From the `/auth/api-key` or `/auth/derive-api-key` answer: {apiKey, secret, passphrase}."""
        if not isinstance(payload, dict):
            raise PolyAuthError("API-key response is not a JSON object")
        try:
            return cls(str(payload["apiKey"]), str(payload["secret"]), str(payload["passphrase"]))
        except KeyError as exc:
            raise PolyAuthError(f"API-key response lacks {exc.args[0]!r}") from None

    def __repr__(self) -> str:
        return "ApiCreds(<redacted>)"

    __str__ = __repr__


def build_hmac_signature(secret: str, timestamp: int | str, method: str, path: str, body: str | None) -> str:
    """L2 signature: url-safe base64 of HMAC-SHA256(urlsafe_b64decode(secret), ts + method + path + body).

    `body` must be the exact string sent on the wire (the server hashes what it receives); the
    query string is not part of `path`.
    """
    message = f"{timestamp}{method}{path}{body or ''}"
    digest = hmac.new(_decode_secret(secret), message.encode("utf-8"), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode("ascii")


def l2_headers(
    address: str, creds: ApiCreds, timestamp: int, method: str, path: str, body: str | None = None
) -> dict[str, str]:
    """Headers for an L2 (API-key) request."""
    return {
        POLY_ADDRESS: address,
        POLY_SIGNATURE: build_hmac_signature(creds.secret, timestamp, method, path, body),
        POLY_TIMESTAMP: str(timestamp),
        POLY_API_KEY: creds.api_key,
        POLY_PASSPHRASE: creds.passphrase,
    }


def clob_auth_typed_data(address: str, timestamp: int, nonce: int, chain_id: int) -> dict[str, Any]:
    """The EIP-712 `ClobAuth` message that proves control of `address` (L1)."""
    if nonce < 0:
        raise PolyAuthError(f"ClobAuth nonce must be non-negative, got {nonce}")
    return {
        "types": _CLOB_AUTH_TYPES,
        "primaryType": "ClobAuth",
        "domain": {"name": CLOB_AUTH_DOMAIN_NAME, "version": CLOB_AUTH_DOMAIN_VERSION, "chainId": chain_id},
        "message": {
            "address": address,
            "timestamp": str(timestamp),
            "nonce": nonce,
            "message": CLOB_AUTH_MESSAGE,
        },
    }


def l1_headers(wallet: PolyWallet, chain_id: int, timestamp: int, nonce: int = 0) -> dict[str, str]:
    """Headers for an L1 (wallet-signed) request: creating or deriving API credentials."""
    signature = wallet.sign_typed_data(clob_auth_typed_data(wallet.address, timestamp, nonce, chain_id))
    return {
        POLY_ADDRESS: wallet.address,
        POLY_SIGNATURE: signature,
        POLY_TIMESTAMP: str(timestamp),
        POLY_NONCE: str(nonce),
    }


__all__ = [
    "ApiCreds",
    "PolyAuthError",
    "SENSITIVE_HEADERS",
    "build_hmac_signature",
    "clob_auth_typed_data",
    "l1_headers",
    "l2_headers",
]
