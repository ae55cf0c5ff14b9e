"""Build the Polymarket components from settings, or nothing at all while platforms.polymarket.enabled is false.

While disabled, nothing Polymarket is constructed: no wallet is loaded, no client or tracker
exists, so nothing can be contacted. Enabled, the components are built but still open nothing:
each makes its HTTPS session on its first request.

.env keys (credentials only, never written by code):
  POLY_PRIVATE_KEY       the wallet key that signs L1 auth and orders (required when enabled)
  POLY_API_KEY, POLY_API_SECRET, POLY_API_PASSPHRASE
                         L2 API credentials: all three, or none (then call
                         `client.ensure_api_creds()` once at start-up to derive or create them)
  POLY_FUNDER_ADDRESS    the proxy / safe wallet holding the funds, for signature_type 1 or 2
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from decimal import Decimal

from src.auth.poly_auth import ApiCreds
from src.auth.poly_order_signing import SignatureType
from src.auth.poly_wallet import PolyAuthError, PolyWallet
from src.config import Settings
from src.data.whale_tracker import WhaleTracker
from src.journal.log_setup import register_secret
from src.model.models import Clock
from src.net.backoff import RetryPolicy
from src.net.http_session import ConnectorFactory
from src.platforms.polymarket import PolymarketClient
from src.strategies.whale_copy import WhaleCopyStrategy

API_CRED_KEYS = ("POLY_API_KEY", "POLY_API_SECRET", "POLY_API_PASSPHRASE")


class PolymarketSetupError(Exception):
    """Polymarket is enabled but its .env keys are missing or malformed (one line, no secret values)."""


@dataclass(frozen=True, slots=True)
class PolymarketComponents:
    """What the main loop wires when Polymarket is enabled."""

    client: PolymarketClient
    tracker: WhaleTracker
    strategy: WhaleCopyStrategy

    async def close(self) -> None:
        await self.client.close()
        await self.tracker.close()


def build_polymarket(
    settings: Settings,
    *,
    clock: Clock = time.time,
    clob_connector_factory: ConnectorFactory | None = None,
    data_connector_factory: ConnectorFactory | None = None,
    taker_fee_rate: Decimal = Decimal("0"),
) -> PolymarketComponents | None:
    """None while `platforms.polymarket.enabled` is false; otherwise the client, tracker and strategy."""
    cfg = settings.app.platforms.polymarket
    if not cfg.enabled:
        return None
    secrets = settings.secrets
    private_key = secrets.get("POLY_PRIVATE_KEY")
    if not private_key:
        raise PolymarketSetupError("platforms.polymarket.enabled is true but POLY_PRIVATE_KEY is missing from .env")
    present = [k for k in API_CRED_KEYS if secrets.get(k)]
    if present and len(present) != len(API_CRED_KEYS):
        missing = [k for k in API_CRED_KEYS if k not in present]
        raise PolymarketSetupError(f"Polymarket API credentials are partial: missing {', '.join(missing)} in .env")
    signature_type = SignatureType(cfg.signature_type)
    funder = secrets.get("POLY_FUNDER_ADDRESS")
    if signature_type is not SignatureType.EOA and not funder:
        raise PolymarketSetupError(
            f"platforms.polymarket.signature_type is {int(signature_type)}: POLY_FUNDER_ADDRESS is needed in .env"
        )
    try:
        wallet = PolyWallet.from_private_key(private_key)
        creds = None
        if present:
            creds = ApiCreds(*(secrets.get(k) or "" for k in API_CRED_KEYS))
    except PolyAuthError as exc:
        raise PolymarketSetupError(str(exc)) from None
    for key in API_CRED_KEYS:
        register_secret(secrets.get(key))
    policy = RetryPolicy(max_attempts=cfg.max_attempts, budget_s=cfg.retry_budget_s)
    client = PolymarketClient(
        wallet,
        creds=creds,
        chain_id=cfg.chain_id,
        signature_type=signature_type,
        funder=funder,
        clock=clock,
        connector_factory=clob_connector_factory,
        reads_per_s=cfg.reads_per_s,
        writes_per_s=cfg.writes_per_s,
        retry_policy=policy,
        timeout_s=cfg.request_timeout_s,
    )
    tracker = WhaleTracker(
        cfg.whale,
        clock,
        connector_factory=data_connector_factory,
        reads_per_s=cfg.reads_per_s,
        retry_policy=policy,
        timeout_s=cfg.request_timeout_s,
    )
    strategy = WhaleCopyStrategy(cfg.whale, enabled=True, taker_fee_rate=taker_fee_rate)
    return PolymarketComponents(client, tracker, strategy)
