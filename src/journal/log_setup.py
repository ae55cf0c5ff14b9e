"""The one logging set-up: console for people, files for tracebacks, and a filter that redacts secrets."""

from __future__ import annotations

import logging
import re
import sys
import time
from logging.handlers import RotatingFileHandler
from pathlib import Path

# Anything shaped like key material or a credential is replaced before any handler sees it,
# whichever module logged it and whatever it was logged inside (message, args, traceback).
_PEM = re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----.*?(-----END [A-Z ]*PRIVATE KEY-----|$)", re.S)
_LABELLED = re.compile(
    r"(?i)\b(KALSHI-ACCESS-SIGNATURE|KALSHI-ACCESS-KEY|KALSHI_API_KEY_ID|X-PM-Signature|X-PM-Access-Key|"
    r"POLYMARKET_SECRET_KEY|POLYMARKET_KEY_ID|POLY_SIGNATURE|POLY_API_KEY|"
    r"POLY_PASSPHRASE|POLY_API_SECRET|POLY_SECRET|POLY_PRIVATE_KEY|api[_-]?secret|passphrase|secret|"
    r"signature|private[_-]?key)\b(\s*[\"']?\s*[:=]\s*[\"']?)([^\s\"',}]+)"
)
_UUID = re.compile(r"\b[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\b")
_HEX_KEY = re.compile(r"\b0x[0-9a-fA-F]{64}\b")
# Long base64 runs (signatures, HMAC secrets). Mixed case plus a digit keeps file paths out.
_BLOB = re.compile(r"(?<![A-Za-z0-9+/_-])[A-Za-z0-9+/_-]{40,}={0,2}")
_exact_secrets: set[str] = set()


def register_secret(value: str | None, *, min_length: int = 6) -> None:
    """Redact this exact value everywhere from now on (API key ids, passphrases, ...).

    min_length: shorter values are ignored (they would blank ordinary words); a caller that knows
    a short value is a password (a URL's password field) may lower it."""
    if value and len(value) >= min_length:
        _exact_secrets.add(value)


_PATH_WORD = re.compile(r"/[a-z_]{4,}(?=/|$)")


def _blob(match: re.Match[str]) -> str:
    text = match.group(0)
    if text.startswith("/") and _PATH_WORD.search(text):
        # A URL path such as /markets/KXBTC15M-26APR271445-45/orderbook, not key material.
        return text
    looks_random = any(c.isdigit() for c in text) and any(c.isupper() for c in text) and any(
        c.islower() for c in text
    )
    return "[REDACTED-BLOB]" if looks_random else text


def redact(text: str, *, uuids: bool = True) -> str:
    """Replace secret-shaped text. uuids=False keeps order ids readable in the trade log; the
    registered key id is still removed there by exact match."""
    for secret in _exact_secrets:
        if secret in text:
            text = text.replace(secret, "[REDACTED]")
    text = _PEM.sub("[REDACTED PRIVATE KEY]", text)
    text = _LABELLED.sub(r"\1\2[REDACTED]", text)
    if uuids:
        text = _UUID.sub("[REDACTED-UUID]", text)
    text = _HEX_KEY.sub("[REDACTED-HEX-KEY]", text)
    return _BLOB.sub(_blob, text)


class RedactingFilter(logging.Filter):
    """Rewrites each record's final text so no handler can ever emit a secret."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken format string must not take logging down
            message = str(record.msg)
        record.msg = redact(message)
        record.args = None
        if record.exc_info:
            formatted = logging.Formatter().formatException(record.exc_info)
            record.exc_text = redact(formatted)
            record.exc_info = None
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True


class _OneLineFormatter(logging.Formatter):
    """Console lines for people: the message only; the traceback goes to logs/errors/."""

    def format(self, record: logging.LogRecord) -> str:
        saved = record.exc_text
        record.exc_text = None
        try:
            text = super().format(record)
        finally:
            record.exc_text = saved
        return text + "  (traceback in logs/errors/)" if saved else text


class _ErrorFileHandler(RotatingFileHandler):
    """Tracebacks go to logs/errors/, one rotating file, so the console stays readable."""


def setup_logging(root: Path, level: str = "INFO", *, console: bool = True) -> logging.Logger:
    """Configure the root logger once; returns the project logger."""
    logger = logging.getLogger()
    for handler in list(logger.handlers):
        logger.removeHandler(handler)
        handler.close()
    logger.setLevel(level)
    redactor = RedactingFilter()
    if console:
        out = logging.StreamHandler(sys.stderr)
        out.setLevel(level)
        out.setFormatter(_OneLineFormatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s", "%H:%M:%S"))
        out.addFilter(redactor)
        logger.addHandler(out)
    errors_dir = root / "logs" / "errors"
    errors_dir.mkdir(parents=True, exist_ok=True)
    err = _ErrorFileHandler(errors_dir / "errors.log", maxBytes=5_000_000, backupCount=5, encoding="utf-8")
    err.setLevel(logging.WARNING)
    fmt = logging.Formatter("%(asctime)sZ %(levelname)s %(name)s: %(message)s")
    fmt.converter = time.gmtime
    err.setFormatter(fmt)
    err.addFilter(redactor)
    logger.addHandler(err)
    # Quiet chatty libraries; their warnings still pass through the redactor.
    for name in ("websockets", "aiohttp.access", "asyncio"):
        logging.getLogger(name).setLevel(logging.WARNING)
    return logging.getLogger("polybot")
