"""Sign Polymarket US API requests: Ed25519 over timestamp + METHOD + path, as the three X-PM-* headers.

Scheme (docs.polymarket.us "Authentication", checked against the official SDK `polymarket-us`,
polymarket_us/auth.py, as a test-only oracle):
  message   = str(timestamp_ms) + METHOD + path      path starts at /v1/..., no query string, no body
  signature = base64(Ed25519.sign(secret_seed, message))
  headers   X-PM-Access-Key (the key id, a UUID), X-PM-Timestamp (ms), X-PM-Signature
The server refuses a timestamp more than 30 s away from its own clock (so a clock that is off
fails every signed call, and a request that has not arrived 30 s after signing never will).

The secret is the base64 Ed25519 private key shown once at polymarket.us/developer: 64 bytes
(32-byte seed, then the 32-byte public key), or the bare 32-byte seed. When the public half is
present it must match the seed, so a pasted key with a typo fails here, not as a 401 later.
Signing only: no HTTP in this module.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass, field

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

KEY_ID_ENV = "POLYMARKET_KEY_ID"
SECRET_ENV = "POLYMARKET_SECRET_KEY"
HEADER_KEY = "X-PM-Access-Key"
HEADER_TIMESTAMP = "X-PM-Timestamp"
HEADER_SIGNATURE = "X-PM-Signature"
SIGNATURE_WINDOW_MS = 30_000  # the venue's tolerance between X-PM-Timestamp and its clock

# Header values that identify or prove the key: anything that logs headers must drop these.
SENSITIVE_HEADERS = frozenset({HEADER_KEY, HEADER_SIGNATURE})


class PolyUsAuthError(Exception):
    """The Polymarket US key cannot be used; the message is one line and names no key material."""


def signing_message(timestamp_ms: int, method: str, path: str) -> bytes:
    """The exact bytes signed: str(timestamp_ms) + METHOD + path, path without its query string."""
    if isinstance(timestamp_ms, bool) or not isinstance(timestamp_ms, int) or timestamp_ms <= 0:
        raise PolyUsAuthError("signing timestamp must be a positive integer of milliseconds")
    if not method or not method.isalpha():
        raise PolyUsAuthError(f"signing method must be an HTTP verb, got {method[:16]!r}")
    bare = path.split("?", 1)[0]
    if not bare.startswith("/v1/"):
        raise PolyUsAuthError(f"signing path must start at /v1/, got {bare[:60]!r}")
    return f"{timestamp_ms}{method.upper()}{bare}".encode()


def _seed_from_secret(secret_b64: str) -> bytes:
    text = (secret_b64 or "").strip()
    if not text:
        raise PolyUsAuthError(f"{SECRET_ENV} is empty: paste the secret shown when you made the API key")
    try:
        raw = base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError, ValueError):
        raise PolyUsAuthError(f"{SECRET_ENV} is not base64 (copy it again from polymarket.us/developer)") from None
    if len(raw) not in (32, 64):
        raise PolyUsAuthError(f"{SECRET_ENV} decodes to {len(raw)} bytes; an Ed25519 secret is 32 or 64 bytes")
    seed = raw[:32]
    if len(raw) == 64:
        public = Ed25519PrivateKey.from_private_bytes(seed).public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )
        if public != raw[32:]:
            raise PolyUsAuthError(f"{SECRET_ENV} is damaged: its public half does not match its seed")
    return seed


@dataclass(frozen=True, slots=True)
class PolyUsKey:
    """A Polymarket US API key. repr/str never show it; build it with `PolyUsKey.load`."""

    key_id: str
    _private: Ed25519PrivateKey = field(repr=False, compare=False)

    @classmethod
    def load(cls, key_id: str | None, secret_b64: str | None) -> PolyUsKey:
        kid = (key_id or "").strip()
        if not kid:
            raise PolyUsAuthError(f"{KEY_ID_ENV} is empty: set it to the key id shown at polymarket.us/developer")
        if any(c.isspace() for c in kid):
            raise PolyUsAuthError(f"{KEY_ID_ENV} contains spaces: copy the key id again")
        return cls(kid, Ed25519PrivateKey.from_private_bytes(_seed_from_secret(secret_b64 or "")))

    def public_key_b64(self) -> str:
        raw = self._private.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        return base64.b64encode(raw).decode("ascii")

    def sign(self, timestamp_ms: int, method: str, path: str) -> str:
        """base64 Ed25519 signature of the signing message."""
        return base64.b64encode(self._private.sign(signing_message(timestamp_ms, method, path))).decode("ascii")

    def headers(self, timestamp_ms: int, method: str, path: str) -> dict[str, str]:
        """The three X-PM-* headers for one request (sign afresh for every try: the window is 30 s)."""
        return {
            HEADER_KEY: self.key_id,
            HEADER_TIMESTAMP: str(timestamp_ms),
            HEADER_SIGNATURE: self.sign(timestamp_ms, method, path),
        }

    def __repr__(self) -> str:
        return "PolyUsKey(<redacted>)"

    __str__ = __repr__


__all__ = [
    "HEADER_KEY",
    "HEADER_SIGNATURE",
    "HEADER_TIMESTAMP",
    "KEY_ID_ENV",
    "SECRET_ENV",
    "SENSITIVE_HEADERS",
    "SIGNATURE_WINDOW_MS",
    "PolyUsAuthError",
    "PolyUsKey",
    "signing_message",
]
