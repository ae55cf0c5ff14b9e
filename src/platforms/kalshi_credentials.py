"""Kalshi credentials: the KalshiAuth named by .env (key id and key file), or None for market data only."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from src.auth.kalshi_auth import KEY_ID_ENV, KEY_PATH_ENV, KalshiAuth, KalshiAuthError
from src.journal.log_setup import register_secret

if TYPE_CHECKING:
    from src.config import Settings


def load_auth(settings: Settings, *, require: bool = False) -> KalshiAuth | None:
    """The KalshiAuth named by .env, or None when no credentials are configured (market data only).

    Raises KalshiAuthError when only one of the two variables is set, when `require` is set and
    they are missing, or when the key file cannot be used.
    """
    key_id = settings.secrets.get(KEY_ID_ENV)
    key_path = settings.secrets.get(KEY_PATH_ENV)
    if not key_id and not key_path:
        if require:
            raise KalshiAuthError(f"missing in .env: {KEY_ID_ENV}, {KEY_PATH_ENV}")
        return None
    if not key_id or not key_path:
        missing = KEY_ID_ENV if not key_id else KEY_PATH_ENV
        raise KalshiAuthError(f"missing in .env: {missing} (both Kalshi variables are needed)")
    register_secret(key_id)  # every path that signs (daemon, --record-only, --verify) redacts the key id
    path = Path(key_path).expanduser()
    if not path.is_absolute():
        path = settings.root / path
    return KalshiAuth.from_pem_file(key_id, path)
