"""Kalshi request signing: load the RSA key and build the three KALSHI-ACCESS-* headers."""

from __future__ import annotations

import base64
import logging
import os
import stat
import time
from collections.abc import Callable, Mapping
from pathlib import Path

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

log = logging.getLogger(__name__)

KEY_ID_ENV = "KALSHI_API_KEY_ID"
KEY_PATH_ENV = "KALSHI_PRIVATE_KEY_PATH"
HEADER_KEY = "KALSHI-ACCESS-KEY"
HEADER_TIMESTAMP = "KALSHI-ACCESS-TIMESTAMP"
HEADER_SIGNATURE = "KALSHI-ACCESS-SIGNATURE"
SIGNED_PATH_PREFIX = "/trade-api/"
_MIN_KEY_BITS = 2048

# Kalshi's scheme: RSA-PSS, SHA-256, MGF1(SHA-256), salt as long as the digest.
_PSS = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=padding.PSS.DIGEST_LENGTH)


class KalshiAuthError(Exception):
    """The Kalshi credentials cannot be used; the message is one line and names no key material."""


def signing_message(timestamp_ms: int, method: str, path: str) -> bytes:
    """The exact bytes Kalshi signs: str(timestamp_ms) + METHOD + path without its query string.

    `path` starts at /trade-api/v2/...; the body is never signed.
    """
    if isinstance(timestamp_ms, bool) or not isinstance(timestamp_ms, int) or timestamp_ms <= 0:
        raise KalshiAuthError("signing timestamp must be a positive integer of milliseconds")
    if not method or not method.isalpha():
        raise KalshiAuthError(f"signing method must be an HTTP verb, got {method[:16]!r}")
    bare = path.split("?", 1)[0]
    if not bare.startswith(SIGNED_PATH_PREFIX):
        raise KalshiAuthError(f"signing path must start at {SIGNED_PATH_PREFIX}v2/..., got {bare[:60]!r}")
    return f"{timestamp_ms}{method.upper()}{bare}".encode()


def _warn_if_shared(path: Path) -> None:
    try:
        mode = path.stat().st_mode
    except OSError:
        return
    if os.name == "posix" and mode & (stat.S_IRWXG | stat.S_IRWXO):
        log.warning("Kalshi private key file %s is accessible by group/others; run: chmod 600 %s", path, path)


def load_private_key(path: str | os.PathLike[str]) -> rsa.RSAPrivateKey:
    """Read an unencrypted RSA private key in PEM form; raise KalshiAuthError with a fix on failure."""
    key_path = Path(path).expanduser()
    if not str(path).strip():
        raise KalshiAuthError(f"{KEY_PATH_ENV} is empty: set it to the path of your Kalshi .pem key")
    if not key_path.exists():
        raise KalshiAuthError(f"Kalshi private key not found at {key_path} (check {KEY_PATH_ENV})")
    if not key_path.is_file():
        raise KalshiAuthError(f"Kalshi private key path {key_path} is not a file (check {KEY_PATH_ENV})")
    _warn_if_shared(key_path)
    try:
        data = key_path.read_bytes()
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise KalshiAuthError(f"cannot read Kalshi private key {key_path}: {reason}") from None
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except TypeError:
        # cryptography raises TypeError when the PEM is encrypted and no password was given.
        raise KalshiAuthError(
            f"Kalshi private key {key_path} is encrypted; export it without a passphrase and chmod 600 it"
        ) from None
    except (ValueError, UnsupportedAlgorithm):
        raise KalshiAuthError(f"{key_path} is not a readable PEM private key (download it again from Kalshi)") from None
    finally:
        del data
    if not isinstance(key, rsa.RSAPrivateKey):
        raise KalshiAuthError(f"{key_path} holds a non-RSA key; Kalshi API keys are RSA")
    if key.key_size < _MIN_KEY_BITS:
        raise KalshiAuthError(f"{key_path} holds a {key.key_size}-bit RSA key; Kalshi keys are at least 2048-bit")
    return key


class KalshiAuth:
    """Signs Kalshi requests for one API key. Makes no HTTP calls and knows nothing of markets."""

    __slots__ = ("_key_id", "_private_key", "_clock")

    def __init__(
        self,
        key_id: str,
        private_key: rsa.RSAPrivateKey,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not isinstance(key_id, str) or not key_id.strip():
            raise KalshiAuthError(f"{KEY_ID_ENV} is empty: set it to your Kalshi API key id")
        if not isinstance(private_key, rsa.RSAPrivateKey):
            raise KalshiAuthError("Kalshi signing needs an RSA private key")
        self._key_id = key_id.strip()
        self._private_key = private_key
        self._clock = clock
        log.info("auth initialized")

    @classmethod
    def from_pem_file(
        cls, key_id: str, path: str | os.PathLike[str], *, clock: Callable[[], float] = time.time
    ) -> KalshiAuth:
        if not isinstance(key_id, str) or not key_id.strip():
            raise KalshiAuthError(f"{KEY_ID_ENV} is empty: set it to your Kalshi API key id")
        return cls(key_id, load_private_key(path), clock=clock)

    @classmethod
    def from_env(
        cls, env: Mapping[str, str | None] | None = None, *, clock: Callable[[], float] = time.time
    ) -> KalshiAuth:
        """Build from KALSHI_API_KEY_ID and KALSHI_PRIVATE_KEY_PATH (os.environ by default)."""
        source = os.environ if env is None else env
        key_id = (source.get(KEY_ID_ENV) or "").strip()
        key_path = (source.get(KEY_PATH_ENV) or "").strip()
        missing = [name for name, value in ((KEY_ID_ENV, key_id), (KEY_PATH_ENV, key_path)) if not value]
        if missing:
            raise KalshiAuthError(f"missing in .env: {', '.join(missing)}")
        return cls.from_pem_file(key_id, key_path, clock=clock)

    def sign(self, timestamp_ms: int, method: str, path: str) -> str:
        """Base64 RSA-PSS signature of signing_message(timestamp_ms, method, path)."""
        message = signing_message(timestamp_ms, method, path)
        return base64.b64encode(self._private_key.sign(message, _PSS, hashes.SHA256())).decode("ascii")

    def headers(self, method: str, path: str, timestamp_ms: int | None = None) -> dict[str, str]:
        """The KALSHI-ACCESS-KEY/-TIMESTAMP/-SIGNATURE headers for one request, stamped now."""
        ts = int(self._clock() * 1000) if timestamp_ms is None else timestamp_ms
        return {
            HEADER_KEY: self._key_id,
            HEADER_TIMESTAMP: str(ts),
            HEADER_SIGNATURE: self.sign(ts, method, path),
        }

    def __repr__(self) -> str:
        return "KalshiAuth(key_id=<redacted>)"

    __str__ = __repr__

    def __reduce__(self) -> tuple[object, ...]:
        # Pickling would write the private key wherever the pickle goes (a DB, a cache, a log).
        raise TypeError("KalshiAuth holds a private key and cannot be pickled")


__all__ = [
    "HEADER_KEY",
    "HEADER_SIGNATURE",
    "HEADER_TIMESTAMP",
    "KEY_ID_ENV",
    "KEY_PATH_ENV",
    "KalshiAuth",
    "KalshiAuthError",
    "load_private_key",
    "signing_message",
]
