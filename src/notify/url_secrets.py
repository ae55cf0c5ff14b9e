"""Parse the notification secrets in .env (NOTIFY_URLS, TELEGRAM_CHAT_IDS): Telegram credentials, pieces to redact."""

from __future__ import annotations

import re
from collections.abc import Sequence
from urllib.parse import parse_qsl, unquote, urlsplit

from src.config import ConfigError
from src.journal.log_setup import register_secret


def parse_chat_ids(text: str | None) -> frozenset[int]:
    """TELEGRAM_CHAT_IDS: integers separated by spaces or commas (group chats are negative)."""
    ids: set[int] = set()
    for part in (text or "").replace(",", " ").split():
        try:
            ids.add(int(part))
        except ValueError:
            raise ConfigError(f".env: TELEGRAM_CHAT_IDS: {part[:20]!r} is not a chat id (a whole number)") from None
    return frozenset(ids)


def telegram_token(urls: Sequence[str]) -> str | None:
    """The bot token of the first tgram:// URL (tgram://<token>/<chat ids>), or None."""
    for url in urls:
        if url.lower().startswith("tgram://"):
            token = url[len("tgram://"):].split("/", 1)[0].split("?", 1)[0]
            return token.removeprefix("bot") if token.startswith("bot") and token[3:4].isdigit() else token
    return None


# A URL's user and password fields are secrets from 4 characters on (an SMTP or ntfy password may
# be short); path and query pieces (tokens, webhook keys, topics) from 6, so that a short path word
# such as "hook" does not blank that word in every log line and message.
SHORT_SECRET_MIN = 4
PIECE_SECRET_MIN = 6


def register_notify_secrets(urls: Sequence[str], hosts: frozenset[str]) -> None:
    """Every URL and every piece of one is redacted from logs (and recorded errors) from now on.

    Pieces: the user and password fields (SHORT_SECRET_MIN characters on), every path segment and
    query value (tokens, webhook keys, topics) and each ':'-part of them (a Telegram token is
    "<bot id>:<secret>"), PIECE_SECRET_MIN on; the host names stay readable.
    """
    for url in urls:
        register_url_credentials(url)
        for piece in url_secret_pieces(url, hosts):
            register_secret(piece, min_length=SHORT_SECRET_MIN)


def register_url_credentials(url: str) -> None:
    """The URL and its user and password fields, redacted before anything parses the URL."""
    register_secret(url)
    for piece in url_credentials(url):
        register_secret(piece, min_length=SHORT_SECRET_MIN)


def url_credentials(url: str) -> set[str]:
    """The user and password fields, whatever they hold (a numeric password is still a password)."""
    parts = urlsplit(url)
    try:
        user, password = parts.username, parts.password
    except ValueError:  # a malformed port
        return set()
    return {p for p in (user, password, unquote(password or "")) if p and len(p) >= SHORT_SECRET_MIN}


# Query values that are Apprise options, not secrets (redacting them would blank ordinary words).
_OPTION_VALUES = frozenset({"yes", "no", "true", "false", "text", "html", "markdown", "none", "default"})


def url_secret_pieces(url: str, hosts: frozenset[str]) -> set[str]:
    """The parts of a notification URL that may be secret (see register_notify_secrets).

    Plain numbers (a Telegram chat id, a port, a Discord webhook id) are identifiers, not
    secrets, and stay readable, except in the password field, which is always a secret.
    """
    parts = urlsplit(url)
    pieces: set[str] = set()
    # The netloc too: for tgram:// it is the token ("<bot id>:<secret>"), not a host.
    for segment in [*parts.path.split("/"), *parts.netloc.split("@")]:
        pieces.add(segment)
        pieces.update(re.split(r"[:@]", segment))
    pieces.update(v for _, v in parse_qsl(parts.query) if v.lower() not in _OPTION_VALUES)
    pieces |= {unquote(p) for p in pieces}
    found = {p for p in pieces if len(p) >= PIECE_SECRET_MIN and not p.isdigit()
             and p.lower().rsplit(":", 1)[0] not in hosts}  # a host (or host:port) stays readable
    return found | url_credentials(url)
